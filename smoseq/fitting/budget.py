"""A single fit's peak memory, estimated from the sizes before anything is compiled, and its chunking.

`sm.fit(..., memory_limit=...)` calls `plan_memory`: it estimates the peak of the fit as it
would run whole, and if that exceeds the limit, the largest chunk of sequences whose
estimate fits (`smoseq.inference.chunked`: the same draws, chunk by chunk). A limit that
not even one sequence per device fits is an `InputError` naming the numbers, before any work.

The estimate (bytes) is

    base + params(K, S) + input + frames · held + chunk_frames · work(method, K) + threads(method, T, K) + 2 · n_iters · T

- base: the process with JAX, numba and the compiled programs, and the compiler's own
  peak while it builds them (measured 1.06–1.1 GB RSS on a CPU at K = 10, S = 50).
- params: the emission update's work arrays, `memory.model_footprint_bytes` at zero frames.
- input: the recordings as the caller passed them (`sm.fit` counts their `nbytes`): they
  stay alive for the whole fit, whatever it does.
- held, bytes per padded frame alive for the whole fit. A chunked fit holds its data
  compact on the host (`smoseq.models.compact_data`: uint8 syllables, bool mask and
  evidence — 3 bytes) and its states as uint8 (`Placement.held_states`; the current and
  the new states, and while the data-driven starts are tried the best start so far too):
  7.5 bytes per frame (measured 6–7 above the recordings). A whole fit holds the data in the dtypes components see
  (int32 syllables, float32 mask and evidence) and int32 states, with the compiled step's
  own copies: 90 bytes per frame (measured 68 at 10 M frames).
- work, bytes per frame of one chunk alive during a step: the chunk widened to int32 /
  float32, its statistics' scatter indices, the uniforms (float32 and the callback's float64
  copy) and the random bits they are drawn from, the sampler's output; serial kernel also
  the (T, K) log-likelihoods and filtered probabilities; parallel kernel the (T, K, K)
  associative-scan elements. Measured 125 bytes per chunk frame for the native kernel
  (K = 10, S = 50: peaks of 10 M-frame fits in chunks of 3 and 8 one-hour recordings).
- threads: the native sampler's filtered messages, (2, T, K) float64 per numba thread.
- frames per device on an accelerator (each device has its own memory); on the CPU every
  device shares the process memory, so the whole is counted. A chunked fit holds the data
  on the host and sends each device one chunk.

The constants were measured from the peak RSS of fits in child processes
(`benchmarks/bench_memory.py`, numbers in docs/scaling.md) and rounded up.
"""

import math
import re
from dataclasses import dataclass

import jax

from .._errors import InputError
from ..inference.placement import Placement
from ..inference.sharding import sequence_mesh
from ..models import HHMM, SyllableData
from .memory import model_footprint_bytes

__all__ = ["MemoryPlan", "parse_bytes", "default_memory_limit", "fit_peak_bytes", "plan_memory"]

BASE_BYTES = 1.1e9
HELD_BYTES_PER_FRAME = 90.0
HELD_CHUNKED_BYTES_PER_FRAME = 7.5


def _work_bytes_per_frame(method: str, n_states: int) -> float:
    if method == "native":
        return 128.0
    if method == "serial":
        return 128.0 + 12.0 * n_states
    return 128.0 + 16.0 * n_states**2


def _thread_bytes(method: str, n_timesteps: int, n_states: int) -> float:
    """The native sampler's per-thread buffers: (2, T, K) float64 filtered messages for each numba thread."""
    if method != "native":
        return 0.0
    import numba

    return numba.get_num_threads() * 16.0 * n_timesteps * n_states


