"""Blocked Gibbs sampling for the HHMM (DESIGN §2).

A kernel is `step(key, state, data) -> (GibbsState, GibbsInfo)`: a pure, jittable
function that also runs under `jax.vmap` over a batch of models (different κ, σ or
seeds), which is how parameter scans fit many models in one program (`build_kernel`).
`build_host_kernel` is the same step for the numba sampler with that sampler called from
the host after the jitted parameter update (not jittable itself; what `sm.fit` runs on CPU).
One step, given the current hidden states: emission parameters | states,
transition matrix | states, then hidden states | parameters (exact
forward-filter backward-sample), and the log probability of the new sample.
"""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..models import HHMM, ModeSearch, emission_counts, transition_counts
from . import native
from .kernels import posterior_uniforms
from .states import Method, SyllableData, resolve_method, sample_states


class GibbsState(eqx.Module):
    """What the sampler carries from one iteration to the next.

    Attributes:
        model: the current `HHMM` sample (K states, S syllables).
        states: (N, T) int32 current hidden states of every segment.
    """

    model: HHMM
    states: Int[Array, "N T"]


class GibbsInfo(NamedTuple):
    """What one iteration reports.

    Attributes:
        log_prob: log p(params) + log p(x | params), the quantity the tutorial plots.
        marginal_loglik: log p(x | params), hidden states summed out by the filter.
        log_prior: log p(params).
        emission_losses: (max_iters,) optimizer loss per step of the emission update, NaN after the last.
        emission_steps: optimizer steps taken.
    """

    log_prob: Float[Array, ""]
    marginal_loglik: Float[Array, ""]
    log_prior: Float[Array, ""]
    emission_losses: Float[Array, " max_iters"]
    emission_steps: Int[Array, ""]


def resample_params(
    key: PRNGKeyArray, model: HHMM, data: SyllableData, states: Int[Array, "N T"], mode_search: ModeSearch | None
):
    """Draw emissions | states and transitions | states; returns (model, emission info).

    Emission counts are weighted by `data.emission_mask`, transition counts by `data.mask`.

    Args:
        key: a JAX PRNG key (split into one for emissions and one for transitions).
        model: the current `HHMM`.
        data: `SyllableData` (N, T).
        states: (N, T) int hidden states.
        mode_search: optimizer and stopping rule for emission modules that need one
            (`LowRankEmissions` raises `ValueError` without it); ignored by conjugate ones.

    Returns:
        `(model, emission_info)`: the new `HHMM` and the emission module's `EmissionInfo`
        (`losses` (max_iters,) and `n_steps`; empty for conjugate updates).
    """
    k_emit, k_trans = jr.split(key)
    counts = emission_counts(data.syllables, data.emission_mask, states, model.n_states, model.n_syllables)
    emissions, emission_info = model.emissions.resample(k_emit, counts, mode_search)
    transitions = model.transitions.resample(k_trans, transition_counts(states, data.mask, model.n_states))
    return HHMM(emissions, transitions), emission_info


def build_kernel(mode_search: ModeSearch | None = None, method: Method = "auto"):
    """A Gibbs step `step(key, state, data) -> (GibbsState, GibbsInfo)` (pure; jit and vmap it).

    Args:
        mode_search: optimizer and stopping rule for emission modules that need one
            (`LowRankEmissions`); ignored by conjugate ones.
        method: state-sampling kernel: `native` (numba, fastest on CPU), `serial`
            (`lax.scan`), `parallel` (`lax.associative_scan`, for GPUs) or `auto`
            (resolved once, when the kernel is built).

    Returns:
        `step(key, state, data) -> (GibbsState, GibbsInfo)`: draws params | states
        (`resample_params`), then states | params; `GibbsInfo.log_prob` is
        log p(params) + Σ_n log p(x_n | params) of the new sample.

    Raises:
        RuntimeError: `method='native'` without a working numba.
    """
    method = resolve_method(method)

    def step(key: PRNGKeyArray, state: GibbsState, data: SyllableData) -> tuple[GibbsState, GibbsInfo]:
        k_params, k_states = jr.split(key)
        model, emission_info = resample_params(k_params, state.model, data, state.states, mode_search)
        states, logliks = sample_states(k_states, model, data, method)
        log_prior = model.log_prior()
        marginal = logliks.sum()
        info = GibbsInfo(marginal + log_prior, marginal, log_prior, emission_info.losses, emission_info.n_steps)
        return GibbsState(model, states), info

    return step


