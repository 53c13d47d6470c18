"""Exact HMM inference by parallel scans (`jax.lax.associative_scan`, O(log T) depth).

Mirrors `smoseq.inference.kernels` name for name, with the same arguments (less the
serial `unroll` knob) and the same results to float tolerance; for GPUs, where the
serial scan's T dependent steps dominate. On CPU the serial form is faster: these
kernels do O(T K^3) work (matrix products) instead of O(T K^2).

`trans` is (K, K) or one matrix per frame, (T, K, K) with `trans[t]` the step t-1 -> t
(`kernels`' convention); the elements below are per-frame matrices either way, and a
(K, K) matrix is only broadcast inside the element arithmetic.

Scan elements are kept normalised so long sequences are stable in float32:

- filter: `(M, log_scale)`, the product of `trans[i, j] * lik_t[j]` over a block
  divided by its largest entry, and the log of everything divided out;
- smoother: row-stochastic `p(z_t | z_{t+1}, obs_0..t)` composed from the end;
- sampling and Viterbi: maps from the next state to the current one (K integers),
  composed from the end; with the same uniforms the sampler returns the serial path.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .kernels import (
    FilterResult,
    SmootherResult,
    inverse_cdf_index,
    posterior_uniforms,
    safe_normalise,
    scaled_likelihoods,
)

__all__ = ["hmm_filter", "hmm_smoother", "hmm_posterior_sample", "hmm_viterbi"]


def _matmul(left, right):
    """Batched (..., K, K) @ (..., K, K) as multiply-and-sum: fuses into one loop and
    compiles in a fraction of the time XLA:CPU spends on a batched dot per scan level."""
    return jnp.sum(left[..., :, :, None] * right[..., None, :, :], axis=-2)


def _steps(trans):
    """The matrices of steps 1..T-1: `trans[1:]` (T-1, K, K), or the shared (K, K) as (1, K, K)."""
    return trans[1:] if trans.ndim == 3 else trans[None]


def _steps_transposed(trans):
    """`_steps(trans)` with every matrix transposed: `[t, j, i] = trans[t+1][i, j]`."""
    return jnp.swapaxes(_steps(trans), -1, -2)


def _finite_or_zero(values):
    return jnp.where(jnp.isfinite(values), values, 0.0)


def _scale_to_unit_max(matrices, log_scales):
    """Divide each (K, K) matrix by its largest entry and add that entry's log to `log_scales`."""
    top = jnp.max(matrices, axis=(-2, -1), keepdims=True)
    top = jnp.where(top > 0, top, 1.0)
    return matrices / top, log_scales + jnp.log(top[..., 0, 0])


def _combine_filter_elements(earlier, later):
    """Product of two blocks `(M, log_scale)`; works on any leading batch shape."""
    earlier_matrix, earlier_log_scale = earlier
    later_matrix, later_log_scale = later
    return _scale_to_unit_max(_matmul(earlier_matrix, later_matrix), earlier_log_scale + later_log_scale)


def _filter_elements(log_init, trans, log_likelihoods):
    """Per-frame `M[t, i, j] = trans[i, j] * lik[t, j]` (frame 0: `init[j] * lik[0, j]` in every row)."""
    likelihoods, frame_log_scales = scaled_likelihoods(log_likelihoods)
    num_states = trans.shape[-1]
    first = jnp.broadcast_to(jnp.exp(log_init) * likelihoods[0], (num_states, num_states))
    rest = _steps(trans) * likelihoods[1:, None, :]
    return _scale_to_unit_max(jnp.concatenate([first[None], rest], axis=0), frame_log_scales)


@jax.jit
def hmm_filter(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    log_likelihoods: Float[Array, "T K"],
) -> FilterResult:
    """Forward filter by associative scan; see `kernels.hmm_filter`.

    Args:
        log_init: log initial state probabilities, shape (K,).
        trans: transition matrix, shape (K, K), or (T, K, K) (`trans[t]`: t-1 -> t).
        log_likelihoods: shape (T, K).

    Returns:
        `FilterResult(marginal_loglik (), filtered_probs (T, K))`.
    """
    elements = _filter_elements(log_init, trans, log_likelihoods)
    matrices, log_scales = jax.lax.associative_scan(_combine_filter_elements, elements)
    # Every prefix starts at frame 0, whose rows are identical: row 0 is the joint p(z_t, obs_0..t).
    joint = matrices[:, 0, :]
    marginal_loglik = jnp.log(jnp.sum(joint[-1])) + log_scales[-1]
    return FilterResult(marginal_loglik, safe_normalise(joint))


