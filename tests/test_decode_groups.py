"""Decoding the group from the state profile (`sm.decode_groups`): the features by hand, the numpy
LDA path against scikit-learn's pipeline (permutation score for permutation score), the p-value
formula, a planted effect found, no effect on null data, one-line errors. The false-positive
rate over many null datasets is the slow test at the end
(`pytest -m slow tests/test_decode_groups.py`); `benchmarks/bench_decode_groups.py` reports it
with the power."""

import numpy as np
import pandas as pd
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import LeaveOneOut, StratifiedKFold, cross_val_predict

import smoseq as sm
from smoseq.metrics import recording_features
from smoseq.metrics._shrinkage_lda import fit_lda, ledoit_wolf_covariance
from smoseq.metrics.decoding import _pipeline, permutation_p_value
from test_group_statistics import FPS, grouped_recordings

K = 4


def _study(seed, planted_state=None, n_per_group=8):
    states, groups = grouped_recordings(seed, n_per_group=n_per_group, planted_state=planted_state, n_states=K)
    return sm.behaviour_table(states, FPS, num_states=K), groups, states


def test_features_by_hand():
    states = {"a": np.array([0, 0, 1, 1, 1, 0, 2, 2]), "b": np.array([1, 1, 1, 1, 0, 0, 0, 0])}
    table = sm.behaviour_table(states, fps=2.0, num_states=3)
    features = recording_features(table, states)
    assert features.loc["a", "fraction_clr:1"] == pytest.approx(np.log(3.5) - np.mean(np.log([3.5, 3.5, 2.5])))
    assert features.loc["a", "log_median_bout_s:0"] == pytest.approx(np.log(0.75))  # bouts of 2 and 1 frames at 2 fps
    assert np.isnan(features.loc["b", "log_median_bout_s:2"])  # b never uses state 2
    # a: 0 -> 1 -> 0 -> 2; b: 1 -> 0
    assert features.loc["a", "transition:0->1"] == 0.5 and features.loc["a", "transition:0->2"] == 0.5
    assert features.loc["a", "transition:1->0"] == 1.0 and np.isnan(features.loc["a", "transition:2->0"])
    assert features.loc["b", "transition:1->0"] == 1.0 and np.isnan(features.loc["b", "transition:0->1"])
    assert features.shape == (2, 3 + 3 + 6)


