"""How much memory one model of a batch needs, and how much the machine has.

The footprint of a model in a vmapped batch was measured once (`benchmarks/bench_scan.py
--memory`: XLA's buffer assignment of the compiled batched step for M = 1 and M = 4, plus
the host buffers of the numba callback and the recorded history) and is summarised as

    bytes = frames · per_frame(method, K) + params(K, S) + n_iters · T · 2

with frames = N·T (padded), per_frame the bytes per frame below, params the emission
update's work arrays (the Laplace Hessian blocks dominate: S·(S−1)·(K−1)·(S−1) floats
for the cross blocks, twice, plus S·(S−1)² for the base blocks), and the last term the
int16 state history kept for the history figure. A safety factor of 1.5 covers
allocator slack.
"""

import os

__all__ = ["model_footprint_bytes", "available_memory_bytes"]

SAFETY_FACTOR = 1.5
FLOAT_BYTES = 4


def _bytes_per_frame(method: str, n_states: int) -> float:
    """Measured bytes per padded frame per model (float32 JAX, float64 numba scratch)."""
    if method == "native":
        # states in/out, count indices and weights, uniforms (float32 and float64 copy), callback output
        return 48.0
    if method == "serial":
        # + log-likelihoods and filtered probabilities (N, T, K) float32, and their scan copies
        return 48.0 + 5 * FLOAT_BYTES * n_states
    # parallel: associative-scan elements are (T, K, K) and the scan keeps about three levels
    return 48.0 + 5 * FLOAT_BYTES * n_states + 3 * FLOAT_BYTES * n_states**2


def model_footprint_bytes(n_sequences: int, n_timesteps: int, n_states: int, n_syllables: int, n_iters: int, method: str) -> float:
    """Estimated bytes one more model adds to a vmapped batch (see the module docstring)."""
    frames = n_sequences * n_timesteps
    cross = n_syllables * (n_syllables - 1) * (n_states - 1) * (n_syllables - 1)
    params = FLOAT_BYTES * (2 * cross + n_syllables * (n_syllables - 1) ** 2 + 4 * n_states * n_syllables**2)
    history = 2 * n_iters * n_timesteps
    return SAFETY_FACTOR * (frames * _bytes_per_frame(method, n_states) + params + history)


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
