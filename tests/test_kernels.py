"""Serial and parallel HMM kernels against brute-force enumeration, each other, and long sequences."""

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats
from scipy.special import logsumexp

from smoseq.inference import kernels, parallel

MODULES = {"serial": kernels, "parallel": parallel}
# (K, T, with impossible transitions and emissions); K**T paths are enumerated.
CASES = [(1, 4, False), (2, 1, False), (3, 5, False), (3, 7, True)]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# ----------------------------------------------------------------------------------
# Oracles.


def random_hmm(rng, num_states, num_timesteps, *, with_zeros=False):
    """Random (log_init, trans, log_likelihoods) in float64; optionally with impossible transitions/emissions."""
    log_init = np.log(rng.dirichlet(np.ones(num_states)))
    trans = rng.dirichlet(np.ones(num_states), size=num_states)
    log_likelihoods = 2.0 * rng.normal(size=(num_timesteps, num_states))
    if with_zeros and num_states > 1:
        trans[0, 1] = 0.0
        trans /= trans.sum(axis=1, keepdims=True)
        log_likelihoods[num_timesteps // 2, 0] = -np.inf
    return log_init, trans, log_likelihoods


def enumerate_paths(num_states, num_timesteps):
    """All K**T paths, shape (K**T, T), in `itertools.product` (row-major) order."""
    return np.array(list(itertools.product(range(num_states), repeat=num_timesteps)), dtype=np.int64)


def brute_force_posterior(log_init, trans, log_likelihoods):
    """Exact marginal, filtered, smoothed, Viterbi path and path posterior by enumeration."""
    num_timesteps, num_states = log_likelihoods.shape
    paths = enumerate_paths(num_states, num_timesteps)
    with np.errstate(divide="ignore"):
        log_trans = np.log(trans)
    step_scores = np.concatenate([log_init[paths[:, :1]], log_trans[paths[:, :-1], paths[:, 1:]]], axis=1)
    step_scores = step_scores + log_likelihoods[np.arange(num_timesteps), paths]
    prefix_scores = np.cumsum(step_scores, axis=1)  # log p(z_0..t, obs_0..t)
    marginal = logsumexp(prefix_scores[:, -1])
    posterior = np.exp(prefix_scores[:, -1] - marginal)

    def marginals(t, weights):
        counts = np.bincount(paths[:, t], weights, minlength=num_states)
        return counts / counts.sum()

    prefix_weights = np.exp(prefix_scores - prefix_scores.max(axis=0))
    filtered = np.stack([marginals(t, prefix_weights[:, t]) for t in range(num_timesteps)])
    smoothed = np.stack([marginals(t, posterior) for t in range(num_timesteps)])
    return {
        "marginal_loglik": marginal,
        "filtered_probs": filtered,
        "smoothed_probs": smoothed,
        "viterbi": paths[np.argmax(prefix_scores[:, -1])],
        "paths": paths,
        "posterior": posterior,
    }


def chi_square_pvalue(sampled_paths, posterior, num_states):
    """p-value of sampled path frequencies against the exact posterior (cells with expected < 5 pooled)."""
    num_samples, num_timesteps = sampled_paths.shape
    path_index = sampled_paths @ num_states ** np.arange(num_timesteps - 1, -1, -1)
    counts = np.bincount(path_index, minlength=posterior.size)
    assert counts[posterior == 0].sum() == 0, "sampled a path of probability zero"
    expected = posterior * num_samples
    large = expected >= 5
    observed = np.append(counts[large], counts[~large].sum())
    expected = np.append(expected[large], expected[~large].sum())
    keep = expected > 0
    return scipy.stats.chisquare(observed[keep], expected[keep]).pvalue


def run_all(module, key, log_init, trans, log_likelihoods):
    """Smoother, Viterbi and posterior sample in one jitted call (one compilation, not three)."""
    return _run_all(module, key, log_init, trans, log_likelihoods)


@partial(jax.jit, static_argnums=0)
def _run_all(module, key, log_init, trans, log_likelihoods):
    smoothed = module.hmm_smoother(log_init, trans, log_likelihoods)
    viterbi = module.hmm_viterbi(log_init, trans, log_likelihoods)
    sample_loglik, states = module.hmm_posterior_sample(key, log_init, trans, log_likelihoods)
    return smoothed, viterbi, sample_loglik, states


# ----------------------------------------------------------------------------------
# Exactness.


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
@pytest.mark.parametrize("case", CASES, ids=[f"K{k}T{t}{'-zeros' if z else ''}" for k, t, z in CASES])
def test_matches_brute_force(x64, module, case):
    num_states, num_timesteps, with_zeros = case
    rng = np.random.default_rng(num_states * 100 + num_timesteps)
    log_init, trans, log_likelihoods = random_hmm(rng, num_states, num_timesteps, with_zeros=with_zeros)
    exact = brute_force_posterior(log_init, trans, log_likelihoods)

    smoothed, viterbi, sample_loglik, states = run_all(module, jr.PRNGKey(0), log_init, trans, log_likelihoods)
    np.testing.assert_allclose(smoothed.marginal_loglik, exact["marginal_loglik"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(smoothed.filtered_probs, exact["filtered_probs"], atol=1e-6)
    np.testing.assert_allclose(smoothed.smoothed_probs, exact["smoothed_probs"], atol=1e-6)
    np.testing.assert_array_equal(viterbi, exact["viterbi"])
    np.testing.assert_allclose(sample_loglik, exact["marginal_loglik"], rtol=1e-6, atol=1e-6)
    assert states.dtype == jnp.int32 and states.shape == (num_timesteps,)


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
@pytest.mark.parametrize("with_zeros", [False, True], ids=["dense", "zeros"])
def test_posterior_sampler_chi_square(x64, module, with_zeros):
    num_states, num_timesteps, num_samples = 3, 4, 20_000
    rng = np.random.default_rng(7)
    log_init, trans, log_likelihoods = random_hmm(rng, num_states, num_timesteps, with_zeros=with_zeros)
    exact = brute_force_posterior(log_init, trans, log_likelihoods)
    draw = jax.jit(jax.vmap(module.hmm_posterior_sample, in_axes=(0, None, None, None)))
    _, paths = draw(jr.split(jr.PRNGKey(1), num_samples), log_init, trans, log_likelihoods)
    assert chi_square_pvalue(np.asarray(paths), exact["posterior"], num_states) > 1e-3


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
def test_impossible_frame_gives_minus_infinity_not_nan(x64, module):
    log_init, trans, log_likelihoods = random_hmm(np.random.default_rng(3), 3, 20)
    log_likelihoods[5] = -np.inf
    smoothed, viterbi, sample_loglik, states = run_all(module, jr.PRNGKey(0), log_init, trans, log_likelihoods)
    assert smoothed.marginal_loglik == -np.inf and sample_loglik == -np.inf
    assert not np.isnan(smoothed.filtered_probs).any() and not np.isnan(smoothed.smoothed_probs).any()
    assert ((states >= 0) & (states < 3)).all() and ((viterbi >= 0) & (viterbi < 3)).all()


# ----------------------------------------------------------------------------------
# Serial against parallel.


def test_serial_matches_parallel_long_random(x64):
    log_init, trans, log_likelihoods = random_hmm(np.random.default_rng(11), 5, 1000, with_zeros=True)
    key = jr.PRNGKey(5)  # same uniforms, same inverse-CDF rule: the same path
    serial, serial_viterbi, serial_ll, serial_states = run_all(kernels, key, log_init, trans, log_likelihoods)
    par, par_viterbi, par_ll, par_states = run_all(parallel, key, log_init, trans, log_likelihoods)
    np.testing.assert_allclose(par.marginal_loglik, serial.marginal_loglik, rtol=1e-10)
    np.testing.assert_allclose(par.filtered_probs, serial.filtered_probs, atol=1e-10)
    np.testing.assert_allclose(par.smoothed_probs, serial.smoothed_probs, atol=1e-10)
    np.testing.assert_array_equal(par_viterbi, serial_viterbi)
    np.testing.assert_array_equal(par_states, serial_states)
    np.testing.assert_allclose(par_ll, serial_ll, rtol=1e-10)


def test_serial_matches_parallel_float32():
    log_init, trans, log_likelihoods = (
        jnp.asarray(a, jnp.float32) for a in random_hmm(np.random.default_rng(12), 4, 300)
    )
    serial = kernels.hmm_smoother(log_init, trans, log_likelihoods)
    par = parallel.hmm_smoother(log_init, trans, log_likelihoods)
    assert par.filtered_probs.dtype == jnp.float32
    np.testing.assert_allclose(par.marginal_loglik, serial.marginal_loglik, rtol=1e-5)
    np.testing.assert_allclose(par.filtered_probs, serial.filtered_probs, atol=1e-4)
    np.testing.assert_allclose(par.smoothed_probs, serial.smoothed_probs, atol=1e-4)


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
def test_masked_padding_frames_change_nothing(x64, module):
    """Frames with log-likelihood 0 (padding) append predictions and leave the real frames' posterior alone."""
    log_init, trans, log_likelihoods = random_hmm(np.random.default_rng(13), 3, 15)
    padded = np.concatenate([log_likelihoods, np.zeros((5, 3))])  # same shape as the impossible-frame test
    key = jr.PRNGKey(0)
    real, real_viterbi, real_ll, _ = run_all(module, key, log_init, trans, log_likelihoods)
    with_padding, padded_viterbi, padded_ll, _ = run_all(module, key, log_init, trans, padded)
    np.testing.assert_allclose(with_padding.marginal_loglik, real.marginal_loglik, rtol=1e-12)
    np.testing.assert_allclose(padded_ll, real_ll, rtol=1e-12)
    np.testing.assert_allclose(with_padding.filtered_probs[:15], real.filtered_probs, atol=1e-12)
    np.testing.assert_allclose(with_padding.smoothed_probs[:15], real.smoothed_probs, atol=1e-12)
    predicted = real.filtered_probs[-1] @ np.linalg.matrix_power(trans, 5)
    np.testing.assert_allclose(with_padding.filtered_probs[-1], predicted, atol=1e-12)
    np.testing.assert_array_equal(padded_viterbi[:15], real_viterbi)


def test_unroll_does_not_change_results(x64):
    log_init, trans, log_likelihoods = random_hmm(np.random.default_rng(14), 3, 20)
    key = jr.PRNGKey(2)

    @jax.jit
    def unrolled(key, log_init, trans, log_likelihoods):
        smoothed = kernels.hmm_smoother(log_init, trans, log_likelihoods, unroll=3)
        viterbi = kernels.hmm_viterbi(log_init, trans, log_likelihoods, unroll=3)
        return smoothed, viterbi, *kernels.hmm_posterior_sample(key, log_init, trans, log_likelihoods, unroll=3)

    expected = run_all(kernels, key, log_init, trans, log_likelihoods)
    results = unrolled(key, log_init, trans, log_likelihoods)
    for got, want in zip(jax.tree.leaves(results), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------
# Long sequences and batching.


def test_long_float32_filter_is_stable():
    """432,000 frames (an hour at 120 fps) in float32: finite, normalised, close to float64."""
    num_states, num_timesteps = 10, 432_000
    rng = np.random.default_rng(15)
    trans = 0.95 * np.eye(num_states) + 0.05 * rng.dirichlet(np.ones(num_states), size=num_states)  # sticky
    log_likelihoods = np.log(rng.uniform(1e-3, 0.2, size=(num_timesteps, num_states)))  # syllable-table sized
    log_init = np.full(num_states, -np.log(num_states))
    hmm_filter = jax.jit(kernels.hmm_filter)
    single = hmm_filter(*(jnp.asarray(a, jnp.float32) for a in (log_init, trans, log_likelihoods)))
    with jax.enable_x64(True):
        double = jax.jit(kernels.hmm_filter)(log_init, trans, log_likelihoods)
    assert np.isfinite(single.marginal_loglik)
    np.testing.assert_allclose(single.filtered_probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(single.marginal_loglik, double.marginal_loglik, rtol=1e-6)
    np.testing.assert_allclose(single.filtered_probs, double.filtered_probs, atol=1e-3)


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
def test_jit_vmap_over_batch_of_parameters(module):
    """Every kernel under one jit, vmapped over a batch of (log_init, trans) (and keys), equals unbatched calls."""
    batch = [random_hmm(np.random.default_rng(seed), 3, 8) for seed in range(4)]
    log_init = jnp.asarray(np.stack([b[0] for b in batch]), jnp.float32)
    trans = jnp.asarray(np.stack([b[1] for b in batch]), jnp.float32)
    log_likelihoods = jnp.asarray(batch[0][2], jnp.float32)
    keys = jr.split(jr.PRNGKey(0), 4)

    @jax.jit
    def batched(keys, log_init, trans):
        over_parameters = partial(jax.vmap, in_axes=(0, 0, None))
        return (
            over_parameters(module.hmm_filter)(log_init, trans, log_likelihoods),
            over_parameters(module.hmm_smoother)(log_init, trans, log_likelihoods),
            over_parameters(module.hmm_viterbi)(log_init, trans, log_likelihoods),
            jax.vmap(module.hmm_posterior_sample, in_axes=(0, 0, 0, None))(keys, log_init, trans, log_likelihoods),
        )

    filtered, smoothed, viterbi, (sample_logliks, states) = batched(keys, log_init, trans)
    for i in range(4):
        expected = run_all(module, keys[i], log_init[i], trans[i], log_likelihoods)
        got = (smoothed, viterbi, sample_logliks, states)
        for leaf, want in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(leaf[i], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(filtered.filtered_probs[i], expected[0].filtered_probs, atol=1e-6)
        np.testing.assert_allclose(filtered.marginal_loglik[i], expected[0].marginal_loglik, rtol=1e-5)
