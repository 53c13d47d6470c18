"""Structured Laplace emission update vs dense oracles (small S, float64)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import multivariate_normal

from smoseq.inference.laplace import (
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
    """Random counts (some cells empty) and a random point, in the default float dtype."""
    dtype = jnp.result_type(float)
    keys = jr.split(jr.key(seed), 4)
    rates = total / (num_states * size * size) * jr.gamma(keys[0], 0.5, (num_states, size, size))
    counts = jr.poisson(keys[1], rates).astype(dtype)
    base = 0.7 * jr.normal(keys[2], (size, size - 1), dtype)
    biases = 0.5 * jr.normal(keys[3], (num_states - 1, size - 1), dtype)
    return counts, base, biases


@jax.jit
def _dense_precision(base, biases, counts, sigma_base, sigma_bias):
    flat, unravel = ravel_pytree((base, biases))

    def log_post(x):
        return emission_log_posterior(*unravel(x), counts, sigma_base, sigma_bias)

    return -jax.hessian(log_post)(flat) + BOOST * jnp.eye(flat.size, dtype=flat.dtype)


@jax.jit
def _structured(base, biases, counts, sigma_base, sigma_bias):
    """Blocks, factor and dense covariance of the structured implementation."""
    blocks = laplace_precision(base, biases, counts, sigma_base, sigma_bias, BOOST)
    factor = factorize_precision(blocks)
    return blocks, factor, dense_covariance(factor)


def _dense_mode(counts, sigma_base, sigma_bias, num_states, size):
    """Newton's method with the dense Hessian: the oracle mode."""
    start = (jnp.zeros((size, size - 1)), jnp.zeros((num_states - 1, size - 1)))
    flat, unravel = ravel_pytree(start)

    def log_post(x):
        return emission_log_posterior(*unravel(x), counts, sigma_base, sigma_bias)

    def newton_step(x, _):
        return x - jnp.linalg.solve(jax.hessian(log_post)(x), jax.grad(log_post)(x)), None

    return unravel(jax.jit(lambda x: jax.lax.scan(newton_step, x, length=30)[0])(flat))


def _loss_fn(counts, sigma_base, sigma_bias):
    return lambda params: -emission_log_posterior(*params, counts, sigma_base, sigma_bias)


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


@pytest.mark.parametrize("num_states, size", [(2, 3), (2, 8), (3, 5), (5, 4), (5, 8)])
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
        dense[:base_dim, base_dim:], blocks.cross_blocks.reshape(base_dim, -1), atol=1e-10
    )
    np.testing.assert_allclose(dense[base_dim:, base_dim:], blocks.bias_block, atol=1e-10)
    np.testing.assert_allclose(covariance, jnp.linalg.inv(dense), atol=1e-10)
    rhs = jr.normal(jr.key(1), (dense.shape[0],), jnp.float64)
    solved = ravel_pytree(solve_precision(factor, ravel_pytree((base, biases))[1](rhs)))[0]
    np.testing.assert_allclose(solved, jnp.linalg.solve(dense, rhs), atol=1e-10)


def test_draw_is_mode_plus_dense_cholesky_solve(x64):
    """The block factor is the (unique) dense Cholesky factor, so draws agree exactly."""
    counts, base, biases = _problem(3, 5, seed=3)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    dense_cholesky = jnp.linalg.cholesky(_dense_precision(base, biases, counts, 1.0, 1.0))
    key = jr.key(7)

    draw = sample_laplace(key, (base, biases), factor)

    flat_mode = ravel_pytree((base, biases))[0]
    noise = jr.normal(key, flat_mode.shape, flat_mode.dtype)
    expected = flat_mode + jnp.linalg.solve(dense_cholesky.T, noise)
    np.testing.assert_allclose(ravel_pytree(draw)[0], expected, atol=1e-10)


def test_draws_have_laplace_mean_and_covariance(x64):
    counts, base, biases = _problem(2, 4, seed=11)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    dense_cholesky = jnp.linalg.cholesky(_dense_precision(base, biases, counts, 1.0, 1.0))
    num_draws = 20_000

    draw = jax.vmap(lambda k: ravel_pytree(sample_laplace(k, (base, biases), factor))[0])
    draws = jax.jit(draw)(jr.split(jr.key(0), num_draws))

    whitened = (draws - ravel_pytree((base, biases))[0]) @ dense_cholesky  # ~ N(0, I)
    dim = whitened.shape[1]
    assert np.abs(whitened.mean(0)).max() < 5 / np.sqrt(num_draws)
    covariance_error = np.cov(whitened, rowvar=False) - np.eye(dim)
    assert np.abs(covariance_error).max() < 5 * np.sqrt(2 / num_draws)


