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


# ----------------------------------------------------------------------------------
# Dense log-likelihoods and per-sequence transition matrices.


def random_log_likelihoods(rng, num_sequences, num_timesteps, num_states):
    """Arbitrary (not table-derived) log-likelihoods: some entries at -50, frames shifted by up to ±200."""
    log_likelihoods = rng.normal(scale=2.0, size=(num_sequences, num_timesteps, num_states))
    log_likelihoods[rng.random(log_likelihoods.shape) < 0.2] = -50.0
    return log_likelihoods + rng.uniform(-200.0, 200.0, size=(num_sequences, num_timesteps, 1))


def random_transitions(rng, num_sequences, num_states):
    """(N, K, K): one random transition matrix per sequence."""
    return rng.dirichlet(np.ones(num_states), size=(num_sequences, num_states))


def path_posterior_pvalue(paths, posterior, num_states):
    """Chi-square p-value of sampled (num_samples, T) paths against the enumerated path posterior."""
    num_timesteps = paths.shape[1]
    path_index = np.asarray(paths) @ num_states ** np.arange(num_timesteps - 1, -1, -1)
    counts = np.bincount(path_index, minlength=posterior.size)
    expected = posterior * paths.shape[0]
    large = expected >= 5
    observed = np.append(counts[large], counts[~large].sum())
    expected = np.append(expected[large], expected[~large].sum())
    return scipy.stats.chisquare(observed[expected > 0], expected[expected > 0]).pvalue


def draw_many(num_samples, seed, log_init, trans, tables, syllables, mask, log_likelihoods=None):
    """`num_samples` independent draws (one key each) under jit(vmap): paths (num_samples, N, T)."""

    def draw(key):
        return native.sample_states_native(
            key, log_init, trans, tables, syllables, mask, log_likelihoods=log_likelihoods
        )[0]

    return np.asarray(jax.jit(jax.vmap(draw))(jr.split(jr.PRNGKey(seed), num_samples)))


@pytest.mark.parametrize("shape", [(2, 1), (2, 6), (3, 5)], ids=["K2T1", "K2T6", "K3T5"])
def test_dense_matches_brute_force(x64, shape):
    num_states, num_timesteps = shape
    rng = np.random.default_rng(100 + num_states * 10 + num_timesteps)
    log_init, trans, _, _, mask = random_syllable_hmm(rng, num_states, 4, 3, num_timesteps)
    log_likelihoods = random_log_likelihoods(rng, 3, num_timesteps, num_states)
    syllables = np.full((3, num_timesteps), -1, dtype=np.int32)  # only the shape is used: never validated
    dense = {"log_likelihoods": log_likelihoods}
    logliks = native.filter_native(log_init, trans, None, syllables, mask, **dense)
    viterbi = native.viterbi_native(log_init, trans, None, syllables, mask, **dense)
    states, sample_logliks = native.sample_states_native(jr.PRNGKey(0), log_init, trans, None, syllables, mask, **dense)
    assert states.shape == syllables.shape and states.dtype == jnp.int32
    for n in range(3):
        marginal, best_path, _ = brute_force(log_init, trans, log_likelihoods[n])
        np.testing.assert_allclose(logliks[n], marginal, rtol=1e-9)
        np.testing.assert_allclose(sample_logliks[n], marginal, rtol=1e-9)
        np.testing.assert_array_equal(viterbi[n], best_path)


def test_dense_posterior_sampler_chi_square(x64):
    num_states, num_timesteps = 3, 4
    rng = np.random.default_rng(101)
    log_init, trans, _, syllables, mask = random_syllable_hmm(rng, num_states, 3, 1, num_timesteps)
    log_likelihoods = random_log_likelihoods(rng, 1, num_timesteps, num_states)
    log_likelihoods[0, 1] = log_likelihoods[0, 1].max() + np.array([0.0, -1.0, -2.0])  # informative, not degenerate
    _, _, posterior = brute_force(log_init, trans, log_likelihoods[0])
    paths = draw_many(20_000, 102, log_init, trans, None, syllables, mask, log_likelihoods)
    assert path_posterior_pvalue(paths[:, 0], posterior, num_states) > 1e-3


