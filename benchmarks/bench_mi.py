"""Benchmark `lagged_mutual_information` (DESIGN §7: ≤ 1 s for 21 × 50,000 frames, 40 lags;
≤ 10 s for the tutorial's 21 × 432,000 frames).

Run: `.venv/bin/python benchmarks/bench_mi.py [--repeats 3] [--sizes 50000 432000]`.
Prints the median wall time of `--repeats` runs after one warm-up run, and the peak resident
memory above the pre-call level (Linux: VmHWM after resetting it through /proc/self/clear_refs).
"""

import argparse
import statistics
import time

import numpy as np

from smoseq.metrics import lagged_mutual_information

FPS = 120
N_RECORDINGS = 21
N_SYLLABLES = 50


def _rss_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def synthetic_syllables(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Syllables whose distribution switches with a slow hidden state (so MI decays slowly)."""
    rng = np.random.default_rng(seed)
    n_blocks = n_frames // (10 * FPS) + 1
    states = np.repeat(rng.integers(0, 8, (N_RECORDINGS, n_blocks)), 10 * FPS, axis=1)[:, :n_frames]
    syllables = (states * 5 + rng.geometric(0.3, (N_RECORDINGS, n_frames))) % N_SYLLABLES
    syllables = np.repeat(syllables[:, ::4], 4, axis=1)[:, :n_frames]  # syllables last ~4 frames
    return syllables.astype(np.int32), np.ones((N_RECORDINGS, n_frames), np.float32)


def bench(n_frames: int, repeats: int) -> tuple[float, float | None]:
    sequences, mask = synthetic_syllables(n_frames)
    lags = np.logspace(np.log10(FPS), np.log10(300 * FPS), 40).astype(int)
    lagged_mutual_information(sequences, mask, lags, progress=False)  # warm-up (compile / cache load)
    times, peaks = [], []
    for repeat in range(repeats):
        before = _rss_kib("VmRSS")
        can_reset = _reset_peak()
        start = time.perf_counter()
        lagged_mutual_information(sequences, mask, lags, key=repeat, progress=False)
        times.append(time.perf_counter() - start)
        peak = _rss_kib("VmHWM")
        if can_reset and peak is not None and before is not None:
            peaks.append((peak - before) / 1024)
    return statistics.median(times), (max(peaks) if peaks else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 432_000])
    args = parser.parse_args()
    budgets = {50_000: 1.0, 432_000: 10.0}
    print(f"| recordings × frames | lags | median time (s) | budget (s) | peak memory above baseline (MiB) |")
    print(f"|---|---|---|---|---|")
    for n_frames in args.sizes:
        median, peak = bench(n_frames, args.repeats)
        peak_text = "n/a" if peak is None else f"{peak:.0f}"
        budget = budgets.get(n_frames, float("nan"))
        print(f"| {N_RECORDINGS} × {n_frames:,} | 40 | {median:.3f} | {budget:g} | {peak_text} |", flush=True)


if __name__ == "__main__":
    main()