class NativeSamplerInputs(NamedTuple):
    """What the host-side native state sampler needs from the new parameters.

    Attributes:
        log_init: (K,) log initial state probabilities.
        trans: (K, K) transition matrix.
        tables: (K, S, S) syllable transition tables.
        uniforms: (N, T) the backward-sampling uniforms `sample_states(key, ..., "native")` draws.
    """

    log_init: Float[Array, " K"]
    trans: Float[Array, "K K"]
    tables: Float[Array, "K S S"]
    uniforms: Float[Array, "N T"]


def parameter_half(mode_search: ModeSearch | None):
    """The parameter update of a native-method Gibbs step, as a pure jittable function.

    `half(key, state, data) -> (model, emission_info, log_prior, NativeSamplerInputs)`:
    splits `key` as `build_kernel`'s step does, draws params | states (`resample_params`)
    and the uniforms that `sample_states(k_states, model, data, "native")` would draw. With
    `native.sample_states_host` it makes the same step as `build_kernel(mode_search,
    "native")`, with the host call outside the compiled program (see `build_host_kernel`).
    """

    def half(key: PRNGKeyArray, state: GibbsState, data: SyllableData):
        k_params, k_states = jr.split(key)
        model, emission_info = resample_params(k_params, state.model, data, state.states, mode_search)
        log_init, trans, tables = model.log_init(), model.transitions.probs, model.emissions.transition_tables()
        num_sequences, num_timesteps = data.syllables.shape
        dtype = jnp.result_type(log_init, trans, tables)
        uniforms = jax.vmap(lambda k: posterior_uniforms(k, num_timesteps, dtype))(jr.split(k_states, num_sequences))
        return model, emission_info, model.log_prior(), NativeSamplerInputs(log_init, trans, tables, uniforms)

    return half


def build_host_kernel(mode_search: ModeSearch | None = None):
    """The native-method Gibbs step with the numba state sampler called from the host.

    Same signature and the same result as `eqx.filter_jit(build_kernel(mode_search,
    "native"))` up to float rounding (the parameter update is compiled as a program of its
    own, so XLA may fuse it differently; the paths agree): the jitted program holds only
    the parameter update (`parameter_half`), so JAX's persistent compilation cache can keep
    it between processes (a program with a host callback is never cached), which saves
    most of the ~5 s compile at the start of every `smoseq` command. Not vmappable: batches
    of models use `build_kernel` or `smoseq.scan.batched`.

    Args:
        mode_search: as for `build_kernel`.

    Returns:
        `step(key, state, data) -> (GibbsState, GibbsInfo)`.

    Raises:
        RuntimeError: numba is not importable.
    """
    half = eqx.filter_jit(parameter_half(mode_search))

    def step(key: PRNGKeyArray, state: GibbsState, data: SyllableData) -> tuple[GibbsState, GibbsInfo]:
        return sample_states_on_host(*half(key, state, data), data)

    return step


def sample_states_on_host(
    model: HHMM, emission_info, log_prior: Float[Array, "*M"], inputs: NativeSamplerInputs, data: SyllableData
) -> tuple[GibbsState, GibbsInfo]:
    """The second half of a host-kernel step: states | params with `native.sample_states_host`.

    Works for one model or a batch (every array of `model`, `emission_info`, `log_prior`
    and `inputs` with a leading model axis M): the output of `parameter_half`, or of
    `lax.map` over it.

    Returns:
        `(GibbsState(model, states (*M, N, T)), GibbsInfo)` as `build_kernel`'s step gives.
    """
    states, logliks = native.sample_states_host(*inputs[:3], data.syllables, data.emission_mask, inputs.uniforms)
    dtype = log_prior.dtype
    marginal = jnp.asarray(logliks.astype(dtype).sum(axis=-1, dtype=dtype))
    info = GibbsInfo(marginal + log_prior, marginal, log_prior, emission_info.losses, emission_info.n_steps)
    return GibbsState(model, jnp.asarray(states)), info
