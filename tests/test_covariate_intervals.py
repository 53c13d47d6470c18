"""The intervals of `sm.compare_covariate_effects`: the bias-reduced (CR2) sandwich and its Bell–McCaffrey
degrees of freedom against closed forms and the explicit frame-level formulas, the logistic regression on
counts against the same formulas applied to its frames one by one, and Rubin's rules by hand.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from smoseq.metrics._cluster_robust import cr2_adjustments, cr2_covariance, satterthwaite_df
from smoseq.metrics._logistic_counts import contrast_interval, fit_logistic_counts
from smoseq.metrics._multiple_imputation import combine_draws
from smoseq.metrics.covariate_effects import covariate_effects_table


def _inverse_root(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors / np.sqrt(values)) @ vectors.T


def _explicit_cr2(X, e, cluster, contrast, weights=None, bread=None):
    """Bell & McCaffrey (2002) with N × N matrices: (I − P_gg)^{-½} on each cluster's residuals, G by its columns."""
    w = np.ones(len(X)) if weights is None else weights
    Z = X * np.sqrt(w)[:, None]
    A = np.linalg.inv(Z.T @ Z) if bread is None else bread
    hat = Z @ A @ Z.T
    residual = e / np.sqrt(w)
    meat, columns = np.zeros((X.shape[1],) * 2), []
    for g in np.unique(cluster):
        rows = cluster == g
        adjust = _inverse_root(np.eye(rows.sum()) - hat[np.ix_(rows, rows)])
        score = Z[rows].T @ adjust @ residual[rows]
        meat += np.outer(score, score)
        column = np.zeros(len(X))
        column[rows] = adjust @ Z[rows] @ A @ contrast  # the weights of ε̃_g in ℓᵀ A s̃_g ...
        columns.append((np.eye(len(X)) - hat) @ column)  # ... with ẽ = (I − P) ε̃
    gram = np.array(columns) @ np.array(columns).T
    values = np.linalg.eigvalsh(gram)
    return A @ meat @ A, values.sum() ** 2 / np.sum(values**2)


def _linear_parts(X, y, cluster):
    """Scores, information blocks and bread of least squares, cluster by cluster."""
    bread = np.linalg.inv(X.T @ X)
    e = y - X @ (bread @ X.T @ y)
    clusters = np.unique(cluster)
    scores = np.array([X[cluster == g].T @ e[cluster == g] for g in clusters])
    blocks = np.array([X[cluster == g].T @ X[cluster == g] for g in clusters])
    return e, scores, blocks, bread


def test_balanced_mean_is_the_t_interval_of_the_cluster_means():
    """Intercept only, R equal clusters: CR2 = var(cluster means)/R with the R − 1 degrees of freedom of the t test."""
    rng = np.random.default_rng(0)
    R, n = 5, 7
    cluster = np.repeat(np.arange(R), n)
    y = rng.normal(size=R * n) + np.repeat(rng.normal(size=R), n)
    X = np.ones((R * n, 1))
    _, scores, blocks, bread = _linear_parts(X, y, cluster)
    covariance = cr2_covariance(scores, blocks, bread)
    means = y.reshape(R, n).mean(1)
    assert covariance[0, 0] == pytest.approx(means.var(ddof=1) / R, rel=1e-10)
    assert satterthwaite_df(np.array([1.0]), blocks, bread, X.T @ X) == pytest.approx(R - 1, rel=1e-10)
    # CR1 (the R/(R − 1) factor) gives the same number here; the uncorrected sandwich is below by (R − 1)/R
    plain = bread @ (scores.T @ scores) @ bread
    assert plain[0, 0] == pytest.approx(covariance[0, 0] * (R - 1) / R, rel=1e-10)


