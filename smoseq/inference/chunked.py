"""The Gibbs step over chunks of sequences, so that its peak memory stays under a limit.

Every component's statistics are sums over sequences, and the state step is independent
per sequence. So one step can run chunk by chunk (host-side chunks of `chunk_size`
sequences): the statistics of each chunk are computed and summed, every component draws
its parameters once from the sums, then the states are drawn chunk by chunk. The random
stream is the unchunked step's: the state keys are `jr.split(k_states, N)`, sliced per
chunk, and the parameter key is the same. Emission and transition counts are integers; each
chunk's are exact in float32 (`smoseq.models.counts`), their sum over chunks is taken in
float64 on the host and rounded once, as the unchunked counts are, so the chunked sums equal
the unchunked ones and the step gives the same parameters and states; its log probability
differs by float rounding of the order of the per-sequence sums.

Only the statistics, the kernel inputs of one chunk (per-frame log-likelihoods, the
uniforms, the numba sampler's buffers) and its states are alive at a time; the data and
the states of all sequences stay where they are, on the host and as compact as they come
(`smoseq.models.compact_data`: uint8 syllables, bool masks; states in the dtype they are
given, uint8 for K ≤ 256). Each chunk is widened to the dtypes the components see
(`SyllableData`'s int32 syllables and float masks, int32 states) when it is cut. Each chunk can itself be sharded over a
device mesh (`smoseq.inference.sharding`).
"""

import dataclasses
from functools import lru_cache

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from ..models import HHMM, ModeSearch, SyllableData
from . import kernels, native, parallel
from .gibbs import GibbsState, GibbsInfo, gibbs_info
from .kernels import posterior_uniforms
from .sharding import SEQUENCE_FIELDS, shard_sequences
from .statistics import model_statistics as model_statistics
from .statistics import resample_from_statistics as resample_from_statistics
from .states import kernel_inputs

__all__ = ["model_statistics", "resample_from_statistics", "chunk_rows", "chunked_kernel", "chunked_init"]


def chunk_rows(n_sequences: int, chunk_size: int) -> list[slice]:
    """Row slices of at most `chunk_size` sequences (the last may be shorter)."""
    return [slice(start, min(start + chunk_size, n_sequences)) for start in range(0, n_sequences, chunk_size)]


def _padded_rows(array, rows: slice, chunk_size: int):
    """`array[rows]` with zero rows appended up to `chunk_size`, so that every chunk has one shape (one compilation)."""
    if array is None:
        return None
    part = array[rows]
    extra = chunk_size - part.shape[0]
    if extra == 0:
        return part
    return jnp.concatenate([jnp.asarray(part), jnp.zeros((extra,) + part.shape[1:], part.dtype)])


def _chunk_of(data: SyllableData, rows: slice, chunk_size: int) -> SyllableData:
    """Rows `rows` of `data`, padded with fully masked sequences to `chunk_size`, in the dtypes components see.

    `dataclasses.replace` runs `SyllableData`'s constructor, which widens compact rows.
    """
    return dataclasses.replace(
        data, **{name: _padded_rows(getattr(data, name), rows, chunk_size) for name in SEQUENCE_FIELDS}
    )


@eqx.filter_jit
def _statistics(model, states, data):
    return model_statistics(model, states, data)


def _add_leaf(total, value):
    if jnp.issubdtype(value.dtype, jnp.floating):
        return np.asarray(total, np.float64) + np.asarray(value, np.float64)
    return jnp.add(total, value)


def _add(total, statistics):
    """Chunk sums on the host: float leaves in float64 (exact for counts up to 2⁵³), others with `jnp.add`."""
    return jax.tree.map(_add_leaf, total, statistics)


def _rounded(total, like):
    """The float64 sums of `_add` rounded once to the dtypes of the chunk statistics `like`."""
    return jax.tree.map(lambda t, v: np.asarray(t).astype(v.dtype) if isinstance(t, np.ndarray) else t, total, like)


def _parameters(mode_search):
    @eqx.filter_jit
    def draw(key, model, statistics, n_sequences: int):
        k_params, k_states = jr.split(key)
        model, updates = resample_from_statistics(model, k_params, statistics, mode_search)
        return model, updates, model.log_prior(), jr.split(k_states, n_sequences)

    return draw


@eqx.filter_jit
def _native_inputs(model, data, keys):
    inputs = kernel_inputs(model, data, "native")
    dtype = jnp.result_type(inputs.log_init, inputs.trans)
    uniforms = jax.vmap(lambda key: posterior_uniforms(key, data.syllables.shape[1], dtype))(keys)
    return inputs, uniforms