def test_dense_equals_table_path(x64):
    """log_likelihoods = syllable_log_likelihoods(tables, ...) reproduces the table path."""
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(103), 4, 6, 5, 300)
    trans[1, 2] = 0.0  # an impossible transition
    trans /= trans.sum(axis=1, keepdims=True)
    log_likelihoods = native.syllable_log_likelihoods(tables, syllables, mask)
    key = jr.PRNGKey(11)
    table_states, table_logliks = native.sample_states_native(key, log_init, trans, tables, syllables, mask)
    dense_states, dense_logliks = native.sample_states_native(
        key, log_init, trans, None, syllables, mask, log_likelihoods=log_likelihoods
    )
    np.testing.assert_array_equal(dense_states, table_states)
    np.testing.assert_allclose(dense_logliks, table_logliks, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        native.filter_native(log_init, trans, None, syllables, mask, log_likelihoods=log_likelihoods),
        native.filter_native(log_init, trans, tables, syllables, mask),
        rtol=0,
        atol=1e-9,
    )
    np.testing.assert_array_equal(
        native.viterbi_native(log_init, trans, None, syllables, mask, log_likelihoods=log_likelihoods),
        native.viterbi_native(log_init, trans, tables, syllables, mask),
    )


def test_dense_impossible_frame_gives_minus_infinity(x64):
    rng = np.random.default_rng(104)
    log_init, trans, _, syllables, mask = random_syllable_hmm(rng, 3, 4, 2, 40)
    log_likelihoods = random_log_likelihoods(rng, 2, 40, 3)
    log_likelihoods[0, 17] = -np.inf  # sequence 0 is impossible under every state
    log_likelihoods[1, 5, 1] = -np.inf  # sequence 1 only rules out one state at one frame
    dense = {"log_likelihoods": log_likelihoods}
    logliks = native.filter_native(log_init, trans, None, syllables, mask, **dense)
    states, sample_logliks = native.sample_states_native(jr.PRNGKey(0), log_init, trans, None, syllables, mask, **dense)
    viterbi = native.viterbi_native(log_init, trans, None, syllables, mask, **dense)
    assert logliks[0] == -np.inf and sample_logliks[0] == -np.inf
    serial = kernels.hmm_filter(log_init, trans, log_likelihoods[1]).marginal_loglik
    np.testing.assert_allclose(logliks[1], serial, rtol=1e-10)
    assert states[1, 5] != 1 and viterbi[1, 5] != 1
    assert ((states >= 0) & (states < 3)).all() and ((viterbi >= 0) & (viterbi < 3)).all()


@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_per_sequence_transitions_match_brute_force(x64, evidence):
    num_states, num_timesteps, num_sequences = 3, 5, 3
    rng = np.random.default_rng(105)
    log_init, _, tables, syllables, mask = random_syllable_hmm(rng, num_states, 4, num_sequences, num_timesteps)
    trans = random_transitions(rng, num_sequences, num_states)
    trans[0, 2, 1] = 0.0  # an impossible transition in one sequence only
    trans[0] /= trans[0].sum(axis=1, keepdims=True)
    if evidence == "tables":
        log_likelihoods, inputs = numpy_log_likelihoods(tables, syllables, mask), (tables, syllables, mask)
        dense = {}
    else:
        log_likelihoods = random_log_likelihoods(rng, num_sequences, num_timesteps, num_states)
        inputs, dense = (None, syllables, mask), {"log_likelihoods": log_likelihoods}
    logliks = native.filter_native(log_init, trans, *inputs, **dense)
    viterbi = native.viterbi_native(log_init, trans, *inputs, **dense)
    _, sample_logliks = native.sample_states_native(jr.PRNGKey(1), log_init, trans, *inputs, **dense)
    paths = draw_many(20_000, 106, log_init, trans, *inputs, dense.get("log_likelihoods"))
    for n in range(num_sequences):
        marginal, best_path, posterior = brute_force(log_init, trans[n], log_likelihoods[n])
        np.testing.assert_allclose(logliks[n], marginal, rtol=1e-9)
        np.testing.assert_allclose(sample_logliks[n], marginal, rtol=1e-9)
        np.testing.assert_array_equal(viterbi[n], best_path)
        assert path_posterior_pvalue(paths[:, n], posterior, num_states) > 1e-3


