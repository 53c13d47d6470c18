"""One fit across several devices: sequences sharded, parameters replicated (`jax.sharding`).

The state step is independent per sequence, and every component's statistics are sums over
sequences, so a fit is data-parallel: the N sequences are split over a one-axis device
mesh (`SEQUENCE_AXIS`), the model is replicated, and JAX's partitioner (GSPMD) turns each
statistic's sum into one all-reduce per iteration. The parameter update then runs on the
replicated statistics, identically on every device.

- `sequence_mesh(devices)`: the mesh (all local devices of the default backend by default).
- `pad_sequences(data, multiple)`: N rounded up with fully masked sequences, which add
  nothing to any statistic (every component weights frames by the masks) and do not shift
  the random stream of the real ones (keys are `jr.split(key, N)`, and with JAX's
  partitionable threefry, the default, key i does not depend on N).
- `shard_sequences(tree, mesh)`, `replicate(tree, mesh)`: placement.
- `sharded_kernel(mode_search, method, strategy, mesh)`: the Gibbs step on placed arrays.
  The `fused` step is jitted as is (GSPMD partitions it, the JAX samplers run per shard);
  the `host` step (numba sampler) runs its jitted parameter half partitioned, then the numba
  sampler on this process's shards only (`addressable_shards`): the host threads of each
  process work on the sequences its devices hold, and the states go back to those devices.

The same seed gives the same states and parameters on any number of devices, and log
probabilities equal up to the order of float sums (tests/test_sharding.py).
"""

import dataclasses
from functools import lru_cache

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..models import SyllableData
from . import native
from .gibbs import GibbsState, HostSamplerInputs, build_kernel, gibbs_info
from .kernels import posterior_uniforms
from .states import kernel_inputs
from .statistics import model_statistics, resample_from_statistics

__all__ = [
    "SEQUENCE_AXIS",
    "sequence_mesh",
    "mesh_size",
    "pad_sequences",
    "shard_sequences",
    "replicate",
    "sharded_kernel",
    "gather",
    "place_state",
]

SEQUENCE_AXIS = "sequences"


def sequence_mesh(devices=None) -> Mesh:
    """A one-axis mesh over `devices` (axis `SEQUENCE_AXIS`).

    Args:
        devices: None (every local device of the default backend; with several processes
            after `jax.distributed.initialize`, every device of every process), an int n
            (the first n of them), or a list of `jax.Device`.

    Returns:
        A `jax.sharding.Mesh`.

    Raises:
        ValueError: more devices asked for than there are, or fewer than one.
    """
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, int | np.integer):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices={devices}, but {len(available)} {jax.default_backend()} device(s) are available")
        chosen = available[: int(devices)]
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError("devices is an empty list")
    return Mesh(np.array(chosen), (SEQUENCE_AXIS,))


def mesh_size(mesh: Mesh | None) -> int:
    """Number of devices of `mesh` (1 for None)."""
    return 1 if mesh is None else int(mesh.devices.size)


SEQUENCE_FIELDS = ("syllables", "mask", "evidence", "groups", "covariates", "inputs")
"""The `SyllableData` fields with one row per sequence (static fields such as `repeats` are kept as they are)."""


def pad_sequences(data: SyllableData, multiple: int) -> SyllableData:
    """`data` with N rounded up to a multiple of `multiple` by fully masked sequences.

    Padded sequences have syllable 0, mask 0, evidence 0 and group 0: they add nothing to
    any count, and their states are dropped after the fit.

    Args:
        data: `SyllableData` (N, T).
        multiple: e.g. the number of devices, or the chunk size.

    Returns:
        `SyllableData` (N', T), N' = ceil(N / multiple) · multiple (`data` itself when N' = N).
    """
    n_sequences = data.syllables.shape[0]
    extra = -n_sequences % multiple
    if extra == 0:
        return data

    def padded(array):
        if array is None:
            return None
        return np.concatenate([np.asarray(array), np.zeros((extra,) + array.shape[1:], np.asarray(array).dtype)])

    return dataclasses.replace(data, **{name: padded(getattr(data, name)) for name in SEQUENCE_FIELDS})


