"""How much memory one model of a batch needs, and how much the machine has.

The footprint of a model in a vmapped batch was measured once (`benchmarks/bench_scan.py
--memory`: XLA's buffer assignment of the compiled batched step, `memory_analysis()`, for
M = 1 and M = 4 models at two sequence lengths, K = 10, S = 50) and is summarised as

    bytes = 1.5 · (params(K, S) + frames · per_frame(method, K) + 2 · n_iters · T)

- params: the emission update's work arrays, constant in frames: the raised inverses of
  the base blocks (S³), the Schur correction in raised coordinates ((KS)², a few copies)
  and the (M × M) bias block, its Schur complement and factor (M = (K−1)(S−1)). XLA's
  buffers of the vmapped Laplace update measured 6.7 MB per model at K = 10, S = 50 and
  28 MB at S = 100; the estimate 4 bytes · (2·S³ + 4·K²·S² + 3·M² + 4·K·S²) gives 7.7
  and 35 MB.
- per_frame (bytes per padded frame, frames = N·T): native (numba) kernel 32 — states in
  and out (int32) plus the callback's uniforms (float32, and a float64 copy) and its
  output; serial kernel 32 + 6·K (the (N, T, K) log-likelihoods and filtered
  probabilities); parallel kernel 32 + 16·K² (associative-scan elements (T, K, K)).
  Measured at K = 10: native ≈ 8 in XLA buffers (+ 24 on the host), serial 55, parallel 1600.
- 2 · n_iters · T: the int16 state history of one segment, kept for the history figure.
- 1.5: allocator slack and the host copies XLA does not see.
"""

import os

__all__ = ["model_footprint_bytes", "available_memory_bytes"]

SAFETY_FACTOR = 1.5
FLOAT_BYTES = 4


def _bytes_per_frame(method: str, n_states: int) -> float:
    if method == "native":
        return 32.0
    if method == "serial":
        return 32.0 + 6.0 * n_states
    return 32.0 + 16.0 * n_states**2


def model_footprint_bytes(n_sequences: int, n_timesteps: int, n_states: int, n_syllables: int, n_iters: int, method: str) -> float:
    """Estimated bytes one more model adds to a vmapped batch (see the module docstring).

    Args:
        n_sequences: N, segments of the batched data.
        n_timesteps: T, padded frames per segment.
        n_states: K.
        n_syllables: S.
        n_iters: Gibbs iterations (for the (n_iters, T) state history).
        method: resolved state kernel, `native`, `serial` or `parallel` (anything else
            is costed as `parallel`).

    Returns:
        The estimate in bytes (float), including the 1.5 safety factor.
    """
    frames = n_sequences * n_timesteps
    bias_dim = (n_states - 1) * (n_syllables - 1)
    params = FLOAT_BYTES * (
        2 * n_syllables**3 + 4 * (n_states * n_syllables) ** 2 + 3 * bias_dim**2 + 4 * n_states * n_syllables**2
    )
    history = 2 * n_iters * n_timesteps
    return SAFETY_FACTOR * (params + frames * _bytes_per_frame(method, n_states) + history)


def available_memory_bytes() -> float:
    """Memory available to new allocations (Linux `MemAvailable`), else total RAM, else 4 GB."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 4e9
