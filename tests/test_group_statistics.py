"""Statistics across groups (`sm.compare_groups`): scipy's and scikit-posthocs' own numbers,
Dunn's z by hand, a planted effect found (and nothing else), no effect found where none is
planted, one-line errors. The false-positive rate over many null simulations is the slow
test at the end (`pytest -m slow tests/test_group_statistics.py`)."""

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from scipy import stats

import smoseq as sm

FPS = 10.0


def semi_markov_states(rng, n_frames=3000, n_states=4, mean_bout_s=5.0, scales=None) -> np.ndarray:
    """States with gamma bout durations (shape 4); `scales[k]` multiplies state k's bouts."""
    scales = np.ones(n_states) if scales is None else scales
    states, state = [], int(rng.integers(n_states))
    while sum(map(len, states)) < n_frames:
        seconds = rng.gamma(4.0, mean_bout_s * scales[state] / 4.0)
        states.append(np.full(max(1, round(seconds * FPS)), state))
        state = int(rng.choice([k for k in range(n_states) if k != state]))
    return np.concatenate(states)[:n_frames]


def grouped_recordings(seed, n_per_group=10, planted_state=None, scale=2.5, n_states=4):
    rng = np.random.default_rng(seed)
    states, groups = {}, {}
    for i in range(2 * n_per_group):
        group = "B" if i % 2 else "A"
        scales = np.ones(n_states)
        if group == "B" and planted_state is not None:
            scales[planted_state] = scale
        states[f"m{i:02d}"] = semi_markov_states(rng, n_states=n_states, scales=scales)
        groups[f"m{i:02d}"] = group
    return states, groups


def small_table(values: dict[str, list[float]]) -> tuple[pd.DataFrame, dict]:
    """A one-state table with metric `x`: group -> values, one recording each."""
    rows, groups = [], {}
    for group, numbers in values.items():
        for i, value in enumerate(numbers):
            rows.append({"recording": f"{group}{i}", "state": 0, "x": value})
            groups[f"{group}{i}"] = group
    return pd.DataFrame(rows), groups