@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_per_sequence_transitions_same_key_same_paths_as_serial_sampler(x64, evidence):
    num_states, num_sequences = 4, 5
    rng = np.random.default_rng(107)
    log_init, _, tables, syllables, mask = random_syllable_hmm(rng, num_states, 6, num_sequences, 300)
    trans = random_transitions(rng, num_sequences, num_states)
    if evidence == "tables":
        log_likelihoods, inputs, dense = native.syllable_log_likelihoods(tables, syllables, mask), (tables,), {}
    else:
        log_likelihoods = random_log_likelihoods(rng, num_sequences, 300, num_states)
        inputs, dense = (None,), {"log_likelihoods": log_likelihoods}
    key = jr.PRNGKey(8)
    states, logliks = native.sample_states_native(key, log_init, trans, *inputs, syllables, mask, **dense)
    serial_logliks, serial_states = jax.vmap(kernels.hmm_posterior_sample, in_axes=(0, None, 0, 0))(
        jr.split(key, num_sequences), log_init, trans, log_likelihoods
    )
    np.testing.assert_array_equal(states, serial_states)
    np.testing.assert_allclose(logliks, serial_logliks, rtol=1e-10)
    logliks_from_filter = native.filter_native(log_init, trans, *inputs, syllables, mask, **dense)
    np.testing.assert_allclose(logliks_from_filter, serial_logliks, rtol=1e-10)
    serial_viterbi = jax.vmap(kernels.hmm_viterbi, in_axes=(None, 0, 0))(log_init, trans, log_likelihoods)
    viterbi = native.viterbi_native(log_init, trans, *inputs, syllables, mask, **dense)
    np.testing.assert_array_equal(viterbi, serial_viterbi)


@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_shared_transitions_equal_repeated_per_sequence(x64, evidence):
    rng = np.random.default_rng(108)
    log_init, trans, tables, syllables, mask = random_syllable_hmm(rng, 3, 5, 4, 80)
    if evidence == "tables":
        inputs, dense = (tables, syllables, mask), {}
    else:
        inputs, dense = (None, syllables, mask), {"log_likelihoods": random_log_likelihoods(rng, 4, 80, 3)}
    repeated = np.repeat(trans[None], 4, axis=0)
    key = jr.PRNGKey(9)
    shared_states, shared_logliks = native.sample_states_native(key, log_init, trans, *inputs, **dense)
    repeated_states, repeated_logliks = native.sample_states_native(key, log_init, repeated, *inputs, **dense)
    np.testing.assert_array_equal(shared_states, repeated_states)
    np.testing.assert_array_equal(shared_logliks, repeated_logliks)
    np.testing.assert_array_equal(
        native.filter_native(log_init, trans, *inputs, **dense),
        native.filter_native(log_init, repeated, *inputs, **dense),
    )
    np.testing.assert_array_equal(
        native.viterbi_native(log_init, trans, *inputs, **dense),
        native.viterbi_native(log_init, repeated, *inputs, **dense),
    )


