"""Where a single-chain fit runs: over how many devices, and in chunks of how many sequences.

A `Placement` is what `sm.fit(devices=..., memory_limit=...)` decided before the fit
starts. It pads the data (fully masked sequences, which count for nothing), places data
and states on the device mesh, and gives the Gibbs step that matches: the plain compiled
step (one device, no chunks), `sharding.sharded_kernel` (several devices), or
`chunked.chunked_kernel` (chunks of sequences, each sharded over the devices).
"""

from dataclasses import dataclass

from jax.sharding import Mesh

import jax.numpy as jnp
import numpy as np

from ..models import HHMM, SyllableData, compact_dtype
from .chunked import chunked_init, chunked_kernel
from .gibbs import GibbsState, init
from .sharding import mesh_size, pad_sequences, place_state, shard_sequences, sharded_kernel

__all__ = ["Placement"]


@dataclass(frozen=True)
class Placement:
    """A fit's device mesh and chunk size.

    Attributes:
        mesh: one-axis device mesh (`sharding.sequence_mesh`), or None for the default device.
        chunk_size: sequences per chunk of the Gibbs step (a multiple of the mesh size), or
            None for the whole batch at once.
    """

    mesh: Mesh | None = None
    chunk_size: int | None = None

    def __post_init__(self):
        if self.chunk_size is not None and self.chunk_size % self.n_devices:
            raise ValueError(f"chunk_size {self.chunk_size} must be a multiple of the {self.n_devices} devices")

    @property
    def n_devices(self) -> int:
        return mesh_size(self.mesh)

    @property
    def active(self) -> bool:
        """Whether the fit runs other than on one device in one piece."""
        return self.n_devices > 1 or self.chunk_size is not None

    @property
    def sharded(self) -> bool:
        """Whether the whole data and states live sharded on the mesh (several devices, no chunks)."""
        return self.n_devices > 1 and self.chunk_size is None

    def place_data(self, data: SyllableData) -> SyllableData:
        """`data` sharded over the devices (N padded to a multiple of their number), or as it is when chunked.

        Chunks are cut (and the last one padded) by the chunked step, so a chunked fit holds
        no second copy of the data.
        """
        if not self.sharded:
            return data
        return shard_sequences(pad_sequences(data, self.n_devices), self.mesh)

    def place_state(self, state: GibbsState) -> GibbsState:
        """`state` (its states already padded like the data) on the mesh: model replicated, states sharded."""
        return place_state(state, self.mesh) if self.sharded else state

    def held_states(self, model: HHMM, states, n_sequences: int) -> np.ndarray:
        """(N_real, T) states padded with zero rows to `n_sequences`, in the dtype the fit holds them in.

        A chunked fit holds them on the host in the smallest unsigned dtype that holds K
        (`compact_dtype`: uint8 for K ≤ 256), each chunk widened to int32 when it is cut;
        otherwise int32.
        """
        dtype = compact_dtype(model.n_states) if self.chunk_size is not None else np.dtype(np.int32)
        states = np.asarray(states)
        extra = n_sequences - states.shape[0]
        if extra:
            states = np.concatenate([states, np.zeros((extra, states.shape[1]), states.dtype)])
        return states.astype(dtype, copy=False)

    def init(self, model: HHMM, states, data: SyllableData) -> GibbsState:
        """`gibbs.init` on placed data: `states` (N_real, T) padded to the data's N, chunked and placed as the fit runs."""
        states = self.held_states(model, states, data.syllables.shape[0])
        if self.chunk_size is not None:
            return chunked_init(model, states, data, self.chunk_size)
        return self.place_state(init(model, jnp.asarray(states) if not self.sharded else states, data))

    def adopt(self, state: GibbsState, data: SyllableData) -> GibbsState:
        """A state of the unpadded sequences (a checkpoint), padded to the data's N and placed."""
        states = self.held_states(state.model, state.states, data.syllables.shape[0])
        if self.chunk_size is not None:
            return GibbsState(state.model, states)
        return self.place_state(GibbsState(state.model, jnp.asarray(states)))

    def kernel(self, mode_search, method: str, strategy: str):
        """The single-chain step for this placement (`strategy`: `fused` or `host`, as `single_chain_strategy` picks)."""
        if self.chunk_size is not None:
            return chunked_kernel(mode_search, method, self.chunk_size, self.mesh if self.n_devices > 1 else None)
        return sharded_kernel(mode_search, method, strategy, self.mesh)

    def describe(self) -> dict:
        """What fit.json records: devices and chunk size."""
        return {"devices": self.n_devices, "chunk_size": self.chunk_size}
