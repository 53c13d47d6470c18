"""Structured Laplace emission update vs dense oracles (small S, float64).

Compilation dominates this file's runtime, so the jitted entry points are module-level
and shared: the mode-search tests all use K = 3, S = 5 and the same optimizer objects.
"""

from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial
from scipy.stats import multivariate_normal

from smoseq.models.laplace import (
    cross_blocks,
    dense_covariance,
    emission_log_posterior,
    factorize_precision,
    find_mode,
    initial_emission_params,
    laplace_log_density,
    laplace_precision,
    sample_laplace,
    sample_low_rank_emissions,
    solve_precision,
    transition_probs,
)

BOOST = 1e-2
NUM_STATES, SIZE = 3, 5  # the mode-search problems
MAX_ITERS = 4000
ADAM = optax.adam(5e-3)  # the tutorial's learning rate
LBFGS = optax.lbfgs()


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _embedding(n):
    """E_n written out from its definition, independently of smoseq._embedding."""
    basis = np.zeros((n, n - 1))
    for j in range(1, n):
        basis[:j, j - 1] = -1.0 / j
        basis[j, j - 1] = 1.0
        basis[:, j - 1] /= np.linalg.norm(basis[:, j - 1])
    return basis


def _problem(num_states, size, seed, total=400.0):
    """Random counts (some cells empty) and a random point, in the default float dtype.

    Drawn with NumPy: eager `jr.gamma` / `jr.poisson` would compile a kernel per shape.
    """
    rng = np.random.default_rng(seed)
    rates = total / (num_states * size * size) * rng.gamma(0.5, size=(num_states, size, size))
    dtype = jnp.result_type(float)
    counts = jnp.asarray(rng.poisson(rates), dtype)
    base = jnp.asarray(0.7 * rng.normal(size=(size, size - 1)), dtype)
    biases = jnp.asarray(0.5 * rng.normal(size=(num_states - 1, size - 1)), dtype)
    return counts, base, biases


def _sigma(value):
    """A strongly typed scalar, so that every call hits the same compiled functions."""
    return jnp.asarray(value, jnp.result_type(float))


def _negative_log_post(params, counts, sigma):
    return -emission_log_posterior(*params, counts, sigma, sigma)


def _loss(counts, sigma=1.0):
    """The loss as a PyTree (`Partial`), so jitted searches share one compilation."""
    return Partial(_negative_log_post, counts=counts, sigma=_sigma(sigma))


_search = jax.jit(find_mode, static_argnames=("optimizer", "max_iters"))


@partial(jax.jit, static_argnames=("optimizer",))
def _sample_batch(keys, counts, start, sigmas, tol, optimizer):
    def update(key, sigma):
        return sample_low_rank_emissions(
            key, counts, *start, sigma, sigma, optimizer, MAX_ITERS, tol
        )

    return jax.vmap(update)(keys, sigmas)


@jax.jit
def _dense_precision(base, biases, counts, sigma_base, sigma_bias):
    flat, unravel = ravel_pytree((base, biases))

    def log_post(x):
        return emission_log_posterior(*unravel(x), counts, sigma_base, sigma_bias)

    return -jax.hessian(log_post)(flat) + BOOST * jnp.eye(flat.size, dtype=flat.dtype)


@jax.jit
def _structured(base, biases, counts, sigma_base, sigma_bias):
    """Blocks, factor and dense covariance of the structured implementation."""
    blocks = laplace_precision(base, biases, counts, 1.0 / sigma_base**2, 1.0 / sigma_bias**2, BOOST)
    factor = factorize_precision(blocks)
    return blocks, factor, dense_covariance(factor)


def _dense_mode(counts, sigma):
    """Newton's method with the dense Hessian from zero: the oracle mode."""
    return _dense_mode_jit(counts, _sigma(sigma))


