"""Seconds per Gibbs iteration of one fit on 1, 2 and 4 devices (and in chunks), same seed, same result.

On the CPU the devices are XLA's virtual host devices (`--xla_force_host_platform_device_count`),
which share the machine's cores: the ratios say what sharding costs or saves on a host, and
how the native (numba) sampler combines with it — each process runs the numba sampler with
its own threads on the sequences of its local devices, one call per device shard. On a GPU
host, `--devices` lists real devices; absolute times belong only to accelerators.

    nice -n 10 python benchmarks/bench_sharding.py --frames 2e6 --method native

prints one line per device count and writes `benchmarks/results/sharding.json`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def child(args) -> None:
    import jax
    import jax.random as jr

    from bench_memory import synthetic_recordings
    from smoseq.fitting.budget import plan_memory
    from smoseq.fitting.data import prepare_data
    from smoseq.fitting.loop import Sampler
    from smoseq.fitting.components import build_prior_model
    from smoseq.inference.states import resolve_method

    recordings = synthetic_recordings(int(args.frames), int(args.recording_frames), 50, 0)
    prepared = prepare_data(recordings, seg_overlap=30, repeats="ignore")
    data = prepared.data
    model = build_prior_model(10, 50, 1e4, 1.0, "low_rank", 1.0, 1.0, 1.0, "sticky", "auto", None)
    method = resolve_method(args.method)
    out = {"backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind), "runs": {}}
    for name in args.runs.split(","):
        devices, _, limit = name.partition("-")
        plan = plan_memory(data, model, 10, method, None if devices == "all" else int(devices), limit or None)
        sampler = Sampler.create(None, method, None, placement=plan.placement)
        placed = plan.placement.place_data(data)
        rng = np.random.default_rng(0)
        state = plan.placement.init(model, rng.integers(0, 10, data.syllables.shape), placed)
        step = sampler.kernel("single")
        times = []
        for iteration in range(args.iters + 1):
            started = time.perf_counter()
            state, info = step(jr.fold_in(jr.key(0), iteration), state, placed)
            float(info.log_prob)
            times.append(time.perf_counter() - started)
        out["runs"][name] = {"seconds": statistics.median(times[1:]), "first": times[0],
                             "log_prob": float(info.log_prob), "chunk_size": plan.placement.chunk_size}  # fmt: skip
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=float, default=2e6)
    parser.add_argument("--recording-frames", type=float, default=50_000)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations after one warm-up")
    parser.add_argument("--runs", default="1,2,4",
                        help="device counts or 'all', optionally -LIMIT for chunks (e.g. 4-1.5GB, all-4GB)")
    parser.add_argument("--host-devices", type=int, default=4, help="virtual CPU devices (ignored on accelerators)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    environment["XLA_FLAGS"] = f"{environment.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.host_devices}"
    command = [sys.executable, __file__, "--child", "--frames", str(args.frames), "--recording-frames",
               str(args.recording_frames), "--method", args.method, "--iters", str(args.iters), "--runs", args.runs]  # fmt: skip
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if completed.returncode:
        raise SystemExit(completed.stderr[-3000:])
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    reference = result["runs"][args.runs.split(",")[0]]["seconds"]
    for name, run in result["runs"].items():
        print(f"{result['backend']} {name:>10} device(s): {run['seconds']:.3f} s per iteration "
              f"(ratio {run['seconds'] / reference:.2f}), log p {run['log_prob']:.6g}, chunk {run['chunk_size']}")  # fmt: skip
    folder = ROOT / "benchmarks" / "results"
    folder.mkdir(exist_ok=True)
    (folder / "sharding.json").write_text(json.dumps(result | {"frames": args.frames, "method": args.method}, indent=1))


if __name__ == "__main__":
    main()
