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
        mask: (N, T) float, 1 for real frames and 0 for padding. The hidden chain's
            frames: transition counts and per-frame normalisations use it.
        evidence: (N, T) float or None, which frames' syllable transitions are scored
            by the emissions (None: every real frame, i.e. `mask`); see `without_repeats`.
    """

    syllables: Int[Array, "N T"]
    mask: Float[Array, "N T"]
    evidence: Float[Array, "N T"] | None

    def __init__(self, syllables, mask, evidence=None):
        self.syllables = jnp.asarray(syllables, dtype=jnp.int32)
        self.mask = jnp.asarray(mask, dtype=float)
        self.evidence = None if evidence is None else jnp.asarray(evidence, dtype=float)

    def __check_init__(self):
        if self.syllables.shape != self.mask.shape or self.syllables.ndim != 2:
            raise ValueError(f"syllables and mask must both be (N, T); got {self.syllables.shape}, {self.mask.shape}")
        if self.evidence is not None and self.evidence.shape != self.mask.shape:
            raise ValueError(f"evidence must be (N, T) like the mask; got {self.evidence.shape}")

    @property
    def emission_mask(self) -> Float[Array, "N T"]:
        """(N, T) weight of each frame's emission term: `evidence`, or `mask` when None."""
        return self.mask if self.evidence is None else self.evidence


def without_repeats(data: SyllableData) -> SyllableData:
    """The same data with frames that repeat the previous frame's syllable carrying no evidence.

    Keypoint-MoSeq syllables last several frames, and how long a syllable lasts says
    little about the high-level state; scored frame by frame, the self-transitions
    swamp the informative syllable changes. With this evidence mask a state is judged
    by which syllable follows which, while the hidden chain still runs through every
    frame (durations in frames, κ per frame). Frame 0 never carries evidence anyway.

    Args:
        data: `SyllableData` (N, T).

    Returns:
        `SyllableData` with `evidence = mask · 1[x_t ≠ x_{t-1}]` (frame 0 keeps `mask`).
    """
    changed = jnp.concatenate(
        [jnp.ones_like(data.syllables[:, :1], dtype=bool), data.syllables[:, 1:] != data.syllables[:, :-1]], axis=1
    )
    return SyllableData(data.syllables, data.mask, data.mask * changed)


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
    if method == "native":
        return native.sample_states_native(
            key, model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.emission_mask
        )
    sampler = kernels.hmm_posterior_sample if method == "serial" else parallel.hmm_posterior_sample
    log_likelihoods = model.log_likelihoods(data.syllables, data.emission_mask)
    keys = jr.split(key, data.syllables.shape[0])
    logliks, states = jax.vmap(sampler, in_axes=(0, None, None, 0))(
        keys, model.log_init(), model.transitions.probs, log_likelihoods
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
    if method == "native":
        return native.filter_native(
            model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.emission_mask
        )
    filter_fn = kernels.hmm_filter if method == "serial" else parallel.hmm_filter
    log_likelihoods = model.log_likelihoods(data.syllables, data.emission_mask)
    result = jax.vmap(filter_fn, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.marginal_loglik


def _kernel_module(method: str):
    return kernels if method == "serial" else parallel


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
    if method == "native":
        return native.viterbi_native(
            model.log_init(), model.transitions.probs, model.emissions.transition_tables(), data.syllables, data.emission_mask
        )
    log_likelihoods = model.log_likelihoods(data.syllables, data.emission_mask)
    viterbi = _kernel_module(method).hmm_viterbi
    paths = jax.vmap(viterbi, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return paths.astype(jnp.int32)


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
    log_likelihoods = model.log_likelihoods(data.syllables, data.emission_mask)
    smoother = _kernel_module(method).hmm_smoother
    result = jax.vmap(smoother, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.smoothed_probs


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
    log_likelihoods = model.log_likelihoods(data.syllables, data.emission_mask)
    filter_fn = _kernel_module(method).hmm_filter
    result = jax.vmap(filter_fn, in_axes=(None, None, 0))(model.log_init(), model.transitions.probs, log_likelihoods)
    return result.filtered_probs