_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(value) -> float:
    """Bytes from a number or a string such as `"8GB"`, `"512 MiB"`, `"1.5e9"`.

    Raises:
        InputError: anything else, or a size that is not positive.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        size = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if match is None or match.group(2).upper() not in _UNITS:
            raise InputError(f"memory_limit must be bytes or a size such as '8GB' or '512MiB'; got {value!r}")
        size = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if not size > 0:
        raise InputError(f"memory_limit must be positive; got {value!r}")
    return size


def default_memory_limit() -> float | None:
    """None on a CPU (no limit); on an accelerator the free memory of its first device (`memory_stats`)."""
    if jax.default_backend() == "cpu":
        return None
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" not in stats:
        return None
    return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))


def fit_peak_bytes(n_sequences: int, n_timesteps: int, n_states: int, n_syllables: int, n_iters: int, method: str,
                   chunk_size: int | None = None, n_devices: int = 1, per_device: bool = False,
                   input_bytes: float = 0.0) -> float:  # fmt: skip
    """Estimated peak bytes of a single fit (module docstring).

    Args:
        n_sequences, n_timesteps: N and T of the batched data (N padded to the chunking).
        n_states, n_syllables: K and S.
        n_iters: iterations (the state history of one segment).
        method: resolved state kernel.
        chunk_size: sequences per chunk (None: all at once).
        n_devices: devices the sequences are split over.
        per_device: count one device's share (accelerators, each with its own memory)
            rather than the whole (CPU devices share the process memory).
        input_bytes: the recordings as the caller passed them (held by the caller throughout;
            host memory, so not counted per device).

    Returns:
        Bytes (float).
    """
    share = n_devices if per_device else 1
    frames = n_sequences * n_timesteps / share
    chunk_frames = (n_sequences if chunk_size is None else chunk_size) * n_timesteps / share
    params = model_footprint_bytes(0, n_timesteps, n_states, n_syllables, 0, method)
    held = HELD_BYTES_PER_FRAME if chunk_size is None else HELD_CHUNKED_BYTES_PER_FRAME
    if chunk_size is not None and per_device:  # chunks are cut from the host copy: the device holds one chunk
        held, frames = HELD_CHUNKED_BYTES_PER_FRAME, n_sequences * n_timesteps
    return (
        BASE_BYTES + params + input_bytes + frames * held + chunk_frames * _work_bytes_per_frame(method, n_states)
        + _thread_bytes(method, n_timesteps, n_states) + 2.0 * n_iters * n_timesteps
    )  # fmt: skip


@dataclass(frozen=True)
class MemoryPlan:
    """What `plan_memory` decided: the placement, the estimated peak, the limit.

    Attributes:
        placement: devices and chunk size.
        estimate: estimated peak bytes with that chunking.
        whole: estimated peak bytes of the fit unchunked.
        limit: the limit in bytes, or None.
    """

    placement: Placement
    estimate: float
    whole: float
    limit: float | None

    def describe(self) -> str:
        """One line: devices, estimate, limit, chunks."""
        where = f"{self.placement.n_devices} {jax.default_backend()} device(s)"
        if self.limit is None:
            return f"memory: estimated peak {_gb(self.estimate)} on {where} (no limit)"
        chunks = "in one piece" if self.placement.chunk_size is None else f"in chunks of {self.placement.chunk_size} sequences"
        return f"memory: estimated peak {_gb(self.estimate)} (whole: {_gb(self.whole)}) under the limit {_gb(self.limit)}, {chunks}, on {where}"

    def record(self) -> dict:
        """What fit.json keeps: the numbers in bytes and the placement."""
        return {"estimated_peak_bytes": self.estimate, "whole_peak_bytes": self.whole, "limit_bytes": self.limit} | (
            self.placement.describe()
        )


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def _chunk_size(n_sequences: int, fits, n_devices: int) -> int | None:
    """The chunk (a multiple of `n_devices`) that fits and pads least, None when all sequences fit, 0 when none does.

    `fits(chunk, padded)`: whether the estimate with `chunk` sequences per chunk (None: all)
    and N padded to `padded` sequences stays under the limit.
    """

    def padded(chunk):  # a sharded fit pads N to the devices; a chunked one pads only its last chunk
        return math.ceil(n_sequences / n_devices) * n_devices

    if fits(None, padded(n_devices)):
        return None
    candidates = sorted({math.ceil(math.ceil(n_sequences / n_chunks) / n_devices) * n_devices
                         for n_chunks in range(1, n_sequences + 1)}, reverse=True)  # fmt: skip
    for chunk in candidates:  # fewest chunks first; each the smallest (least padded last chunk) for its count
        if fits(chunk, padded(chunk)):
            return chunk
    return 0


def plan_memory(data: SyllableData, model: HHMM, n_iters: int, method: str, devices=None, memory_limit=None,
                input_bytes: float = 0.0) -> MemoryPlan:  # fmt: skip
    """The devices and chunking of a single fit, and its estimated peak (before any work).

    Args:
        data: the batched data (N, T).
        model: the model the fit starts from (K, S).
        n_iters: Gibbs iterations.
        method: resolved state kernel.
        devices: as for `sm.fit`.
        memory_limit: bytes, a string such as `"8GB"`, or None (`default_memory_limit`).
        input_bytes: bytes of the recordings as the caller passed them.

    Returns:
        A `MemoryPlan`.

    Raises:
        InputError: a bad `devices` or `memory_limit`, or a limit below the estimate at one
            sequence per device per chunk (the message gives both numbers).
    """
    try:
        mesh = sequence_mesh(devices)
    except ValueError as error:
        raise InputError(str(error)) from None
    n_devices = int(mesh.devices.size)
    limit = default_memory_limit() if memory_limit is None else parse_bytes(memory_limit)
    n_sequences, n_timesteps = data.syllables.shape
    per_device = jax.default_backend() != "cpu"

    def estimate(chunk, padded):
        return fit_peak_bytes(padded, n_timesteps, model.n_states, model.n_syllables, n_iters, method, chunk, n_devices,
                              per_device, input_bytes)  # fmt: skip

    def fits(chunk, padded):
        return limit is None or estimate(chunk, padded) <= limit

    chunk = _chunk_size(n_sequences, fits, n_devices)
    if chunk == 0:
        smallest = estimate(n_devices, math.ceil(n_sequences / n_devices) * n_devices)
        raise InputError(
            f"memory_limit {_gb(limit)} is below the estimated peak {_gb(smallest)} of this fit even in chunks of "
            f"{n_devices} sequence(s) of {n_timesteps} frames ({n_sequences} sequences, K={model.n_states}, "
            f"S={model.n_syllables}): raise the limit, or cut recordings into segments (seg_length)"
        )
    padded = math.ceil(n_sequences / n_devices) * n_devices
    placement = Placement(mesh if n_devices > 1 else None, chunk)
    whole = estimate(None, math.ceil(n_sequences / n_devices) * n_devices)
    return MemoryPlan(placement, estimate(chunk, padded), whole, limit)
