"""Blocked Gibbs sampling for the HHMM (DESIGN §2): one kernel, every execution strategy.

A kernel is `step(key, state, data) -> (GibbsState, GibbsInfo)` (BlackJAX's contract).
One step, given the current hidden states: every component's parameters | states (each
component computes its own statistics and draws its own update, `HHMM.resample`), then
the hidden states | parameters (exact forward-filter backward-sample), and the log
probability of the new sample. `build_kernel` makes that step for one chain or for a
batch of chains (one per model: different κ, priors or seeds), in four strategies:

- `fused`: one pure function (jit it, vmap it); the state sampler of `method` inside.
- `host`: the parameter update jitted, then the numba state sampler called from the host
  (`method='native'` only). A program holding a host callback is never kept by JAX's
  persistent compilation cache; this one is, which saves the ~5 s compile of every process.
- `vmap`: a batch of chains, `jax.vmap` of the fused step (the choice on GPUs).
- `split`: a batch of chains, the parameter updates chain by chain (`lax.map`) and the
  states of every chain at once (one host call of the numba sampler for `native`,
  vmapped JAX samplers otherwise) — the choice on CPUs.

Every strategy draws the same random numbers from the same keys, so a chain's path does
not depend on how it was run (up to float rounding of fused or vmapped reductions).
`GibbsInfo` is assembled in one place, `_gibbs_info`.
"""

from functools import lru_cache
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..models import HHMM, ModeSearch, ModelInfo, SyllableData
from . import native
from .kernels import posterior_uniforms
from .states import Method, kernel_inputs, resolve_method, sample_states

