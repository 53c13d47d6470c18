"""Time and file size of `sm.export_nwb` and `sm.export_tables` (Parquet, CSV) for a fit's states.

States: `--recordings` recordings of `--frames` frames, K = 10, bouts of `--bout` frames
(a hand-made `FitResult`: no fitting). Each export runs `--repeats` times after one warm-up;
the median time is reported, with the size of the files written, and the process's peak
resident memory at the end (all three exports).

    python benchmarks/bench_export.py                       # 21 x 50,000 frames
    python benchmarks/bench_export.py --frames 432000 --repeats 1
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import smoseq as sm
from smoseq.fitting import FitResult
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions

K, S = 10, 5


def fit_result(n_recordings: int, n_frames: int, bout: int) -> FitResult:
    rng = np.random.default_rng(0)
    states = {f"r{i:02d}": np.repeat(rng.integers(0, K, n_frames // bout + 1), bout)[:n_frames] for i in range(n_recordings)}
    model = HHMM(FullRankEmissions(np.full((K, S, S), 1 / S)), StickyTransitions(np.full((K, K), 1 / K)))
    return FitResult(model=model, states=states, log_probs=np.zeros(1), emission_losses=np.zeros(0),
                     history=np.zeros((1, 1), np.int16), hyperparameters={}, info={"fps": 30.0})  # fmt: skip


def timed(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=21)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--bout", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = fit_result(args.recordings, args.frames, args.bout)
    n_bouts = sum(len(np.flatnonzero(np.diff(a))) + 1 for a in result.states.values())
    print(f"{args.recordings} recordings x {args.frames} frames, {n_bouts} bouts")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        exports = {
            "nwb": (lambda: sm.export_nwb(result, folder / "s.nwb", overwrite=True), ["s.nwb"]),
            "parquet": (lambda: sm.export_tables(result, folder / "s.parquet", overwrite=True), ["s_frames.parquet", "s_bouts.parquet"]),
            "csv": (lambda: sm.export_tables(result, folder / "s.csv", overwrite=True), ["s_frames.csv", "s_bouts.csv"]),
        }  # fmt: skip
        for name, (export, files) in exports.items():
            seconds = timed(export, args.repeats)
            size = sum((folder / f).stat().st_size for f in files) / 2**20
            print(f"{name}: {seconds:.2f} s (median of {args.repeats}), {size:.1f} MiB", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"peak resident memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
