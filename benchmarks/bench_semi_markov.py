"""Benchmark the cost of explicit-duration states against the number of phases r.

`transitions="semi_markov"` runs the unchanged kernels on K·r phase-states, so the
forward filter and the backward sampler cost O(T (K·r)²) per sequence: the (K·r, K·r)
matrix is dense to the kernels although only 2 entries per row (3 in a state's last
phase, K in all) are non-zero. Emissions are shared across phases: the native kernel
looks up the (K·r, S, S) repeated tables, and the emission update runs on K states.

For r in 1, 2, 4, 8 (K = 10 behavioural states, S = 25 syllables, N × T frames) this
measures the marginal log-likelihood (forward filter) with the native and serial
kernels, and one Gibbs step of a full-rank model (parameters, then states, native
host sampler): median of `--repeats` runs after a warm-up, in seconds, and the peak
resident memory of the process (MiB) after each row.

Run: `nice -n 10 .venv/bin/python benchmarks/bench_semi_markov.py [--n 8] [--t 2000] [--k 10] [--repeats 5]`
"""

import argparse
import resource
import time

import equinox as eqx
import jax
import jax.random as jr
import numpy as np

from smoseq.inference import gibbs
from smoseq.inference.states import marginal_logliks
from smoseq.models import HHMM, FullRankEmissions, SemiMarkovTransitions, SyllableData


def _median_seconds(function, repeats: int) -> float:
    jax.block_until_ready(function())  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(function())
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="sequences")
    parser.add_argument("--t", type=int, default=2000, help="frames per sequence")
    parser.add_argument("--k", type=int, default=10, help="behavioural states")
    parser.add_argument("--s", type=int, default=25, help="syllables")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = SyllableData(rng.integers(0, args.s, size=(args.n, args.t)), np.ones((args.n, args.t)))
    inner = FullRankEmissions.from_prior(jr.key(0), args.k, args.s)
    print(f"N={args.n} T={args.t} K={args.k} S={args.s}; median of {args.repeats} runs, seconds")
    print(f"{'r':>3} {'K·r':>5} {'filter native':>14} {'filter serial':>14} {'gibbs step':>11} {'peak MiB':>9}")
    for r in args.phases:
        transitions = SemiMarkovTransitions.create(args.k, n_phases=r).sample_prior(jr.key(1))
        model = HHMM(transitions.emissions_for(inner), transitions)
        native = _median_seconds(lambda: marginal_logliks(model, data, "native"), args.repeats)
        serial_fn = eqx.filter_jit(lambda m: marginal_logliks(m, data, "serial"))
        serial = _median_seconds(lambda: serial_fn(model), args.repeats)
        step = gibbs.build_kernel(method="native", strategy="host")
        state = gibbs.init(model, transitions.hidden_states(rng.integers(0, args.k, size=(args.n, args.t))), data)
        step_seconds = _median_seconds(lambda: step(jr.key(2), state, data)[0].states, args.repeats)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{r:>3} {args.k * r:>5} {native:>14.4f} {serial:>14.4f} {step_seconds:>11.4f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
