"""The blocked exact low-rank emission update (`smoseq.models.exact_emissions`) against its oracles.

The subspace Gaussian against dense formulas; each block's proposal precision against the
autodiff Hessian of its conditional; bounded importance weights (and the unbounded ones
of the whole-parameter Laplace Gaussian, which is why `metropolis_laplace_draw` was
miscalibrated before it mixed in the prior); the chain against the exact posterior on a grid (K = 2, S = 2) and by
importance sampling with repeats excluded (K = 2, S = 3). Simulation-based calibration
(`benchmarks/bench_sbc_emissions.py`) of one configuration is `slow`-marked:
`pytest -m slow tests/test_blocked_emissions.py`.
"""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from scipy.stats import multivariate_normal

from smoseq._embedding import center_embedding, raise_dim
from smoseq.models import Normal, StudentT
from smoseq.models import exact_emissions as ee
from smoseq.models import subspace_gaussian as sg
from smoseq.models.exact_emissions import conditional_log_likelihood, sample_exact_emissions
from smoseq.models.laplace import (
    emission_log_posterior,
    factorize_precision,
    initial_emission_params,
    laplace_log_density,
    laplace_precision,
    sample_low_rank_emissions,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _counts(num_states, size, seed, total, possible=None):
    rng = np.random.default_rng(seed)
    rates = total / (num_states * size * size) * rng.gamma(0.5, size=(num_states, size, size))
    counts = rng.poisson(rates).astype(float)
    if possible is not None:
        counts = np.where(possible, counts, 0.0)
    return jnp.asarray(counts)


def _kron_basis(*sizes):
    """`(V, W)`: Kronecker product of zero-sum bases and its orthonormal complement, by SVD."""
    basis = np.ones((1, 1))
    for size in sizes:
        basis = np.kron(basis, np.asarray(center_embedding(size)))
    complement = np.linalg.svd(np.eye(basis.shape[0]) - basis @ basis.T)[0][:, : basis.shape[0] - basis.shape[1]]
    return jnp.asarray(basis), jnp.asarray(complement)


def test_subspace_gaussian_matches_dense_formulas(x64):
    rng = np.random.default_rng(0)
    basis, complement = _kron_basis(3, 4)
    blocks = np.stack([a @ a.T + 0.5 * np.eye(4) for a in rng.normal(size=(3, 4, 4))])
    precision = np.asarray(basis).T @ jax.scipy.linalg.block_diag(*blocks) @ np.asarray(basis)
    factor = sg.factorize(jnp.asarray(blocks), basis, complement)
    rhs, mean, x = (jnp.asarray(rng.normal(size=6)) for _ in range(3))

    np.testing.assert_allclose(sg.solve(factor, rhs), np.linalg.solve(precision, rhs), rtol=1e-10)
    density = multivariate_normal(np.asarray(mean), np.linalg.inv(precision))
    np.testing.assert_allclose(float(sg.log_density(x, mean, factor)), density.logpdf(np.asarray(x)), rtol=1e-10)
    draws = np.asarray(jax.vmap(lambda k: sg.sample(k, factor, mean))(jr.split(jr.key(0), 40_000)))
    np.testing.assert_allclose(np.cov(draws.T), np.linalg.inv(precision), atol=0.02)
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.02)


def _blocks(counts, base, biases, possible, prior):
    """The two blocks as `exact_emissions` builds them, for white-box checks."""
    num_states, size = counts.shape[0], counts.shape[-1]
    embed = center_embedding(size)
    raised_biases = raise_dim(raise_dim(biases, 0), 1)
    rows = [ee._row_block(raised_biases, counts[:, i], possible[i], embed, 1.0, prior) for i in range(size)]
    bias = ee._bias_block(raise_dim(base, 1), counts, possible, 1.0, prior, (num_states - 1, size - 1))
    return rows, bias