def test_laplace_log_density_matches_dense(x64):
    counts, base, biases = _problem(3, 4, seed=5)
    factor = _structured(base, biases, counts, 1.0, 1.0)[1]
    point = sample_laplace(jr.key(2), (base, biases), factor)
    covariance = np.linalg.inv(_dense_precision(base, biases, counts, 1.0, 1.0))

    actual = laplace_log_density(point, (base, biases), factor)

    expected = multivariate_normal(ravel_pytree((base, biases))[0], covariance).logpdf(
        ravel_pytree(point)[0]
    )
    np.testing.assert_allclose(actual, expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------
# Mode search
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer, max_iters", [(optax.adam(2e-2), 4000), (optax.lbfgs(), 500)], ids=["adam", "lbfgs"]
)
def test_find_mode_reaches_newton_mode(x64, optimizer, max_iters):
    counts, _, _ = _problem(3, 5, seed=21, total=2000.0)
    oracle = _dense_mode(counts, 1.0, 1.0, 3, 5)
    loss_fn = _loss_fn(counts, 1.0, 1.0)

    result = jax.jit(lambda p: find_mode(loss_fn, p, optimizer, max_iters, 1e-12))(
        initial_emission_params(counts)
    )

    assert bool(result.converged)
    gradient = ravel_pytree(jax.grad(loss_fn)(result.params))[0]
    assert np.abs(gradient).max() < 1e-2
    np.testing.assert_allclose(ravel_pytree(result.params)[0], ravel_pytree(oracle)[0], atol=1e-3)
    n_steps = int(result.n_steps)
    assert np.all(np.isfinite(result.losses[:n_steps]))
    assert np.all(np.isnan(result.losses[n_steps:]))
    np.testing.assert_allclose(result.losses[n_steps - 1], loss_fn(result.params), rtol=1e-12)


@pytest.mark.parametrize(
    "optimizer, max_steps", [(optax.adam(5e-3), 60), (optax.lbfgs(), 5)], ids=["adam", "lbfgs"]
)
def test_warm_start_at_mode_stops_quickly(optimizer, max_steps):
    counts, _, _ = _problem(3, 6, seed=4, total=20_000.0)
    loss_fn = _loss_fn(counts, 1.0, 1.0)
    mode = jax.jit(lambda p: find_mode(loss_fn, p, optax.lbfgs(), 1000, 1e-9))(
        initial_emission_params(counts)
    ).params

    result = jax.jit(lambda p: find_mode(loss_fn, p, optimizer, 1000, 1e-7))(mode)

    assert bool(result.converged)
    # never before `patience` = 3 steps; Adam's first step moves every coordinate by lr
    assert 3 <= int(result.n_steps) <= max_steps


def test_find_mode_under_vmap_over_sigma(x64):
    counts, _, _ = _problem(2, 4, seed=8, total=500.0)
    sigmas = jnp.array([0.3, 3.0])
    start = initial_emission_params(counts)

    def search(sigma):
        return find_mode(_loss_fn(counts, sigma, sigma), start, optax.lbfgs(), 300, 1e-12)

    batched = jax.jit(jax.vmap(search))(sigmas)

    for index, sigma in enumerate(sigmas):
        alone = jax.jit(search)(sigma)
        oracle = _dense_mode(counts, sigma, sigma, 2, 4)
        assert int(batched.n_steps[index]) == int(alone.n_steps)
        batched_params = jax.tree.map(lambda a: a[index], batched.params)
        np.testing.assert_allclose(
            ravel_pytree(batched_params)[0], ravel_pytree(oracle)[0], atol=1e-5
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
    counts, _, _ = _problem(3, 5, seed=9, total=3000.0)
    start = initial_emission_params(counts)
    sigmas = jnp.array([0.5, 2.0])

    def update(key, sigma):
        return sample_low_rank_emissions(
            key, counts, *start, sigma, sigma, optax.lbfgs(), 200, 1e-7
        )

    base, biases, info = jax.jit(jax.vmap(update))(jr.split(jr.key(0), 2), sigmas)

    assert base.shape == (2, 5, 4) and biases.shape == (2, 2, 4)
    assert bool(info.factor_ok.all())
    for index, sigma in enumerate(sigmas):
        oracle = _dense_mode(counts, sigma, sigma, 3, 5)
        mode = jax.tree.map(lambda a: a[index], info.mode)
        np.testing.assert_allclose(ravel_pytree(mode)[0], ravel_pytree(oracle)[0], atol=1e-5)
        np.testing.assert_allclose(info.mode_loss[index], _loss_fn(counts, sigma, sigma)(mode))


def test_newton_step_recentres_an_unconverged_search(x64):
    counts, _, _ = _problem(3, 5, seed=12, total=3000.0)
    start = initial_emission_params(counts)
    oracle = ravel_pytree(_dense_mode(counts, 1.0, 1.0, 3, 5))[0]

    def centre(newton_step):
        info = jax.jit(
            lambda: sample_low_rank_emissions(
                jr.key(0), counts, *start, 1.0, 1.0, optax.adam(1e-2), 150, 1e-12,
                newton_step=newton_step,
            )[2]
        )()  # fmt: skip
        return np.abs(ravel_pytree(info.mode)[0] - oracle).max(), float(info.mode_loss)

    error_newton, loss_newton = centre(newton_step=True)
    error_plain, loss_plain = centre(newton_step=False)
    assert error_newton < 0.5 * error_plain and loss_newton < loss_plain


def test_update_runs_under_strict_promotion():
    """smoseq's own code is strict-clean (optax.adam's bias correction is not, so lbfgs)."""
    counts, _, _ = _problem(2, 4, seed=1)
    start = initial_emission_params(counts)

    with jax.numpy_dtype_promotion("strict"), jax.numpy_rank_promotion("raise"):
        base, biases, info = sample_low_rank_emissions(
            jr.key(0), counts, *start, jnp.float32(1.0), jnp.float32(1.0),
            optax.lbfgs(), 50, 1e-6,
        )  # fmt: skip

    assert base.dtype == jnp.float32 and biases.dtype == jnp.float32
    assert bool(info.factor_ok) and np.isfinite(base).all()
