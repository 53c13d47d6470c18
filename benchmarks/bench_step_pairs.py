"""`sm.fit`'s Gibbs step in two source trees (or two emission updates), timed in alternation.

    git worktree add /tmp/wt-old <commit>
    python benchmarks/bench_step_pairs.py --tree old=/tmp/wt-old --tree new=. \\
        --tree new-exact=.:exact --rounds 30

One worker process per `--tree NAME=PATH[:exact|:laplace]` imports smoseq from PATH, builds
`bench_gibbs.py`'s data (21 recordings x `--frames` frames from a K = 10 low-rank HHMM,
`--syllables` S), starts the chain from the true states (`gibbs.init`) and compiles the
step `sm.fit` runs. Then, for `--rounds` rounds, each worker in turn (the order rotated
every round) times one step from that same starting state: every tree does the same work
on the same input, and the rounds interleave, so a shared machine's load falls on all of
them alike. `:laplace` asks for the Laplace emission update (`exact_emissions=False`),
`:exact` for the exact one; no suffix is the tree's own default. `--part emissions` times
the parameter half alone (`bench_gibbs.py`'s emission + transition update). A tree that predates
`FitSettings` (and the exact blocked update) runs its default, the Laplace update.

Printed per tree: median wall and CPU seconds (the process's user + system time, all
threads) per step, peak RSS, a fingerprint of the starting state (equal fingerprints: the same input), and the
median of the per-round ratios to the first tree, with the load average.
"""

import argparse
import json
import os
import subprocess
import sys
import time

N_SEQUENCES, N_STATES, WARMUP = 21, 10, 2


def worker(n_syllables: int, n_frames: int, update: str, part: str = "step") -> None:
    """Runs inside one tree: set up, then answer one timed step per line read."""
    import resource

    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from smoseq._threads import single_threaded_blas
    from smoseq.fitting.components import build_prior_model
    from smoseq.fitting.data import prepare_data
    from smoseq.inference import gibbs
    from smoseq.models import low_rank_hhmm

    truth = low_rank_hhmm(jr.key(0), N_STATES, n_syllables, kappa=1e6)
    states, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, N_SEQUENCES, n_frames))(truth, jr.key(1))
    prepared = prepare_data({f"r{i:02d}": np.asarray(syllables[i]) for i in range(N_SEQUENCES)}, seg_overlap=0)
    data = prepared.data
    model = build_prior_model(N_STATES, prepared.n_syllables, 1e5, 1.0, "low_rank", 1.0, 1.0, 1.0)
    start = gibbs.init(model, np.asarray(states), data)
    mode_search = _mode_search(update)
    step = gibbs.compiled_kernel(mode_search, "native", "host")
    if part == "emissions":  # the parameter half alone (`bench_gibbs.py`'s emission + transition update)
        resample = eqx.filter_jit(lambda k, m, s: m.resample(k, s, data, mode_search))
        step = lambda key, state, data: resample(key, state.model, state.states)  # noqa: E731
    leaves = [np.asarray(leaf, dtype=float) for leaf in jax.tree_util.tree_leaves(eqx.filter(start.model, eqx.is_array))]
    fingerprint = float(sum(np.nansum(leaf) for leaf in leaves))
    with single_threaded_blas():
        for repeat in range(WARMUP):
            jax.block_until_ready(step(jr.key(1000 + repeat), start, data))
        print(json.dumps({"ready": True, "fingerprint": fingerprint}), flush=True)
        for line in sys.stdin:
            key = int(line)
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(step(jr.key(key), start, data))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(json.dumps({"wall": wall, "cpu": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _mode_search(update: str):
    """The mode search `sm.fit` gives the step for `update` ("default", "laplace", "exact") in this tree."""
    from smoseq.fitting import loop

    try:
        from smoseq.fitting.settings import FitSettings
    except ImportError:  # a tree from before the exact blocked update: its default is the Laplace one
        if update == "exact":
            raise SystemExit("this tree has no exact blocked emission update") from None
        return loop.default_mode_search()

    exact = FitSettings(exact_emissions={"default": None, "laplace": False, "exact": True}[update]).uses_exact_emissions
    return loop.Sampler.create(None, "native", None, exact).mode_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH[:exact|:laplace]")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--syllables", type=int, default=50)
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--part", choices=("step", "emissions"), default="step", help="the whole step, or its parameter half alone")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(int(args.worker[0]), int(args.worker[1]), args.worker[2], args.worker[3])
        return
    if not args.tree:
        parser.error("give at least one --tree NAME=PATH")
    import numpy as np

    workers = {}
    for spec in args.tree:
        name, _, where = spec.partition("=")
        path, _, update = where.partition(":")
        path = os.path.abspath(path)
        command = [sys.executable, os.path.abspath(__file__), "--worker", str(args.syllables), str(args.frames), update or "default", args.part]
        process = subprocess.Popen(command, cwd=path, env=os.environ | {"PYTHONPATH": path}, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
        workers[name] = process
    fingerprints = {name: json.loads(_last_json(process))["fingerprint"] for name, process in workers.items()}
    print(f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the start; starting-state fingerprints {fingerprints}", flush=True)
    names, rows = list(workers), {name: [] for name in workers}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            workers[name].stdin.write(f"{round_}\n")
            workers[name].stdin.flush()
            rows[name].append(json.loads(_last_json(workers[name])))
    for process in workers.values():
        process.stdin.close()
        process.wait()
    first = names[0]
    print(f"{args.rounds} rounds, S = {args.syllables}, {N_SEQUENCES} x {args.frames:,} frames; "
          f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end")  # fmt: skip
    for name in names:
        wall, cpu = (np.array([row[k] for row in rows[name]]) for k in ("wall", "cpu"))
        ratio_wall = np.median(wall / np.array([row["wall"] for row in rows[first]]))
        ratio_cpu = np.median(cpu / np.array([row["cpu"] for row in rows[first]]))
        print(f"{name:>12}: wall {np.median(wall):.4f} s, cpu {np.median(cpu):.4f} s, peak RSS {rows[name][-1]['peak_rss_mb']:.0f} MB | "
              f"per-round ratio to {first}: wall {ratio_wall:.3f}, cpu {ratio_cpu:.3f}", flush=True)  # fmt: skip


def _last_json(process) -> str:
    """The next line of `process` that is a JSON object (JAX may print warnings before it)."""
    for line in process.stdout:
        if line.startswith("{"):
            return line
    raise RuntimeError(f"worker exited with {process.wait()}")


if __name__ == "__main__":
    main()