def _jax_sampler(method: str):
    sampler = kernels.hmm_posterior_sample if method == "serial" else parallel.hmm_posterior_sample

    @eqx.filter_jit
    def sample(model, data, keys):
        inputs = kernel_inputs(model, data, method)
        trans_axis = 0 if inputs.trans.ndim >= 3 else None
        logliks, states = jax.vmap(sampler, in_axes=(0, None, trans_axis, 0))(
            keys, inputs.log_init, inputs.trans, inputs.log_likelihoods
        )
        return states.astype(jnp.int32), logliks

    return sample


def _sample_native(model, data, keys):
    inputs, uniforms = _native_inputs(model, data, keys)
    states, logliks = native.sample_states_host(
        inputs.log_init, inputs.trans, inputs.tables, data.syllables, data.emission_mask, uniforms,
        log_likelihoods=inputs.log_likelihoods,
    )  # fmt: skip
    return states, np.asarray(logliks).astype(np.float32)


def _state_rows(states, rows: slice, chunk_size: int):
    """Rows `rows` of the held states, padded to `chunk_size`, as int32."""
    return jnp.asarray(_padded_rows(states, rows, chunk_size), dtype=jnp.int32)


def chunked_init(model: HHMM, states, data: SyllableData, chunk_size: int) -> GibbsState:
    """`gibbs.init(model, states, data)` with the emission statistics summed over chunks of sequences.

    `states` (N, T) stay a NumPy array in their own (compact) dtype.
    """
    states = np.asarray(states)
    total = None
    for rows in chunk_rows(data.syllables.shape[0], chunk_size):
        counts = _emission_statistics(model, _state_rows(states, rows, chunk_size), _chunk_of(data, rows, chunk_size))
        total = counts if total is None else _add(total, counts)
    emissions = model.emissions.with_data_driven_start(_rounded(total, counts))
    return GibbsState(eqx.tree_at(lambda m: m.emissions, model, emissions), states)


@eqx.filter_jit
def _emission_statistics(model, states, data):
    return model.emissions.statistics(states, data)


@lru_cache(maxsize=16)
def chunked_kernel(mode_search: ModeSearch | None, method: str, chunk_size: int, mesh=None):
    """A single-chain Gibbs step run over chunks of `chunk_size` sequences.

    Args:
        mode_search: as for `gibbs.build_kernel`.
        method: resolved state kernel (`native`, `serial`, `parallel`).
        chunk_size: sequences per chunk; the last chunk is padded with fully masked sequences.
        mesh: optional device mesh: each chunk is sharded over it (`chunk_size` a multiple of its size).

    Returns:
        `step(key, state, data) -> (GibbsState, GibbsInfo)` with the draws of the unchunked step; the new
        states are a NumPy array in the dtype of `state.states`.
    """
    draw = _parameters(mode_search)
    sample = _sample_native if method == "native" else _jax_sampler(method)

    def place(tree):
        return tree if mesh is None else shard_sequences(tree, mesh)

    def step(key: PRNGKeyArray, state: GibbsState, data: SyllableData) -> tuple[GibbsState, GibbsInfo]:
        n_sequences = data.syllables.shape[0]
        chunks = chunk_rows(n_sequences, chunk_size)
        total = None
        for rows in chunks:
            chunk_states = _state_rows(state.states, rows, chunk_size)
            statistics = _statistics(state.model, place(chunk_states), place(_chunk_of(data, rows, chunk_size)))
            total = statistics if total is None else _add(total, statistics)
        model, updates, log_prior, keys = draw(key, state.model, _rounded(total, statistics), n_sequences)
        states, marginal = np.empty(state.states.shape, state.states.dtype), np.float32(0)
        for rows in chunks:
            n_real = rows.stop - rows.start
            chunk_keys = keys[rows] if n_real == chunk_size else jnp.concatenate([keys[rows], keys[: chunk_size - n_real]])
            chunk_states, logliks = sample(model, place(_chunk_of(data, rows, chunk_size)), place(chunk_keys))
            states[rows] = np.asarray(chunk_states)[:n_real]
            marginal = marginal + np.asarray(logliks, np.float32)[:n_real].sum(dtype=np.float32)
        marginal = jnp.asarray(marginal, dtype=log_prior.dtype)
        return GibbsState(model, states), gibbs_info(marginal, log_prior, updates)

    return step