def test_one_covariate_linear_model_against_the_explicit_formulas():
    """Unbalanced clusters and a covariate that varies within and between them: the Q × Q forms equal the N × N ones."""
    rng = np.random.default_rng(1)
    sizes = [3, 9, 5, 12, 4, 7]
    cluster = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=cluster.size) + 0.8 * np.repeat(rng.normal(size=len(sizes)), sizes)
    X = np.stack([np.ones_like(x), x], axis=1)
    y = 1 + 0.5 * x + rng.normal(size=x.size) * (1 + np.abs(x)) + np.repeat(rng.normal(size=len(sizes)), sizes)
    e, scores, blocks, bread = _linear_parts(X, y, cluster)
    for contrast in (np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([0.3, -2.0])):
        covariance, df = _explicit_cr2(X, e, cluster, contrast)
        np.testing.assert_allclose(cr2_covariance(scores, blocks, bread), covariance, rtol=1e-9)
        assert satterthwaite_df(contrast, blocks, bread, X.T @ X) == pytest.approx(df, rel=1e-8)
        assert 1 <= df <= len(sizes) - 1 + 1e-9


def test_cr2_and_cr1_coincide_with_many_clusters():
    """Leverages vanish as clusters multiply: CR2 / CR1 → 1 and the degrees of freedom grow."""
    rng = np.random.default_rng(2)
    R = 600
    sizes = rng.integers(5, 15, size=R)
    cluster = np.repeat(np.arange(R), sizes)
    x = rng.normal(size=cluster.size)
    X = np.stack([np.ones_like(x), x], axis=1)
    y = x + rng.normal(size=x.size) + np.repeat(rng.normal(size=R), sizes)
    _, scores, blocks, bread = _linear_parts(X, y, cluster)
    cr1 = R / (R - 1) * bread @ (scores.T @ scores) @ bread
    cr2 = cr2_covariance(scores, blocks, bread)
    np.testing.assert_allclose(np.diag(cr2), np.diag(cr1), rtol=0.01)
    assert satterthwaite_df(np.array([0.0, 1.0]), blocks, bread, X.T @ X) > 0.5 * R


def test_adjustment_of_a_recording_without_leverage_is_the_identity():
    blocks = np.array([np.zeros((2, 2)), np.eye(2)])
    adjust = cr2_adjustments(blocks, np.linalg.inv(np.eye(2) * 4))
    np.testing.assert_allclose(adjust[0], np.eye(2), atol=1e-12)
    np.testing.assert_allclose(adjust[1], np.eye(2) / np.sqrt(1 - 0.25), rtol=1e-12)


def test_logistic_counts_equal_the_frame_level_bernoulli_cr2():
    """Counts per (recording, input level) and their frames one by one give the same CR2 interval and df."""
    rng = np.random.default_rng(3)
    R, design = 5, np.array([[1.0, -0.5], [1.0, 0.5]])
    trials = rng.integers(30, 90, size=(R, 2)).astype(float)
    successes = rng.binomial(trials.astype(int), expit(-1.0 + 0.7 * design[:, 1] + rng.normal(0, 0.3, size=(R, 1))))
    fit = fit_logistic_counts(successes, trials, design, 0.0, 0.0)
    p = expit(design @ fit.estimate)
    # the frames: one Bernoulli row each
    X, e, w, cluster = [], [], [], []
    for r in range(R):
        for u in range(2):
            n, y = int(trials[r, u]), int(successes[r, u])
            outcome = np.r_[np.ones(y), np.zeros(n - y)]
            X += [design[u]] * n
            e += list(outcome - p[u])
            w += [p[u] * (1 - p[u])] * n
            cluster += [r] * n
    X, e, w, cluster = map(np.array, (X, e, w, cluster))
    information = (X * w[:, None]).T @ X + np.diag([0.0, 10.0**-2])  # the N(0, 10²) weight prior is in the bread
    np.testing.assert_allclose(information, fit.information, rtol=1e-10)
    for contrast in (np.array([0.0, 1.0]), np.array([1.0, 0.0])):
        covariance, _ = _explicit_cr2(X, e, cluster, contrast, weights=w, bread=np.linalg.inv(information))
        variance, df = contrast_interval(fit, contrast)
        assert variance == pytest.approx(contrast @ covariance @ contrast, rel=1e-8)
        assert 1 <= df <= R - 1 + 1e-6