@pytest.mark.parametrize("repeats", [True, False])
def test_proposal_precision_is_the_hessian_of_each_conditional(x64, repeats):
    """For `Normal(1)` priors, `Vᵀ A V` is exactly `−∇²` of the block's log conditional, at any point."""
    size = 4
    possible = jnp.ones((size, size), bool) if repeats else ~jnp.eye(size, dtype=bool)
    counts = _counts(3, size, seed=1, total=200.0, possible=possible)
    base, biases = (jnp.asarray(np.random.default_rng(2).normal(size=s)) for s in ((size, size - 1), (2, size - 1)))
    rows, bias = _blocks(counts, base, biases, possible, Normal(1.0))
    for block, x in [(rows[i], base[i]) for i in range(size)] + [(bias, biases.ravel())]:
        blocks = block.curvature(x)
        dense = block.basis.T @ jax.scipy.linalg.block_diag(*blocks) @ block.basis
        np.testing.assert_allclose(dense, -jax.hessian(block.log_target)(x), rtol=1e-9, atol=1e-9)
        other = x + 0.3
        expected = block.log_target(other) - block.log_target(x)
        np.testing.assert_allclose(block.log_ratio(other, x), expected, rtol=1e-9)
    # the blocks' targets are the joint log posterior up to terms that do not depend on the block
    joint = conditional_log_likelihood(base, biases, counts, possible)
    if repeats:
        infinite = jnp.asarray(jnp.inf)  # the prior terms are then the constant log N(0; 0, 1) per raised entry
        constant = (size * size + 3 * size) * np.log(2 * np.pi) / 2
        reference = emission_log_posterior(base, biases, counts, infinite, infinite) + constant
        np.testing.assert_allclose(joint, reference, rtol=1e-12)
    np.testing.assert_allclose(bias.log_target(biases.ravel()), joint + Normal(1.0).log_prob(biases), rtol=1e-12)


def _laplace_proposal(counts):
    """The whole-parameter Gaussian of `metropolis_laplace_draw`: centre and block factor from the counts."""
    one = jnp.asarray(1.0)
    start = initial_emission_params(counts)
    _, _, info = sample_low_rank_emissions(jr.key(0), counts, *start, one, one, optax.lbfgs(), 200, 1e-10)
    return info.mode, factorize_precision(laplace_precision(*info.mode, counts, one, one, 1e-2))


def test_importance_weights_are_bounded_unlike_the_laplace_proposals(x64):
    """What makes an independence sampler reliable: `p(x) / q(x)` bounded. Along the direction that lowers the
    logit of a cell with no counts, the likelihood flattens and the target keeps the prior's tail, N(0, 1),
    while the whole-parameter Laplace proposal's precision there is larger: its weight grows without bound
    (so its chain under-visits that tail: the miscalibration of the undefended `metropolis_laplace_draw`). The blocked
    update's mixture proposal has `log p − log q ≤ −log ε` everywhere."""
    counts = np.array(_counts(2, 3, seed=3, total=400.0))
    counts[:, 0, 2] = 0.0  # no 0 -> 2 transitions, in either state, but many from row 0
    counts[:, 0, :2] += 40.0
    counts = jnp.asarray(counts)
    centre, factor = _laplace_proposal(counts)
    one = jnp.asarray(1.0)
    direction_base = jnp.zeros((3, 2)).at[0].set(-center_embedding(3)[2])  # lowers B[0, 2]

    def laplace_log_weight(t):
        x = (centre[0] + t * direction_base, centre[1])
        return emission_log_posterior(*x, counts, one, one) - laplace_log_density(x, centre, factor)

    weights = jnp.stack([laplace_log_weight(t) for t in (2.0, 4.0, 8.0)])
    assert float(weights[2] - weights[0]) > 20.0  # keeps growing: unbounded

    epsilon = 0.05
    rows, bias = _blocks(counts, centre[0], centre[1], jnp.ones((3, 3), bool), Normal(1.0))
    row_centre, row_factor = ee._newton_centre(rows[0], centre[0][0] + 0.1, 3)

    def mixture_log_weight(x):
        gaussian = jnp.log1p(-epsilon) + sg.log_density(x, row_centre, row_factor)
        proposal = jnp.logaddexp(gaussian, jnp.log(epsilon) + Normal(1.0).log_prob(x))
        return rows[0].log_target(x) - proposal

    far = [centre[0][0] + t * direction_base[0] for t in (2.0, 4.0, 8.0, 16.0)]
    far += list(3.0 * jr.normal(jr.key(1), (50, 2)))
    assert max(float(mixture_log_weight(x)) for x in far) <= -np.log(epsilon) + 1e-9


def _chains(counts, possible, n_chains, n_steps, key, **options):
    size, num_states = counts.shape[-1], counts.shape[0]

    @jax.jit
    def run(key):
        k_start, k_steps = jr.split(key)
        start = (Normal(1.0).sample(k_start, (size, size - 1)), jnp.zeros((num_states - 1, size - 1)))

        def step(current, key):
            base, biases, info = sample_exact_emissions(key, *current, counts, Normal(1.0), Normal(1.0), possible,
                                                        **options)  # fmt: skip
            flat = jnp.concatenate([base.ravel(), biases.ravel()])
            return (base, biases), (flat, info.base_accepted.mean(), info.bias_accepted)

        return jax.lax.scan(step, start, jr.split(k_steps, n_steps))[1]

    flat, row_accepted, bias_accepted = jax.vmap(run)(jr.split(key, n_chains))
    return np.asarray(flat), float(row_accepted.mean()), float(bias_accepted.mean())