def _put(tree, sharding):
    """Every array leaf of `tree` as a global array with `sharding` (works across processes)."""

    def put(leaf):
        if not isinstance(leaf, jax.Array | np.ndarray):
            return leaf
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(leaf)), impl=jax.random.key_impl(leaf))
        if jax.process_count() == 1:
            return jax.device_put(leaf, sharding)
        host = np.asarray(leaf) if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable else None
        if host is None:
            return jax.device_put(leaf, sharding)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def shard_sequences(tree, mesh: Mesh):
    """Place every array leaf (leading axis N, a multiple of the mesh size) split along N over `mesh`.

    With several processes each process passes the same full arrays and keeps the slices
    of its own devices.
    """
    return _put(tree, NamedSharding(mesh, P(SEQUENCE_AXIS)))


def replicate(tree, mesh: Mesh):
    """Place every array leaf whole on every device of `mesh`."""
    return _put(tree, NamedSharding(mesh, P()))


def gather(array) -> np.ndarray:
    """A (possibly multi-process) global array as one NumPy array on this process."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(array, tiled=True))
    return np.asarray(array)


def _fused(mode_search, method: str, mesh: Mesh):
    step = build_kernel(mode_search, method, "fused")
    sequences, replicated = NamedSharding(mesh, P(SEQUENCE_AXIS)), NamedSharding(mesh, P())

    @eqx.filter_jit
    def run(key, state, data):
        new_state, info = step(key, state, data)
        params, static = eqx.partition(new_state.model, eqx.is_array)
        params = jax.lax.with_sharding_constraint(params, replicated)
        states = jax.lax.with_sharding_constraint(new_state.states, sequences)
        return GibbsState(eqx.combine(params, static), states), info

    return run


def _row_blocks(array) -> list[slice]:
    """The row slices of this process's shards of a sequence-sharded array, each once, in order."""
    starts = {}
    for shard in array.addressable_shards:
        index = shard.index[0]
        starts.setdefault(index.start or 0, slice(index.start or 0, index.stop if index.stop is not None else array.shape[0]))
    return [starts[start] for start in sorted(starts)]


def _rows_of(array, rows: slice) -> np.ndarray | None:
    """Rows `rows` of a sequence-sharded or replicated array, read from this process's shards."""
    if array is None:
        return None
    pieces, covered = [], rows.start
    for shard in sorted(array.addressable_shards, key=lambda shard: shard.index[0].start or 0):
        index = shard.index[0]
        start, stop = index.start or 0, array.shape[0] if index.stop is None else index.stop
        if start <= covered < stop:
            end = min(stop, rows.stop)
            pieces.append(np.asarray(shard.data)[covered - start : end - start])
            covered = end
        if covered >= rows.stop:
            return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    raise ValueError(f"rows {rows.start}:{rows.stop} are not on this process")


def _local(array) -> np.ndarray | None:
    """A replicated array's value, read from this process's first shard."""
    return None if array is None else np.asarray(array.addressable_shards[0].data)


def _assemble(pieces: dict, shape: tuple, dtype, sharding: NamedSharding):
    """A global array of `shape` from this process's `{first row: values}`, laid out like `sharding`."""
    arrays = [
        jax.device_put(np.asarray(pieces[index[0].start or 0], dtype=dtype), device)
        for device, index in sharding.addressable_devices_indices_map(tuple(shape)).items()
    ]
    return jax.make_array_from_single_device_arrays(tuple(shape), sharding, arrays)


