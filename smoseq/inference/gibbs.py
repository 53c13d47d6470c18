"""Blocked Gibbs sampling for the HHMM (DESIGN §2).

A kernel is `step(key, state, data) -> (GibbsState, GibbsInfo)`: a pure, jittable
function that also runs under `jax.vmap` over a batch of models (different κ, σ or
seeds), which is how parameter scans fit many models in one program.
One step, given the current hidden states: emission parameters | states,
transition matrix | states, then hidden states | parameters (exact
forward-filter backward-sample), and the log probability of the new sample.
"""

from typing import NamedTuple

import equinox as eqx
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..models import HHMM, ModeSearch, emission_counts, transition_counts
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
