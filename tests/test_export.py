"""Exports of a fit's states: the NWB file (ndx-ethogram bouts, states per frame, the model as
metadata) read back with pynwb and compared to the fit; the per-frame and per-bout tables in
Parquet and CSV read back with pandas; `smoseq export --nwb/--table`; one-line errors that
leave nothing written. The fit folder is written from a hand-made `FitResult` (no sampling)."""

import json
from datetime import datetime, timezone

import ndx_ethogram  # noqa: F401  (registers the extension's classes for reading)
import numpy as np
import pandas as pd
import pytest
from pynwb import NWBHDF5IO

import smoseq as sm
from smoseq.cli import main
from smoseq.fitting import FitResult
from smoseq.io.files import atomic_savez
from smoseq.io.nwb import export_nwb
from smoseq.io.state_tables import bout_table, export_tables, frame_table
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions

K, S, FPS = 3, 5, 20.0


def _result(states, names=None) -> FitResult:
    result = FitResult(
        model=HHMM(FullRankEmissions(np.full((K, S, S), 1 / S)), StickyTransitions(np.full((K, K), 1 / K))),
        states=states,
        log_probs=np.zeros(1),
        emission_losses=np.zeros(0),
        history=np.zeros((1, 4), np.int16),
        hyperparameters={"kappa": 250.0, "n_states": K},
        info={"fps": FPS},
    )
    if names is not None:
        result.state_names = names
    return result


@pytest.fixture
def fit_parts():
    rng = np.random.default_rng(0)
    states = {"mouse1": np.repeat(rng.integers(0, K, 12), rng.integers(1, 9, 12)), "cage 2/mouse3": np.array([2, 2, 0, 0, 0, 1])}
    syllables = {name: rng.integers(0, S, len(array)) for name, array in states.items()}
    return states, syllables


def _save(folder, states, syllables):
    _result(states).save(folder)
    names = list(syllables)
    atomic_savez(folder / "syllables.npz", names=np.array(names, dtype=str),
                 **{f"syllables_{i}": syllables[n] for i, n in enumerate(names)})  # fmt: skip
    return folder


def _runs(array):
    change = np.flatnonzero(np.diff(array)) + 1
    starts = np.concatenate([[0], change])
    return starts, np.concatenate([change, [len(array)]])


def test_nwb_round_trip(tmp_path, fit_parts):
    states, syllables = fit_parts
    result = _result(states, names={1: "rearing"})
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    path = export_nwb(result, tmp_path / "states.nwb", syllables=syllables, session_start_time=start)
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.session_start_time == start
        module = nwbfile.processing["behavior"]
        catalogue = module["smoseq_states"].to_dataframe()
        assert catalogue["behavior"].tolist() == ["0", "rearing", "2"] and catalogue["native_code"].tolist() == [0, 1, 2]
        for name, array in states.items():
            key = name.replace("/", "_")
            bouts_table = module[f"bouts_{key}"]
            bouts = bouts_table.to_dataframe()
            starts, ends = _runs(array)
            np.testing.assert_allclose(bouts["start_time"], starts / FPS)
            np.testing.assert_allclose(bouts["stop_time"], ends / FPS)
            assert bouts["state"].tolist() == array[starts].tolist()
            assert bouts["label"].tolist() == [["0", "rearing", "2"][k] for k in array[starts]]
            assert bouts_table.labeling_method == "automated" and bouts_table.source_software.startswith("smoseq ")
            assert bouts_table.ethogram.name == "smoseq_states"
            parameters = json.loads(bouts_table.parameters)
            assert parameters["model"] == "HHMM(FullRankEmissions, StickyTransitions)" and parameters["n_states"] == K
            assert parameters["hyperparameters"]["kappa"] == 250.0 and parameters["version"] == sm.__version__
            series = module[f"states_{key}"]
            assert series.rate == FPS and series.starting_time == 0.0
            np.testing.assert_array_equal(series.data[:], array)
            np.testing.assert_array_equal(module[f"syllables_{key}"].data[:], syllables[name])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["states.nwb"]  # no temporary file left


def test_nwb_one_recording_per_file_and_no_overwrite(tmp_path, fit_parts):
    states, _ = fit_parts
    path = export_nwb(_result(states), tmp_path / "m1.nwb", recordings=["mouse1"], fps=10.0)
    with NWBHDF5IO(str(path), "r") as io:
        module = io.read().processing["behavior"]
        assert sorted(module.data_interfaces) == ["bouts_mouse1", "smoseq_states", "states_mouse1"]
        assert module["states_mouse1"].rate == 10.0
    with pytest.raises(FileExistsError, match="already exists"):
        export_nwb(_result(states), path)
    with pytest.raises(sm.InputError, match="the fit has no recording 'nobody'"):
        export_nwb(_result(states), tmp_path / "x.nwb", recordings=["nobody"])