def _host(mode_search, mesh: Mesh):
    """Statistics on the shards, one reduction, the parameter draw replicated, then the numba sampler per local shard.

    The draw (e.g. the low-rank mode search, a loop) runs as its own program on replicated
    statistics, so that no collective sits inside it.
    """
    sequences, replicated = NamedSharding(mesh, P(SEQUENCE_AXIS)), NamedSharding(mesh, P())
    statistics = eqx.filter_jit(lambda model, states, data: model_statistics(model, states, data))
    total = jax.jit(lambda logliks: logliks.sum(), out_shardings=replicated)

    @eqx.filter_jit
    def draw(key, model, sums):
        k_params, k_states = jr.split(key)
        model, updates = resample_from_statistics(model, k_params, sums, mode_search)
        return model, updates, model.log_prior(), k_states

    @eqx.filter_jit
    def sampler_inputs(model, data, k_states):
        inputs = kernel_inputs(model, data, "native")
        dtype = jnp.result_type(inputs.log_init, inputs.trans)
        n_sequences, n_timesteps = data.syllables.shape
        uniforms = jax.vmap(lambda k: posterior_uniforms(k, n_timesteps, dtype))(jr.split(k_states, n_sequences))
        return HostSamplerInputs(*inputs, uniforms)

    local_device = next(d for d in mesh.devices.flat if d.process_index == jax.process_index())

    def on_local_device(tree):
        def put(leaf):
            if not isinstance(leaf, jax.Array):
                return leaf
            if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                return jax.device_put(leaf.addressable_shards[0].data, local_device)
            return jax.device_put(_local(leaf), local_device)

        return jax.tree.map(put, tree)

    def step(key, state, data):
        sums = on_local_device(replicate(statistics(state.model, state.states, data), mesh))
        drawn = draw(on_local_device(key), on_local_device(state.model), sums)  # one device: no collective inside
        model, updates, log_prior, k_states = replicate(drawn, mesh)
        inputs = sampler_inputs(model, data, k_states)
        log_init, tables = _local(inputs.log_init), _local(inputs.tables)
        states, logliks = {}, {}
        for rows in _row_blocks(data.syllables):
            trans = _rows_of(inputs.trans, rows) if inputs.trans.ndim >= 3 else _local(inputs.trans)
            states[rows.start], logliks[rows.start] = native.sample_states_host(
                log_init, trans, tables, _rows_of(data.syllables, rows), _rows_of(data.emission_mask, rows),
                _rows_of(inputs.uniforms, rows), log_likelihoods=_rows_of(inputs.log_likelihoods, rows),
            )  # fmt: skip
        new_states = _assemble(states, inputs.uniforms.shape, np.int32, sequences)
        marginal = total(_assemble(logliks, inputs.uniforms.shape[:1], np.float32, sequences)).astype(log_prior.dtype)
        return GibbsState(model, new_states), gibbs_info(marginal, log_prior, updates)

    return step


@lru_cache(maxsize=16)
def sharded_kernel(mode_search, method: str, strategy: str, mesh: Mesh):
    """The single-chain Gibbs step for sequence-sharded data and states, a replicated model.

    Args:
        mode_search: as for `gibbs.build_kernel`.
        method: resolved state kernel (`native`, `serial`, `parallel`).
        strategy: `fused` or `host` (`native` only).
        mesh: from `sequence_mesh`.

    Returns:
        `step(key, state, data) -> (GibbsState, GibbsInfo)`. `state.states` and every leaf of
        `data` must be placed by `shard_sequences` (N a multiple of the mesh size), the model
        by `replicate`; the new state is placed the same way.

    Raises:
        ValueError: a batch strategy (`vmap`, `split`): sharded fits run one chain.
    """
    if strategy == "fused":
        return _fused(mode_search, method, mesh)
    if strategy == "host":
        return _host(mode_search, mesh)
    raise ValueError(f"a sharded fit runs one chain (strategy 'fused' or 'host'), not {strategy!r}")


def place_state(state: GibbsState, mesh: Mesh) -> GibbsState:
    """`state` with its model replicated and its states sharded over `mesh`."""
    return GibbsState(replicate(state.model, mesh), shard_sequences(state.states, mesh))
