"""Input-driven transitions: matrices by hand, the exact leaving and destination updates against exact
posteriors, the effect estimates against hand-computed ratios, a small fit and the CLI.

The acceptance fits (a binary input doubles one state's leaving rate, or shifts where it
goes; null inputs flag nothing; states recovered as well as by the sticky model) and the
SBC of both updates are slow: `pytest -m slow tests/test_input_driven.py`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

import smoseq as sm
from smoseq.datasets import simulate_input_driven
from smoseq.metrics.covariate_effects import covariate_effects_table
from smoseq.models import (
    DestinationEvents,
    InputDrivenTransitions,
    LeaveEvents,
    SyllableData,
    resample_coefficients,
    resample_destinations,
)


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def test_transition_matrices_by_hand():
    names = ("light", "dose")
    transitions = InputDrivenTransitions.create(3, names, centre=[0.5, 0.0])
    coefficients = jnp.array([[-2.0, 1.0, 0.0], [-3.0, 0.0, 0.5], [-1.0, -1.0, 2.0]])
    destinations = jnp.asarray(np.random.default_rng(0).normal(size=(3, 3, 3))) * (1 - jnp.eye(3))[..., None]
    transitions = eqx.tree_at(lambda t: (t.coefficients, t.destinations), transitions, (coefficients, destinations))
    inputs = jnp.array([[[0.0], [1.0]]])  # (N=1, T=2, D=1)
    data = SyllableData(jnp.zeros((1, 2), int), jnp.ones((1, 2)), inputs=inputs, covariates=jnp.array([[2.0]]),
                        input_names=("light",), covariate_names=("dose",))  # fmt: skip
    trans = np.asarray(transitions.transition_matrices(data))
    assert trans.shape == (1, 2, 3, 3)
    for t, light in enumerate((0.0, 1.0)):
        x = np.array([1.0, light - 0.5, 2.0])
        for i in range(3):
            leave = expit(x @ np.asarray(coefficients[i]))
            logits = np.asarray(destinations[i]) @ x
            others = [j for j in range(3) if j != i]
            expected = np.zeros(3)
            expected[others] = leave * np.exp(logits[others]) / np.exp(logits[others]).sum()
            expected[i] = 1 - leave
            np.testing.assert_allclose(trans[0, t, i], expected, rtol=1e-5)


def test_statistics_count_leaves_destinations_and_prior_pseudo_events():
    transitions = InputDrivenTransitions.create(2, ("u",), kappa=3.0, beta=1.0)
    states = jnp.array([[0, 0, 1, 1, 0]])
    data = SyllableData(jnp.zeros((1, 5), int), jnp.array([[1, 1, 1, 1, 0.0]]), inputs=jnp.ones((1, 5, 1)), input_names=("u",))
    events, exits = transitions.statistics(states, data)
    np.testing.assert_array_equal(np.asarray(events.origin), [0, 0, 1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(np.asarray(events.leave), [0, 1, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(events.weight), [1, 1, 1, 1, 1, 1, 4, 4])  # mask[t-1] (as sticky counts), (K-1)β leaves, κ+β stays
    np.testing.assert_array_equal(np.asarray(exits.destination), [0, 1, 1, 0])
    np.testing.assert_array_equal(np.asarray(exits.weight), [0, 1, 0, 1])  # real steps that leave


def _destination_chain(events, n_draws, beta=1.0, precision=(0.0, 1.0), seed=0):
    mean, precision = jnp.zeros(len(precision)), jnp.asarray(precision)
    start = jnp.zeros((3, 3, len(precision)))

    def step(coefficients, key):
        coefficients, accepted = resample_destinations(key, coefficients, events, mean, precision, beta)
        return coefficients, (coefficients, accepted)

    _, (chain, accepted) = jax.lax.scan(step, start, jr.split(jr.key(seed), n_draws))
    return np.asarray(chain), np.asarray(accepted)


def test_destination_update_without_inputs_is_the_dirichlet_posterior(x64):
    """No features: log-Gamma(β) logits make p(0 → 1 | leave 0) ~ Beta(β + n₁, β + n₂) exactly, and e^b₀₁ + e^b₀₂ ~ Gamma(2β)."""
    destination = np.array([1] * 7 + [2] * 3)
    m = len(destination)
    events = DestinationEvents(jnp.zeros(m, int), jnp.asarray(destination), jnp.ones(m), jnp.ones((m, 1)))
    chain, accepted = _destination_chain(events, 4000, beta=0.7, precision=(0.0,))
    intercepts = chain[500:, 0, :, 0]
    p = np.exp(intercepts[:, 1]) / np.exp(intercepts[:, 1:]).sum(1)
    np.testing.assert_allclose(p.mean(), 7.7 / 11.4, atol=0.015)
    np.testing.assert_allclose(p.std(), stats.beta(7.7, 3.7).std(), rtol=0.1)
    total = np.exp(intercepts[:, 1:]).sum(1)
    np.testing.assert_allclose(total.mean(), 1.4, rtol=0.12)  # Gamma(2β) mean: the prior's, the data do not inform it
    assert accepted[:, 1:].mean() > 0.5


def test_destination_update_matches_importance_sampling(x64):
    """K = 3, one 0/1 input, exits of state 0: chain means of p(0 → 1 | off), p(0 → 1 | on) against prior importance sampling."""
    rng = np.random.default_rng(1)
    m = 40
    x = rng.integers(0, 2, m).astype(float)
    destination = np.where(rng.random(m) < np.where(x > 0, 0.8, 0.4), 1, 2)
    design = np.stack([np.ones(m), x], 1)
    events = DestinationEvents(jnp.zeros(m, int), jnp.asarray(destination), jnp.ones(m), jnp.asarray(design))
    chain, accepted = _destination_chain(events, 4000)
    draws = chain[500:, 0]  # (n, K, 2) logits of state 0's destinations

    def p_one(g, light):
        eta = g[..., 0] + g[..., 1] * light
        return 1 / (1 + np.exp(eta[..., 2] - eta[..., 1]))

    prior = np.stack([np.log(rng.gamma(1.0, size=(400000, 3))), rng.normal(size=(400000, 3))], -1)
    eta = prior[:, None, 1:, 0] + prior[:, None, 1:, 1] * x[None, :, None]  # (n, m, 2)
    log_lik = (eta[np.arange(len(prior))[:, None], np.arange(m), destination - 1] - np.logaddexp(eta[..., 0], eta[..., 1])).sum(1)
    w = np.exp(log_lik - log_lik.max())
    w /= w.sum()
    assert 1 / (w**2).sum() > 2000  # effective sample size of the oracle
    for light in (0.0, 1.0):
        oracle = (w * p_one(prior, light)).sum()
        sd = np.sqrt((w * (p_one(prior, light) - oracle) ** 2).sum())
        np.testing.assert_allclose(p_one(draws, light).mean(), oracle, atol=sd / 4)
        np.testing.assert_allclose(p_one(draws, light).std(), sd, rtol=0.15)
    assert accepted.mean() > 0.5


def test_effect_table_matches_hand_computed_ratios():
    """Binary input, 4 recordings: the leave-rate and destination ratios are the count ratios (up to the ½ pseudo-counts)."""
    rng = np.random.default_rng(2)
    counts = np.zeros((4, 2, 3, 3))
    for r in range(4):
        for u, rate in enumerate((0.02, 0.04)):  # state 0 left twice as often with the input on
            frames = 3000
            exits = rng.poisson(frames * rate)
            to_one = rng.binomial(exits, 0.5)
            counts[r, u, 0] = [frames - exits, to_one, exits - to_one]
            counts[r, u, 1] = [rng.poisson(40), frames, rng.poisson(40)]
            counts[r, u, 2] = [rng.poisson(40), rng.poisson(40), frames]
    rows = np.array([[0.0], [1.0]])
    table = covariate_effects_table(counts, rows, ["light"], np.array([0.5]))
    assert len(table) == 3 + 6 and set(table["kind"]) == {"leave", "destination"}
    leave0 = table[(table["kind"] == "leave") & (table["state"] == 0)].iloc[0]
    frames, exits = counts[:, :, 0].sum((0, 2)), counts[:, :, 0, 1:].sum((0, 2))
    assert leave0["leave_rate_ratio"] == pytest.approx((exits[1] / frames[1]) / (exits[0] / frames[0]), rel=0.01)
    assert leave0["leave_rate_ratio_lower"] < leave0["leave_rate_ratio"] < leave0["leave_rate_ratio_upper"]
    assert leave0["duration_ratio"] == pytest.approx(1 / leave0["leave_rate_ratio"])
    logit = np.log(exits / (frames - exits))  # the baseline is the rate at the average frame: the mean of the logits
    assert leave0["baseline"] == pytest.approx(1 + np.exp(-logit.mean()), rel=0.02)
    dest = table[(table["kind"] == "destination") & (table["state"] == 0) & (table["to_state"] == 1)].iloc[0]
    to_one = counts[:, :, 0, 1].sum(0)
    assert dest["ratio"] == pytest.approx((to_one[1] / exits[1]) / (to_one[0] / exits[0]), rel=0.03)
    figure = sm.plot_covariate_effects(table)
    assert len(figure.axes) == 2  # leaving, and where to
    single = covariate_effects_table(counts[:1], rows, ["light"], np.array([0.5]))  # one recording: no interval
    assert single["ratio_lower"].isna().all() and not single["flagged"].any()


def test_coefficient_update_matches_grid_posterior(x64):
    """One state, an intercept and one binary input: chain moments against the posterior on a grid."""
    rng = np.random.default_rng(0)
    m = 60
    x = rng.integers(0, 2, m).astype(float)
    y = (rng.random(m) < expit(-1 + 0.7 * x)).astype(float)
    events = LeaveEvents(jnp.zeros(m, int), jnp.asarray(y), jnp.ones(m), jnp.stack([jnp.ones(m), jnp.asarray(x)], 1))
    mean, precision = jnp.zeros(2), jnp.array([0.25, 1.0])

    def step(coefficients, key):
        coefficients, accepted = resample_coefficients(key, coefficients, events, mean, precision)
        return coefficients, (coefficients[0], accepted[0])

    _, (chain, accepted) = jax.lax.scan(step, jnp.zeros((1, 2)), jr.split(jr.key(0), 3000))
    chain = np.asarray(chain)
    grid = np.linspace(-6, 4, 401)
    a, w = np.meshgrid(grid, grid, indexing="ij")
    psi = a[..., None] + w[..., None] * x
    log_post = (y * psi - np.logaddexp(0, psi)).sum(-1) - 0.5 * 0.25 * a**2 - 0.5 * w**2
    p = np.exp(log_post - log_post.max())
    p /= p.sum()
    means = np.array([(p * a).sum(), (p * w).sum()])
    sds = np.sqrt(np.array([(p * a**2).sum(), (p * w**2).sum()]) - means**2)
    # 3000 nearly independent draws (acceptance > 0.8): standard error of a mean ≈ sd / 50
    np.testing.assert_allclose(chain.mean(0), means, atol=4 * sds.max() / np.sqrt(3000 * 0.5))
    np.testing.assert_allclose(chain.std(0), sds, rtol=0.08)
    assert float(np.mean(accepted)) > 0.8


def test_log_prior_matches_sample_prior(x64):
    """The sticky baseline's density: Beta((K−1)β, κ+β) on σ(a); sample_prior's draws follow it."""
    transitions = InputDrivenTransitions.create(3, ("u",), kappa=20.0, beta=1.0)
    draws = jax.vmap(transitions.sample_prior)(jr.split(jr.key(1), 4000))
    leave = np.asarray(jax.nn.sigmoid(draws.coefficients[:, :, 0])).ravel()
    np.testing.assert_allclose(leave.mean(), 2.0 / 23.0, rtol=0.05)  # Beta(2, 21) mean
    weights = np.asarray(draws.coefficients[:, :, 1]).ravel()
    np.testing.assert_allclose(weights.std(), 1.0, rtol=0.05)
    # log_prior's intercept term is the Beta((K−1)β, κ+β) density of σ(a) times the Jacobian σ(a)(1 − σ(a))
    def log_prior_at(a):
        return float(eqx.tree_at(lambda t: t.coefficients, transitions, transitions.coefficients.at[0, 0].set(a)).log_prior())

    for a in (-4.0, -1.0, 1.5):
        p = expit(a)
        expected = stats.beta.logpdf(p, 2.0, 21.0) + np.log(p * (1 - p))
        reference = stats.beta.logpdf(0.5, 2.0, 21.0) + np.log(0.25)
        assert log_prior_at(a) - log_prior_at(0.0) == pytest.approx(expected - reference, rel=1e-9)


def test_fit_keeps_feature_counts_and_reports_effects(tmp_path):
    example = simulate_input_driven(n_recordings=2, n_frames=400, n_states=2, n_syllables=5, leave=0.05, seed=3)
    result = sm.fit(example.syllables, n_states=2, n_iters=6, transitions="input_driven", inputs=example.inputs,
                    emissions="full_rank", kappa=10.0, seed=0, progress=False, n_init_iters=2)  # fmt: skip
    assert result.coefficient_samples.shape == (3, 2, 2)
    assert result.feature_counts.shape == (2, 2, 2, 2)  # recordings, light off/on, K, K
    np.testing.assert_array_equal(result.feature_rows, [[0.0], [1.0]])
    np.testing.assert_allclose(result.feature_counts.sum(axis=(1, 2, 3)), [399, 399], rtol=1e-6)  # every step, averaged
    assert result.feature_draws.shape == (3, 2, 2, 2, 2)  # the 3 kept iterations' own counts
    np.testing.assert_allclose(result.feature_draws.sum(axis=(2, 3, 4)), 399)
    np.testing.assert_allclose(result.feature_draws.mean(0), result.feature_counts, rtol=1e-5)
    assert result.hyperparameters["components"]["transitions"] == "InputDrivenTransitions"
    table = sm.compare_covariate_effects(result)
    assert list(table["feature"]) == ["light", "light"] and set(table["kind"]) == {"leave"}  # K = 2: one destination
    assert (table["leave_rate_ratio_lower"] <= table["leave_rate_ratio"]).all()
    assert (table["leave_rate_ratio"] <= table["leave_rate_ratio_upper"]).all()
    np.testing.assert_allclose(table["duration_ratio"] * table["leave_rate_ratio"], 1.0)
    figure = sm.plot_covariate_effects(table)
    figure.savefig(tmp_path / "effects.png")
    reordered = sm.reorder_states(result, by=[1, 0])
    np.testing.assert_array_equal(reordered.feature_counts, result.feature_counts[..., ::-1, :][..., ::-1])
    np.testing.assert_array_equal(reordered.feature_draws, result.feature_draws[..., ::-1, :][..., ::-1])


def test_fit_models_keep_every_models_feature_counts():
    """Batched fits keep each model's own counts (summing to T − 1 per recording) and give an effects table."""
    example = simulate_input_driven(n_recordings=2, n_frames=300, n_states=2, n_syllables=5, leave=0.05, seed=4)
    results = sm.fit_models(example.syllables, 2, [10.0, 10.0], [0, 1], 6, emissions="full_rank",
                            transitions="input_driven", inputs=example.inputs, progress=False)  # fmt: skip
    for result in results:
        assert result.feature_counts.shape == (2, 2, 2, 2)
        np.testing.assert_array_equal(result.feature_rows, [[0.0], [1.0]])
        np.testing.assert_allclose(result.feature_counts.sum(axis=(1, 2, 3)), [299, 299], rtol=1e-6)
        assert result.feature_draws.shape == (3, 2, 2, 2, 2)
        assert result.hyperparameters["burn_in"] == 3
        assert len(sm.compare_covariate_effects(result)) == 2
    # every model's counts are its own chain's: the per-frame states of the last iteration differ, and so do the counts
    assert not np.array_equal(results[0].feature_counts, results[1].feature_counts)


