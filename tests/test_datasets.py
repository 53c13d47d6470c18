"""The example dataset: files and formats, determinism, and that its statistics look like
behaviour (non-geometric bouts, behaviour-dependent syllables and movement)."""

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from smoseq.datasets import example as datasets
from smoseq.datasets.example import BEHAVIOURS, SMALL, load_ground_truth, make_example

FPS = 120
RESTING, EXPLORING, GROOMING, INVESTIGATING, REARING = range(len(BEHAVIOURS))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two one-minute recordings with videos."""
    return make_example(tmp_path_factory.mktemp("small"), **SMALL, progress=False)


@pytest.fixture(scope="module")
def long(tmp_path_factory):
    """Four 12-minute recordings without videos (about 110 bouts), loaded."""
    dataset = make_example(tmp_path_factory.mktemp("long"), n_recordings=4, duration_s=720, video=False, progress=False)
    tables = {name: pd.read_csv(path) for name, path in zip(dataset.recordings, dataset.csv_paths)}
    return dataset, tables, load_ground_truth(dataset.directory)


def runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and value of each run of equal values."""
    change = np.flatnonzero(np.diff(values)) + 1
    starts = np.r_[0, change]
    return starts, np.diff(np.r_[starts, len(values)]), values[starts]


def inner_bouts(states: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """(behaviour, length in frames) of every bout not cut by the start or end of its recording."""
    bouts = []
    for sequence in states.values():
        _, lengths, values = runs(sequence)
        bouts += list(zip(values[1:-1].tolist(), lengths[1:-1].tolist()))
    return bouts


def smoothed_speed(table: pd.DataFrame) -> np.ndarray:
    """Centroid speed in pixels per second, averaged over 0.25 s to remove tracking noise."""
    xy = table[["x", "y"]].rolling(30, center=True, min_periods=1).mean().to_numpy()
    return np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)] * FPS


# --- files and formats ------------------------------------------------------------------


def test_layout_matches_the_tutorial(small):
    directory = small.directory
    assert small.recordings == ("recording1", "recording2")
    assert [p.name for p in small.csv_paths] == ["recording1.csv", "recording2.csv"]
    assert [p.name for p in small.video_paths] == ["recording1.mp4", "recording2.mp4"]
    assert small.ground_truth_path == directory / "ground_truth.npz"
    assert small.fps == FPS and small.behaviours == BEHAVIOURS
    assert sorted(p.name for p in directory.iterdir()) == [
        "ground_truth.npz", "recording1.csv", "recording1.mp4", "recording2.csv", "recording2.mp4"]
    # the tutorial reads every CSV in the folder as a recording
    assert all("syllable" in pd.read_csv(path, nrows=1) for path in directory.glob("*.csv"))


def test_csv_columns_and_dtypes(small):
    for path in small.csv_paths:
        table = pd.read_csv(path)
        assert list(table.columns) == ["syllable", "x", "y"]
        assert table["syllable"].dtype == np.int64
        assert table["x"].dtype == table["y"].dtype == np.float64
        assert len(table) == SMALL["duration_s"] * FPS
        assert table["syllable"].between(0, SMALL["n_syllables"] - 1).all()
        assert not table.isna().any().any()


