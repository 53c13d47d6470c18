"""Cost and acceptance of the exact low-rank emission update (`ModeSearch(..., metropolis=True)`).

    python benchmarks/bench_exact_emissions.py                  # S = 50 and S = 100
    python benchmarks/bench_exact_emissions.py --sizes 50 --chain 10 --repeats 3

The benchmark data of `bench_gibbs.py`: 21 × 50,000 frames simulated from a K = 10
low-rank HHMM, fitted with K = 10. From the true states, `--warm-up` plain Gibbs
iterations (the `host` step `sm.fit` runs) reach a typical state; from that one state the
plain and the exact step (and their emission updates alone) are then timed alternately,
`--repeats` times each after a warm-up call, so that both see the same load (the machine
is shared: compare the ratio, not the seconds). Then the exact chain runs `--chain`
iterations on from there and reports its acceptance rate, mean acceptance probability and
mode-search steps. Each size runs in its own process.
"""

import argparse
import json
import subprocess
import sys
import time

N_SEQUENCES, N_STATES, N_FRAMES = 21, 10, 50_000


def run_case(n_syllables: int, warm_up: int, repeats: int, chain: int) -> dict:
    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from smoseq._threads import single_threaded_blas
    from smoseq.fitting.components import build_prior_model
    from smoseq.fitting.data import prepare_data
    from smoseq.fitting.loop import default_mode_search
    from smoseq.inference import gibbs
    from smoseq.models import low_rank_hhmm

    truth = low_rank_hhmm(jr.key(0), N_STATES, n_syllables, kappa=1e6)
    states, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, N_SEQUENCES, N_FRAMES))(truth, jr.key(1))
    prepared = prepare_data({f"r{i:02d}": np.asarray(syllables[i]) for i in range(N_SEQUENCES)}, seg_overlap=0)
    data = prepared.data
    model = build_prior_model(N_STATES, prepared.n_syllables, 1e5, 1.0, "low_rank", 1.0, 1.0, 1.0)
    state = gibbs.init(model, np.asarray(states), data)
    plain_search = default_mode_search()
    exact_search = plain_search._replace(metropolis=True)
    steps = {name: gibbs.compiled_kernel(search, "native", "host") for name, search in
             (("plain", plain_search), ("exact", exact_search))}  # fmt: skip
    emissions = {name: eqx.filter_jit(lambda k, m, s, search=search: m.resample(k, s, data, search)) for name, search in
                 (("plain", plain_search), ("exact", exact_search))}  # fmt: skip

    times = {f"{part}_{name}": [] for part in ("iteration", "emissions") for name in steps}
    with single_threaded_blas():
        for iteration in range(warm_up):
            state, _ = steps["plain"](jr.key(100 + iteration), state, data)
        for name in steps:  # compile and warm up
            jax.block_until_ready(steps[name](jr.key(0), state, data))
            jax.block_until_ready(emissions[name](jr.key(0), state.model, state.states))
        for repeat in range(repeats):
            for name in steps:
                started = time.perf_counter()
                jax.block_until_ready(emissions[name](jr.key(repeat + 1), state.model, state.states))
                times[f"emissions_{name}"].append(time.perf_counter() - started)
                started = time.perf_counter()
                jax.block_until_ready(steps[name](jr.key(repeat + 1), state, data))
                times[f"iteration_{name}"].append(time.perf_counter() - started)
        accepted, probabilities, search_steps = [], [], []
        plain_steps = int(emissions["plain"](jr.key(0), state.model, state.states)[1].n_steps)
        for iteration in range(chain):
            _, emission_info = emissions["exact"](jr.key(1000 + iteration), state.model, state.states)
            search_steps.append(int(emission_info.n_steps))
            state, info = steps["exact"](jr.key(1000 + iteration), state, data)
            accepted.append(bool(info.emission_accepted))
            probabilities.append(float(info.emission_acceptance_prob))
    result = {name: float(np.median(values)) for name, values in times.items()}
    return result | {
        "S": n_syllables, "acceptance_rate": float(np.mean(accepted)), "mean_acceptance_prob": float(np.mean(probabilities)),
        "acceptance_probs": probabilities, "exact_search_steps": float(np.median(search_steps)),
        "plain_search_steps": plain_steps,
    }  # fmt: skip


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--case":
        print(json.dumps(run_case(*map(int, sys.argv[2:]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chain", type=int, default=20)
    args = parser.parse_args()
    print(f"21 x 50,000 frames, K = {N_STATES}; medians of {args.repeats} alternating runs after {args.warm_up} plain iterations")
    print(f"{'S':>4} {'iteration plain/exact s':>24} {'ratio':>6} {'emissions plain/exact s':>24} {'ratio':>6} "
          f"{'L-BFGS steps plain/exact':>25} {'acceptance':>11} {'mean prob':>10}")  # fmt: skip
    for n_syllables in args.sizes:
        command = [sys.executable, __file__, "--case", str(n_syllables), str(args.warm_up), str(args.repeats), str(args.chain)]
        row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        print(f"{row['S']:>4} {row['iteration_plain']:>11.3f} / {row['iteration_exact']:<10.3f} "
              f"{row['iteration_exact'] / row['iteration_plain']:>6.1f} {row['emissions_plain']:>11.3f} / "
              f"{row['emissions_exact']:<10.3f} {row['emissions_exact'] / row['emissions_plain']:>6.1f} "
              f"{row['plain_search_steps']:>12} / {row['exact_search_steps']:<10.0f} {row['acceptance_rate']:>11.2f} "
              f"{row['mean_acceptance_prob']:>10.3f}", flush=True)  # fmt: skip
        print("     acceptance probabilities: " + " ".join(f"{p:.2g}" for p in row["acceptance_probs"]), flush=True)


if __name__ == "__main__":
    main()
