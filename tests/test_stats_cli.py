"""`smoseq stats` end to end on a small fit folder whose states carry a planted group effect,
and its one-line errors (unknown recording, a group of one, no centroids, fps <= 0).

The fit folder is written from a hand-made `FitResult` (no sampling), so the test is fast
and the states, hence the right answer, are known."""

import numpy as np
import pandas as pd
import pytest

from smoseq import InputError
from smoseq.cli import main
from smoseq.fitting import FitResult
from smoseq.cli.stats_commands import compute_stats, find_group_sheet
from smoseq.io.recordings import load_recordings
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions
from test_group_statistics import grouped_recordings

N_STATES = 4


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """project/ with data/ (CSV per recording: syllable, x, y), index.csv beside it, and fit/."""
    root = tmp_path_factory.mktemp("stats")
    states, groups = grouped_recordings(seed=5, n_per_group=8, planted_state=2, scale=3.0, n_states=N_STATES)
    rng = np.random.default_rng(0)
    (root / "data").mkdir()
    for name, array in states.items():
        step = np.where(array == 1, 2.0, 0.2)[:, None] * rng.normal(size=(len(array), 2))
        xy = 50 + np.cumsum(step, axis=0)
        pd.DataFrame({"syllable": rng.integers(0, 5, len(array)), "x": xy[:, 0], "y": xy[:, 1]}).to_csv(
            root / "data" / f"{name}.csv", index=False
        )
    pd.DataFrame({"name": [f"videos/{n}.mp4" for n in groups], "group": list(groups.values())}).to_csv(
        root / "index.csv", index=False
    )
    result = FitResult(
        model=HHMM(FullRankEmissions(np.full((N_STATES, 5, 5), 0.2)), StickyTransitions(np.full((N_STATES, N_STATES), 0.25))),
        states=states,
        log_probs=np.zeros(1),
        emission_losses=np.zeros(0),
        history=np.zeros((1, 10), np.int16),
        hyperparameters={},
        info={"fps": 10.0},
    )
    result.save(root / "fit")
    return root, states, groups


def test_stats_writes_tables_figures_and_report(project):
    root, states, groups = project
    assert main(["stats", str(root / "fit"), "--data", str(root / "data"), "--out", str(root / "stats")]) == 0
    out = root / "stats"
    behaviour = pd.read_csv(out / "behaviour.csv")
    assert len(behaviour) == len(states) * N_STATES and {"group", "mean_speed", "median_bout_s"} <= set(behaviour.columns)
    frames = behaviour[behaviour.recording == "m00"]["frames"].to_numpy()
    assert frames.tolist() == np.bincount(states["m00"], minlength=N_STATES).tolist()
    statistics = pd.read_csv(out / "group_statistics.csv")
    durations = statistics[(statistics.metric == "median_bout_s") & (statistics.p_corrected < 0.01)]
    assert durations["state"].tolist() == [2] and durations["higher"].tolist() == ["B"]
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"occupancy.png", "speeds.png", "bout_durations.png", "groups_transitions.png", "groups_median_bout_s.png"} <= set(figures)
    report = (out / "index.html").read_text()
    assert "median_bout_s, state 2" in report and "compositional" in report
    assert all(f"figures/{name}" in report for name in figures)