def _chain_z(draws, expected, burn_in=50, expected_error=0.0):
    """|pooled mean − expected| in units of the standard error: that of the chains' means (from their spread)
    combined with the oracle's own Monte Carlo error, if any."""
    per_chain = draws[:, burn_in:].mean(axis=1)
    chain_error = per_chain.std(0, ddof=1) / np.sqrt(len(per_chain))
    return np.abs(per_chain.mean(0) - expected) / np.sqrt(chain_error**2 + expected_error**2)


GRID_COUNTS = np.array([[[3.0, 0.0], [1.0, 0.0]], [[0.0, 2.0], [4.0, 1.0]]])  # K = 2, S = 2: 3 parameters


def test_chain_matches_the_grid_posterior(x64):
    counts = jnp.asarray(GRID_COUNTS)
    axis = jnp.linspace(-7.0, 7.0, 81)
    grid = jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    log_density = jax.vmap(lambda x: conditional_log_likelihood(x[:2].reshape(2, 1), x[2:].reshape(1, 1), counts)
                           - 0.5 * jnp.sum(x**2))(grid)  # fmt: skip
    weights = np.exp(np.asarray(log_density - log_density.max()))
    weights /= weights.sum()
    mean = weights @ np.asarray(grid)
    second = weights @ np.asarray(grid) ** 2

    draws, row_accepted, bias_accepted = _chains(counts, None, 16, 600, jr.key(0))

    assert row_accepted > 0.5 and bias_accepted > 0.5
    assert _chain_z(draws, mean).max() < 4.0
    assert _chain_z(draws**2, second).max() < 4.0


def test_chain_without_repeats_matches_importance_sampling_with_a_student_t_prior(x64):
    """K = 2, S = 3, the diagonal excluded (`possible`), `StudentT` bias prior: 8 parameters, against
    self-normalised importance sampling from the prior."""
    size, possible = 3, ~jnp.eye(3, dtype=bool)
    counts = _counts(2, size, seed=4, total=20.0, possible=possible)
    bias_prior = StudentT(1.0, 4.0)
    samples = jnp.concatenate([jr.normal(jr.key(1), (300_000, 6)), bias_prior.sample(jr.key(2), (300_000, 2))], axis=1)
    log_weights = np.asarray(jax.vmap(
        lambda x: conditional_log_likelihood(x[:6].reshape(3, 2), x[6:].reshape(1, 2), counts, possible))(samples))  # fmt: skip
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    assert 1 / np.sum(weights**2) > 10_000  # the oracle's effective sample size
    samples = np.asarray(samples)
    mean, second = weights @ samples, weights @ samples**2
    # Monte Carlo standard errors of the self-normalised estimates (delta method)
    mean_error = np.sqrt(weights**2 @ (samples - mean) ** 2)
    second_error = np.sqrt(weights**2 @ (samples**2 - second) ** 2)

    @jax.jit
    def run(key):
        def step(current, key):
            base, biases, info = sample_exact_emissions(key, *current, counts, Normal(1.0), bias_prior, possible)
            return (base, biases), jnp.concatenate([base.ravel(), biases.ravel()])

        return jax.lax.scan(step, (jnp.zeros((3, 2)), jnp.zeros((1, 2))), jr.split(key, 1500))[1]

    draws = np.asarray(jax.vmap(run)(jr.split(jr.key(3), 16)))
    assert _chain_z(draws, mean, expected_error=mean_error).max() < 4.0
    assert _chain_z(draws**2, second, expected_error=second_error).max() < 4.0


def _sbc_module():
    spec = importlib.util.spec_from_file_location("bench_sbc_emissions", ROOT / "benchmarks" / "bench_sbc_emissions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["emissions", "chain"])
def test_blocked_update_is_calibrated(mode):
    """Simulation-based calibration, K = 2, S = 4, 3 × 80 frames, 300 simulations, 100 iterations of burn-in and
    49 draws one every 5: every statistic's p ≥ 0.01 (about 10 minutes on a loaded 2-core machine)."""
    result = _sbc_module().run_sbc("blocked", mode, 2, 4, 3, 80, n_sims=300, seed=0, burn_in=100, thin=5)
    p_values = {k: v for k, v in result.items() if k not in ("acceptance", "seconds", "histograms")}
    assert min(p_values.values()) >= 0.01, p_values
