"""Peak memory of one large fit, whole and under `memory_limit`, and whether the two give the same fit.

Each fit runs in its own child process; its peak resident memory is the child's
`ru_maxrss` (`os.wait4`), so nothing of one run is counted in another. Recordings are
synthetic (S syllables from a sticky K-state chain of syllable distributions), one hour
each at 120 fps unless `--recording-frames` says otherwise.

    nice -n 10 python benchmarks/bench_memory.py --frames 30e6 --limit 2GB --iters 3
    nice -n 10 python benchmarks/bench_memory.py --frames 300e6 --limit 4GB --iters 2 --only-limited

prints one line per run (peak RSS, held bytes per frame above the 1.06 GB process base,
the fit's own estimate, seconds, and seconds per Gibbs iteration counting the short runs
of the data-driven starts) and whether the states and log probabilities of the limited fit
equal the whole fit's, and writes `benchmarks/results/memory.json` (`memory-limited.json`
with `--only-limited`). Recordings are passed as uint8 (S ≤ 256), as a user holding
syllables compactly would; `--dtype int32` passes 4 bytes per frame instead.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE_BYTES = 1.06e9  # the process with JAX, numba and the compiled programs (smoseq.fitting.budget)


def synthetic_recordings(n_frames: int, recording_frames: int, n_syllables: int, seed: int, dtype=np.uint8) -> dict:
    """Recordings of `recording_frames` (the last shorter) from 4 regimes of syllable usage switching every ~2 s."""
    rng = np.random.default_rng(seed)
    usage = rng.dirichlet(np.full(n_syllables, 0.3), size=4)
    recordings, start, index = {}, 0, 0
    while start < n_frames:
        length = min(recording_frames, n_frames - start)
        regimes = np.repeat(rng.integers(0, 4, size=length // 240 + 1), 240)[:length]
        uniforms = rng.random(length, dtype=np.float32)
        cumulative = np.cumsum(usage, axis=1)[regimes]
        recordings[f"rec{index:04d}"] = (uniforms[:, None] > cumulative).sum(1).clip(0, n_syllables - 1).astype(dtype)
        del cumulative
        start, index = start + length, index + 1
    return recordings


def child(args) -> None:
    """One fit; writes its states' digest, log probabilities, timing and plan to `args.output`."""
    import hashlib

    import smoseq as sm

    recordings = synthetic_recordings(int(args.frames), int(args.recording_frames), args.n_syllables, 0, args.dtype)
    started = time.perf_counter()
    result = sm.fit(recordings, n_states=args.n_states, n_iters=args.iters, n_init_iters=1, seed=0, progress=False,
                    emissions=args.emissions, memory_limit=None if args.limit == "none" else args.limit,
                    devices=1)  # fmt: skip
    seconds = time.perf_counter() - started
    digest = hashlib.sha256()
    for name in sorted(result.states):
        digest.update(np.ascontiguousarray(result.states[name]).tobytes())
    n_steps = args.iters + len(result.info.get("init_scores", {}))  # the starts' short runs are one step each here
    Path(args.output).write_text(json.dumps({
        "seconds": seconds, "states_sha256": digest.hexdigest(), "log_probs": result.log_probs.tolist(),
        "memory": result.info["memory"], "gibbs_steps": n_steps, "seconds_per_step": seconds / n_steps,
    }))  # fmt: skip


def run(args, limit) -> dict:
    """A child fit; its peak RSS in bytes joined to what it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out.json"
        command = [sys.executable, __file__, "--child", "--output", str(output), "--frames", str(args.frames),
                   "--recording-frames", str(args.recording_frames), "--iters", str(args.iters),
                   "--n-states", str(args.n_states), "--n-syllables", str(args.n_syllables), "--dtype", args.dtype,
                   "--emissions", args.emissions]  # fmt: skip
        command += ["--limit", limit or "none"]
        process = subprocess.Popen(command, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise SystemExit(f"the fit with limit {limit} failed (status {status})")
        return json.loads(output.read_text()) | {"peak_rss_bytes": usage.ru_maxrss * 1024, "limit": limit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=float, default=30e6)
    parser.add_argument("--recording-frames", type=float, default=432_000, help="frames per recording (1 h at 120 fps)")
    parser.add_argument("--limit", default="2GB", help="memory_limit of the limited fit")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--n-states", type=int, default=10)
    parser.add_argument("--n-syllables", type=int, default=50)
    parser.add_argument("--dtype", default="uint8", help="dtype of the recordings as passed to sm.fit")
    parser.add_argument("--emissions", default="low_rank", help="sm.fit emissions (low_rank or full_rank)")
    parser.add_argument("--only-limited", action="store_true", help="run the limited fit only (no whole fit to compare)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.frames = int(args.frames)
    args.recording_frames = int(args.recording_frames)
    if args.child:
        child(args)
        return
    runs = [run(args, args.limit)] if args.only_limited else [run(args, None), run(args, args.limit)]
    for result in runs:
        memory = result["memory"]
        held = (result["peak_rss_bytes"] - BASE_BYTES) / args.frames
        print(f"limit {result['limit'] or 'none':>6}: peak RSS {result['peak_rss_bytes'] / 1e9:.2f} GB "
              f"({held:.1f} B/frame above the base), estimate {memory['estimated_peak_bytes'] / 1e9:.2f} GB, "
              f"chunk {memory['chunk_size']} sequences, {result['seconds']:.1f} s, "
              f"{result['seconds_per_step']:.1f} s per Gibbs step ({result['gibbs_steps']} steps)")  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    if args.only_limited:
        (out / "memory-limited.json").write_text(json.dumps({"frames": args.frames, "runs": runs}, indent=1))
        return
    whole, limited = runs
    same_states = whole["states_sha256"] == limited["states_sha256"]
    difference = float(np.max(np.abs(np.subtract(whole["log_probs"], limited["log_probs"]))))
    print(f"{args.frames / 1e6:.0f} M frames: states identical {same_states}, largest log-probability difference "
          f"{difference:.3g}, time ratio limited / whole {limited['seconds'] / whole['seconds']:.2f}")  # fmt: skip
    (out / "memory.json").write_text(json.dumps({"frames": args.frames, "runs": runs, "same_states": same_states,
                                                 "log_prob_difference": difference}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
