"""Under `repeats="ignore"` the emissions are the distribution of the next *different* syllable.

Oracles: renormalised tables by hand, the marginal likelihood by enumerating every hidden
path, the masked Laplace precision against the dense Hessian of the masked log posterior,
and the full-rank conjugate draw against the moments of the Dirichlet over the S − 1
off-diagonal entries. The fit-level acceptance (the generating model scores at least as
well per held-out frame as any fitted model, under both settings) is `slow`-marked
(`pytest -m slow tests/test_repeats_likelihood.py`) and measured at larger size by
`benchmarks/bench_repeats.py`.
"""

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import smoseq as sm
from smoseq.inference.states import marginal_logliks
from smoseq.models import (
    HHMM,
    Dirichlet,
    FullRankEmissions,
    LowRankEmissions,
    Normal,
    StickyTransitions,
    SyllableData,
    TableStatistics,
    low_rank_hhmm,
    possible_transitions,
    without_repeats,
)
from smoseq.models.laplace import dense_covariance, emission_log_likelihood, factorize_precision, laplace_precision

METHODS = ("serial", "parallel", "native")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_data_say_which_setting_is_in_use():
    data = SyllableData(np.array([[0, 0, 1, 2]]), np.ones((1, 4)))
    assert data.repeats == "model" and bool(data.possible_transitions(3).all())
    ignored = without_repeats(data)
    assert ignored.repeats == "ignore"
    np.testing.assert_array_equal(ignored.possible_transitions(3), ~np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="repeats"):
        SyllableData(data.syllables, data.mask, repeats="sometimes")


def test_scored_tables_are_renormalised_over_the_other_syllables(x64):
    model = low_rank_hhmm(jr.key(0), 3, 5)
    tables = np.asarray(model.emissions.transition_tables())
    by_hand = tables / (1.0 - np.diagonal(tables, axis1=1, axis2=2)[..., None])
    by_hand[:, np.arange(5), np.arange(5)] = 0.0
    scored = np.asarray(model.emissions.scored_tables("ignore"))
    np.testing.assert_allclose(scored, by_hand, atol=1e-12)
    np.testing.assert_allclose(scored.sum(-1), 1.0, atol=1e-12)
    generic = np.exp(np.asarray(FullRankEmissions(tables).scored_log_tables("ignore")))  # the generic renormalisation
    np.testing.assert_allclose(generic, by_hand, atol=1e-12)
    np.testing.assert_array_equal(model.emissions.scored_tables("model"), tables)


def _brute_force_marginal(log_init, trans, tables, syllables, evidence):
    """log Σ over every hidden path of p(z) Π_{t ≥ 1, evidence} tables[z_t, x_{t-1}, x_t]."""
    K, T = len(log_init), len(syllables)
    total = 0.0
    for path in itertools.product(range(K), repeat=T):
        p = np.exp(log_init[path[0]])
        for t in range(1, T):
            p *= trans[path[t - 1], path[t]]
            if evidence[t]:
                p *= tables[path[t], syllables[t - 1], syllables[t]]
        total += p
    return np.log(total)


@pytest.mark.parametrize("emissions", ["low_rank", "full_rank"])
def test_marginal_likelihood_under_ignore_enumerates_the_next_different_syllable(x64, emissions):
    K, S, T = 2, 4, 7
    rng = np.random.default_rng(1)
    if emissions == "low_rank":
        model = low_rank_hhmm(jr.key(2), K, S, kappa=5.0)
    else:
        model = HHMM(FullRankEmissions(rng.dirichlet(np.ones(S), size=(K, S))), StickyTransitions(rng.dirichlet(np.ones(K), size=K)))
    syllables = np.array([[0, 0, 1, 1, 3, 2, 2], [3, 1, 0, 0, 0, 2, 1]])
    data = without_repeats(SyllableData(syllables, np.ones((2, T))))
    tables = np.asarray(model.emissions.transition_tables())
    renormalised = tables / (1.0 - np.diagonal(tables, axis1=1, axis2=2)[..., None])
    log_init, trans = np.asarray(model.log_init()), np.asarray(model.transition_matrices(data))
    expected = [_brute_force_marginal(log_init, trans, renormalised, x, e) for x, e in zip(syllables, np.asarray(data.evidence))]
    for method in METHODS:
        np.testing.assert_allclose(marginal_logliks(model, data, method), expected, rtol=1e-9, err_msg=method)