@jax.jit
def hmm_smoother(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    log_likelihoods: Float[Array, "T K"],
) -> SmootherResult:
    """Smoother by two associative scans; see `kernels.hmm_smoother`.

    Args:
        log_init: shape (K,).
        trans: shape (K, K), or (T, K, K) (`trans[t]`: t-1 -> t).
        log_likelihoods: shape (T, K).

    Returns:
        `SmootherResult(marginal_loglik (), filtered_probs (T, K), smoothed_probs (T, K))`.
    """
    marginal_loglik, filtered_probs = hmm_filter(log_init, trans, log_likelihoods)
    # backward_conditionals[t, j, i] = p(z_t = i | z_{t+1} = j, obs_0..t)
    backward_conditionals = safe_normalise(filtered_probs[:-1, None, :] * _steps_transposed(trans))
    num_states = trans.shape[-1]
    last = jnp.broadcast_to(filtered_probs[-1], (num_states, num_states))
    elements = jnp.concatenate([backward_conditionals, last[None]], axis=0)
    composed = jax.lax.associative_scan(_matmul, elements, reverse=True)
    return SmootherResult(marginal_loglik, filtered_probs, composed[:, 0, :])


def _compose_backward_maps(later, earlier):
    """`earlier[later[j]]`: state at the start of `earlier` given the state after `later`.

    Written as a one-hot select-and-sum rather than `take_along_axis`: the same integers,
    and a gather-free program that XLA compiles several times faster.
    """
    hits = jax.nn.one_hot(later, later.shape[-1], dtype=jnp.bool_)  # hits[..., j, i] = later[j] == i
    return jnp.sum(jnp.where(hits, earlier[..., None, :], 0), axis=-1, dtype=later.dtype)


def _backtrack_maps(last_states: Int[Array, " K"], maps: Int[Array, "T-1 K"]) -> Int[Array, " T"]:
    elements = jnp.concatenate([maps, last_states[None]], axis=0)
    composed = jax.lax.associative_scan(_compose_backward_maps, elements, reverse=True)
    return composed[:, 0]


@jax.jit
def hmm_posterior_sample(
    key: PRNGKeyArray,
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    log_likelihoods: Float[Array, "T K"],
) -> tuple[Float[Array, ""], Int[Array, " T"]]:
    """Posterior path sample by associative scans; see `kernels.hmm_posterior_sample`.

    Uses the same uniforms and inverse-CDF rule as the serial sampler: for each frame
    t < T-1 it tabulates the draw of `z[t]` for every possible `z[t+1]`, then composes
    these maps from the end.

    Args:
        key: a JAX PRNG key.
        log_init: shape (K,).
        trans: shape (K, K), or (T, K, K) (`trans[t]`: t-1 -> t).
        log_likelihoods: shape (T, K).

    Returns:
        `(marginal_loglik (), states (T,) int32)`.
    """
    num_timesteps, num_states = log_likelihoods.shape
    uniforms = posterior_uniforms(key, num_timesteps, log_likelihoods.dtype)
    marginal_loglik, filtered_probs = hmm_filter(log_init, trans, log_likelihoods)
    # weights[t, j, i] = filtered[t, i] * trans[i, j]
    weights = filtered_probs[:-1, None, :] * _steps_transposed(trans)
    maps = inverse_cdf_index(weights, jnp.broadcast_to(uniforms[:-1, None], (num_timesteps - 1, num_states)))
    last_state = inverse_cdf_index(filtered_probs[-1], uniforms[-1])
    return marginal_loglik, _backtrack_maps(jnp.full((num_states,), last_state), maps)


def _combine_max_plus(earlier, later):
    scores = jnp.max(earlier[..., :, :, None] + later[..., None, :, :], axis=-2)
    top = jnp.max(scores, axis=(-2, -1), keepdims=True)
    return scores - _finite_or_zero(top)


@jax.jit
def hmm_viterbi(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"],
    log_likelihoods: Float[Array, "T K"],
) -> Int[Array, " T"]:
    """Most probable path by max-plus associative scans; see `kernels.hmm_viterbi`.

    Args:
        log_init: shape (K,).
        trans: shape (K, K), or (T, K, K) (`trans[t]`: t-1 -> t).
        log_likelihoods: shape (T, K).

    Returns:
        int32 states, shape (T,).
    """
    num_states = trans.shape[-1]
    log_steps = jnp.log(_steps(trans))
    first = jnp.broadcast_to(log_init + log_likelihoods[0], (num_states, num_states))
    rest = log_steps + log_likelihoods[1:, None, :]
    elements = jnp.concatenate([first[None], rest], axis=0)
    deltas = jax.lax.associative_scan(_combine_max_plus, elements)[:, 0, :]
    maps = jnp.argmax(deltas[:-1, None, :] + jnp.swapaxes(log_steps, -1, -2), axis=-1).astype(jnp.int32)
    last_state = jnp.argmax(deltas[-1]).astype(jnp.int32)
    return _backtrack_maps(jnp.full((num_states,), last_state), maps)
