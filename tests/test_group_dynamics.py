"""The group-dynamics estimator on hand-made state sequences, against values computed by hand.

Every value is (Σ_r y_r + a) / (Σ_r x_r + b) over a group's recordings, its log with the
cluster-robust variance n/(n−1)·Σ_r (d_r − d̄)², d_r = y_r/Y − x_r/X, t quantiles with
n − 1 degrees of freedom; kept samples enter through each recording's mean
counts (see `smoseq.metrics.group_dynamics`).
"""

import numpy as np
import pytest
from scipy import stats

import smoseq as sm
from smoseq.metrics.group_dynamics import group_dynamics_table, small_sample_df, transition_counts

# Two groups of two recordings, K = 2 states.
STATES = [
    [0, 0, 0, 1, 1, 0],  # A: 0→0 twice, 0→1, 1→1, 1→0
    [1, 1, 1, 1, 0, 0],  # A: 1→1 three times, 1→0, 0→0
    [0, 0, 0, 0, 0, 1],  # B: 0→0 four times, 0→1
    [1, 0, 0, 0, 0, 0],  # B: 1→0, 0→0 four times
]
GROUPS = np.array([0, 0, 1, 1])


def rows(table, kind, quantity, state, group, to_state=-1):
    selected = table[(table.kind == kind) & (table.quantity == quantity) & (table.state == state)
                     & (table.group == group) & (table.to_state == to_state)]  # fmt: skip
    assert len(selected) == 1
    return selected.iloc[0]


def test_transition_counts_by_hand():
    counts = transition_counts(STATES, 2)
    np.testing.assert_array_equal(counts[0], [[2, 1], [1, 1]])
    np.testing.assert_array_equal(counts[1], [[1, 0], [1, 3]])
    np.testing.assert_array_equal(counts[2], [[4, 1], [0, 0]])
    np.testing.assert_array_equal(counts[3], [[4, 0], [1, 0]])


def test_one_set_of_states_against_hand_computed_estimates_and_intervals():
    table = group_dynamics_table(transition_counts(STATES, 2), GROUPS, ["A", "B"], fps=2.0)
    # Group A, state 0: frames with a successor 3 + 1, exits 1 + 0; K = 2 adds 1 and 0.5.
    Y, X = 3 + 1 + 1.0, 1 + 0 + 0.5
    d = np.array([3 / Y - 1 / X, 1 / Y - 0 / X])
    variance = 2 / 1 * ((d - d.mean()) ** 2).sum()
    df = 1  # n − 1 for n = 2 recordings
    half = stats.t.ppf(0.975, df) * np.sqrt(variance)
    a0 = rows(table, "group", "duration_frames", 0, "A")
    np.testing.assert_allclose([a0["median"], a0["lower"], a0["upper"]],
                               [Y / X, Y / X * np.exp(-half), Y / X * np.exp(half)], rtol=1e-10)  # fmt: skip
    np.testing.assert_allclose(rows(table, "group", "duration_seconds", 0, "A")["median"], Y / X / 2.0, rtol=1e-10)
    # Group B, state 0: 5 + 4 frames, 1 + 0 exits.
    b0 = rows(table, "group", "duration_frames", 0, "B")
    assert b0["median"] == pytest.approx((9 + 1.0) / (1 + 0.5))
    ratio = rows(table, "ratio", "duration_frames", 0, "B")
    assert ratio["reference"] == "A" and ratio["median"] == pytest.approx(10 / 5)
    # Occupancy of state 1 in group A: (1 + 1 + 3 + 1 + 0.5) / (10 + 1).
    assert rows(table, "group", "occupancy", 1, "A")["median"] == pytest.approx(6.5 / 11)
    # Transition 1 → 0 in group B: (0 + 1 + 0.5) / (0 + 1 + 1).
    assert rows(table, "group", "transition_probability", 1, "B", to_state=0)["median"] == pytest.approx(0.75)
    assert len(table[table.quantity == "transition_probability"]) == 2 * 4 + 4