def test_without_a_group_sheet_only_behaviour(project, tmp_path):
    root, _, _ = project
    data = tmp_path / "elsewhere" / "data"
    data.mkdir(parents=True)
    for csv in (root / "data").glob("*.csv"):
        (data / csv.name).write_text(csv.read_text())
    assert main(["stats", str(root / "fit"), "--data", str(data), "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "behaviour.csv").is_file() and not (tmp_path / "s" / "group_statistics.csv").exists()
    assert "No group sheet" in (tmp_path / "s" / "index.html").read_text()


def test_data_without_a_recording_of_the_fit(project, tmp_path, capsys):
    root, _, _ = project
    data = tmp_path / "few"
    data.mkdir()
    for csv in sorted((root / "data").glob("*.csv"))[:3]:
        (data / csv.name).write_text(csv.read_text())
    _fails(capsys, ["stats", str(root / "fit"), "--data", str(data), "--out", str(tmp_path / "o")],
           str(data), "has no recording 'm03' that the fit was made on")  # fmt: skip


def _fails(capsys, args, *fragments):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("smoseq stats: error:"), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_group_of_one_recording(project, tmp_path, capsys):
    root, _, groups = project
    sheet = tmp_path / "sheet.csv"
    labels = ["solo" if i == 0 else g for i, g in enumerate(groups.values())]
    pd.DataFrame({"name": list(groups), "group": labels}).to_csv(sheet, index=False)
    _fails(capsys, ["stats", str(root / "fit"), "--data", str(root / "data"), "--groups", str(sheet), "--out", str(tmp_path / "o")],
           str(sheet), "group 'solo' has only one recording")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_unknown_recording_in_the_sheet(project, tmp_path, capsys):
    root, _, groups = project
    sheet = tmp_path / "sheet.csv"
    pd.DataFrame({"name": [*groups, "m99"], "group": [*groups.values(), "A"]}).to_csv(sheet, index=False)
    _fails(capsys, ["stats", str(root / "fit"), "--data", str(root / "data"), "--groups", str(sheet), "--out", str(tmp_path / "o")],
           str(sheet), "'m99' match no recording")  # fmt: skip


def test_missing_centroid_columns_and_bad_fps(project, tmp_path, capsys):
    root, _, _ = project
    data = tmp_path / "data"
    data.mkdir()
    for csv in sorted((root / "data").glob("*.csv")):
        table = pd.read_csv(csv)
        (table[["syllable"]] if csv.stem == "m03" else table).to_csv(data / csv.name, index=False)
    args = ["stats", str(root / "fit"), "--data", str(data), "--groups", str(root / "index.csv"), "--out", str(tmp_path / "o")]
    _fails(capsys, args, str(data / "m03.csv"), "no centroid columns", "--no-place")
    assert not (tmp_path / "o").exists()
    _, states, _ = project
    timed = compute_stats(states, load_recordings(data), data, 10.0, root / "index.csv", place=False)
    assert "mean_speed" not in timed.behaviour.columns and not timed.centroids
    assert "mean_speed" not in timed.statistics["metric"].tolist()
    _fails(capsys, ["stats", str(root / "fit"), "--data", str(root / "data"), "--fps", "0", "--out", str(tmp_path / "p")],
           "--fps must be > 0")  # fmt: skip


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["stats", "--help"])
    assert exit_.value.code == 0 and "smoseq stats fit --data" in capsys.readouterr().out


def test_group_sheet_inside_the_data_folder_is_found_and_not_read_as_a_recording(project, tmp_path):
    root, states, _ = project
    data = tmp_path / "kpms_project"
    data.mkdir()
    for csv in (root / "data").glob("*.csv"):
        (data / csv.name).write_text(csv.read_text())
    (data / "index.csv").write_text((root / "index.csv").read_text())
    assert sorted(load_recordings(data).syllables) == sorted(states)
    timed = compute_stats(states, load_recordings(data), data, 10.0, find_group_sheet(data), place=False)
    assert timed.group_sheet == data / "index.csv"


def test_unknown_reference_group_and_bad_alpha(project):
    root, states, _ = project
    recordings = load_recordings(root / "data")
    with pytest.raises(InputError, match="--reference 'wt' is not one of its groups"):
        compute_stats(states, recordings, root / "data", 10.0, root / "index.csv", reference="wt", place=False)
    with pytest.raises(InputError, match="--alpha must be between 0 and 1"):
        compute_stats(states, recordings, root / "data", 10.0, root / "index.csv", alpha=5, place=False)
