"""State statistics on worked examples, including runs at recording boundaries."""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import smoseq as sm
from smoseq.metrics import (
    get_bout_transition_matrix,
    get_durations,
    get_frame_transition_counts,
    get_frequencies,
    run_lengths,
    state_summary_table,
)

# "a" ends in state 3 and "b" starts in state 3: two bouts, never one.
STATES = {"a": np.array([1, 1, 2, 2, 2, 3]), "b": np.array([3, 0, 0, 0, 1])}


def test_run_lengths():
    labels, lengths = run_lengths(np.array([4, 4, 0, 4, 4, 4]))
    assert labels.tolist() == [4, 0, 4] and lengths.tolist() == [2, 1, 3]
    labels, lengths = run_lengths(np.zeros(0, int))
    assert labels.size == 0 and lengths.size == 0


def test_durations_never_merge_across_recordings():
    assert get_durations(STATES).tolist() == [2, 3, 1, 1, 3, 1]
    same_state_at_boundary = {"x": np.array([5, 5]), "y": np.array([5, 5, 5])}
    assert get_durations(same_state_at_boundary).tolist() == [2, 3]


def test_durations_of_lists_arrays_and_masked_arrays():
    assert get_durations([np.array([0, 0, 1]), jnp.array([1, 1])]).tolist() == [2, 1, 2]
    assert get_durations(np.array([[0, 0, 1], [1, 1, 1]])).tolist() == [2, 1, 3]
    # masked frames are dropped and runs do not join across them (row 0: 0 0 | 0 1; row 1: 1 1)
    states = np.array([[0, 0, 7, 0, 1], [1, 1, 1, 1, 1]])
    mask = np.array([[1, 1, 0, 1, 1], [1, 1, 0, 0, 0]])
    assert get_durations(states, mask=mask).tolist() == [2, 1, 1, 2]


def test_frequencies_per_frame_and_per_bout():
    # frames: 0 ×3, 1 ×3, 2 ×3, 3 ×2 of 11; bouts (1 1)(2 2 2)(3)|(3)(0 0 0)(1): 0 ×1, 1 ×2, 2 ×1, 3 ×2 of 6
    np.testing.assert_allclose(get_frequencies(STATES), np.array([3, 3, 3, 2]) / 11)
    np.testing.assert_allclose(get_frequencies(STATES, runlength=True), np.array([1, 2, 1, 2]) / 6)
    np.testing.assert_allclose(get_frequencies(STATES, num_states=6), np.array([3, 3, 3, 2, 0, 0]) / 11)
    with pytest.raises(sm.InputError, match="label 3"):
        get_frequencies(STATES, num_states=3)


def test_frame_transition_counts_stay_within_recordings():
    counts = get_frame_transition_counts(STATES)
    expected = np.zeros((4, 4), int)
    for i, j in [(1, 1), (1, 2), (2, 2), (2, 2), (2, 3)] + [(3, 0), (0, 0), (0, 0), (0, 1)]:
        expected[i, j] += 1
    np.testing.assert_array_equal(counts, expected)  # no (3, 3) across the boundary
    assert counts.sum() == (6 - 1) + (5 - 1)


def test_bout_transition_matrix():
    # bout sequences: 1 2 3 | 3 0 1  ->  1->2, 2->3, 3->0, 0->1 (3->3 across recordings is not a change)
    counts = get_bout_transition_matrix(STATES, normalize=False)
    expected = np.zeros((4, 4), int)
    expected[1, 2] = expected[2, 3] = expected[3, 0] = expected[0, 1] = 1
    np.testing.assert_array_equal(counts, expected)
    more = {"c": np.array([0, 1, 0, 2, 0, 1])}  # 0->1, 1->0, 0->2, 2->0, 0->1
    matrix = get_bout_transition_matrix(more, num_states=4)
    np.testing.assert_allclose(matrix, [[0, 2 / 3, 1 / 3, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert np.all(np.diag(matrix) == 0)


def test_state_summary_table():
    table = state_summary_table(STATES, fps=2.0)
    assert list(table.columns) == [
        "recording", "state", "frames", "bouts", "median_duration", "frequency", "median_duration_s"
    ]
    assert len(table) == 2 * 4
    a = table[table.recording == "a"].set_index("state")
    assert a.frames.tolist() == [0, 2, 3, 1]
    assert a.bouts.tolist() == [0, 1, 1, 1]
    assert np.isnan(a.median_duration[0]) and a.median_duration[1:].tolist() == [2.0, 3.0, 1.0]
    np.testing.assert_allclose(a.frequency, [0, 2 / 6, 3 / 6, 1 / 6])
    b = table[table.recording == "b"].set_index("state")
    assert b.frames.tolist() == [3, 1, 0, 1] and b.median_duration_s[0] == 1.5
    # joins with a per-recording sheet
    sheet = pd.DataFrame({"recording": ["a", "b"], "genotype": ["wt", "ko"]})
    assert table.merge(sheet, on="recording").groupby("genotype").frames.sum().to_dict() == {"ko": 5, "wt": 6}


def test_summary_table_median_and_masked_rows():
    states = np.array([[0, 0, 0, 1, 0, 0, 9], [1, 1, 1, 1, 1, 1, 1]])
    mask = np.array([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]])
    table = state_summary_table(states, mask=mask).set_index(["recording", "state"])
    assert table.loc[(0, 0)].tolist() == [5, 2, 2.5, 5 / 6]
    assert table.loc[(1, 1)].tolist() == [7, 1, 7.0, 1.0]


def test_bad_states_are_named():
    with pytest.raises(sm.InputError, match="negative"):
        get_durations({"r": np.array([0, -1])})
    with pytest.raises(sm.InputError, match="integers"):
        get_frequencies({"r": np.array([0.5, 1.0])})
    with pytest.raises(sm.InputError, match="mask"):
        get_durations(STATES, mask=np.ones(3))