Strategy = Literal["fused", "host", "vmap", "split"]
STRATEGIES = ("fused", "host", "vmap", "split")
BATCH_STRATEGIES = ("vmap", "split")


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
        updates: the `ModelInfo` of the parameter update: every component's update info
            (`updates.emissions` is e.g. a `LaplaceInfo` with the optimizer's losses,
            `converged` and `factor_ok`, or a `MetropolisInfo` with `accepted`,
            `acceptance_prob` and its `proposal`; `updates.transitions` an `HDPInfo` for the HDP).
    """

    log_prob: Float[Array, ""]
    marginal_loglik: Float[Array, ""]
    log_prior: Float[Array, ""]
    updates: ModelInfo


def init(model: HHMM, states: Int[Array, "N T"], data: SyllableData) -> GibbsState:
    """The state a chain starts from: `states`, and `model` with data-driven emission parameters for them.

    Args:
        model: an `HHMM` whose priors and shapes define the fit (its parameter values are
            replaced by the first step; `HHMM.with_data_driven_start` sets a starting point
            where the emissions support one).
        states: (N, T) int initial hidden states.
        data: `SyllableData` (N, T).

    Returns:
        A `GibbsState`.
    """
    states = jnp.asarray(states, dtype=jnp.int32)
    return GibbsState(model.with_data_driven_start(states, data), states)


def _gibbs_info(marginal_loglik, log_prior, updates: ModelInfo) -> GibbsInfo:
    """The one place a `GibbsInfo` is made (for one chain or, leaf by leaf, for a batch)."""
    return GibbsInfo(marginal_loglik + log_prior, marginal_loglik, log_prior, updates)


def gibbs_info(marginal_loglik, log_prior, updates: ModelInfo) -> GibbsInfo:
    """The `GibbsInfo` of one step, for steps assembled elsewhere (`smoseq.inference.sharding`, `chunked`)."""
    return _gibbs_info(marginal_loglik, log_prior, updates)


def _draw_parameters(key: PRNGKeyArray, state: GibbsState, data: SyllableData, mode_search):
    """Parameters | states, and the key of the state draw: `(model, updates, k_states)`."""
    k_params, k_states = jr.split(key)
    model, updates = state.model.resample(k_params, state.states, data, mode_search)
    return model, updates, k_states


def _fused_step(mode_search: ModeSearch | None, method: str):
    def step(key: PRNGKeyArray, state: GibbsState, data: SyllableData) -> tuple[GibbsState, GibbsInfo]:
        model, updates, k_states = _draw_parameters(key, state, data, mode_search)
        states, logliks = sample_states(k_states, model, data, method)
        return GibbsState(model, states), _gibbs_info(logliks.sum(), model.log_prior(), updates)

    return step


class HostSamplerInputs(NamedTuple):
    """What the host-side native state sampler needs from the new parameters (a leading chain axis in batches).

    Attributes:
        log_init: (K,) log initial state probabilities.
        trans: (K, K) shared, (N, K, K) per-sequence or (N, T, K, K) per-frame transition matrices.
        tables: (K, S, S) syllable transition tables, or None when the emissions are not table lookups.
        log_likelihoods: (N, T, K) per-frame log-likelihoods when `tables` is None, else None.
        uniforms: (N, T) the backward-sampling uniforms the native sampler draws from the state key.
    """

    log_init: Float[Array, " K"]
    trans: Float[Array, "K K"] | Float[Array, "N K K"]
    tables: Float[Array, "K S S"] | None
    log_likelihoods: Float[Array, "N T K"] | None
    uniforms: Float[Array, "N T"]


def _parameter_half(mode_search: ModeSearch | None):
    """The jittable half of a host step: `(model, updates, log_prior, HostSamplerInputs)`."""

    def half(key: PRNGKeyArray, state: GibbsState, data: SyllableData):
        model, updates, k_states = _draw_parameters(key, state, data, mode_search)
        inputs = kernel_inputs(model, data, "native")
        num_sequences, num_timesteps = data.syllables.shape
        dtype = jnp.result_type(inputs.log_init, inputs.trans)
        uniforms = jax.vmap(lambda k: posterior_uniforms(k, num_timesteps, dtype))(jr.split(k_states, num_sequences))
        return model, updates, model.log_prior(), HostSamplerInputs(*inputs, uniforms)

    return half


def _states_on_host(model, updates, log_prior, inputs: HostSamplerInputs, data: SyllableData):
    """The host half: states | params with the numba sampler, for one chain or a batch (leading chain axis)."""
    states, logliks = native.sample_states_host(
        inputs.log_init, inputs.trans, inputs.tables, data.syllables, data.emission_mask, inputs.uniforms,
        log_likelihoods=inputs.log_likelihoods,
    )  # fmt: skip
    dtype = log_prior.dtype
    marginal = jnp.asarray(np.asarray(logliks).astype(dtype).sum(axis=-1, dtype=dtype))
    return GibbsState(model, jnp.asarray(states)), _gibbs_info(marginal, log_prior, updates)


def _host_step(mode_search: ModeSearch | None):
    half = eqx.filter_jit(_parameter_half(mode_search))

    def step(key: PRNGKeyArray, state: GibbsState, data: SyllableData) -> tuple[GibbsState, GibbsInfo]:
        return _states_on_host(*half(key, state, data), data)

    return step


def _split_step(mode_search: ModeSearch | None, method: str):
    """A batch: parameter updates chain by chain (`lax.map`), states of every chain at once."""
    if method == "native":
        half = _parameter_half(mode_search)

        @eqx.filter_jit
        def parameters(keys, state: GibbsState, data):
            return jax.lax.map(lambda args: half(args[0], GibbsState(args[1], args[2]), data), (keys, state.model, state.states))

        return lambda keys, state, data: _states_on_host(*parameters(keys, state, data), data)

    @eqx.filter_jit
    def step(keys, state: GibbsState, data):
        def update(args):
            return _draw_parameters(args[0], GibbsState(args[1], args[2]), data, mode_search)

        model, updates, k_states = jax.lax.map(update, (keys, state.model, state.states))

        def sample(key, model):
            states, logliks = sample_states(key, model, data, method)
            return states, logliks.sum(), model.log_prior()

        states, marginal, log_prior = eqx.filter_vmap(sample)(k_states, model)
        return GibbsState(model, states), _gibbs_info(marginal, log_prior, updates)

    return step


def build_kernel(mode_search: ModeSearch | None = None, method: Method = "auto", strategy: Strategy = "fused"):
    """A Gibbs step for one chain, or for a batch of chains, in the given execution strategy.

    Args:
        mode_search: optimizer and stopping rule for emission updates that search a mode
            (`LowRankEmissions`); ignored by conjugate ones.
        method: state-sampling kernel: `native` (numba, fastest on CPU), `serial`
            (`lax.scan`), `parallel` (`lax.associative_scan`, for GPUs) or `auto`
            (resolved once, when the kernel is built).
        strategy: `fused` (default: a pure `step(key, state, data)` to jit and vmap),
            `host` (one chain, compiled, numba sampler from the host; `native` only),
            `vmap` or `split` (a batch: `step(keys (M,), state (M, ...), data)`, compiled).
            See the module docstring.

    Returns:
        `step(key_or_keys, state, data) -> (GibbsState, GibbsInfo)`: draws params | states
        (`HHMM.resample`), then states | params; `GibbsInfo.log_prob` is
        log p(params) + Σ_n log p(x_n | params) of the new sample (one per chain in a batch).

    Raises:
        ValueError: an unknown strategy, or `host` with a method other than `native`.
        RuntimeError: `method='native'` without a working numba.
    """
    method = resolve_method(method)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if strategy == "fused":
        return _fused_step(mode_search, method)
    if strategy == "host":
        if method != "native":
            raise ValueError(f"the host strategy runs the native sampler; method is {method!r}")
        return _host_step(mode_search)
    if strategy == "vmap":
        return eqx.filter_jit(eqx.filter_vmap(_fused_step(mode_search, method), in_axes=(0, 0, None)))
    return _split_step(mode_search, method)


def single_chain_strategy(method: str) -> str:
    """The fastest strategy for one chain: `host` for the native sampler, else the jitted `fused` step."""
    return "host" if resolve_method(method) == "native" else "fused"


def batch_strategy(strategy: str = "auto") -> str:
    """`auto` is `split` on CPU and `vmap` on accelerators; otherwise `strategy` itself (`vmap` or `split`)."""
    if strategy == "auto":
        return "split" if jax.default_backend() == "cpu" else "vmap"
    if strategy not in BATCH_STRATEGIES:
        raise ValueError(f"a batch strategy must be 'auto', 'vmap' or 'split', got {strategy!r}")
    return strategy


@lru_cache(maxsize=32)
def compiled_kernel(mode_search: ModeSearch | None, method: str, strategy: str):
    """`build_kernel(mode_search, method, strategy)`, compiled (the fused step jitted), built once per process."""
    step = build_kernel(mode_search, method, strategy)
    return eqx.filter_jit(step) if strategy == "fused" else step