def test_masked_laplace_precision_is_the_dense_hessian(x64):
    """`laplace_precision(..., possible)` equals −∇² of the masked log posterior (+ boost), through its factor."""
    K, S, boost = 3, 4, 1e-2
    rng = np.random.default_rng(3)
    base, biases = jnp.asarray(rng.normal(size=(S, S - 1))), jnp.asarray(rng.normal(size=(K - 1, S - 1)))
    possible = possible_transitions(S, "ignore")
    counts = jnp.asarray(rng.poisson(20.0, size=(K, S, S)) * np.asarray(possible), float)
    prior_base, prior_bias = Normal(1.3), Normal(0.6)
    flat, unravel = ravel_pytree((base, biases))

    def log_post(x):
        b, c = unravel(x)
        return emission_log_likelihood(b, c, counts, possible) + prior_base.log_prob(b) + prior_bias.log_prob(c)

    dense = -jax.hessian(log_post)(flat) + boost * jnp.eye(flat.size)
    precision = laplace_precision(base, biases, counts, 1 / 1.3**2, 1 / 0.6**2, boost, possible)
    covariance = dense_covariance(factorize_precision(precision))
    np.testing.assert_allclose(covariance, np.linalg.inv(np.asarray(dense)), rtol=1e-7, atol=1e-10)


def test_full_rank_update_is_dirichlet_over_the_off_diagonal(x64):
    """Renormalised off-diagonal rows of the conjugate draw have the moments of Dir(β + N[i, j], j ≠ i)."""
    K, S, beta = 1, 4, 0.7
    rng = np.random.default_rng(4)
    possible = possible_transitions(S, "ignore")
    counts = jnp.asarray(rng.poisson(3.0, size=(K, S, S)) * np.asarray(possible), float)
    emissions = FullRankEmissions(jnp.full((K, S, S), 1.0 / S), Dirichlet(beta))
    statistics = TableStatistics(counts, possible)
    draws = jax.vmap(lambda key: emissions.resample(key, statistics)[0].scored_tables("ignore"))(jr.split(jr.key(5), 40_000))
    draws = np.asarray(draws)[:, 0]
    for i in range(S):
        others = [j for j in range(S) if j != i]
        alpha = beta + np.asarray(counts)[0, i, others]
        mean = alpha / alpha.sum()
        variance = mean * (1 - mean) / (alpha.sum() + 1)
        np.testing.assert_allclose(draws[:, i, others].mean(0), mean, atol=5 * np.sqrt(variance / 40_000).max())
        np.testing.assert_allclose(draws[:, i, others].var(0), variance, rtol=0.05)
        assert np.all(draws[:, i, i] == 0.0)


def _generating_model(K, S, repeat_probability, seed):
    """Tables r·I + (1 − r)·Q_k: a repeat has the same probability in every state, so under `"ignore"` the
    scored changes are exactly Q_k (zero diagonal) and the repeats carry no information about the state."""
    rng = np.random.default_rng(seed)
    off = np.zeros((K, S, S))
    for k, i in itertools.product(range(K), range(S)):
        others = [j for j in range(S) if j != i]
        off[k, i, others] = rng.dirichlet(np.full(S - 1, 0.5))
    tables = repeat_probability * np.eye(S) + (1 - repeat_probability) * off
    transitions = np.full((K, K), 0.004 / (K - 1)) + (1 - 0.004 - 0.004 / (K - 1)) * np.eye(K)
    return HHMM(FullRankEmissions(tables), StickyTransitions(transitions, beta=1.0, kappa=100.0))


@pytest.mark.slow
@pytest.mark.parametrize("repeats", ["ignore", "model"])
def test_the_generating_model_scores_best_on_held_out_data(repeats):
    K, S = 3, 8
    truth = _generating_model(K, S, 0.6, seed=6)
    _, syllables = truth.simulate(jr.key(7), 10, 2000)
    recordings = {f"r{i}": np.asarray(x) for i, x in enumerate(syllables)}
    train = {name: recordings[name] for name in list(recordings)[:7]}
    held_out = {name: recordings[name] for name in list(recordings)[7:]}
    generating = sm.heldout_loglik_per_frame(truth, held_out, repeats=repeats)
    for emissions in ("low_rank", "full_rank"):
        fitted = sm.fit(train, n_states=K, emissions=emissions, repeats=repeats, n_iters=40, n_init_iters=3,
                        progress=False, seed=0)
        score = sm.heldout_loglik_per_frame(fitted, held_out)  # the fit's own setting
        assert score <= generating + 1e-9, (emissions, repeats, score, generating)
