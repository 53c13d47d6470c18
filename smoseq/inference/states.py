"""Hidden states given parameters: posterior draws, marginal likelihood, Viterbi, marginals.

Batched over sequences; each function picks a kernel by `method`: `native` (numba on
CPU), `serial` (`lax.scan`) or `parallel` (`lax.associative_scan`).
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..models import HHMM
from . import kernels, native, parallel

Method = Literal["auto", "native", "serial", "parallel"]


class SyllableData(eqx.Module):
    """Padded syllables and their mask, as the sampler consumes them.

    Attributes:
        syllables: (N, T) int32 syllable per frame.
        mask: (N, T) float, 1 for real frames and 0 for padding.
    """

    syllables: Int[Array, "N T"]
    mask: Float[Array, "N T"]

    def __init__(self, syllables, mask):
        self.syllables = jnp.asarray(syllables, dtype=jnp.int32)
        self.mask = jnp.asarray(mask, dtype=float)

    def __check_init__(self):
        if self.syllables.shape != self.mask.shape or self.syllables.ndim != 2:
            raise ValueError(f"syllables and mask must both be (N, T); got {self.syllables.shape}, {self.mask.shape}")


def resolve_method(method: Method) -> str:
    """`auto` is the numba kernel on CPU when numba works, the parallel scan on accelerators."""
    if method != "auto":
        if method == "native" and not native.native_available():
            raise RuntimeError("method='native' needs numba, which failed to import; use method='serial'")
        return method
    if jax.default_backend() != "cpu":
        return "parallel"
    return "native" if native.native_available() else "serial"


def sample_states(
    key: PRNGKeyArray, model: HHMM, data: SyllableData, method: Method = "auto"
) -> tuple[Int[Array, "N T"], Float[Array, " N"]]:
    """Exact posterior draw of hidden states per sequence, and each sequence's marginal log-likelihood."""
    method = resolve_method(method)
    if method == "native":
        return native.sample_states_native(
            key, model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.mask
        )
    sampler = kernels.hmm_posterior_sample if method == "serial" else parallel.hmm_posterior_sample
    log_likelihoods = model.log_likelihoods(data.syllables, data.mask)
    keys = jr.split(key, data.syllables.shape[0])
    logliks, states = jax.vmap(sampler, in_axes=(0, None, None, 0))(
        keys, model.log_init(), model.transitions.probs, log_likelihoods
    )
    return states.astype(jnp.int32), logliks


def marginal_logliks(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, " N"]:
    """log p(x_n | params) for every sequence, hidden states summed out exactly."""
    method = resolve_method(method)
    if method == "native":
        return native.filter_native(
            model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.mask
        )
    filter_fn = kernels.hmm_filter if method == "serial" else parallel.hmm_filter
    log_likelihoods = model.log_likelihoods(data.syllables, data.mask)
    result = jax.vmap(filter_fn, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.marginal_loglik


def _kernel_module(method: str):
    return kernels if method == "serial" else parallel


def viterbi_states(model: HHMM, data: SyllableData, method: Method = "auto") -> Int[Array, "N T"]:
    """Most probable hidden-state path of every sequence."""
    method = resolve_method(method)
    if method == "native":
        return native.viterbi_native(
            model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.mask
        )
    log_likelihoods = model.log_likelihoods(data.syllables, data.mask)
    viterbi = _kernel_module(method).hmm_viterbi
    paths = jax.vmap(viterbi, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return paths.astype(jnp.int32)


def smoothed_probs(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, "N T K"]:
    """p(z_t = k | all syllables of the sequence) for every frame."""
    method = "serial" if resolve_method(method) == "native" else resolve_method(method)
    log_likelihoods = model.log_likelihoods(data.syllables, data.mask)
    smoother = _kernel_module(method).hmm_smoother
    result = jax.vmap(smoother, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.smoothed_probs


def filtered_probs(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, "N T K"]:
    """p(z_t = k | syllables up to t) for every frame."""
    method = "serial" if resolve_method(method) == "native" else resolve_method(method)
    log_likelihoods = model.log_likelihoods(data.syllables, data.mask)
    filter_fn = _kernel_module(method).hmm_filter
    result = jax.vmap(filter_fn, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.filtered_probs