def test_input_driven_needs_inputs():
    with pytest.raises(sm.InputError, match="needs inputs= or covariates="):
        sm.fit({"a": np.arange(50) % 4}, n_states=2, n_iters=1, transitions="input_driven", progress=False)


def test_compare_covariate_effects_refuses_other_fits():
    class Result:
        feature_counts = None

    with pytest.raises(ValueError, match="no feature counts"):
        sm.compare_covariate_effects(Result())

    class Older:  # a fit folder written before the draws were kept
        feature_counts = np.zeros((2, 2, 2, 2))
        feature_draws = None

    with pytest.raises(ValueError, match="refit it"):
        sm.compare_covariate_effects(Older())


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["leave", "destination", "null"])
def test_planted_effects_are_recovered_at_the_defaults(scenario):
    """Semi-Markov data: the light doubles state 0's leaving rate, or shifts where it goes, or does nothing."""
    example = simulate_input_driven(
        n_recordings=6, n_frames=3000, n_states=3, n_syllables=10, seed=11, duration_shape=3.0, syllable_frames=2.0, state_bias=3.0,
        block=200, rate_ratio=2.0 if scenario == "leave" else 1.0, destination_shift=0.6 if scenario == "destination" else 0.0,
    )  # fmt: skip
    truth = np.concatenate(list(example.states.values()))
    fits = {name: sm.fit(example.syllables, n_states=3, transitions=name, seed=0, progress=False,
                         inputs=example.inputs if name == "input_driven" else None) for name in ("input_driven", "sticky")}  # fmt: skip
    found = {name: np.concatenate([fit.states[key] for key in example.states]) for name, fit in fits.items()}
    ari = {name: sm.get_adjusted_rand(truth, states) for name, states in found.items()}
    assert ari["input_driven"] >= ari["sticky"] - 0.03, ari
    table = sm.compare_covariate_effects(fits["input_driven"])
    fitted = [int(np.bincount(found["input_driven"][truth == k], minlength=3).argmax()) for k in range(3)]
    assert sorted(fitted) == [0, 1, 2]
    planted = {"leave": {("leave", fitted[0], -1)}, "destination": {("destination", fitted[0], fitted[1]),
               ("destination", fitted[0], fitted[2])}, "null": set()}[scenario]  # fmt: skip
    expected = {"leave": 2.0, "destination": 1.6}.get(scenario)
    for row in table.itertuples():
        key = (row.kind, row.state, row.to_state)
        if key in planted and expected is not None and row.to_state in (-1, fitted[1]):
            assert row.ratio_lower <= expected <= row.ratio_upper, row  # the planted effect's 95 % interval holds the truth
            assert row.ratio_lower > 1, row  # and finds it
    # the other effects hold "no effect" at the family-wise level (95 % over all of them, `flagged`);
    # each one's own 95 % interval is checked over 64 experiments in benchmarks/bench_input_driven.py
    flagged = {(row.kind, row.state, row.to_state) for row in table.itertuples() if row.flagged}
    assert flagged <= planted, (flagged, planted)


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "bench_input_driven.py"
    spec = importlib.util.spec_from_file_location("bench_input_driven", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_coefficient_update_is_calibrated(x64):
    """SBC of the leaving update: 300 simulations, uniform ranks of the truth (χ², 10 bins)."""
    report = _bench().sbc(n_sims=300, n_events=100, n_draws=99, thin=3, seed=1)
    assert report["p_intercept"] > 0.001 and report["p_weight"] > 0.001, report


@pytest.mark.slow
def test_destination_update_is_calibrated(x64):
    """SBC of the destination update: 200 simulations (K = 3, 100 exits), uniform ranks (χ², 10 bins)."""
    report = _bench().destination_sbc(n_sims=200, n_exits=100, n_draws=99, thin=3, seed=1)
    assert min(report["p_intercept"], report["p_weight"], report["p_probability_on"]) > 0.001, report


def test_cli_fit_writes_covariate_effects(tmp_path):
    import pandas as pd

    from smoseq.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in {"m1": np.arange(120) % 4, "m2": (np.arange(150) // 2) % 4}.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,age\nm1,3\nm2,5\n")
    out = tmp_path / "fit"
    assert main(["fit", str(data), "--out", str(out), "--n-states", "2", "--iters", "4", "--emissions", "full_rank",
                 "--transitions", "input_driven", "--covariates", str(sheet)]) == 0  # fmt: skip
    table = pd.read_csv(out / "covariate_effects.csv")
    assert list(table["feature"]) == ["age", "age"] and set(table["state"]) == {0, 1}
    assert (out / "figures" / "covariate_effects.png").exists()
    loaded = sm.load_fit(out)
    assert loaded.coefficient_samples.shape == (2, 2, 2)
    assert loaded.feature_counts.shape == (2, 2, 2, 2)  # recordings, ages 3 and 5, K, K
    assert loaded.model.transitions.names == ("age",)
    assert main(["fit", str(data), "--out", str(tmp_path / "fit2"), "--transitions", "input_driven"]) == 2