def test_kept_samples_are_averaged_per_recording_before_the_ratio():
    first = transition_counts(STATES, 2)
    second = transition_counts([[0, 0, 1, 1, 1, 0], *STATES[1:]], 2)  # recording 0 decoded differently
    table = group_dynamics_table(np.stack([first, second]), GROUPS, ["A", "B"])
    # Recording 0's frames in state 0 with a successor: 3 and 2 (mean 2.5); exits: 1 and 1.
    Y, X = 2.5 + 1 + 1.0, 1 + 0 + 0.5
    d = np.array([2.5 / Y - 1 / X, 1 / Y])
    half = stats.t.ppf(0.975, 1) * np.sqrt(2 * ((d - d.mean()) ** 2).sum())
    a0 = rows(table, "group", "duration_frames", 0, "A")
    np.testing.assert_allclose([a0["median"], a0["lower"], a0["upper"]],
                               Y / X * np.exp(np.array([0, -half, half])), rtol=1e-10)  # fmt: skip
    # Group B is the same in both samples: as if there were one.
    single = group_dynamics_table(first, GROUPS, ["A", "B"])
    np.testing.assert_allclose(rows(table, "group", "duration_frames", 1, "B")[["median", "lower", "upper"]].to_numpy(float),
                               rows(single, "group", "duration_frames", 1, "B")[["median", "lower", "upper"]].to_numpy(float))


def test_small_sample_degrees_of_freedom_and_the_contrast():
    assert [small_sample_df(n) for n in (1, 2, 5)] == [0, 1, 4]
    table = group_dynamics_table(transition_counts(STATES, 2), GROUPS, ["A", "B"])
    a, b = (rows(table, "group", "duration_frames", 1, g) for g in "AB")
    ratio = rows(table, "ratio", "duration_frames", 1, "B")
    assert ratio["median"] == pytest.approx(b["median"] / a["median"])
    # The log variances add; each group has df 1, so Welch–Satterthwaite gives 2 when they are equal and less otherwise.
    u_a = (np.log(a["upper"] / a["median"]) / stats.t.ppf(0.975, 1)) ** 2
    u_b = (np.log(b["upper"] / b["median"]) / stats.t.ppf(0.975, 1)) ** 2
    df = (u_a + u_b) ** 2 / (u_a**2 / 1 + u_b**2 / 1)
    t = np.log(ratio["median"]) / np.sqrt(u_a + u_b)
    assert ratio["p_greater"] == pytest.approx(stats.t.cdf(t, df))
    assert ratio["upper"] == pytest.approx(ratio["median"] * np.exp(stats.t.ppf(0.975, df) * np.sqrt(u_a + u_b)))


def test_a_group_of_one_recording_gets_an_estimate_without_interval_and_bad_input_is_refused():
    table = group_dynamics_table(transition_counts(STATES[:3], 2), np.array([0, 0, 1]), ["A", "B"])
    b0 = rows(table, "group", "duration_frames", 0, "B")
    assert b0["median"] == pytest.approx(6 / 1.5) and np.isnan(b0["lower"]) and np.isnan(b0["upper"])
    assert np.isnan(rows(table, "ratio", "duration_frames", 0, "B")["p_greater"])
    with pytest.raises(sm.InputError, match="'C' have no recordings"):
        group_dynamics_table(transition_counts(STATES, 2), GROUPS, ["A", "B", "C"])
    with pytest.raises(sm.InputError, match="groups must be 4 indices"):
        group_dynamics_table(transition_counts(STATES, 2), GROUPS[:3], ["A", "B"])
    with pytest.raises(sm.InputError, match="must be \\(n_samples, recordings, K, K\\)"):
        group_dynamics_table(np.ones((2, 3)), GROUPS, ["A", "B"])
    with pytest.raises(sm.InputError, match="level must be between 0 and 1"):
        group_dynamics_table(transition_counts(STATES, 2), GROUPS, ["A", "B"], level=95)


def test_interval_coverage_on_true_semi_markov_states():
    """Given the true states of recordings whose bouts are not geometric and whose animals
    differ, 95 % intervals of the duration ratio cover the true ratio about 95 % of the time
    (binomial: 200 intervals, at least 180 must cover; a calibrated interval fails this in
    well under 1 % of runs)."""
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(100):
        states = []
        for g in range(2):
            for _ in range(5):
                scale = np.exp(0.2 * rng.standard_normal())
                means = scale * np.array([40.0 * (2 if g else 1), 40.0])
                path, state = [], int(rng.integers(2))
                while len(path) < 1500:
                    path += [state] * max(int(rng.gamma(4.0, means[state] / 4)), 1)
                    state = 1 - state
                states.append(path[int(rng.integers(100)):][:1200])
        table = group_dynamics_table(transition_counts(states, 2), np.repeat([0, 1], 5), ["A", "B"])
        for state, truth in ((0, 2.0), (1, 1.0)):
            ratio = rows(table, "ratio", "duration_frames", state, "B")
            covered.append(ratio["lower"] <= truth <= ratio["upper"])
    assert sum(covered) >= 180, sum(covered)
