"""`HDPTransitions`: prior moments, the Antoniak table counts against their exact pmf, fits, files.

The pruning check (4 true states, upper bound 20, three seeds) takes minutes:
`python -m pytest -m slow tests/test_hdp.py`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

import smoseq as sm
from smoseq.models import HHMM, FullRankEmissions, HDPTransitions, InitialFromTransitions, UniformInitialState, low_rank_hhmm
from smoseq.models.hdp import HDPStatistics, override_counts, table_counts

_table_counts = jax.jit(table_counts, static_argnums=3)


def antoniak_pmf(n: int, c: float) -> np.ndarray:
    """p(m | n, c) = s(n, m) c^m Γ(c) / Γ(c + n), m = 0..n, from unsigned Stirling numbers in log space."""
    log_stirling = np.full(n + 1, -np.inf)
    log_stirling[0] = 0.0  # s(0, 0) = 1
    for size in range(n):  # s(size + 1, m) = size * s(size, m) + s(size, m - 1)
        shifted = np.concatenate([[-np.inf], log_stirling[:-1]])
        grown = np.log(size) + log_stirling if size > 0 else np.full(n + 1, -np.inf)
        log_stirling = np.logaddexp(grown, shifted)
    m = np.arange(n + 1)
    from scipy.special import gammaln

    log_pmf = log_stirling + m * np.log(c) + gammaln(c) - gammaln(c + n)
    return np.exp(log_pmf - np.logaddexp.reduce(log_pmf))


def test_antoniak_pmf_matches_the_bernoulli_sum():
    # the oracle itself: the pmf of Σ_{i<n} Bernoulli(c/(c+i)) by convolution
    n, c = 7, 1.7
    pmf = np.array([1.0])
    for i in range(n):
        p = c / (c + i)
        pmf = np.convolve(pmf, [1 - p, p])
    np.testing.assert_allclose(antoniak_pmf(n, c), pmf, atol=1e-12)


@pytest.mark.parametrize(("n", "c"), [(3, 0.3), (6, 0.4), (9, 2.5), (12, 40.0)])
def test_exact_table_counts_follow_the_antoniak_distribution(n, c):
    draws = 20000
    samples = _table_counts(jr.key(n), jnp.full(draws, float(n)), jnp.full(draws, c), 1000)
    frequencies = np.bincount(np.asarray(samples, int), minlength=n + 1)
    expected = antoniak_pmf(n, c) * draws
    keep = expected >= 5  # pool the rare counts into one cell
    observed_cells = np.append(frequencies[keep], frequencies[~keep].sum())
    expected_cells = np.append(expected[keep], expected[~keep].sum())
    if expected_cells[-1] == 0:
        observed_cells, expected_cells = observed_cells[:-1], expected_cells[:-1]
    assert observed_cells.sum() == draws
    assert stats.chisquare(observed_cells, expected_cells).pvalue > 1e-3


@pytest.mark.parametrize(("c", "regime"), [(0.3, "poisson"), (30.0, "normal")])
def test_approximate_tail_is_close_to_the_exact_distribution(c, regime):
    n, exact_terms, draws = 400, 40, 20000
    samples = np.asarray(_table_counts(jr.key(3), jnp.full(draws, float(n)), jnp.full(draws, c), exact_terms), int)
    pmf = antoniak_pmf(n, c)
    m = np.arange(n + 1)
    mean, variance = (pmf * m).sum(), (pmf * m**2).sum() - (pmf * m).sum() ** 2
    assert abs(samples.mean() - mean) < 4 * np.sqrt(variance / draws) + 0.02 * mean
    assert abs(samples.var() / variance - 1) < 0.1
    total_variation = 0.5 * np.abs(np.bincount(samples, minlength=n + 1) / draws - pmf).sum()
    assert total_variation < 0.05, regime
    assert samples.min() >= 1 and samples.max() <= n


def test_table_counts_of_a_million_frames_are_fast_and_in_range():
    counts = jnp.array([[1e6, 30.0], [2.0, 0.0], [1.0, 1.0]])
    concentration = jnp.array([[1e5, 0.5], [0.5, 1e5], [0.01, 7.0]])
    tables = _table_counts(jr.key(0), counts, concentration, 1000)
    assert tables[1, 1] == 0 and tables[2, 0] == 1 and tables[2, 1] == 1  # n = 1: always one table and 1 <= tables[0, 1] <= 30 and 1 <= tables[1, 0] <= 2
    expected = 1e5 * (jax.scipy.special.digamma(1e5 + 1e6) - jax.scipy.special.digamma(1e5))
    assert abs(float(tables[0, 0]) / float(expected) - 1) < 0.01


def test_override_counts_are_binomial():
    weights = jnp.array([0.2, 0.8])
    draw = jax.jit(jax.vmap(lambda key: override_counts(key, jnp.array([50.0, 50.0]), weights, 2.0, 6.0)))
    draws = draw(jr.split(jr.key(0), 4000))
    rho = 6.0 / 8.0
    probability = rho / (rho + np.asarray(weights) * (1 - rho))
    np.testing.assert_allclose(np.asarray(draws).mean(0), 50 * probability, rtol=0.01)
    np.testing.assert_allclose(np.asarray(draws).var(0), 50 * probability * (1 - probability), rtol=0.1)


def test_prior_draws_have_the_right_moments():
    K, gamma, alpha, kappa, draws = 3, 2.0, 3.0, 5.0, 20000
    prior = HDPTransitions.create(K, gamma=gamma, alpha=alpha, kappa=kappa)
    samples = jax.jit(jax.vmap(prior.sample_prior))(jr.split(jr.key(0), draws))
    weights, probs = np.asarray(samples.weights), np.asarray(samples.probs)
    np.testing.assert_allclose(weights.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probs.sum(2), 1, atol=1e-5)
    # β ~ Dir(γ/K): mean 1/K, variance (1/K)(1 − 1/K)/(γ + 1)
    np.testing.assert_allclose(weights.mean(0), 1 / K, atol=0.01)
    np.testing.assert_allclose(weights.var(0), (1 / K) * (1 - 1 / K) / (gamma + 1), rtol=0.06)
    # π_k | β ~ Dir(αβ + κe_k): E π_kk = (α/K + κ)/(α + κ), E π_kj = (α/K)/(α + κ)
    diagonal = probs[:, np.arange(K), np.arange(K)]
    np.testing.assert_allclose(diagonal.mean(0), (alpha / K + kappa) / (alpha + kappa), atol=0.01)
    np.testing.assert_allclose(probs[:, 0, 1].mean(), (alpha / K) / (alpha + kappa), atol=0.01)
    # Var π_kj = E[Var | β] + Var[E | β]; E[Var | β] from the Dirichlet, Var[E | β] = (α/(α+κ))² Var β_j
    conditional_mean = alpha * weights[:, 1] / (alpha + kappa)
    conditional_var = conditional_mean * (1 - conditional_mean) / (alpha + kappa + 1)
    expected = conditional_var.mean() + (alpha / (alpha + kappa)) ** 2 * weights[:, 1].var()
    np.testing.assert_allclose(probs[:, 0, 1].var(), expected, rtol=0.06)
    assert np.isfinite(np.asarray(jax.jit(jax.vmap(lambda s: s.log_prior()))(samples))).all()


@pytest.mark.slow
def test_update_is_finite_with_unused_states_and_keeps_the_prior():
    K = 6
    transitions = HDPTransitions.create(K, gamma=0.5, alpha=1.0, kappa=50.0).sample_prior(jr.key(0))
    counts = jnp.zeros((K, K)).at[0, 0].set(5000.0).at[1, 1].set(3000.0).at[0, 1].set(3.0).at[1, 0].set(2.0)
    first = jnp.zeros(K).at[0].set(2.0)
    step = jax.jit(lambda key, t: t.resample(key, HDPStatistics(counts, first)))
    for i in range(30):
        transitions, info = step(jr.key(i), transitions)
    assert np.isfinite(float(transitions.log_prior()))
    assert float(transitions.weights[:2].sum()) > 0.5  # the used states hold the global weight
    assert (np.asarray(info.tables) >= 0).all() and float(info.tables[0, 1]) >= 1
    assert (transitions.gamma, transitions.alpha, transitions.kappa) == (0.5, 1.0, 50.0)


def test_hhmm_takes_the_initial_distribution_from_the_weights():
    K, S = 3, 4
    weights = np.array([0.2, 0.3, 0.5])
    transitions = HDPTransitions(np.full((K, K), 1 / K), weights, kappa=10.0)
    emissions = FullRankEmissions(np.full((K, S, S), 1 / S))
    model = HHMM(emissions, transitions)
    assert isinstance(model.initial, InitialFromTransitions)
    np.testing.assert_allclose(model.log_init(), np.log(weights), rtol=1e-6)
    with pytest.raises(ValueError, match="InitialFromTransitions"):
        HHMM(emissions, transitions, UniformInitialState(K))
    with pytest.raises(ValueError, match="does not set p"):
        HHMM(emissions, sm.StickyTransitions(jnp.eye(K)), InitialFromTransitions(K))
    # the first real frame of every sequence counts as a draw from β
    data = sm.models.SyllableData(np.zeros((4, 5), int), np.array([[1.0] * 5, [1.0] * 5, [1.0] * 5, [0.0] * 5]))
    statistics = transitions.statistics(jnp.array([[2] * 5, [2] * 5, [0] * 5, [1] * 5]), data)
    np.testing.assert_array_equal(statistics.first, [1.0, 0.0, 2.0])
    assert float(statistics.counts.sum()) == 12.0


@pytest.fixture(scope="module")
def small_recordings():
    rng = np.random.default_rng(0)
    regime = (np.arange(600) // 150) % 2  # two regimes using different halves of 8 syllables
    return {f"r{i}": rng.integers(0, 4, 600) + 4 * regime for i in range(3)}


def test_fit_models_batches_hdp_hyperparameters_and_saves(small_recordings, tmp_path):
    K = 5
    components = [HDPTransitions.create(K, gamma=g, kappa=100.0) for g in (0.5, 5.0)]
    results = sm.fit_models(small_recordings, K, [0.0, 0.0], [0, 0], 3, transitions=components,
                            emissions="full_rank", progress=False)  # fmt: skip
    assert [r.hyperparameters["components"]["values"]["transitions.gamma"] for r in results] == [0.5, 5.0]
    assert all(r.info["batch_size"] == 2 and np.isfinite(r.log_probs).all() for r in results)
    hdp = sm.fit_models(small_recordings, K, [100.0, 1000.0], 0, 2, transitions="hdp", emissions="full_rank", progress=False)
    assert [float(r.model.transitions.kappa) for r in hdp] == [100.0, 1000.0]
    assert hdp[0].hyperparameters["components"]["transitions"] == "HDPTransitions"
    results[0].save(tmp_path / "fit")
    loaded = sm.load_fit(tmp_path / "fit")
    assert isinstance(loaded.model.transitions, HDPTransitions) and isinstance(loaded.model.initial, InitialFromTransitions)
    for leaf, loaded_leaf in zip(jax.tree.leaves(eqx.filter(results[0].model, eqx.is_array)),
                                 jax.tree.leaves(eqx.filter(loaded.model, eqx.is_array))):  # fmt: skip
        np.testing.assert_array_equal(leaf, loaded_leaf)
    with pytest.raises(sm.InputError, match="2 components for 3 models"):
        sm.fit_models(small_recordings, K, [0.0] * 3, [0, 1, 2], 1, transitions=components, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transitions": "hdp", "beta": 2.0}, "beta sets the sticky"),
        ({"transitions": "hdp", "initial": "uniform"}, "sets p\\(z_1\\) itself"),
        ({"transitions": "dirichlet"}, "transitions must be one of"),
    ],
)
def test_bad_hdp_settings_are_refused(small_recordings, kwargs, message):
    with pytest.raises(sm.InputError, match=message):
        sm.fit(small_recordings, n_states=3, n_iters=1, progress=False, **kwargs)


@pytest.mark.slow
def test_the_update_leaves_the_exact_posterior_of_the_weights_invariant():
    # K = 2: β = (b, 1 − b). With π integrated out, p(b | z) ∝ Dir(β | γ/K) · β_{z_1} ·
    # Π_jk Γ(αβ_k + κδ_jk + n_jk) / Γ(αβ_k + κδ_jk). Tables, overrides and β form a Markov chain
    # on β (the old π is never read) whose stationary law must be that posterior.
    from scipy.special import gammaln

    gamma, alpha, kappa = 1.5, 2.0, 5.0
    counts = np.array([[30.0, 3.0], [2.0, 12.0]])
    first = np.array([1.0, 0.0])
    grid = np.linspace(1e-4, 1 - 1e-4, 20001)
    weights = np.stack([grid, 1 - grid], axis=1)  # (G, 2)
    log_density = (gamma / 2 - 1) * np.log(weights).sum(1) + (first * np.log(weights)).sum(1)
    for j in range(2):
        base = alpha * weights + kappa * np.eye(2)[j]
        log_density += (gammaln(base + counts[j]) - gammaln(base)).sum(1)
    cdf = np.cumsum(np.exp(log_density - log_density.max()))
    cdf /= cdf[-1]

    start = HDPTransitions.create(2, gamma=gamma, alpha=alpha, kappa=kappa)
    statistics = HDPStatistics(jnp.asarray(counts), jnp.asarray(first))

    def chain(key):
        def step(transitions, step_key):
            return transitions.resample(step_key, statistics)[0], None

        return jax.lax.scan(step, start, jr.split(key, 40))[0].weights[0]

    draws = np.asarray(jax.jit(jax.vmap(chain))(jr.split(jr.key(0), 4000)))
    assert stats.kstest(draws, lambda b: np.interp(b, grid, cdf)).pvalue > 1e-3


@pytest.mark.slow
def test_cli_fits_and_scans_with_hdp(small_recordings, tmp_path):
    import pandas as pd

    from smoseq.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name, syllables in small_recordings.items():
        pd.DataFrame({"syllable": syllables}).to_csv(data / f"{name}.csv", index=False)
    assert main(["fit", str(data), "--out", str(tmp_path / "fit"), "--n-states", "4", "--iters", "3",
                 "--transitions", "hdp", "--no-figures"]) == 0  # fmt: skip
    assert isinstance(sm.load_fit(tmp_path / "fit").model.transitions, HDPTransitions)
    assert main(["scan", str(data), "--out", str(tmp_path / "scan"), "--kappas", "100,1000", "--seeds", "1",
                 "--n-states", "4", "--iters", "2", "--transitions", "hdp"]) == 0  # fmt: skip
    assert main(["select", str(tmp_path / "scan"), "--no-suggestion"]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hdp_keeps_four_of_twenty_states(seed):
    truth = low_rank_hhmm(jr.key(0), 4, 20, kappa=3000.0)
    _, syllables = truth.simulate(jr.key(1), 6, 3000)
    recordings = {f"r{i}": np.asarray(syllables[i]) for i in range(6)}
    result = sm.fit(recordings, n_states=20, n_iters=100, seed=seed, transitions="hdp", progress=False)
    assert (sm.get_frequencies(result.states, 20) >= 0.01).sum() == 4