def test_cr2_t_intervals_cover_on_few_clusters():
    """400 experiments of 6 unbalanced clusters with a within-cluster covariate: the 95 % interval covers ~95 %."""
    rng = np.random.default_rng(4)
    covered = []
    for _ in range(400):
        sizes = rng.integers(4, 40, size=6)
        cluster = np.repeat(np.arange(6), sizes)
        x = rng.normal(size=cluster.size) + np.repeat(rng.normal(size=6), sizes)
        X = np.stack([np.ones_like(x), x], axis=1)
        slope = 0.5 + np.repeat(rng.normal(0, 0.5, size=6), sizes)  # recordings differ: a cluster-level effect
        y = slope * x + rng.normal(size=x.size)
        e, scores, blocks, bread = _linear_parts(X, y, cluster)
        beta = bread @ X.T @ y
        se = np.sqrt(cr2_covariance(scores, blocks, bread)[1, 1])
        df = satterthwaite_df(np.array([0.0, 1.0]), blocks, bread, X.T @ X)
        covered.append(abs(beta[1] - 0.5) <= stats.t.ppf(0.975, df) * se)
    assert 0.92 <= np.mean(covered) <= 0.985, np.mean(covered)


def test_rubins_rules_by_hand():
    """q̄, T = W + (1 + 1/D) B and the Barnard–Rubin df computed by hand; one draw is the complete-data answer."""
    estimate, variance, df = combine_draws([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [10.0, 10.0, 10.0])
    total = 0.5 + (4 / 3) * 1.0
    gamma = (4 / 3) / total
    df_old, df_obs = 2 / gamma**2, 11 / 13 * 10 * (1 - gamma)
    assert (estimate, variance) == (pytest.approx(2.0), pytest.approx(total))
    assert df == pytest.approx(df_old * df_obs / (df_old + df_obs))
    assert combine_draws([1.5], [0.2], [4.0]) == (1.5, 0.2, 4.0)
    # identical draws: no between variance, T = W, and ν = ν_obs at γ → 0 (the 10⁻⁴ floor)
    _, variance, df = combine_draws([1.0] * 4, [0.3] * 4, [5.0] * 4)
    assert variance == pytest.approx(0.3) and df == pytest.approx(6 / 8 * 5, rel=1e-3)


def test_effect_table_combines_one_regression_per_draw():
    """Two draws of the counts: the table's log-odds is the mean of the draws' own fits, its interval Rubin's."""
    rng = np.random.default_rng(5)
    draws = np.zeros((2, 5, 2, 2, 2))
    for r in range(5):
        for u, rate in enumerate((0.03, 0.05)):
            exits = rng.poisson(800 * rate, size=2)
            moved = rng.integers(-2, 3, size=2)  # the second draw decodes a few bouts differently
            for d, change in enumerate((0, moved)):
                out = exits + change
                draws[d, r, u] = [[800 - out[0], out[0]], [out[1], 800 - out[1]]]
    rows, centre = np.array([[0.0], [1.0]]), np.array([0.5])
    table = covariate_effects_table(draws, rows, ["light"], centre)
    design = np.array([[1.0, -0.5], [1.0, 0.5]])
    frames = draws.sum(-1)
    exits = frames - np.diagonal(draws, axis1=-2, axis2=-1)
    fits = [fit_logistic_counts(exits[d, ..., 0], frames[d, ..., 0], design, 0.5, 1.0) for d in range(2)]
    parts = [contrast_interval(fit, np.array([0.0, 1.0])) for fit in fits]
    weight, variance, df = combine_draws([fit.estimate[1] for fit in fits], [p[0] for p in parts], [p[1] for p in parts])
    leave0 = table[(table["kind"] == "leave") & (table["state"] == 0)].iloc[0]
    assert leave0["log_odds"] == pytest.approx(weight)
    half = stats.t.ppf(0.975, df) * np.sqrt(variance)
    assert leave0["log_odds_upper"] - leave0["log_odds"] == pytest.approx(half)
    single = covariate_effects_table(draws[0], rows, ["light"], centre)  # (R, U, K, K): one draw, no Rubin
    assert single["log_odds"].iloc[0] == pytest.approx(fits[0].estimate[1])
