"""Gradients of the marginal log-likelihood: the native kernel's custom VJP against the JAX kernels,
brute-force expected statistics and finite differences; the trainable-leaves filter."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import smoseq as sm
from smoseq.inference import kernels, native, parallel
from smoseq.inference.expected import hmm_expected_statistics
from smoseq.inference.states import marginal_logliks
from smoseq.models import SyllableData, low_rank_hhmm
from tests.custom_components import InputSwitchTransitions


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def brute_force_statistics(log_init, trans, log_likelihoods):
    """Smoothed marginals and pairwise marginals / trans by enumerating every path; `trans` (T, K, K)."""
    num_timesteps, num_states = log_likelihoods.shape
    paths = np.array(list(itertools.product(range(num_states), repeat=num_timesteps)))
    scores = log_init[paths[:, 0]] + log_likelihoods[np.arange(num_timesteps), paths].sum(axis=1)
    for t in range(1, num_timesteps):
        scores = scores + np.log(trans[t][paths[:, t - 1], paths[:, t]])
    posterior = np.exp(scores - logsumexp(scores))
    smoothed = np.stack([np.bincount(paths[:, t], posterior, minlength=num_states) for t in range(num_timesteps)])
    pairs = np.zeros_like(trans)
    for t in range(1, num_timesteps):
        np.add.at(pairs[t], (paths[:, t - 1], paths[:, t]), posterior)
        pairs[t] /= trans[t]
    return smoothed, pairs


def test_expected_statistics_match_brute_force(x64):
    rng = np.random.default_rng(0)
    num_timesteps, num_states = 5, 3
    log_init = np.log(rng.dirichlet(np.ones(num_states)))
    trans = rng.dirichlet(np.ones(num_states), size=(num_timesteps, num_states))
    log_likelihoods = rng.normal(size=(num_timesteps, num_states))
    smoothed, pairs = brute_force_statistics(log_init, trans, log_likelihoods)
    statistics = hmm_expected_statistics(log_init, trans, log_likelihoods)
    np.testing.assert_allclose(statistics.log_likelihoods, smoothed, atol=1e-12)
    np.testing.assert_allclose(statistics.log_init, smoothed[0], atol=1e-12)
    np.testing.assert_allclose(statistics.trans[1:], pairs[1:], atol=1e-12)
    np.testing.assert_array_equal(statistics.trans[0], 0.0)
    shared = hmm_expected_statistics(log_init, trans[1], log_likelihoods)  # (K, K): the sum over steps
    _, shared_pairs = brute_force_statistics(log_init, np.broadcast_to(trans[1], trans.shape), log_likelihoods)
    np.testing.assert_allclose(shared.trans, shared_pairs[1:].sum(axis=0), atol=1e-12)


def _marginal(method, log_init, trans, tables, syllables, mask, log_likelihoods=None):
    """Σ_n log p(x_n) by `method`; dense `log_likelihoods` or the tables' lookups."""
    if method == "native":
        return native.filter_native(log_init, trans, tables, syllables, mask, log_likelihoods=log_likelihoods).sum()
    if log_likelihoods is None:
        log_likelihoods = native.syllable_log_likelihoods(tables, syllables, mask)
    module = kernels if method == "serial" else parallel
    axis = None if trans.ndim == 2 else 0
    return jax.vmap(module.hmm_filter, in_axes=(None, axis, 0))(log_init, trans, log_likelihoods).marginal_loglik.sum()


@pytest.mark.parametrize("form", ["shared", "sequence", "frames"])
@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_gradients_agree_across_methods_and_with_finite_differences(x64, form, evidence):
    rng = np.random.default_rng(1)
    num_sequences, num_timesteps, num_states, num_syllables = 3, 7, 3, 4
    shapes = {"shared": (num_states,), "sequence": (num_sequences, num_states), "frames": (num_sequences, num_timesteps, num_states)}
    log_init = jnp.log(rng.dirichlet(np.ones(num_states)))
    trans = jnp.asarray(rng.dirichlet(np.ones(num_states), size=shapes[form]))
    tables = jnp.asarray(rng.dirichlet(np.ones(num_syllables), size=(num_states, num_syllables)))
    syllables = jnp.asarray(rng.integers(0, num_syllables, (num_sequences, num_timesteps)))
    mask = jnp.ones((num_sequences, num_timesteps)).at[0, -2:].set(0.0)
    dense = jnp.asarray(rng.normal(size=(num_sequences, num_timesteps, num_states)))
    if evidence == "tables":
        arguments, wrt = (log_init, trans, tables), lambda m: lambda a, b, c: _marginal(m, a, b, c, syllables, mask)
    else:
        arguments, wrt = (log_init, trans, dense), lambda m: lambda a, b, c: _marginal(m, a, b, None, syllables, mask, c)
    gradients = {m: jax.grad(wrt(m), argnums=(0, 1, 2))(*arguments) for m in ("native", "serial", "parallel")}
    for method in ("serial", "parallel"):
        for got, expected in zip(gradients["native"], gradients[method]):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11, err_msg=method)
    # central differences along a random direction of every argument
    function = wrt("native")
    for index, argument in enumerate(arguments):
        direction = jnp.asarray(rng.normal(size=argument.shape))
        step = 1e-6
        shifted = [list(arguments), list(arguments)]
        shifted[0][index], shifted[1][index] = argument + step * direction, argument - step * direction
        numeric = (function(*shifted[0]) - function(*shifted[1])) / (2 * step)
        np.testing.assert_allclose(jnp.vdot(gradients["native"][index], direction), numeric, rtol=1e-6, atol=1e-8)


def test_model_gradient_works_on_the_default_method():
    """`jax.grad` through `marginal_logliks(method='auto')` (numba on CPU), on the trainable leaves only."""
    model = low_rank_hhmm(jax.random.key(0), 3, 5)
    rng = np.random.default_rng(0)
    data = SyllableData(rng.integers(0, 5, (4, 60)), np.ones((4, 60)))
    params, static = eqx.partition(model, sm.trainable_leaves(model))
    assert jax.tree_util.tree_leaves(params) == [model.emissions.base, model.emissions.biases]

    def loss(params, method):
        return -marginal_logliks(eqx.combine(params, static), data, method=method).sum()

    gradients = {method: jax.grad(loss)(params, method) for method in ("auto", "serial", "parallel")}
    for method in ("serial", "parallel"):
        for got, expected in zip(jax.tree_util.tree_leaves(gradients["auto"]), jax.tree_util.tree_leaves(gradients[method])):
            np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)
    assert np.abs(np.asarray(gradients["auto"].emissions.biases)).max() > 0


def test_trainable_leaves_need_a_declaration_on_custom_components():
    model = sm.HHMM(low_rank_hhmm(jax.random.key(0), 2, 4).emissions, InputSwitchTransitions(2))
    with pytest.raises(TypeError, match="trainable_fields"):
        sm.trainable_leaves(model)

    class Declared(InputSwitchTransitions):
        trainable_fields = ()

    spec = sm.trainable_leaves(sm.HHMM(model.emissions, Declared(2)))
    assert sum(jax.tree_util.tree_leaves(spec)) == 2  # base and biases; the stay probabilities are constrained