def test_jit_vmap_over_models_with_per_sequence_transitions_and_dense_likelihoods():
    """A batch of M models, each with its own (N, K, K) matrices and (N, T, K) log-likelihoods (float32)."""
    num_models, num_sequences, num_timesteps, num_states = 3, 4, 60, 3
    rng = np.random.default_rng(109)
    log_init = jnp.asarray(np.log(rng.dirichlet(np.ones(num_states), size=num_models)), jnp.float32)
    trans = jnp.asarray(
        np.stack([random_transitions(rng, num_sequences, num_states) for _ in range(num_models)]), jnp.float32
    )
    log_likelihoods = jnp.asarray(
        np.stack([random_log_likelihoods(rng, num_sequences, num_timesteps, num_states) for _ in range(num_models)]),
        jnp.float32,
    )
    syllables = jnp.zeros((num_sequences, num_timesteps), jnp.int32)
    mask = jnp.ones((num_sequences, num_timesteps), jnp.float32)
    keys = jr.split(jr.PRNGKey(12), num_models)

    def one_model(key, log_init, trans, log_likelihoods):
        dense = {"log_likelihoods": log_likelihoods}
        return (
            native.filter_native(log_init, trans, None, syllables, mask, **dense),
            native.viterbi_native(log_init, trans, None, syllables, mask, **dense),
            native.sample_states_native(key, log_init, trans, None, syllables, mask, **dense),
        )

    logliks, viterbi, (states, sample_logliks) = jax.jit(jax.vmap(one_model))(keys, log_init, trans, log_likelihoods)
    assert logliks.shape == (3, 4) and viterbi.shape == (3, 4, 60) and states.shape == (3, 4, 60)
    for m in range(num_models):
        alone = one_model(keys[m], log_init[m], trans[m], log_likelihoods[m])
        np.testing.assert_allclose(logliks[m], alone[0], rtol=1e-6)
        np.testing.assert_allclose(sample_logliks[m], logliks[m], rtol=1e-6)
        np.testing.assert_array_equal(viterbi[m], alone[1])
        np.testing.assert_array_equal(states[m], alone[2][0])
        serial = jax.vmap(kernels.hmm_filter, in_axes=(None, 0, 0))(log_init[m], trans[m], log_likelihoods[m])
        # Sums of float32 frame scales of up to ±200 cancel: an absolute tolerance, not a relative one.
        np.testing.assert_allclose(logliks[m], serial.marginal_loglik, rtol=1e-5, atol=5e-3)

    # Models that share the log-likelihoods (unbatched) but not their per-sequence matrices,
    # and models with one shared (K, K) matrix each: broadcast per job, not copied per model.
    shared_ll = jax.jit(jax.vmap(lambda k, i, t: one_model(k, i, t, log_likelihoods[0])))(keys, log_init, trans)
    per_model = jax.jit(jax.vmap(lambda k, i, t: one_model(k, i, t, log_likelihoods[0])))(keys, log_init, trans[:, 0])
    for m in range(num_models):
        alone = one_model(keys[m], log_init[m], trans[m], log_likelihoods[0])
        np.testing.assert_allclose(shared_ll[0][m], alone[0], rtol=1e-6)
        np.testing.assert_array_equal(shared_ll[2][0][m], alone[2][0])
        alone = one_model(keys[m], log_init[m], trans[m, 0], log_likelihoods[0])
        np.testing.assert_allclose(per_model[0][m], alone[0], rtol=1e-6)
        np.testing.assert_array_equal(per_model[1][m], alone[1])
        np.testing.assert_array_equal(per_model[2][0][m], alone[2][0])