def test_two_groups_match_scipy_mann_whitney_and_benjamini_hochberg():
    rng = np.random.default_rng(1)
    rows = [{"recording": f"r{i}", "state": k, "x": rng.normal(k * (i % 2))} for i in range(12) for k in range(5)]
    table, groups = pd.DataFrame(rows), {f"r{i}": "AB"[i % 2] for i in range(12)}
    result = sm.compare_groups(table, groups, ["x"])
    assert list(result["test"].unique()) == ["Mann-Whitney U"] and list(result["comparison"].unique()) == ["A vs B"]
    expected = []
    for k in range(5):
        a = table[(table.state == k) & table.recording.map(groups).eq("A")]["x"].to_numpy()
        b = table[(table.state == k) & table.recording.map(groups).eq("B")]["x"].to_numpy()
        expected.append(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    assert result["p_value"].to_numpy() == pytest.approx(expected)
    assert result["p_corrected"].to_numpy() == pytest.approx(stats.false_discovery_control(expected))
    assert (result["n_a"] == 6).all() and (result["n_b"] == 6).all()


def test_effect_size_and_direction_by_hand():
    table, groups = small_table({"ctl": [1.0, 2.0, 3.0, 4.5], "drug": [4.0, 5.0, 6.0]})
    row = sm.compare_groups(table, groups, ["x"]).iloc[0]
    # pairs (drug > ctl): 4>1,2,3 (3) + 4<4.5; 5,6 beat all 4 -> U_drug = 11 of 12 pairs
    assert row["statistic"] == 11 and row["effect_size"] == pytest.approx(2 * 11 / 12 - 1)
    assert (row["group_a"], row["group_b"], row["higher"]) == ("ctl", "drug", "drug")
    assert (row["median_a"], row["median_b"]) == (2.5, 5.0)
    assert row["medians"] == "ctl=2.5, drug=5" and row["n_per_group"] == "ctl=4, drug=3"


def test_three_groups_match_kruskal_and_dunn_and_dunn_by_hand():
    values = {"a": [1.0, 2.0, 3.0, 4.0], "b": [5.0, 6.0, 7.5, 8.0], "c": [2.5, 4.5, 9.0]}
    table, groups = small_table(values)
    result = sm.compare_groups(table, groups, ["x"])
    omnibus = result[result.test == "Kruskal-Wallis"].iloc[0]
    kruskal = stats.kruskal(*values.values())
    assert omnibus["p_value"] == pytest.approx(kruskal.pvalue) and omnibus["statistic"] == pytest.approx(kruskal.statistic)
    assert omnibus["effect_size"] == pytest.approx(kruskal.statistic / (11 - 1)) and omnibus["higher"] == "b"
    dunn = result[result.test == "Dunn"].set_index("comparison")
    assert list(dunn.index) == ["a vs b", "a vs c", "b vs c"]
    library = scikit_posthocs.posthoc_dunn(
        pd.DataFrame({"v": sum(values.values(), []), "g": sum(([g] * len(v) for g, v in values.items()), [])}),
        val_col="v", group_col="g",
    )  # fmt: skip
    assert dunn.loc["a vs b", "p_value"] == pytest.approx(library.loc["a", "b"])
    # by hand (no ties): z = (mean rank b - mean rank a) / sqrt(N (N + 1) / 12 (1/n_a + 1/n_b))
    ranks = stats.rankdata(sum(values.values(), []))
    mean_a, mean_b = ranks[:4].mean(), ranks[4:8].mean()
    z = (mean_b - mean_a) / np.sqrt(11 * 12 / 12 * (1 / 4 + 1 / 4))
    assert dunn.loc["a vs b", "statistic"] == pytest.approx(z)
    assert dunn.loc["a vs b", "p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert dunn.loc["a vs b", "higher"] == "b" and dunn.loc["a vs b", "effect_size"] == pytest.approx(1.0)


def test_planted_longer_bouts_found_in_that_state_only_with_its_direction():
    states, groups = grouped_recordings(seed=3, planted_state=2)
    table = sm.behaviour_table(states, FPS, num_states=4)
    result = sm.compare_groups(table, groups, alpha=0.01)
    flagged = result[result.significant]
    for metric in ("median_bout_s", "mean_bout_s"):
        rows = flagged[flagged.metric == metric]
        assert rows["state"].tolist() == [2] and rows["higher"].tolist() == ["B"], metric
        assert rows["effect_size"].iloc[0] > 0.8  # B's recordings nearly all above A's
    assert 2 in flagged[flagged.metric == "fraction"]["state"].tolist()
    assert flagged[flagged.metric == "fraction"].set_index("state").loc[2, "higher"] == "B"
    assert "compositional" in result[result.metric == "fraction"]["note"].iloc[0]


def test_no_planted_effect_nothing_flagged():
    states, groups = grouped_recordings(seed=4)
    table = sm.behaviour_table(states, FPS, num_states=4)
    result = sm.compare_groups(table, groups, alpha=0.01)
    assert not result["significant"].any()
    assert result["p_corrected"].notna().all()


def test_states_without_values_are_not_tested_and_say_why():
    table, groups = small_table({"A": [1.0, 2.0], "B": [3.0, np.nan]})
    row = sm.compare_groups(table, groups, ["x"]).iloc[0]
    assert np.isnan(row["p_value"]) and "fewer than two recordings with a value in group(s) B" in row["note"]
    table, groups = small_table({"A": [1.0, 1.0], "B": [1.0, 1.0]})
    row = sm.compare_groups(table, groups, ["x"]).iloc[0]
    assert np.isnan(row["p_value"]) and "same value" in row["note"] and not row["significant"]


def test_group_summary_mean_and_sem():
    table, groups = small_table({"A": [1.0, 2.0, 3.0], "B": [4.0, 8.0]})
    summary = sm.group_summary(table, groups, ["x"]).set_index("group")
    assert summary.loc["A", "mean"] == 2.0 and summary.loc["A", "sem"] == pytest.approx(1 / np.sqrt(3))
    assert summary.loc["B", "n"] == 2 and summary.loc["B", "median"] == 6.0


@pytest.mark.parametrize(
    "groups, message",
    [
        ({"A0": "A", "A1": "A", "B0": "B"}, "group 'B' has only one recording ('B0')"),
        ({"A0": "A", "A1": "A", "B0": "A"}, "at least two groups"),
        ({"A0": "A", "A1": "A"}, "no group for recording(s) 'B0'"),
        ({"A0": "A", "A1": "A", "B0": "B", "ghost": "B"}, "not in the data: 'ghost'"),
    ],
)
def test_bad_groups_are_one_line(groups, message):
    table, _ = small_table({"A": [1.0, 2.0], "B": [3.0]})
    with pytest.raises(sm.InputError) as error:
        sm.compare_groups(table, groups, ["x"])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_metric_is_refused():
    table, groups = small_table({"A": [1.0, 2.0], "B": [3.0, 4.0]})
    with pytest.raises(sm.InputError, match="no column"):
        sm.compare_groups(table, groups, ["speed"])


@pytest.mark.slow
def test_false_positive_rate_under_the_null_stays_near_alpha():
    """200 null datasets (10 vs 10 recordings, 4 states): the share of metric families with any
    state flagged at 5 % after Benjamini-Hochberg, and of single tests with raw p < 5 %.
    Run: `pytest -m slow tests/test_group_statistics.py -s` (prints the rates; ~2 min)."""
    alpha, families, flagged, raw = 0.05, 0, 0, []
    for seed in range(200):
        states, groups = grouped_recordings(seed=1000 + seed)
        result = sm.compare_groups(sm.behaviour_table(states, FPS, num_states=4), groups, alpha=alpha)
        for _, family in result.groupby("metric"):
            families += 1
            flagged += bool(family["significant"].any())
        raw += result["p_value"].dropna().tolist()
    family_rate, test_rate = flagged / families, np.mean(np.array(raw) < alpha)
    print(f"family-wise false-positive rate {family_rate:.4f} over {families} families; per-test {test_rate:.4f}")
    assert family_rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / families)
    assert abs(test_rate - alpha) <= 0.02