def test_ground_truth_file_and_loader(small):
    with np.load(small.ground_truth_path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["behaviour_names", "recording1", "recording2"]
        assert tuple(archive["behaviour_names"]) == BEHAVIOURS
    states = load_ground_truth(small.directory)
    assert list(states) == list(small.recordings)
    for name, path in zip(small.recordings, small.csv_paths):
        assert states[name].dtype == np.int64
        assert len(states[name]) == len(pd.read_csv(path))
        assert set(np.unique(states[name])) <= set(range(len(BEHAVIOURS)))


def test_videos_have_one_frame_per_row_at_the_frame_rate(small):
    for csv_path, video_path in zip(small.csv_paths, small.video_paths):
        n_rows = len(pd.read_csv(csv_path))
        with av.open(str(video_path)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (SMALL["video_size"], SMALL["video_size"])
            assert stream.average_rate == FPS
            n_frames = sum(1 for _ in container.decode(stream))
        assert n_frames == n_rows


def test_the_mouse_is_drawn_at_the_centroid(small):
    table = pd.read_csv(small.csv_paths[0])
    moved = np.flatnonzero(smoothed_speed(table) > 10)
    assert len(moved) > 100
    checked = set(moved[:: len(moved) // 10].tolist())
    spread = set(range(0, len(table), len(table) // 40))  # the mouse moves, the arena does not
    frames = {}
    with av.open(str(small.video_paths[0])) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in checked or index in spread:
                frames[index] = frame.to_ndarray(format="rgb24").astype(float)
    background = np.median([frames[i] for i in spread], axis=0)
    for index in checked:
        rows, cols = np.nonzero(np.abs(frames[index] - background).sum(axis=-1) > 60)
        assert len(rows) > 20
        drawn = np.array([cols.mean(), rows.mean()])
        assert np.hypot(*(drawn - table.loc[index, ["x", "y"]].to_numpy(float))) < 5


def test_without_video_only_csvs_are_written(tmp_path):
    dataset = make_example(tmp_path, n_recordings=2, duration_s=10, video=False, progress=False)
    assert dataset.video_paths == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ground_truth.npz", "recording1.csv", "recording2.csv"]


def test_durations_can_differ_between_recordings(tmp_path):
    dataset = make_example(tmp_path, n_recordings=2, duration_s=[5, 7.5], fps=30, video=False, progress=False)
    assert [len(pd.read_csv(p)) for p in dataset.csv_paths] == [150, 225]


def test_names_sort_in_recording_order(tmp_path):
    dataset = make_example(tmp_path, n_recordings=10, duration_s=1, video=False, progress=False)
    assert dataset.recordings[:2] == ("recording01", "recording02")
    assert list(dataset.recordings) == sorted(dataset.recordings)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"n_recordings": 0}, "n_recordings"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"duration_s": [10.0, 10.0]}, "one per recording"),
        ({"fps": -1}, "fps"),
        ({"n_syllables": 5}, "n_syllables"),
        ({"video_size": 130}, "video_size"),
    ],
)
def test_bad_arguments_are_named(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        make_example(tmp_path, **{"n_recordings": 1, "duration_s": 1.0, "video": False, **arguments})


def test_missing_ground_truth_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="ground truth"):
        load_ground_truth(tmp_path)


# --- determinism ------------------------------------------------------------------------


def _csv_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.csv"))}


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    arguments = {"n_recordings": 2, "duration_s": 20, "video": False, "progress": False}
    first = make_example(tmp_path / "a", seed=3, **arguments).directory
    again = make_example(tmp_path / "b", seed=3, **arguments).directory
    other = make_example(tmp_path / "c", seed=4, **arguments).directory
    assert _csv_bytes(first) == _csv_bytes(again)
    assert _csv_bytes(first)["recording1.csv"] != _csv_bytes(other)["recording1.csv"]


def test_a_recording_does_not_depend_on_how_many_are_written(tmp_path):
    one = make_example(tmp_path / "one", n_recordings=1, duration_s=20, video=False, progress=False)
    three = make_example(tmp_path / "three", n_recordings=3, duration_s=20, video=False, progress=False)
    assert one.csv_paths[0].read_bytes() == three.csv_paths[0].read_bytes()


def test_videos_are_deterministic(tmp_path):
    arguments = {"n_recordings": 1, "duration_s": 10, "n_syllables": 12, "video_size": 96, "progress": False}
    first = make_example(tmp_path / "a", **arguments)
    again = make_example(tmp_path / "b", **arguments)
    assert first.video_paths[0].read_bytes() == again.video_paths[0].read_bytes()


# --- realism: behaviours ----------------------------------------------------------------


def test_every_behaviour_occurs_in_bouts_of_tens_of_seconds(long):
    _, _, states = long
    bouts = inner_bouts(states)
    assert {behaviour for behaviour, _ in bouts} == set(range(len(BEHAVIOURS)))
    seconds = np.array([length for _, length in bouts]) / FPS
    assert 10 < np.median(seconds) < 60
    assert seconds.min() >= 2.9


def test_bout_durations_are_not_geometric(long):
    _, _, states = long
    bouts = inner_bouts(states)
    lengths = np.array([length for _, length in bouts], float)
    behaviours = np.array([behaviour for behaviour, _ in bouts])
    # Bout lengths relative to their behaviour's mean: a geometric (memoryless) duration has
    # a coefficient of variation close to 1; gamma and log-normal bouts here have about 0.5.
    relative = lengths / np.array([lengths[behaviours == b].mean() for b in behaviours])
    assert relative.std() < 0.75
    # ... and a geometric duration's most likely value is its shortest; these bouts rarely are.
    assert np.mean(relative < 0.25) < 0.05


def test_behaviour_switches_are_structured(long):
    _, _, states = long
    switches = np.zeros((len(BEHAVIOURS), len(BEHAVIOURS)))
    for sequence in states.values():
        values = runs(sequence)[2]
        np.add.at(switches, (values[:-1], values[1:]), 1)
    assert np.trace(switches) == 0
    probabilities = switches / switches.sum(axis=1, keepdims=True)
    assert probabilities.max() > 0.35  # far from uniform over the 4 other behaviours


# --- realism: syllables -----------------------------------------------------------------


def test_syllables_last_a_few_hundred_milliseconds_not_geometrically(long):
    _, tables, _ = long
    lengths = {}
    for table in tables.values():
        _, run_lengths, values = runs(table["syllable"].to_numpy())
        for syllable, length in zip(values[1:-1], run_lengths[1:-1]):
            lengths.setdefault(syllable, []).append(length)
    all_seconds = np.concatenate([np.asarray(v) for v in lengths.values()]) / FPS
    assert 0.15 < np.median(all_seconds) < 0.6
    frequent = [np.asarray(v, float) for v in lengths.values() if len(v) >= 100]
    assert len(frequent) >= 10
    # per syllable, geometric durations would have a coefficient of variation close to 1
    assert np.median([v.std() / v.mean() for v in frequent]) < 0.75


def _usage(tables, states, n_syllables) -> np.ndarray:
    counts = np.zeros((len(BEHAVIOURS), n_syllables))
    for name, table in tables.items():
        np.add.at(counts, (states[name], table["syllable"].to_numpy()), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_syllable_usage_depends_on_the_behaviour_but_overlaps(long):
    dataset, tables, states = long
    usage = _usage(tables, states, 40)
    for a in range(len(BEHAVIOURS)):
        for b in range(a + 1, len(BEHAVIOURS)):
            overlap = np.minimum(usage[a], usage[b]).sum()
            assert 0.05 < overlap < 0.7, (BEHAVIOURS[a], BEHAVIOURS[b], overlap)
    shared = (usage > 0.01).sum(axis=0)
    assert (shared >= 2).mean() > 0.5  # most syllables are used by several behaviours


def _switch_counts(tables, states, frames) -> np.ndarray:
    """Counts of syllable changes i → j per behaviour, restricted to the given frames."""
    counts = np.zeros((len(BEHAVIOURS), 40, 40))
    for name, table in tables.items():
        syllables, behaviour = table["syllable"].to_numpy(), states[name]
        change = np.flatnonzero((syllables[1:] != syllables[:-1]) & frames(len(syllables))[1:]) + 1
        np.add.at(counts, (behaviour[change], syllables[change - 1], syllables[change]), 1)
    return counts


def test_syllable_transitions_depend_on_the_behaviour(long):
    """For the same current syllable, the next one is distributed differently in different
    behaviours, by more than the sampling noise between two halves of the data."""
    _, tables, states = long
    first_half = _switch_counts(tables, states, lambda n: np.arange(n) < n // 2)
    second_half = _switch_counts(tables, states, lambda n: np.arange(n) >= n // 2)

    def distances(a, b):  # total variation between next-syllable distributions, per well-sampled row
        rows = (a.sum(-1) >= 25) & (b.sum(-1) >= 25)
        a, b = a[rows], b[rows]
        return list(0.5 * np.abs(a / a.sum(-1, keepdims=True) - b / b.sum(-1, keepdims=True)).sum(-1))

    within, between = [], []
    for behaviour in range(len(BEHAVIOURS)):
        within += distances(first_half[behaviour], second_half[behaviour])
        for other in range(len(BEHAVIOURS)):
            if other != behaviour:
                between += distances(first_half[behaviour], second_half[other])
    assert len(within) >= 10 and len(between) >= 10
    assert np.median(between) > np.median(within) + 0.15


# --- realism: movement ------------------------------------------------------------------


def test_the_centroid_stays_inside_the_arena(long, small):
    for dataset, size in ((long[0], 160), (small, SMALL["video_size"])):
        arena = datasets._arena(size)
        centre, radius = arena.centre, arena.radius
        for path in dataset.csv_paths:
            table = pd.read_csv(path)
            assert (table[["x", "y"]] >= 0).all().all()
            assert np.hypot(table["x"] - centre, table["y"] - centre).max() < radius


def test_movement_depends_on_the_behaviour(long):
    _, tables, states = long
    speed, to_wall, near_object = ({b: [] for b in range(len(BEHAVIOURS))} for _ in range(3))
    arena = datasets._arena(160)
    centre, radius = arena.centre, arena.radius
    object_x, object_y = arena.object_xy
    for name, table in tables.items():
        speeds = smoothed_speed(table)
        for behaviour in range(len(BEHAVIOURS)):
            frames = states[name] == behaviour
            rows = table[frames]
            speed[behaviour].append(speeds[frames])
            to_wall[behaviour].append(radius - np.hypot(rows["x"] - centre, rows["y"] - centre))
            near_object[behaviour].append(np.hypot(rows["x"] - object_x, rows["y"] - object_y) < 0.5 * radius)
    speed = {b: np.median(np.concatenate(v)) for b, v in speed.items()}
    to_wall = {b: np.median(np.concatenate(v)) for b, v in to_wall.items()}
    near_object = {b: np.mean(np.concatenate(v)) for b, v in near_object.items()}
    # still while resting and grooming, roaming while exploring
    assert speed[EXPLORING] > 4 * max(speed[RESTING], speed[GROOMING])
    # at the object while investigating, at the wall while rearing
    assert near_object[INVESTIGATING] > 0.75 > 0.4 > near_object[EXPLORING]
    assert to_wall[REARING] < 0.5 * min(to_wall[EXPLORING], to_wall[INVESTIGATING])


def test_heading_and_speed_change_smoothly():
    """No jumps at syllable or behaviour changes (except where the wall stops the mouse)."""
    library = datasets._make_library(np.random.default_rng(0), 40)
    rng = np.random.default_rng(1)
    behaviours = datasets._sample_behaviours(rng, 20 * 60 * FPS, FPS)
    syllables = datasets._sample_syllables(rng, behaviours, library, FPS)
    xy, heading = datasets._simulate_centroid(rng, behaviours, syllables, library, FPS)
    assert np.abs(np.diff(heading)).max() < 0.1  # radians per frame
    step = np.hypot(*np.diff(xy, axis=0).T)  # arena radii per frame; walking is about 0.006
    assert np.quantile(np.abs(np.diff(step)), 0.999) < 0.001


def test_group_effect_plants_longer_bouts_in_the_second_group_only(tmp_path):
    from smoseq.datasets import GroupEffect
    from smoseq.metrics import bout_table

    arguments = dict(n_recordings=4, duration_s=240, n_syllables=20, video=False, progress=False)
    plain = make_example(tmp_path / "plain", **arguments)
    neutral = make_example(tmp_path / "neutral", group_effect=GroupEffect(bout_scale=1.0), **arguments)
    assert plain.groups == {} and neutral.groups == dict(zip(plain.recordings, ["control", "treated"] * 2))
    for a, b in zip(plain.csv_paths, neutral.csv_paths):
        assert a.read_bytes() == b.read_bytes()  # a factor of 1 leaves the data unchanged
    planted = make_example(tmp_path / "planted", group_effect=GroupEffect("rearing", 3.0), **arguments)
    for path in (plain.csv_paths[0], planted.csv_paths[0]):  # control recordings: untouched
        assert path.read_bytes() == plain.csv_paths[0].read_bytes()
    before, after = (bout_table(load_ground_truth(d.directory), 1.0) for d in (plain, planted))
    n_frames = 240 * 120
    for name in planted.recordings[1::2]:
        # the bouts are drawn alike up to the first rearing bout, which is then three times as long
        old = before[(before.recording == name) & (before.state == REARING)].iloc[0]
        new = after[(after.recording == name) & (after.state == REARING)].iloc[0]
        assert new["start"] == old["start"]
        assert abs(new["frames"] - 3 * old["frames"]) <= 2 or new["start"] + new["frames"] == n_frames
        assert new["frames"] > old["frames"]
    with pytest.raises(ValueError, match="behaviour must be one of"):
        GroupEffect("sleeping")
