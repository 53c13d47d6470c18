"""Does `suggest_n_states` find the number of states the data were made with?

Data with a known number of states (the semi-Markov generator of `bench_accuracy.py`:
states with gamma dwell times, each with its own syllable transitions; not smoseq's
model), scanned over a range of n_states with several seeds at one κ (as the published tutorial
scans n_states once κ is chosen; default real frames / 5, `--kappa-frames-per-state`),
then `suggest_n_states` as `smoseq select` runs it.
Printed: the table (median pairwise adjusted Rand, median states used, log probability
per n_states), the suggestion, and whether the states used at the suggestion equal the
true number.

Run: `.venv/bin/python benchmarks/bench_n_states.py [--presets usage-K5-S30 kpms-K4-S50]
[--n-states 2:8] [--seeds 3] [--iters 50] [--frames 20000] [--recordings 8]`.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_accuracy as ba  # noqa: E402

import smoseq as sm  # noqa: E402
from smoseq.scan import ScanSettings, run_scan  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["usage-K5-S30", "kpms-K4-S50"])
    parser.add_argument("--n-states", default="2:8")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--recordings", type=int, default=8)
    parser.add_argument("--kappa-frames-per-state", type=float, default=5.0, help="κ = real frames / this")
    args = parser.parse_args()
    low, high = (int(x) for x in args.n_states.split(":"))
    for preset in args.presets:
        spec = ba.SYNTHETIC_PRESETS[preset]
        rng = np.random.default_rng(0)
        recordings, _ = ba.synthetic_recordings(ba.draw_process(spec, rng), args.recordings, args.frames, rng, "r")
        frames = sum(len(x) for x in recordings.values())
        kappa = frames / args.kappa_frames_per_state
        with tempfile.TemporaryDirectory() as folder:
            run_scan(recordings, folder, n_states=range(low, high + 1), kappas=[kappa], seeds=range(args.seeds),
                     settings=ScanSettings(n_iters=args.iters), say=lambda _: None)  # fmt: skip
            suggestion = sm.suggest_n_states(folder)
        print(f"\n{preset}: true K = {spec.n_states}, {args.recordings} × {args.frames} frames, "
              f"{args.seeds} seeds, {args.iters} iterations, kappa {kappa:.4g}")  # fmt: skip
        print(suggestion.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(suggestion.rule)
        used = int(np.median(suggestion.effective_states))
        print(f"states used at the suggestion: {used} ({'=' if used == spec.n_states else '!='} true {spec.n_states})")


if __name__ == "__main__":
    main()