def test_ledoit_wolf_lda_matches_scikit_learn():
    rng = np.random.default_rng(0)
    for n_classes, p in ((2, 30), (3, 7)):
        X = rng.normal(size=(15, p)) * rng.uniform(0.1, 3, p)
        codes = np.arange(15) % n_classes
        reference = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X, codes)
        priors = np.bincount(codes) / len(codes)
        covariance = sum(priors[c] * ledoit_wolf_covariance(X[codes == c]) for c in range(n_classes))
        np.testing.assert_allclose(covariance, reference.covariance_, rtol=1e-10, atol=1e-12)
        coef, intercept = fit_lda(X, codes, n_classes)
        np.testing.assert_allclose(coef, reference.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("n_groups, cv", [(2, "auto"), (3, "auto"), (2, "leave-one-out")])
def test_permutation_scores_are_scikit_learns(n_groups, cv):
    """The numpy LDA path gives scikit-learn's pipeline's out-of-fold predictions, permutation for
    permutation (the permutations of `permutation_test_score`: RandomState(seed).permutation)."""
    table, groups, states = _study(3, planted_state=2, n_per_group=6)
    n_permuted = 8 if cv == "leave-one-out" else 20
    groups = {r: "ABC"[i % n_groups] for i, r in enumerate(groups)}
    ours = sm.decode_groups(table, groups, states, n_permutations=n_permuted, seed=4, cv=cv)
    X = recording_features(table, states).dropna(axis=1, how="all").to_numpy()
    y = np.array([groups[r] for r in table["recording"].unique()])
    splitter = LeaveOneOut() if cv == "leave-one-out" else StratifiedKFold(min(5, 12 // n_groups), shuffle=True, random_state=4)
    rng = np.random.RandomState(4)
    expected = []
    for labels in [y] + [y[rng.permutation(len(y))] for _ in range(n_permuted)]:
        predicted = cross_val_predict(_pipeline("lda"), X, labels, cv=splitter)
        expected.append(balanced_accuracy_score(labels, predicted))
    assert ours.accuracy == pytest.approx(expected[0], abs=1e-12)
    np.testing.assert_allclose(ours.permutation_scores, expected[1:], atol=1e-12)
    assert ours.p_value == (1 + np.sum(np.array(expected[1:]) >= expected[0])) / (n_permuted + 1)
    assert ours.predictions["predicted"].tolist() == cross_val_predict(_pipeline("lda"), X, y, cv=splitter).tolist()


def test_p_value_is_the_permutation_count_formula():
    table, groups, states = _study(5, planted_state=None)
    result = sm.decode_groups(table, groups, states, n_permutations=199, seed=1)
    count = int(np.sum(result.permutation_scores >= result.accuracy))
    assert result.p_value == (count + 1) / 200 == permutation_p_value(result.accuracy, result.permutation_scores)
    assert permutation_p_value(0.8, np.array([0.8, 0.9, 0.1, 0.5])) == 3 / 5


def test_planted_effect_is_decoded_and_named():
    table, groups, states = _study(11, planted_state=2)
    result = sm.decode_groups(table, groups, states, n_permutations=1000)
    assert result.n_permutations == 1000 and result.chance == 0.5
    assert result.accuracy >= 0.85 and result.p_value <= 0.005, (result.accuracy, result.p_value)
    assert result.confusion.to_numpy().trace() >= 14 and result.confusion.to_numpy().sum() == 16
    top = result.features.iloc[0]
    assert top["state"] == 2 and top["kind"] in ("log_median_bout_s", "fraction_clr") and top["higher_in"] == "B"
    assert top["weight"] > 0  # towards the second group, B
    summary = result.summary()
    assert summary.loc[0, "balanced_accuracy"] == result.accuracy and summary.loc[0, "groups"] == "A, B"


def test_logistic_regression_decodes_the_planted_effect_too():
    table, groups, states = _study(11, planted_state=2)
    result = sm.decode_groups(table, groups, states, classifier="logistic", n_permutations=30)
    assert result.accuracy >= 0.85 and result.p_value == 1 / 31 and result.features.iloc[0]["state"] == 2


def test_null_data_decodes_at_chance():
    accuracies, p_values = [], []
    for seed in range(5):
        table, groups, states = _study(100 + seed, planted_state=None)
        result = sm.decode_groups(table, groups, states, n_permutations=60, seed=seed)
        accuracies.append(result.accuracy)
        p_values.append(result.p_value)
    assert 0.25 <= np.mean(accuracies) <= 0.7, accuracies
    assert sum(p <= 0.05 for p in p_values) <= 1, p_values


def test_table_without_transitions_still_decodes():
    table, groups, _ = _study(11, planted_state=2)
    result = sm.decode_groups(table, groups, n_permutations=100)
    assert set(result.features["kind"]) == {"fraction_clr", "log_median_bout_s"} and result.p_value <= 0.02


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: {r: "A" for r in g}, "decoding groups needs at least two groups"),
        (lambda g: {r: ("C" if i < 2 else lab) for i, (r, lab) in enumerate(g.items())},
         "group 'C' has only 2 recordings ('m00'); decoding groups needs at least 3 per group"),
        (lambda g: {k: v for k, v in list(g.items())[1:]}, "no group for recording(s) 'm00'"),
    ],
)  # fmt: skip
def test_bad_groups(change, message):
    table, groups, states = _study(1)
    with pytest.raises(sm.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sm.decode_groups(table, change(groups), states, n_permutations=10)


def test_bad_options():
    table, groups, states = _study(1)
    with pytest.raises(sm.InputError, match="classifier must be one of lda, logistic"):
        sm.decode_groups(table, groups, classifier="svm")
    with pytest.raises(sm.InputError, match="n_permutations must be >= 1"):
        sm.decode_groups(table, groups, n_permutations=0)
    with pytest.raises(sm.InputError, match=r"cv = 9 folds needs 2 <= k <= the smallest group \(8 recordings\)"):
        sm.decode_groups(table, groups, cv=9, n_permutations=10)
    with pytest.raises(sm.InputError, match="missing: median_bout_s"):
        sm.decode_groups(table.drop(columns="median_bout_s"), groups, n_permutations=10)
    with pytest.raises(sm.InputError, match="states lack recording"):
        sm.decode_groups(table, groups, {"m00": states["m00"]}, n_permutations=10)


def test_figure_draws_with_names():
    table, groups, states = _study(11, planted_state=2)
    result = sm.decode_groups(table, groups, states, n_permutations=50)
    figure = sm.viz.plot_group_decoding(result, state_labels=["walk", "groom", "rear", "rest"])
    labels = [t.get_text() for t in figure.axes[2].get_yticklabels()]
    assert "bout length: rear" in labels or "use (clr): rear" in labels


@pytest.mark.slow
def test_null_false_positive_rate():
    """50 null studies: the permutation p-value is ≤ 0.05 in at most 5 of them (expected 2.5)."""
    p_values = []
    for seed in range(50):
        table, groups, states = _study(500 + seed, planted_state=None)
        p_values.append(sm.decode_groups(table, groups, states, n_permutations=1000, seed=seed).p_value)
    assert np.mean(np.array(p_values) <= 0.05) <= 0.10, sorted(p_values)[:8]