@jax.jit
def _dense_mode_jit(counts, sigma):
    num_states, size = counts.shape[0], counts.shape[-1]
    start = (jnp.zeros((size, size - 1)), jnp.zeros((num_states - 1, size - 1)))
    flat, unravel = ravel_pytree(start)

    def log_post(x):
        return emission_log_posterior(*unravel(x), counts, sigma, sigma)

    def newton_step(x, _):
        return x - jnp.linalg.solve(jax.hessian(log_post)(x), jax.grad(log_post)(x)), None

    return unravel(jax.lax.scan(newton_step, flat, length=30)[0])


def _flat(params):
    return ravel_pytree(params)[0]


# ---------------------------------------------------------------------------------------
# Model pieces
# ---------------------------------------------------------------------------------------


def test_initial_params_match_hand_computation(x64):
    counts = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3) % 5
    logits = np.log(counts + 0.01)
    mean_over_states = (logits[0] + logits[1]) / 2
    expected_base = mean_over_states @ _embedding(3)
    offsets = (logits - mean_over_states).mean(axis=1)  # (K, S)
    expected_biases = _embedding(2).T @ offsets @ _embedding(3)

    base, biases = initial_emission_params(jnp.asarray(counts))

    np.testing.assert_allclose(base, expected_base, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(biases, expected_biases, rtol=1e-12, atol=1e-12)


def test_log_posterior_matches_definition(x64):
    counts, base, biases = _problem(3, 4, seed=0)
    raised_base = np.asarray(base) @ _embedding(4).T
    raised_biases = _embedding(3) @ np.asarray(biases) @ _embedding(4).T
    logits = raised_base[None] + raised_biases[:, None]
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    sigma_base, sigma_bias = 1.5, 0.7
    expected = (
        (np.asarray(counts) * log_probs).sum()
        + (-0.5 * (raised_base / sigma_base) ** 2 - 0.5 * np.log(2 * np.pi)).sum()
        + (-0.5 * (raised_biases / sigma_bias) ** 2 - 0.5 * np.log(2 * np.pi)).sum()
    )

    actual = emission_log_posterior(base, biases, counts, sigma_base, sigma_bias)

    np.testing.assert_allclose(actual, expected, rtol=1e-12)
    np.testing.assert_allclose(transition_probs(base, biases), np.exp(log_probs), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Structured precision and its factor
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_states, size", [(2, 8), (3, 5), (5, 4)])
def test_structured_precision_and_covariance_equal_dense(x64, num_states, size):
    counts, base, biases = _problem(num_states, size, seed=num_states * 10 + size)
    dense = _dense_precision(base, biases, counts, 1.3, 0.6)

    blocks, factor, covariance = _structured(base, biases, counts, 1.3, 0.6)

    base_dim = size * (size - 1)
    base_part = dense[:base_dim, :base_dim].reshape(size, size - 1, size, size - 1)
    for i in range(size):
        for j in range(size):
            expected = blocks.base_blocks[i] if i == j else np.zeros((size - 1, size - 1))
            np.testing.assert_allclose(base_part[i, :, j], expected, atol=1e-10)
    np.testing.assert_allclose(
        dense[:base_dim, base_dim:], cross_blocks(blocks).reshape(base_dim, -1), atol=1e-10
    )
    np.testing.assert_allclose(dense[base_dim:, base_dim:], blocks.bias_block, atol=1e-10)
    np.testing.assert_allclose(covariance, jnp.linalg.inv(dense), atol=1e-10)
    rhs = jr.normal(jr.key(1), (dense.shape[0],), jnp.float64)
    solved = _flat(solve_precision(factor, ravel_pytree((base, biases))[1](rhs)))
    np.testing.assert_allclose(solved, jnp.linalg.solve(dense, rhs), atol=1e-10)


def test_draw_is_mode_plus_dense_cholesky_solve(x64):
    """The block factor is the (unique) dense Cholesky factor, so draws agree exactly."""
    counts, base, biases = _problem(3, 5, seed=3)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    dense_cholesky = jnp.linalg.cholesky(_dense_precision(base, biases, counts, 1.0, 1.0))
    key = jr.key(7)

    draw = sample_laplace(key, (base, biases), factor)

    flat_mode = _flat((base, biases))
    noise = jr.normal(key, flat_mode.shape, flat_mode.dtype)
    expected = flat_mode + jnp.linalg.solve(dense_cholesky.T, noise)
    np.testing.assert_allclose(_flat(draw), expected, atol=1e-10)


def test_draws_have_laplace_mean_and_covariance(x64):
    counts, base, biases = _problem(2, 4, seed=11)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    dense_cholesky = jnp.linalg.cholesky(_dense_precision(base, biases, counts, 1.0, 1.0))
    num_draws = 20_000

    draw = jax.vmap(lambda k: _flat(sample_laplace(k, (base, biases), factor)))
    draws = jax.jit(draw)(jr.split(jr.key(0), num_draws))

    whitened = (draws - _flat((base, biases))) @ dense_cholesky  # ~ N(0, I)
    dim = whitened.shape[1]
    assert np.abs(whitened.mean(0)).max() < 5 / np.sqrt(num_draws)
    covariance_error = np.cov(whitened, rowvar=False) - np.eye(dim)
    assert np.abs(covariance_error).max() < 5 * np.sqrt(2 / num_draws)


def test_laplace_log_density_matches_dense(x64):
    counts, base, biases = _problem(2, 4, seed=5)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    point = sample_laplace(jr.key(2), (base, biases), factor)
    covariance = np.linalg.inv(_dense_precision(base, biases, counts, 1.0, 1.0))

    actual = laplace_log_density(point, (base, biases), factor)

    expected = multivariate_normal(_flat((base, biases)), covariance).logpdf(_flat(point))
    np.testing.assert_allclose(actual, expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------
# Mode search
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [ADAM, LBFGS], ids=["adam", "lbfgs"])
def test_find_mode_reaches_newton_mode(x64, optimizer):
    counts, _, _ = _problem(NUM_STATES, SIZE, seed=21, total=2000.0)
    loss_fn = _loss(counts)

    result = _search(loss_fn, initial_emission_params(counts), optimizer, MAX_ITERS, 1e-12)

    assert bool(result.converged)
    assert np.abs(_flat(jax.grad(loss_fn)(result.params))).max() < 1e-2
    np.testing.assert_allclose(_flat(result.params), _flat(_dense_mode(counts, 1.0)), atol=1e-3)
    n_steps = int(result.n_steps)
    assert np.all(np.isfinite(result.losses[:n_steps]))
    assert np.all(np.isnan(result.losses[n_steps:]))
    np.testing.assert_allclose(result.losses[n_steps - 1], loss_fn(result.params), rtol=1e-12)


@pytest.mark.parametrize("optimizer, max_steps", [(ADAM, 60), (LBFGS, 5)], ids=["adam", "lbfgs"])
def test_warm_start_at_mode_stops_quickly(x64, optimizer, max_steps):
    counts, _, _ = _problem(NUM_STATES, SIZE, seed=4, total=20_000.0)
    loss_fn = _loss(counts)

    result = _search(loss_fn, _dense_mode(counts, 1.0), optimizer, MAX_ITERS, 1e-7)

    assert bool(result.converged)
    # never before `patience` = 3 steps; Adam's first step moves every coordinate by lr
    assert 3 <= int(result.n_steps) <= max_steps


def test_find_mode_under_vmap_over_sigma(x64):
    counts, _, _ = _problem(NUM_STATES, SIZE, seed=8, total=500.0)
    start = initial_emission_params(counts)
    sigmas = jnp.array([0.3, 3.0])

    def search(sigma):
        return find_mode(_loss(counts, sigma), start, LBFGS, MAX_ITERS, 1e-12)

    batched = jax.jit(jax.vmap(search))(sigmas)

    for index, sigma in enumerate(sigmas):
        alone = _search(_loss(counts, sigma), start, LBFGS, MAX_ITERS, 1e-12)
        assert int(batched.n_steps[index]) == int(alone.n_steps)
        batched_params = jax.tree.map(lambda a: a[index], batched.params)
        np.testing.assert_allclose(
            _flat(batched_params), _flat(_dense_mode(counts, sigma)), atol=1e-5
        )
    assert not np.allclose(batched.params[0][0], batched.params[0][1])


def test_find_mode_rejects_non_finite_step():
    def loss_fn(x):
        return jnp.sum(jnp.exp(x**2))

    start = jnp.ones(3, jnp.float32)

    result = find_mode(loss_fn, start, optax.sgd(1e3), 50, 1e-6)

    assert not bool(result.converged)
    assert int(result.n_steps) == 0
    np.testing.assert_array_equal(result.params, start)
    assert np.all(np.isnan(result.losses))


# ---------------------------------------------------------------------------------------
# The Gibbs update
# ---------------------------------------------------------------------------------------


def test_sample_low_rank_emissions_batched_over_sigma(x64):
    counts, _, _ = _problem(NUM_STATES, SIZE, seed=9, total=3000.0)
    sigmas = jnp.array([0.5, 2.0])
    start = initial_emission_params(counts)

    base, biases, info = _sample_batch(jr.split(jr.key(0), 2), counts, start, sigmas, 1e-12, ADAM)

    assert base.shape == (2, SIZE, SIZE - 1) and biases.shape == (2, NUM_STATES - 1, SIZE - 1)
    assert bool(info.factor_ok.all()) and bool(info.converged.all())
    for index, sigma in enumerate(sigmas):
        mode = jax.tree.map(lambda a: a[index], info.mode)
        np.testing.assert_allclose(_flat(mode), _flat(_dense_mode(counts, sigma)), atol=1e-6)
        # the update's loss is −log posterior under the `Normal` priors, normalising constants included
        constants = (mode[0].size + mode[1].size) * (jnp.log(sigma) + 0.5 * jnp.log(2 * jnp.pi))
        raised_constants = (SIZE * SIZE + NUM_STATES * SIZE) * 0.5 * jnp.log(2 * jnp.pi)  # the reference's
        np.testing.assert_allclose(info.mode_loss[index], _loss(counts, sigma)(mode) + constants - raised_constants)


def test_newton_step_recentres_an_unconverged_search(x64):
    counts, _, _ = _problem(NUM_STATES, SIZE, seed=12, total=3000.0)
    start = initial_emission_params(counts)
    oracle = _flat(_dense_mode(counts, 1.0))
    loose_tol = 1e-3

    plain = _search(_loss(counts), start, ADAM, MAX_ITERS, loose_tol)
    info = _sample_batch(jr.split(jr.key(0), 1), counts, start, jnp.ones(1), loose_tol, ADAM)[2]

    assert int(info.n_steps[0]) == int(plain.n_steps)
    newton_error = np.abs(_flat(info.mode) - oracle).max()
    assert newton_error < 0.5 * np.abs(_flat(plain.params) - oracle).max()
    assert float(info.mode_loss[0]) < float(_loss(counts)(plain.params))


def test_update_runs_under_strict_promotion():
    """smoseq's own code is strict-clean (optax.adam's bias correction is not: sgd here)."""
    counts, _, _ = _problem(2, 4, seed=1)
    start = initial_emission_params(counts)

    def update(key):
        one = jnp.ones((), counts.dtype)
        return sample_low_rank_emissions(key, counts, *start, one, one, optax.sgd(1e-3), 20, 1e-6)

    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        base, biases, info = jax.jit(update)(jr.key(0))

    assert base.dtype == counts.dtype and biases.dtype == counts.dtype
    assert bool(info.factor_ok) and np.isfinite(base).all()
