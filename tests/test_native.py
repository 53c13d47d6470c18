"""Numba kernels against brute-force enumeration and the serial JAX kernels, under jit and vmap."""

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats
from scipy.special import logsumexp

from smoseq.inference import kernels, native

pytestmark = pytest.mark.skipif(not native.native_available(), reason="numba is not importable")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def random_syllable_hmm(rng, num_states, num_syllables, num_sequences, num_timesteps, *, mask_fraction=0.2):
    """Random (log_init, trans, tables, syllables, mask) in float64 / int32."""
    log_init = np.log(rng.dirichlet(np.ones(num_states)))
    trans = rng.dirichlet(np.ones(num_states), size=num_states)
    tables = rng.dirichlet(np.ones(num_syllables), size=(num_states, num_syllables))
    syllables = rng.integers(0, num_syllables, size=(num_sequences, num_timesteps)).astype(np.int32)
    mask = (rng.random((num_sequences, num_timesteps)) > mask_fraction).astype(np.float64)
    return log_init, trans, tables, syllables, mask


def numpy_log_likelihoods(tables, syllables, mask):
    """`log tables[k, x[t-1], x[t]]` on unmasked frames t >= 1, else 0; shape (N, T, K)."""
    num_sequences, num_timesteps = syllables.shape
    log_likelihoods = np.zeros((num_sequences, num_timesteps, tables.shape[0]))
    with np.errstate(divide="ignore"):
        lookups = np.log(tables[:, syllables[:, :-1], syllables[:, 1:]])  # (K, N, T-1)
    log_likelihoods[:, 1:] = np.where(mask[:, 1:, None] != 0, np.moveaxis(lookups, 0, -1), 0.0)
    return log_likelihoods


def brute_force(log_init, trans, log_likelihoods):
    """Marginal log-likelihood, Viterbi path and path posterior of one sequence by enumerating K**T paths."""
    num_timesteps, num_states = log_likelihoods.shape
    paths = np.array(list(itertools.product(range(num_states), repeat=num_timesteps)))
    with np.errstate(divide="ignore"):
        log_trans = np.log(trans)
    scores = log_init[paths[:, 0]] + log_likelihoods[np.arange(num_timesteps), paths].sum(axis=1)
    scores = scores + log_trans[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    marginal = logsumexp(scores)
    return marginal, paths[np.argmax(scores)], np.exp(scores - marginal)


# ----------------------------------------------------------------------------------
# Exactness.


@pytest.mark.parametrize("shape", [(1, 5), (2, 1), (2, 7), (3, 6)], ids=["K1T5", "K2T1", "K2T7", "K3T6"])
def test_matches_brute_force(x64, shape):
    num_states, num_timesteps = shape
    rng = np.random.default_rng(num_states * 10 + num_timesteps)
    log_init, trans, tables, syllables, mask = random_syllable_hmm(rng, num_states, 4, 3, num_timesteps)
    log_likelihoods = numpy_log_likelihoods(tables, syllables, mask)
    logliks = native.filter_native(log_init, trans, tables, syllables, mask)
    viterbi = native.viterbi_native(log_init, trans, tables, syllables, mask)
    states, sample_logliks = native.sample_states_native(jr.PRNGKey(0), log_init, trans, tables, syllables, mask)
    assert states.shape == syllables.shape and states.dtype == jnp.int32
    for n in range(syllables.shape[0]):
        marginal, best_path, _ = brute_force(log_init, trans, log_likelihoods[n])
        np.testing.assert_allclose(logliks[n], marginal, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sample_logliks[n], marginal, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(viterbi[n], best_path)


def test_log_likelihood_helper_matches_numpy(x64):
    _, _, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(1), 3, 5, 2, 30)
    np.testing.assert_allclose(
        native.syllable_log_likelihoods(tables, syllables, mask), numpy_log_likelihoods(tables, syllables, mask)
    )


def test_posterior_sampler_chi_square(x64):
    num_states, num_timesteps, num_samples = 3, 4, 20_000
    rng = np.random.default_rng(2)
    log_init, trans, tables, syllables, mask = random_syllable_hmm(rng, num_states, 3, 1, num_timesteps)
    tables[:, 0, 1] = [0.9, 0.05, 0.05]  # make the evidence informative
    tables /= tables.sum(axis=-1, keepdims=True)
    _, _, posterior = brute_force(log_init, trans, numpy_log_likelihoods(tables, syllables, mask)[0])
    draw = jax.jit(jax.vmap(native.sample_states_native, in_axes=(0, None, None, None, None, None)))
    paths, _ = draw(jr.split(jr.PRNGKey(3), num_samples), log_init, trans, tables, syllables, mask)
    path_index = np.asarray(paths[:, 0]) @ num_states ** np.arange(num_timesteps - 1, -1, -1)
    counts = np.bincount(path_index, minlength=posterior.size)
    expected = posterior * num_samples
    large = expected >= 5
    observed = np.append(counts[large], counts[~large].sum())
    expected = np.append(expected[large], expected[~large].sum())
    assert scipy.stats.chisquare(observed[expected > 0], expected[expected > 0]).pvalue > 1e-3


# ----------------------------------------------------------------------------------
# Equivalence with the JAX kernels.


def test_same_key_same_paths_as_serial_sampler(x64):
    """The documented contract: path for path equal to vmap(hmm_posterior_sample) over jr.split(key, N)."""
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(4), 4, 6, 5, 300)
    trans[1, 2] = 0.0  # an impossible transition
    trans /= trans.sum(axis=1, keepdims=True)
    key = jr.PRNGKey(7)
    states, logliks = native.sample_states_native(key, log_init, trans, tables, syllables, mask)
    log_likelihoods = native.syllable_log_likelihoods(tables, syllables, mask)
    serial_logliks, serial_states = jax.vmap(kernels.hmm_posterior_sample, in_axes=(0, None, None, 0))(
        jr.split(key, 5), log_init, trans, log_likelihoods
    )
    np.testing.assert_array_equal(states, serial_states)
    np.testing.assert_allclose(logliks, serial_logliks, rtol=1e-10)
    logliks_from_filter = native.filter_native(log_init, trans, tables, syllables, mask)
    np.testing.assert_allclose(logliks_from_filter, serial_logliks, rtol=1e-10)
    serial_viterbi = jax.vmap(kernels.hmm_viterbi, in_axes=(None, None, 0))(log_init, trans, log_likelihoods)
    np.testing.assert_array_equal(native.viterbi_native(log_init, trans, tables, syllables, mask), serial_viterbi)


