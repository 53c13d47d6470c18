"""Time of the post-fit steps on a fit of realistic size: distances between states, the
dendrogram's linkage, merging two states (low-rank and full-rank), and the transition graphs.

    python benchmarks/bench_state_findings.py [--states 20] [--syllables 100] [--repeats 5]

Medians of `--repeats` runs after one warm-up; the states are 21 recordings × 50,000 frames
(random, the size of DESIGN §7's benchmark data). Nothing here samples, so no JAX program
is compiled inside the timings.
"""

import argparse
import statistics
import time

import numpy as np

import smoseq as sm
from smoseq.fitting import FitResult
from smoseq.models import HHMM, FullRankEmissions, LowRankEmissions, StickyTransitions


def median_seconds(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=20)
    parser.add_argument("--syllables", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    K, S = args.states, args.syllables
    rng = np.random.default_rng(0)
    transitions = StickyTransitions(rng.dirichlet(np.ones(K) + 200 * np.eye(K)[0], size=K))
    states = {f"r{i}": np.repeat(rng.integers(0, K, 500), 100).astype(np.int32) for i in range(21)}
    models = {
        "low-rank": HHMM(LowRankEmissions(rng.normal(size=(S, S - 1)), 2 * rng.normal(size=(K - 1, S - 1))), transitions),
        "full-rank": HHMM(FullRankEmissions(rng.dirichlet(np.full(S, 0.3), size=(K, S))), transitions),
    }
    print(f"K = {K}, S = {S}, {sum(len(s) for s in states.values())} frames; median of {args.repeats} runs")
    for name, model in models.items():
        result = FitResult(model, states, np.zeros(1), np.zeros(0), np.zeros((1, 10), np.int16), {"n_states": K})
        print(f"{name:9s} state_distances {median_seconds(lambda: sm.state_distances(result), args.repeats):8.3f} s")
        print(f"{name:9s} merge_states    {median_seconds(lambda: sm.merge_states(result, [[0, 1]]), args.repeats):8.3f} s")
    print(f"transition_graphs (states) {median_seconds(lambda: sm.transition_graphs(states, num_states=K), args.repeats):8.3f} s")


if __name__ == "__main__":
    main()
