"""Hidden states given parameters: posterior draws, marginal likelihood, Viterbi, marginals.

Batched over sequences; each function picks a kernel by `method`: `native` (numba on
CPU), `serial` (`lax.scan`) or `parallel` (`lax.associative_scan`). Every kernel gets its
arrays from the model's components — `log_init()`, `transition_matrices(data)` (one shared
(K, K) matrix, one per sequence (N, K, K), or one per frame (N, T, K, K) with `[n, t]` the
step t-1 -> t) and the emission log-likelihoods — so any component gives the same
posterior on every method. `marginal_logliks` is differentiable on every method
(`jax.grad`; the native kernel's gradient is the smoothed expected statistics). The native kernel looks syllable transitions up
in the emission tables when the emissions are plain table lookups (`lookup_tables`), and
reads the (N, T, K) log-likelihoods otherwise.
"""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..models import HHMM, lookup_tables
from ..models import SyllableData as SyllableData
from ..models import without_repeats as without_repeats
from . import kernels, native, parallel

Method = Literal["auto", "native", "serial", "parallel"]


def resolve_method(method: Method) -> str:
    """`auto` is the numba kernel on CPU when numba works, the parallel scan on accelerators."""
    if method != "auto":
        if method == "native" and not native.native_available():
            raise RuntimeError("method='native' needs numba, which failed to import; use method='serial'")
        return method
    if jax.default_backend() != "cpu":
        return "parallel"
    return "native" if native.native_available() else "serial"


class KernelInputs(NamedTuple):
    """The arrays a kernel sees, taken from the model's components.

    Attributes:
        log_init: (K,) log initial state probabilities.
        trans: (K, K) transition matrix shared by every sequence, (N, K, K) one per sequence,
            or (N, T, K, K) one per frame (`trans[n, t]`: t-1 -> t).
        tables: (K, S, S) syllable transition tables when the emissions are plain table
            lookups (the native kernel's fast path), else None.
        log_likelihoods: (N, T, K) per-frame log-likelihoods, or None when `tables` is given
            to the native kernel (built only where a kernel needs them).
    """

    log_init: Float[Array, " K"]
    trans: Float[Array, "K K"] | Float[Array, "N K K"] | Float[Array, "N T K K"]
    tables: Float[Array, "K S S"] | None
    log_likelihoods: Float[Array, "N T K"] | None


def kernel_inputs(model: HHMM, data: SyllableData, method: str) -> KernelInputs:
    """`KernelInputs` of `model` on `data` for a resolved `method` (`native`, `serial`, `parallel`).

    Args:
        model: an `HHMM`.
        data: `SyllableData` (N, T).
        method: the kernel that will consume them.

    Returns:
        `KernelInputs`; the (N, T, K) log-likelihoods are computed unless the native kernel
        can look the syllables up in the tables.
    """
    tables = lookup_tables(model.emissions, data.repeats) if method == "native" else None
    log_likelihoods = (
        None if tables is not None else model.log_likelihoods(data.syllables, data.emission_mask, data.repeats)
    )
    trans = model.transition_matrices(data)
    check_transition_shape(trans, data)
    return KernelInputs(model.log_init(), trans, tables, log_likelihoods)


def check_transition_shape(trans, data: SyllableData) -> None:
    """Raise `ValueError` unless `trans` is (K, K), (N, K, K) or (N, T, K, K) for `data` (N, T)."""
    num_sequences, num_timesteps = data.syllables.shape
    shape = tuple(trans.shape)
    square = len(shape) >= 2 and shape[-1] == shape[-2]
    if not square or shape[:-2] not in ((), (num_sequences,), (num_sequences, num_timesteps)):
        raise ValueError(
            f"transition_matrices(data) must be (K, K), (N, K, K) or (N, T, K, K) with N, T = "
            f"{num_sequences}, {num_timesteps}; got {shape}"
        )


def _sequence_axis(trans) -> int | None:
    """vmap axis of the transition matrices over sequences: 0 when there is one per sequence or per frame."""
    return None if trans.ndim == 2 else 0


