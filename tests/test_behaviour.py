"""Per-state behaviour (`sm.behaviour_table`): tables worked out by hand on tiny recordings."""

import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.metrics.behaviour import arena_centre, frame_angular_speeds, frame_speeds


def tiny():
    # fps 2: frame t at time t/2 s. States 0 0 1 1 1 0; the centroid moves 3-4-5 steps in state 1.
    states = {"a": np.array([0, 0, 1, 1, 1, 0])}
    centroids = {"a": np.array([[0, 0], [0, 0], [3, 4], [6, 8], [6, 8], [6, 8]], dtype=float)}
    return states, centroids


def test_time_and_bouts_by_hand():
    states, _ = tiny()
    table = sm.behaviour_table(states, fps=2.0)
    row0, row1 = table.iloc[0], table.iloc[1]
    # state 0: frames 0,1 and 5 -> 3 frames, 2 bouts of 1.0 s and 0.5 s; recording 3 s = 0.05 min
    assert (row0["frames"], row0["bouts"], row0["fraction"]) == (3, 2, 0.5)
    assert row0["median_bout_s"] == 0.75 and row0["mean_bout_s"] == 0.75
    assert row0["bouts_per_minute"] == pytest.approx(2 / 0.05)
    # state 1: frames 2..4, one bout of 1.5 s
    assert (row1["frames"], row1["bouts"], row1["median_bout_s"]) == (3, 1, 1.5)
    assert row1["bouts_per_minute"] == pytest.approx(20.0)
    # centred log-ratio with 0.5 pseudo-frames: both states equal -> 0
    assert table["fraction_clr"].tolist() == pytest.approx([0.0, 0.0])


def test_speed_and_distance_to_centre_by_hand():
    states, centroids = tiny()
    table = sm.behaviour_table(states, fps=2.0, centroids=centroids)
    # speeds per frame (units/s): nan, 0, 10, 10, 0, 0  (a 5-unit step per half second)
    assert frame_speeds(centroids["a"], 2.0)[1:].tolist() == [0, 10, 10, 0, 0]
    # state 0 frames 0,1,5: speeds nan, 0, 0 -> mean 0; state 1 frames 2,3,4: 10, 10, 0
    assert table["mean_speed"].tolist() == pytest.approx([0.0, 20 / 3])
    assert table["median_speed"].tolist() == pytest.approx([0.0, 10.0])
    # bounding box (0,0)-(6,8): centre (3,4); distances 5,5,0,5,5,5
    assert arena_centre(centroids["a"]).tolist() == [3.0, 4.0]
    assert table["mean_distance_to_centre"].tolist() == pytest.approx([5.0, 10 / 3])
    given = sm.behaviour_table(states, fps=2.0, centroids=centroids, arena_centre=(0, 0))
    assert given["mean_distance_to_centre"].tolist() == pytest.approx([10 / 3, 25 / 3])


def test_unused_states_rows_and_join_with_a_sheet():
    states = {"a": np.array([0, 0, 2]), "b": np.array([2, 2, 2, 2])}
    table = sm.behaviour_table(states, fps=1.0, num_states=4)
    assert len(table) == 8 and table["state"].tolist() == [0, 1, 2, 3] * 2
    unused = table[(table.recording == "b") & (table.state == 0)].iloc[0]
    assert unused["frames"] == 0 and unused["bouts"] == 0 and np.isnan(unused["median_bout_s"])
    clr = table[table.recording == "a"]["fraction_clr"].to_numpy()
    logs = np.log(np.array([2, 0, 1, 0]) + 0.5)
    assert clr == pytest.approx(logs - logs.mean())
    sheet = pd.DataFrame({"recording": ["a", "b"], "genotype": ["wt", "ko"]})
    assert table.merge(sheet, on="recording")["genotype"].tolist() == ["wt"] * 4 + ["ko"] * 4


def test_headings_give_angular_speed():
    heading = np.array([0.0, 0.1, -0.1, np.pi - 0.05, -np.pi + 0.05])
    turning = frame_angular_speeds(heading, fps=10)
    # steps 0.1, -0.2, pi + 0.05 (wraps to a turn of pi - 0.05), -2 pi + 0.1 (wraps to 0.1)
    assert np.isnan(turning[0])
    assert turning[1:] == pytest.approx([1.0, 2.0, 10 * (np.pi - 0.05), 1.0])
    table = sm.behaviour_table({"a": np.array([0, 0, 1, 1, 1])}, fps=10, headings={"a": heading})
    assert table["mean_angular_speed"].tolist() == pytest.approx([1.0, np.mean(turning[2:])])


def test_bout_table():
    bouts = sm.bout_table({"a": np.array([0, 0, 1, 1, 1, 0])}, fps=2.0)
    assert bouts[["state", "start", "frames"]].values.tolist() == [[0, 0, 2], [1, 2, 3], [0, 5, 1]]
    assert bouts["duration_s"].tolist() == [1.0, 1.5, 0.5]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sm.behaviour_table({"a": np.zeros(3, int)}, fps=0), "fps must be a number > 0"),
        (lambda: sm.behaviour_table({"a": np.zeros(3, int)}, fps=-1), "fps must be a number > 0"),
        (lambda: sm.behaviour_table({"a": np.zeros(3, int)}, 1, centroids={}), "recording 'a' has no centroid track"),
        (lambda: sm.behaviour_table({"a": np.zeros(3, int)}, 1, centroids={"a": np.zeros((2, 2))}), "shape (2, 2), expected (3, 2)"),
        (lambda: sm.behaviour_table({"a": np.array([0, 3])}, 1, num_states=2), "state 3 but num_states is 2"),
    ],
)
def test_bad_input_is_one_line(call, message):
    with pytest.raises(sm.InputError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_smoothing_the_centroid_before_speeds():
    zigzag = np.array([[0, 0], [3, 0], [0, 0], [3, 0], [0, 0], [3, 0]], dtype=float)
    assert frame_speeds(zigzag, fps=10)[1:].tolist() == [30.0] * 5
    # centred 3-frame means of x: 1.5, 1, 2, 1, 2, 1.5 (edges average the frames there are)
    assert frame_speeds(zigzag, fps=10, smooth_s=0.3)[1:] == pytest.approx([5.0, 10.0, 10.0, 10.0, 5.0])
    table = sm.behaviour_table({"a": np.zeros(6, int)}, fps=10, centroids={"a": zigzag}, smooth_s=0.3)
    assert table["mean_speed"].iloc[0] == pytest.approx(8.0)
    with pytest.raises(sm.InputError, match="smooth_s must be >= 0"):
        frame_speeds(zigzag, fps=10, smooth_s=-1)
