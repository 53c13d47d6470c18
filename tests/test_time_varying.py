"""Time-varying transition matrices: every kernel (serial, parallel, native) against brute force.

Convention (`smoseq.inference.kernels`): per-frame matrices are (T, K, K) per sequence,
(N, T, K, K) batched, with `trans[t]` the step t-1 -> t and `trans[0]` never read.
"""

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.stats
from scipy.special import logsumexp

from smoseq.inference import kernels, native, parallel

MODULES = {"serial": kernels, "parallel": parallel}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def per_frame_hmm(rng, num_states, num_timesteps, *, with_zeros=False):
    """log_init (K,), trans (T, K, K) (row-stochastic per frame), log_likelihoods (T, K), float64."""
    log_init = np.log(rng.dirichlet(np.ones(num_states)))
    trans = rng.dirichlet(np.ones(num_states), size=(num_timesteps, num_states))
    trans[0] = np.nan  # never read: a NaN here would poison every result that used it
    log_likelihoods = 2.0 * rng.normal(size=(num_timesteps, num_states))
    if with_zeros:
        trans[1:, 0, 1] = 0.0
        trans[1:] /= trans[1:].sum(axis=-1, keepdims=True)
        log_likelihoods[num_timesteps // 2, 0] = -np.inf
    return log_init, trans, log_likelihoods


def brute_force(log_init, trans, log_likelihoods):
    """Marginal, filtered, smoothed, Viterbi path and path posterior by enumerating all K**T paths."""
    num_timesteps, num_states = log_likelihoods.shape
    paths = np.array(list(itertools.product(range(num_states), repeat=num_timesteps)), dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_trans = np.log(trans)
    steps = [log_trans[t][paths[:, t - 1], paths[:, t]] for t in range(1, num_timesteps)]
    scores = np.stack([log_init[paths[:, 0]], *steps], axis=1) + log_likelihoods[np.arange(num_timesteps), paths]
    prefix = np.cumsum(scores, axis=1)
    marginal = logsumexp(prefix[:, -1])
    posterior = np.exp(prefix[:, -1] - marginal)

    def marginals(t, weights):
        counts = np.bincount(paths[:, t], weights, minlength=num_states)
        return counts / counts.sum()

    prefix_weights = np.exp(prefix - prefix.max(axis=0))
    return {
        "marginal_loglik": marginal,
        "filtered_probs": np.stack([marginals(t, prefix_weights[:, t]) for t in range(num_timesteps)]),
        "smoothed_probs": np.stack([marginals(t, posterior) for t in range(num_timesteps)]),
        "viterbi": paths[np.argmax(prefix[:, -1])],
        "posterior": posterior,
    }


def chi_square_pvalue(sampled, posterior, num_states):
    """p-value of sampled path frequencies against the exact posterior (cells with expected < 5 pooled)."""
    num_samples, num_timesteps = sampled.shape
    index = sampled @ num_states ** np.arange(num_timesteps - 1, -1, -1)
    counts = np.bincount(index, minlength=posterior.size)
    assert counts[posterior == 0].sum() == 0, "sampled a path of probability zero"
    expected = posterior * num_samples
    large = expected >= 5
    observed = np.append(counts[large], counts[~large].sum())
    expected = np.append(expected[large], expected[~large].sum())
    keep = expected > 0
    return scipy.stats.chisquare(observed[keep], expected[keep]).pvalue


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
@pytest.mark.parametrize("case", [(2, 1, False), (3, 5, False), (3, 6, True)], ids=["K2T1", "K3T5", "K3T6-zeros"])
def test_jax_kernels_match_brute_force(x64, module, case):
    num_states, num_timesteps, with_zeros = case
    log_init, trans, log_likelihoods = per_frame_hmm(np.random.default_rng(num_timesteps), num_states, num_timesteps, with_zeros=with_zeros)
    exact = brute_force(log_init, trans, log_likelihoods)
    smoothed = module.hmm_smoother(log_init, trans, log_likelihoods)
    np.testing.assert_allclose(smoothed.marginal_loglik, exact["marginal_loglik"], rtol=1e-9)
    np.testing.assert_allclose(smoothed.filtered_probs, exact["filtered_probs"], atol=1e-9)
    np.testing.assert_allclose(smoothed.smoothed_probs, exact["smoothed_probs"], atol=1e-9)
    np.testing.assert_array_equal(module.hmm_viterbi(log_init, trans, log_likelihoods), exact["viterbi"])
    loglik, states = module.hmm_posterior_sample(jr.key(0), log_init, trans, log_likelihoods)
    np.testing.assert_allclose(loglik, exact["marginal_loglik"], rtol=1e-9)
    assert states.shape == (num_timesteps,) and states.dtype == jnp.int32


@pytest.mark.parametrize("module", MODULES.values(), ids=MODULES.keys())
@pytest.mark.parametrize("with_zeros", [False, True], ids=["dense", "zeros"])
def test_jax_sampler_chi_square(x64, module, with_zeros):
    log_init, trans, log_likelihoods = per_frame_hmm(np.random.default_rng(11), 3, 4, with_zeros=with_zeros)
    exact = brute_force(log_init, trans, log_likelihoods)
    draw = jax.jit(jax.vmap(module.hmm_posterior_sample, in_axes=(0, None, None, None)))
    _, paths = draw(jr.split(jr.key(2), 20_000), log_init, trans, log_likelihoods)
    assert chi_square_pvalue(np.asarray(paths), exact["posterior"], 3) > 1e-3


def _native_case(rng, num_sequences, num_states, num_timesteps, num_syllables):
    """(N, T, K, K) matrices, syllables, a mask with padding, tables, and the dense log-likelihoods they imply."""
    log_init = np.log(rng.dirichlet(np.ones(num_states)))
    trans = rng.dirichlet(np.ones(num_states), size=(num_sequences, num_timesteps, num_states))
    syllables = rng.integers(0, num_syllables, size=(num_sequences, num_timesteps))
    mask = np.ones((num_sequences, num_timesteps))
    mask[0, -2:] = 0.0
    tables = rng.dirichlet(np.ones(num_syllables), size=(num_states, num_syllables))
    log_likelihoods = np.asarray(native.syllable_log_likelihoods(tables, syllables, mask))
    return log_init, trans, syllables, mask, tables, log_likelihoods


@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_native_matches_brute_force(x64, evidence):
    log_init, trans, syllables, mask, tables, log_likelihoods = _native_case(np.random.default_rng(5), 3, 3, 6, 4)
    given = {"log_likelihoods": log_likelihoods} if evidence == "dense" else {}
    table_argument = None if evidence == "dense" else tables
    logliks = native.filter_native(log_init, trans, table_argument, syllables, mask, **given)
    paths = native.viterbi_native(log_init, trans, table_argument, syllables, mask, **given)
    _, sample_logliks = native.sample_states_native(jr.key(3), log_init, trans, table_argument, syllables, mask, **given)
    for n in range(3):
        exact = brute_force(log_init, trans[n], log_likelihoods[n])
        np.testing.assert_allclose(logliks[n], exact["marginal_loglik"], rtol=1e-9)
        np.testing.assert_allclose(sample_logliks[n], exact["marginal_loglik"], rtol=1e-9)
        np.testing.assert_array_equal(paths[n], exact["viterbi"])


@pytest.mark.parametrize("evidence", ["tables", "dense"])
def test_native_sampler_chi_square(x64, evidence):
    """One sequence repeated 20,000 times: one native call draws 20,000 independent paths."""
    log_init, trans, syllables, mask, tables, log_likelihoods = _native_case(np.random.default_rng(9), 1, 3, 4, 3)
    exact = brute_force(log_init, trans[0], log_likelihoods[0])
    copies = 20_000
    repeat = lambda a: np.repeat(a, copies, axis=0)  # noqa: E731
    given = {"log_likelihoods": repeat(log_likelihoods)} if evidence == "dense" else {}
    states, _ = native.sample_states_native(
        jr.key(4), log_init, repeat(trans), None if given else tables, repeat(syllables), repeat(mask), **given
    )
    assert chi_square_pvalue(np.asarray(states), exact["posterior"], 3) > 1e-3


def test_native_paths_equal_serial_paths(x64):
    """Same key, same uniforms, same inverse-CDF rule: the native and serial samplers give the same paths."""
    log_init, trans, syllables, mask, tables, log_likelihoods = _native_case(np.random.default_rng(2), 5, 4, 30, 5)
    key = jr.key(7)
    native_states, _ = native.sample_states_native(key, log_init, trans, tables, syllables, mask)
    serial = jax.vmap(kernels.hmm_posterior_sample, in_axes=(0, None, 0, 0))
    _, serial_states = serial(jr.split(key, 5), log_init, trans, log_likelihoods)
    np.testing.assert_array_equal(native_states, serial_states)


def test_every_form_gives_the_same_answer(x64):
    """(K, K), (N, K, K) and (N, T, K, K) holding the same matrices agree on every method and kernel."""
    rng = np.random.default_rng(4)
    num_sequences, num_timesteps, num_states = 3, 12, 3
    log_init, shared, syllables, mask, tables, log_likelihoods = _native_case(rng, num_sequences, num_states, num_timesteps, 4)
    shared = shared[0, 0]
    forms = {
        "shared": shared,
        "sequence": np.broadcast_to(shared, (num_sequences, num_states, num_states)),
        "frames": np.broadcast_to(shared, (num_sequences, num_timesteps, num_states, num_states)),
    }
    key = jr.key(1)
    results = {}
    for name, trans in forms.items():
        axis = None if trans.ndim == 2 else 0
        for label, module in MODULES.items():
            smoothed = jax.vmap(module.hmm_smoother, in_axes=(None, axis, 0))(log_init, trans, log_likelihoods)
            viterbi = jax.vmap(module.hmm_viterbi, in_axes=(None, axis, 0))(log_init, trans, log_likelihoods)
            _, sampled = jax.vmap(module.hmm_posterior_sample, in_axes=(0, None, axis, 0))(
                jr.split(key, num_sequences), log_init, trans, log_likelihoods
            )
            results[name, label] = (smoothed.marginal_loglik, smoothed.smoothed_probs, viterbi, sampled)
        results[name, "native"] = (
            native.filter_native(log_init, trans, tables, syllables, mask),
            None,
            native.viterbi_native(log_init, trans, tables, syllables, mask),
            native.sample_states_native(key, log_init, trans, tables, syllables, mask)[0],
        )
    reference = results["shared", "serial"]
    for (name, label), (loglik, smoothed, viterbi, sampled) in results.items():
        np.testing.assert_allclose(loglik, reference[0], rtol=1e-9, err_msg=f"{name} {label}")
        if smoothed is not None:
            np.testing.assert_allclose(smoothed, reference[1], atol=1e-9, err_msg=f"{name} {label}")
        np.testing.assert_array_equal(viterbi, reference[2], err_msg=f"{name} {label}")
        np.testing.assert_array_equal(sampled, reference[3], err_msg=f"{name} {label}")


def test_host_sampler_takes_per_frame_matrices_per_model(x64):
    """`sample_states_host` with a model axis: (M, N, T, K, K) matrices, one path set per model."""
    log_init, trans, syllables, mask, tables, log_likelihoods = _native_case(np.random.default_rng(8), 2, 3, 7, 4)
    uniforms = np.asarray(jax.vmap(lambda k: kernels.posterior_uniforms(k, 7))(jr.split(jr.key(0), 2)))
    models = np.stack([trans, trans[::-1]])
    states, logliks = native.sample_states_host(
        np.stack([log_init, log_init]), models, np.stack([tables, tables]), syllables, mask, uniforms
    )
    for m in range(2):
        alone, alone_logliks = native.sample_states_host(log_init, models[m], tables, syllables, mask, uniforms)
        np.testing.assert_array_equal(states[m], alone)
        np.testing.assert_allclose(logliks[m], alone_logliks)
        for n in range(2):
            exact = brute_force(log_init, models[m, n], log_likelihoods[n])
            np.testing.assert_allclose(logliks[m, n], exact["marginal_loglik"], rtol=1e-9)


def test_bad_per_frame_shape_is_refused():
    log_init, trans, syllables, mask, tables, _ = _native_case(np.random.default_rng(1), 2, 3, 5, 3)
    with pytest.raises(ValueError, match=r"\(N, T, K, K\)"):
        native.filter_native(log_init, trans[:, :4], tables, syllables, mask)