def sample_states(
    key: PRNGKeyArray, model: HHMM, data: SyllableData, method: Method = "auto"
) -> tuple[Int[Array, "N T"], Float[Array, " N"]]:
    """Exact posterior draw of hidden states per sequence, and each sequence's marginal log-likelihood.

    Args:
        key: a JAX PRNG key (split into one per sequence by the JAX kernels).
        model: an `HHMM` (K states, S syllables).
        data: `SyllableData` (N, T); its `emission_mask` weights each frame's emission term.
        method: `auto` (numba on CPU when available, else `serial`; `parallel` on
            accelerators), `native`, `serial` or `parallel`.

    Returns:
        `(states, logliks)`: (N, T) int32 sampled states and (N,) float log p(x_n | params).

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = resolve_method(method)
    inputs = kernel_inputs(model, data, method)
    if method == "native":
        return native.sample_states_native(
            key, inputs.log_init, inputs.trans, inputs.tables, data.syllables, data.emission_mask,
            log_likelihoods=inputs.log_likelihoods,
        )  # fmt: skip
    sampler = kernels.hmm_posterior_sample if method == "serial" else parallel.hmm_posterior_sample
    keys = jr.split(key, data.syllables.shape[0])
    logliks, states = jax.vmap(sampler, in_axes=(0, None, _sequence_axis(inputs.trans), 0))(
        keys, inputs.log_init, inputs.trans, inputs.log_likelihoods
    )
    return states.astype(jnp.int32), logliks


def marginal_logliks(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, " N"]:
    """log p(x_n | params) for every sequence, hidden states summed out exactly.

    Args:
        model: an `HHMM` (K states, S syllables).
        data: `SyllableData` (N, T); its `emission_mask` weights each frame's emission term.
        method: `auto` (numba on CPU when available, else `serial`; `parallel` on
            accelerators), `native`, `serial` or `parallel`.

    Returns:
        (N,) float marginal log-likelihoods.

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = resolve_method(method)
    inputs = kernel_inputs(model, data, method)
    if method == "native":
        return native.filter_native(
            inputs.log_init, inputs.trans, inputs.tables, data.syllables, data.emission_mask,
            log_likelihoods=inputs.log_likelihoods,
        )  # fmt: skip
    return _per_sequence(_kernel_module(method).hmm_filter, inputs).marginal_loglik


def _kernel_module(method: str):
    return kernels if method == "serial" else parallel


def _per_sequence(kernel, inputs: KernelInputs):
    """`kernel(log_init, trans, log_likelihoods)` vmapped over sequences (and over matrices, when per sequence)."""
    in_axes = (None, _sequence_axis(inputs.trans), 0)
    return jax.vmap(kernel, in_axes=in_axes)(inputs.log_init, inputs.trans, inputs.log_likelihoods)


def viterbi_states(model: HHMM, data: SyllableData, method: Method = "auto") -> Int[Array, "N T"]:
    """Most probable hidden-state path of every sequence.

    Args:
        model: an `HHMM` (K states, S syllables).
        data: `SyllableData` (N, T); its `emission_mask` weights each frame's emission term.
        method: `auto` (numba on CPU when available, else `serial`; `parallel` on
            accelerators), `native`, `serial` or `parallel`.

    Returns:
        (N, T) int32 Viterbi paths.

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = resolve_method(method)
    inputs = kernel_inputs(model, data, method)
    if method == "native":
        return native.viterbi_native(
            inputs.log_init, inputs.trans, inputs.tables, data.syllables, data.emission_mask,
            log_likelihoods=inputs.log_likelihoods,
        )  # fmt: skip
    return _per_sequence(_kernel_module(method).hmm_viterbi, inputs).astype(jnp.int32)


def smoothed_probs(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, "N T K"]:
    """p(z_t = k | all syllables of the sequence) for every frame.

    Args:
        model: an `HHMM` (K states, S syllables).
        data: `SyllableData` (N, T); its `emission_mask` weights each frame's emission term.
        method: as for `sample_states`; `native` (also when `auto` picks it) runs the
            `serial` smoother, there being no numba smoother.

    Returns:
        (N, T, K) float smoothed probabilities; each frame's row sums to 1.

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = "serial" if resolve_method(method) == "native" else resolve_method(method)
    return _per_sequence(_kernel_module(method).hmm_smoother, kernel_inputs(model, data, method)).smoothed_probs


def filtered_probs(model: HHMM, data: SyllableData, method: Method = "auto") -> Float[Array, "N T K"]:
    """p(z_t = k | syllables up to t) for every frame.

    Args:
        model: an `HHMM` (K states, S syllables).
        data: `SyllableData` (N, T); its `emission_mask` weights each frame's emission term.
        method: as for `smoothed_probs` (`native` runs the `serial` filter).

    Returns:
        (N, T, K) float filtered probabilities; each frame's row sums to 1.

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = "serial" if resolve_method(method) == "native" else resolve_method(method)
    return _per_sequence(_kernel_module(method).hmm_filter, kernel_inputs(model, data, method)).filtered_probs