def test_tables_by_hand():
    states = {"a": np.array([0, 0, 1, 1, 1, 2])}
    frames = frame_table(states, 2.0, ["0", "rearing", "2"], {"a": np.arange(6)})
    assert frames.columns.tolist() == ["recording", "frame", "time", "syllable", "state", "state_name"]
    assert frames["time"].tolist() == [0, 0.5, 1, 1.5, 2, 2.5] and frames["state_name"].tolist()[2] == "rearing"
    bouts = bout_table(states, 2.0, ["0", "rearing", "2"])
    assert bouts[["state", "start", "end", "duration", "start_frame", "end_frame"]].to_numpy().tolist() == [
        [0, 0.0, 1.0, 1.0, 0, 2], [1, 1.0, 2.5, 1.5, 2, 5], [2, 2.5, 3.0, 0.5, 5, 6]
    ]  # fmt: skip
    assert bouts["state_name"].tolist() == ["0", "rearing", "2"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_tables_round_trip(tmp_path, fit_parts, suffix):
    states, syllables = fit_parts
    frames_path, bouts_path = export_tables(_result(states, {0: "walk"}), tmp_path / f"out{suffix}", syllables=syllables)
    assert (frames_path.name, bouts_path.name) == (f"out_frames{suffix}", f"out_bouts{suffix}")
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    frames, bouts = read(frames_path), read(bouts_path)
    for name, array in states.items():
        mine = frames[frames["recording"] == name]
        assert mine["state"].tolist() == array.tolist() and mine["syllable"].tolist() == syllables[name].tolist()
        np.testing.assert_allclose(mine["time"], np.arange(len(array)) / FPS)
        assert mine["state_name"].astype(str).tolist() == [["walk", "1", "2"][k] for k in array]
        theirs = bouts[bouts["recording"] == name]
        starts, ends = _runs(array)
        assert theirs["start_frame"].tolist() == starts.tolist() and theirs["end_frame"].tolist() == ends.tolist()
        np.testing.assert_allclose(theirs["duration"], (ends - starts) / FPS)


def test_cli_export_nwb_and_table(tmp_path, fit_parts):
    states, syllables = fit_parts
    fit = _save(tmp_path / "fit", states, syllables)
    out = tmp_path / "exports"
    assert main(["export", str(fit), "--nwb", str(out / "s.nwb"), "--table", str(out / "s.parquet")]) == 0
    frames = pd.read_parquet(out / "s_frames.parquet")
    assert len(frames) == sum(map(len, states.values())) and frames["syllable"].tolist()[:5] == syllables["mouse1"][:5].tolist()
    with NWBHDF5IO(str(out / "s.nwb"), "r") as io:
        np.testing.assert_array_equal(io.read().processing["behavior"]["states_mouse1"].data[:], states["mouse1"])
    assert main(["export", str(fit), "--table", str(out / "s.parquet")]) == 2  # exists, no --force
    assert main(["export", str(fit), "--table", str(out / "s.csv"), "--fps", "40", "--force"]) == 0
    assert pd.read_csv(out / "s_bouts.csv")["duration"].iloc[0] == pytest.approx(_runs(states["mouse1"])[1][0] / 40)


@pytest.mark.skipif(not hasattr(FitResult, "state_labels"), reason="needs FitResult.state_labels (state names in the fit folder)")
def test_cli_export_carries_the_names_of_the_fit_folder(tmp_path, fit_parts):
    states, syllables = fit_parts
    fit = _save(tmp_path / "fit", states, syllables)
    (fit / "state_names.json").write_text(json.dumps({"format": 1, "names": {"1": "rearing"}}))
    assert main(["export", str(fit), "--table", str(tmp_path / "t.csv")]) == 0
    frames = pd.read_csv(tmp_path / "t_frames.csv")
    assert set(frames.loc[frames["state"] == 1, "state_name"]) == {"rearing"}


def _fails(capsys, args, *fragments):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("smoseq export: error:"), err
    for fragment in fragments:
        assert fragment in err, err


def test_cli_bad_input_writes_nothing(tmp_path, fit_parts, capsys):
    states, syllables = fit_parts
    fit = _save(tmp_path / "fit", states, syllables)
    out = tmp_path / "out"
    _fails(capsys, ["export", str(tmp_path / "nofit"), "--nwb", str(out / "a.nwb")], "nofit", "no such fit folder")
    _fails(capsys, ["export", str(fit), "--nwb", str(out / "a.nwb"), "--fps", "0"], "fps must be a number > 0")
    _fails(capsys, ["export", str(fit), "--table", str(out / "a.xlsx")], "a.xlsx", "must end in .parquet or .csv")
    _fails(capsys, ["export", str(fit), "--nwb", str(out / "a.h5")], "must end in .nwb")
    _fails(capsys, ["export", str(fit)], "choose what to write")
    empty = _save(tmp_path / "empty", {"mouse1": states["mouse1"], "blank": np.zeros(0, np.int64)},
                  {"mouse1": syllables["mouse1"], "blank": np.zeros(0, np.int64)})  # fmt: skip
    _fails(capsys, ["export", str(empty), "--nwb", str(out / "a.nwb"), "--table", str(out / "a.csv")],
           "states.npz", "recording 'blank' has no states")  # fmt: skip
    assert not out.exists()
