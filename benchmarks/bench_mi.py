"""Benchmark `lagged_mutual_information` against its budgets (DESIGN §7): 21 recordings,
40 log-spaced lags from 1 s to 300 s at 120 fps, ≤ 1 s for 50,000 frames per recording and
≤ 10 s for the tutorial's 432,000 (9.07 M frames in all), Markov simulation included.

Two kinds of synthetic syllables (50 of them) bracket real data: "iid" changes syllable
on almost every frame (worst case: every frame is counted one by one); "runs" has syllables
lasting ~0.3 s with a slowly switching hidden state, like keypoint-MoSeq output at 120 fps
(counted run by run).

Run: `.venv/bin/python benchmarks/bench_mi.py [--repeats 3] [--frames 50000 432000]`.
Reports the median wall and CPU time of `--repeats` runs after one warm-up run (which
compiles or loads the numba kernels), and the peak memory of one more run: numpy
allocations traced by `tracemalloc`, and the growth of the process's peak resident set
(Linux VmHWM, reset through /proc/self/clear_refs).
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from smoseq.metrics import lagged_mutual_information

FPS = 120
N_RECORDINGS = 21
N_SYLLABLES = 50
BUDGETS_S = {50_000: 1.0, 432_000: 10.0}


def synthetic_syllables(kind: str, n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (N_RECORDINGS, n_frames)
    if kind == "iid":
        return rng.integers(0, N_SYLLABLES, shape).astype(np.int32), np.ones(shape, np.float32)
    n_blocks = n_frames // (20 * FPS) + 1  # hidden state switching every ~20 s
    hidden = np.repeat(rng.integers(0, 8, (N_RECORDINGS, n_blocks)), 20 * FPS, axis=1)[:, :n_frames]
    draws = (hidden * 5 + rng.geometric(0.3, shape)) % N_SYLLABLES
    durations = rng.geometric(1 / (0.3 * FPS), n_frames)  # syllables lasting ~0.3 s
    starts = np.minimum(np.cumsum(durations) - durations, n_frames)
    index = np.repeat(starts, durations)[:n_frames]
    return draws[:, index].astype(np.int32), np.ones(shape, np.float32)


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def bench(kind: str, n_frames: int, repeats: int) -> dict:
    sequences, mask = synthetic_syllables(kind, n_frames)
    lags = np.logspace(np.log10(FPS), np.log10(300 * FPS), 40).astype(int)
    run = lambda key: lagged_mutual_information(sequences, mask, lags, key=key, progress=False)  # noqa: E731
    run(0)  # warm-up
    walls, cpus = [], []
    for repeat in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run(repeat)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    rss_before = _status_kib("VmRSS")
    reset = _reset_peak_rss()
    tracemalloc.start()
    run(0)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_peak = _status_kib("VmHWM")
    rss_growth = (rss_peak - rss_before) / 1024 if reset and rss_peak and rss_before else float("nan")
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "traced_mib": traced_peak / 2**20,
        "rss_growth_mib": rss_growth,
        "input_mib": sequences.nbytes / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, nargs="+", default=[50_000, 432_000])
    parser.add_argument("--kinds", nargs="+", default=["runs", "iid"], choices=["runs", "iid"])
    args = parser.parse_args()
    print(
        "| data | recordings × frames | lags | median wall (s) | median CPU (s) | budget (s) "
        "| peak numpy memory (MiB) | peak RSS growth (MiB) | input int32 (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n_frames in args.frames:
        for kind in args.kinds:
            r = bench(kind, n_frames, args.repeats)
            budget = BUDGETS_S.get(n_frames, float("nan"))
            print(
                f"| {kind} | {N_RECORDINGS} × {n_frames:,} | 40 | {r['wall']:.3f} | {r['cpu']:.3f} | {budget:g} "
                f"| {r['traced_mib']:.0f} | {r['rss_growth_mib']:.0f} | {r['input_mib']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