def test_float32_inputs_match_serial_filter():
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(5), 5, 8, 3, 2000)
    log_init, trans, tables, mask = (jnp.asarray(a, jnp.float32) for a in (log_init, trans, tables, mask))
    logliks = native.filter_native(log_init, trans, tables, syllables, mask)
    assert logliks.dtype == jnp.float32
    log_likelihoods = native.syllable_log_likelihoods(tables, syllables, mask)
    serial = jax.vmap(kernels.hmm_filter, in_axes=(None, None, 0))(log_init, trans, log_likelihoods)
    np.testing.assert_allclose(logliks, serial.marginal_loglik, rtol=1e-5)


def test_appending_masked_frames_leaves_marginal_unchanged(x64):
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(6), 3, 4, 2, 50)
    padded_syllables = np.concatenate([syllables, np.repeat(syllables[:, -1:], 10, axis=1)], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((2, 10))], axis=1)
    np.testing.assert_allclose(
        native.filter_native(log_init, trans, tables, padded_syllables, padded_mask),
        native.filter_native(log_init, trans, tables, syllables, mask),
        rtol=1e-12,
    )


def test_zero_likelihood_frame_gives_minus_infinity(x64):
    rng = np.random.default_rng(8)
    log_init, trans, tables, syllables, mask = random_syllable_hmm(rng, 3, 4, 2, 40, mask_fraction=0.0)
    tables[:, syllables[0, 9], syllables[0, 10]] = 0.0  # sequence 0 is impossible under every state
    tables /= tables.sum(axis=-1, keepdims=True)
    logliks = native.filter_native(log_init, trans, tables, syllables, mask)
    states, sample_logliks = native.sample_states_native(jr.PRNGKey(0), log_init, trans, tables, syllables, mask)
    viterbi = native.viterbi_native(log_init, trans, tables, syllables, mask)
    assert logliks[0] == -np.inf and sample_logliks[0] == -np.inf
    assert np.isfinite(logliks[1]) and np.isfinite(sample_logliks[1])
    assert ((states >= 0) & (states < 3)).all() and ((viterbi >= 0) & (viterbi < 3)).all()


def test_out_of_range_syllables_are_refused():
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(9), 2, 4, 1, 10)
    syllables[0, 3] = 4
    with pytest.raises(Exception, match=r"syllables must lie in \[0, 4\)"):
        jax.block_until_ready(native.filter_native(log_init, trans, tables, syllables, mask))


# ----------------------------------------------------------------------------------
# jit and vmap.


def test_jit_vmap_over_batch_of_parameters():
    """One jit with every native kernel vmapped over (log_init, trans), plus a nested vmap over datasets."""
    rng = np.random.default_rng(10)
    batch = [random_syllable_hmm(np.random.default_rng(seed), 3, 5, 4, 60) for seed in range(3)]
    log_init = jnp.asarray(np.stack([b[0] for b in batch]), jnp.float32)
    trans = jnp.asarray(np.stack([b[1] for b in batch]), jnp.float32)
    _, _, tables, syllables, mask = batch[0]
    tables = jnp.asarray(tables, jnp.float32)
    keys = jr.split(jr.PRNGKey(0), 3)

    @jax.jit
    def batched(keys, log_init, trans):
        return (
            jax.vmap(native.filter_native, in_axes=(0, 0, None, None, None))(log_init, trans, tables, syllables, mask),
            jax.vmap(native.viterbi_native, in_axes=(0, 0, None, None, None))(log_init, trans, tables, syllables, mask),
            jax.vmap(native.sample_states_native, in_axes=(0, 0, 0, None, None, None))(
                keys, log_init, trans, tables, syllables, mask
            ),
        )

    logliks, viterbi, (states, sample_logliks) = batched(keys, log_init, trans)
    assert logliks.shape == (3, 4) and viterbi.shape == (3, 4, 60) and states.shape == (3, 4, 60)
    for i in range(3):
        one_model = (log_init[i], trans[i], tables, syllables, mask)
        np.testing.assert_allclose(logliks[i], native.filter_native(*one_model), rtol=1e-6)
        np.testing.assert_allclose(sample_logliks[i], logliks[i], rtol=1e-6)
        np.testing.assert_array_equal(viterbi[i], native.viterbi_native(*one_model))
        np.testing.assert_array_equal(states[i], native.sample_states_native(keys[i], *one_model)[0])

    # Nested: models (outer) x datasets (inner, a different mask per dataset).
    masks = jnp.asarray(rng.random((2, 4, 60)) > 0.5, jnp.float32)
    nested = jax.jit(
        jax.vmap(jax.vmap(native.filter_native, in_axes=(None, None, None, None, 0)), in_axes=(0, 0, None, None, None))
    )(log_init, trans, tables, syllables, masks)
    assert nested.shape == (3, 2, 4)
    expected = native.filter_native(log_init[2], trans[2], tables, syllables, masks[1])
    np.testing.assert_allclose(nested[2, 1], expected, rtol=1e-6)
