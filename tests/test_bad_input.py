"""Bad input through the CLI: one line naming the file and the problem, exit code 2, no traceback, nothing written."""

import json
import shutil

import av
import h5py
import numpy as np
import pandas as pd
import pytest

from smoseq.cli import main


def _csv(path, syllables, **columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"syllable": syllables, **columns}).to_csv(path, index=False)
    return path


def _good_data(folder, n_frames=600, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(2):
        regime = (np.arange(n_frames) // 150) % 2
        syllables = np.where(regime == 0, rng.integers(0, 3, n_frames), rng.integers(3, 6, n_frames))
        xy = rng.uniform(40, 60, size=(n_frames, 2))
        _csv(folder / f"rec{i}.csv", syllables, x=xy[:, 0], y=xy[:, 1])
    return folder


def _write_video(path, n_frames, size=96):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            image = np.full((size, size, 3), (i * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def fit_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("badinput")
    data = _good_data(root / "data")
    assert main(["fit", str(data), "--out", str(root / "fit"), "--n-states", "2", "--iters", "3", "--no-figures"]) == 0
    return root / "fit"


CSV_CASES = [
    ("no_syllable_column", lambda p: pd.DataFrame({"frame": [0, 1, 2]}).to_csv(p, index=False), "no 'syllable' column"),
    ("negative", lambda p: _csv(p, [1, -1, 2]), "must be >= 0"),
    ("fractional", lambda p: _csv(p, [1.0, 2.5, 2.0]), "must be integers"),
    ("nan", lambda p: _csv(p, [1.0, np.nan, 2.0]), "NaN"),
    ("text", lambda p: _csv(p, ["1", "walk", "2"]), "not a number"),
    ("one_frame", lambda p: _csv(p, [3]), "at least 2 frames"),
    ("empty_file", lambda p: p.write_text(""), "empty file"),
]


@pytest.mark.parametrize("name, write, message", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_csv_is_named_and_nothing_is_written(tmp_path, capsys, name, write, message):
    data = _good_data(tmp_path / "data")
    bad = data / f"{name}.csv"
    write(bad)
    out = tmp_path / "out"
    code, err = run_cli(["fit", data, "--out", out, "--iters", "1"], capsys)
    assert_one_line_error(code, err, str(bad), message)
    assert not out.exists()


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(["fit", tmp_path / "empty", "--out", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, str(tmp_path / "empty"), "no recording CSVs")
    assert not (tmp_path / "out").exists()


def test_results_h5_with_mismatched_centroids(tmp_path, capsys):
    path = tmp_path / "results.h5"
    with h5py.File(path, "w") as handle:
        group = handle.create_group("mouse1")
        group["syllable"] = np.array([0, 1, 2, 1, 0])
        group["centroid"] = np.zeros((4, 2))
    code, err = run_cli(["fit", path, "--out", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, str(path), "centroid")


@pytest.mark.parametrize(
    "flag, value, message",
    [("--kappa", "-1", "--kappa"), ("--n-states", "1", "--n-states"), ("--iters", "0", "--iters"), ("--learning-rate", "0", "--learning-rate")],
)
def test_impossible_hyperparameters(tmp_path, capsys, flag, value, message):
    data = _good_data(tmp_path / "data")
    code, err = run_cli(["fit", data, "--out", tmp_path / "out", flag, value], capsys)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_cannot_be_written(tmp_path, capsys):
    data = _good_data(tmp_path / "data")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = run_cli(["fit", data, "--out", blocker / "sub", "--iters", "1"], capsys)
    assert_one_line_error(code, err, "file")


@pytest.mark.parametrize("damage", ["missing_model", "truncated_model", "future_version", "pickled_states"])
def test_damaged_fit_folder_is_refused(tmp_path, capsys, fit_folder, damage):
    fit = tmp_path / "fit"
    shutil.copytree(fit_folder, fit)
    if damage == "missing_model":
        (fit / "model.eqx").unlink()
        expected = "model.eqx: missing"
    elif damage == "truncated_model":
        data = (fit / "model.eqx").read_bytes()
        (fit / "model.eqx").write_bytes(data[: len(data) // 2])
        expected = "model.eqx"
    elif damage == "future_version":
        description = json.loads((fit / "model.json").read_text())
        description["format_version"] = 99
        (fit / "model.json").write_text(json.dumps(description))
        expected = "version"
    else:
        np.savez(fit / "states.npz", names=np.array(["rec0"]), states_0=np.array([{"evil": 1}], dtype=object))
        expected = "states.npz"
    data = _good_data(tmp_path / "data")
    code, err = run_cli(["apply", fit, data, "--out", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, expected)
    assert not (tmp_path / "out").exists()


def test_apply_with_more_syllables_than_the_model_knows(tmp_path, capsys, fit_folder):
    data = tmp_path / "new"
    _csv(data / "new.csv", [0, 1, 40, 2])
    code, err = run_cli(["apply", fit_folder, data, "--out", tmp_path / "out"], capsys)
    assert_one_line_error(code, err, str(data / "new.csv"), "syllable 40")
    assert not (tmp_path / "out").exists()


def test_undecodable_video(tmp_path, capsys, fit_folder):
    data = _good_data(tmp_path / "data")
    (data / "rec0.mp4").write_bytes(b"this is not a video")
    _write_video(data / "rec1.mp4", 600)
    code, err = run_cli(["movies", fit_folder, "--videos", data, "--out", tmp_path / "movies"], capsys)
    assert_one_line_error(code, err, "rec0.mp4")
    assert not (tmp_path / "movies").exists()


def test_video_shorter_than_its_csv_warns_with_counts(tmp_path, capsys, fit_folder):
    data = _good_data(tmp_path / "data")
    _write_video(data / "rec0.mp4", 500)
    _write_video(data / "rec1.mp4", 600)
    code, err = run_cli(
        ["movies", fit_folder, "--videos", data, "--out", tmp_path / "movies", "--window-size", "32", "--max-duration", "20"],
        capsys,
    )
    assert code == 0, err
    assert "Traceback" not in err
    warning = [line for line in err.splitlines() if "warning:" in line]
    assert warning and "100" in warning[0]


def test_recording_names_never_escape_the_output_folder(tmp_path, capsys):
    from smoseq.cli.commands import _save_syllables
    import smoseq as sm

    recordings = {"../../x": np.array([0, 1, 1, 0, 2, 2] * 50), "ok": np.array([2, 1, 0] * 100)}
    result = sm.fit(recordings, n_states=2, n_iters=2, progress=False)
    fit = tmp_path / "deep" / "fit"
    result.save(fit)
    _save_syllables(fit, recordings)
    out = tmp_path / "deep" / "csv"
    assert main(["export", str(fit), "--csv", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.glob("*.csv"))
    assert written == ["ok.csv", "x.csv"]
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "deep" / "x.csv").exists()