def test_host_sampler_with_per_sequence_transitions_and_dense_likelihoods(x64):
    num_models, num_sequences, num_timesteps, num_states = 2, 3, 200, 4
    rng = np.random.default_rng(110)
    log_init = np.log(rng.dirichlet(np.ones(num_states), size=num_models))
    trans = np.stack([random_transitions(rng, num_sequences, num_states) for _ in range(num_models)])
    log_likelihoods = np.stack(
        [random_log_likelihoods(rng, num_sequences, num_timesteps, num_states) for _ in range(num_models)]
    )
    syllables = np.zeros((num_sequences, num_timesteps), np.int32)
    mask = np.ones((num_sequences, num_timesteps))
    keys = jr.split(jr.PRNGKey(13), num_models)

    def uniforms_of(key):
        return np.asarray(
            jax.vmap(lambda k: kernels.posterior_uniforms(k, num_timesteps, jnp.float64))(jr.split(key, num_sequences))
        )

    uniforms = np.stack([uniforms_of(key) for key in keys])
    expected = [
        native.sample_states_native(
            keys[m], log_init[m], trans[m], None, syllables, mask, log_likelihoods=log_likelihoods[m]
        )
        for m in range(num_models)
    ]
    # One model.
    states, logliks = native.sample_states_host(
        log_init[0], trans[0], None, syllables, mask, uniforms[0], log_likelihoods=log_likelihoods[0]
    )
    assert states.shape == (num_sequences, num_timesteps) and logliks.dtype == np.float64
    np.testing.assert_array_equal(states, expected[0][0])
    np.testing.assert_allclose(logliks, expected[0][1], rtol=1e-12)
    # A leading model axis on every parameter, the uniforms and the log-likelihoods.
    states, logliks = native.sample_states_host(
        log_init, trans, None, syllables, mask, uniforms, log_likelihoods=log_likelihoods
    )
    assert states.shape == (num_models, num_sequences, num_timesteps) and logliks.shape == (num_models, num_sequences)
    for m in range(num_models):
        np.testing.assert_array_equal(states[m], expected[m][0])
        np.testing.assert_allclose(logliks[m], expected[m][1], rtol=1e-12)
    # Log-likelihoods shared by the models, a shared (K, K) matrix per model.
    states, logliks = native.sample_states_host(
        log_init, trans[:, 0], None, syllables, mask, uniforms, log_likelihoods=log_likelihoods[0]
    )
    for m in range(num_models):
        alone = native.sample_states_native(
            keys[m], log_init[m], trans[m, 0], None, syllables, mask, log_likelihoods=log_likelihoods[0]
        )
        np.testing.assert_array_equal(states[m], alone[0])
        np.testing.assert_allclose(logliks[m], alone[1], rtol=1e-12)
    # The table path with per-sequence matrices and a model axis.
    _, _, tables, table_syllables, table_mask = random_syllable_hmm(rng, num_states, 5, num_sequences, num_timesteps)
    states, logliks = native.sample_states_host(log_init, trans, tables, table_syllables, table_mask, uniforms)
    for m in range(num_models):
        alone = native.sample_states_native(keys[m], log_init[m], trans[m], tables, table_syllables, table_mask)
        np.testing.assert_array_equal(states[m], alone[0])
        np.testing.assert_allclose(logliks[m], alone[1], rtol=1e-12)


def test_tables_and_log_likelihoods_are_exclusive():
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(111), 2, 4, 2, 10)
    log_likelihoods = np.zeros((2, 10, 2))
    uniforms = np.full((2, 10), 0.5)
    for tables_arg, dense in [(tables, {"log_likelihoods": log_likelihoods}), (None, {})]:
        for function in (native.filter_native, native.viterbi_native):
            with pytest.raises(ValueError, match="exactly one of `tables`"):
                function(log_init, trans, tables_arg, syllables, mask, **dense)
        with pytest.raises(ValueError, match="exactly one of `tables`"):
            native.sample_states_native(jr.PRNGKey(0), log_init, trans, tables_arg, syllables, mask, **dense)
        with pytest.raises(ValueError, match="exactly one of `tables`"):
            native.sample_states_host(log_init, trans, tables_arg, syllables, mask, uniforms, **dense)
    with pytest.raises(ValueError, match="log_likelihoods must have shape"):
        native.filter_native(log_init, trans, None, syllables, mask, log_likelihoods=np.zeros((2, 10, 3)))
    with pytest.raises(ValueError, match="trans must be"):
        native.filter_native(log_init, np.stack([trans] * 3), tables, syllables, mask)


def test_float64_inputs_reach_the_callback_intact(x64):
    """Repeated calls run the callback on JAX's worker threads, outside the caller's `enable_x64` context."""
    log_init, trans, tables, syllables, mask = random_syllable_hmm(np.random.default_rng(112), 4, 6, 5, 3000)
    log_likelihoods = native.syllable_log_likelihoods(tables, syllables, mask)
    serial = jax.vmap(kernels.hmm_filter, in_axes=(None, None, 0))(log_init, trans, log_likelihoods).marginal_loglik
    for _ in range(6):
        np.testing.assert_allclose(native.filter_native(log_init, trans, tables, syllables, mask), serial, rtol=1e-12)
        np.testing.assert_allclose(
            native.filter_native(log_init, trans, None, syllables, mask, log_likelihoods=log_likelihoods),
            serial,
            rtol=1e-12,
        )
