"""Cost, acceptance and mixing of the blocked exact emission update against the Laplace-approximate one.

    python benchmarks/bench_blocked_emissions.py                   # S = 50 and S = 100
    python benchmarks/bench_blocked_emissions.py --sizes 50 --chain 30 --repeats 3

The data of `bench_gibbs.py`: 21 × 50,000 frames simulated from a K = 10 low-rank HHMM,
fitted with K = 10. From the true states, `--warm-up` plain Gibbs iterations (the `host`
step `sm.fit` runs) reach a typical state. From there, timed alternately `--repeats`
times after a warm-up call (the machine may be shared: compare the ratios):

- the parameter half of an iteration (emissions, transitions, initial state) with the
  plain Laplace emission update (`HHMM.resample`) and with the blocked exact one
  (`smoseq.models.exact_emissions.sample_exact_emissions`);
- the native state update, and the whole step `sm.fit` runs (`gibbs` `host` kernel) with
  each emission update (`ModeSearch.emission_update` "laplace" and "exact_blocked").

Then both chains run `--chain` iterations on from the same state, one iteration of each in
turn; reported: the median seconds per iteration of each chain, the exact update's
acceptance (mean over iterations of the rows' mean and of the worst row's fraction of
proposals accepted, and of the bias block's) and the effective sample size of
log p(x | θ) per second of each chain (autocorrelation with Geyer's initial positive
sequence; short chains give rough ESS). Each size runs in its own process.
"""

import argparse
import json
import subprocess
import sys
import time

N_SEQUENCES, N_STATES, N_FRAMES = 21, 10, 50_000


def effective_sample_size(values) -> float:
    """ESS of a scalar chain: n / τ, τ = −1 + 2 Σ Γ_m over Geyer's initial positive sequence Γ_m = ρ_2m + ρ_2m+1."""
    import numpy as np

    x = np.asarray(values, float) - np.mean(values)
    n = len(x)
    if n < 4 or np.var(x) == 0:
        return float("nan")
    spectrum = np.fft.rfft(x, 2 * n)
    autocorrelation = np.fft.irfft(spectrum * np.conj(spectrum))[:n] / (n * np.var(x))
    pair_sums = autocorrelation[: n - n % 2].reshape(-1, 2).sum(axis=1)  # Γ_m = ρ_2m + ρ_2m+1
    positive = np.cumprod(pair_sums > 0).astype(bool)
    integrated_time = -1.0 + 2.0 * np.sum(pair_sums[positive])
    return float(n / max(integrated_time, 1e-12))


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
    from smoseq.inference.states import sample_states
    from smoseq.models import low_rank_hhmm
    from smoseq.models.exact_emissions import sample_exact_emissions

    truth = low_rank_hhmm(jr.key(0), N_STATES, n_syllables, kappa=1e6)
    states, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, N_SEQUENCES, N_FRAMES))(truth, jr.key(1))
    prepared = prepare_data({f"r{i:02d}": np.asarray(syllables[i]) for i in range(N_SEQUENCES)}, seg_overlap=0)
    data = prepared.data
    model = build_prior_model(N_STATES, prepared.n_syllables, 1e5, 1.0, "low_rank", 1.0, 1.0, 1.0)
    state = gibbs.init(model, np.asarray(states), data)
    search = default_mode_search()
    plain_step = gibbs.compiled_kernel(search, "native", "host")

    @eqx.filter_jit
    def plain_parameters(key, model, states):
        return model.resample(key, states, data, search)[0]

    @eqx.filter_jit
    def blocked_parameters(key, model, states):
        k_emit, k_trans, k_init = jr.split(key, 3)
        emissions = model.emissions
        statistics = emissions.statistics(states, data)  # TableStatistics: counts and the possible transitions
        base, biases, info = sample_exact_emissions(
            k_emit, emissions.base, emissions.biases, statistics.counts, emissions.base_prior, emissions.bias_prior,
            statistics.possible,
        )  # fmt: skip
        transitions, _ = model.transitions.resample(k_trans, model.transitions.statistics(states, data))
        initial, _ = model.initial.resample(k_init, model.initial.statistics(states, data))
        updated = eqx.tree_at(lambda m: (m.emissions.base, m.emissions.biases, m.transitions, m.initial), model,
                              (base, biases, transitions, initial))  # fmt: skip
        return updated, info

    def states_only(key, model):
        return sample_states(key, model, data, "native")

    exact_step = gibbs.compiled_kernel(search._replace(emission_update="exact_blocked"), "native", "host")
    timed = {
        "parameters_plain": lambda k: plain_parameters(k, state.model, state.states),
        "parameters_blocked": lambda k: blocked_parameters(k, state.model, state.states),
        "states": lambda k: states_only(k, state.model),
        "iteration_plain": lambda k: plain_step(k, state, data),
        "iteration_exact": lambda k: exact_step(k, state, data),
    }
    times = {name: [] for name in timed}
    with single_threaded_blas():
        for iteration in range(warm_up):
            state, _ = plain_step(jr.key(100 + iteration), state, data)
        for function in timed.values():
            jax.block_until_ready(function(jr.key(0)))
        for repeat in range(repeats):
            for name, function in timed.items():
                started = time.perf_counter()
                jax.block_until_ready(function(jr.key(repeat + 1)))
                times[name].append(time.perf_counter() - started)

        # Both chains from the same state, one iteration of each in turn (load drifts hit both alike).
        chains = {"plain": (plain_step, state), "exact": (exact_step, state)}
        logliks, seconds, acceptance = {"plain": [], "exact": []}, {"plain": [], "exact": []}, []
        for iteration in range(chain):
            for name, (step, chain_state) in chains.items():
                started = time.perf_counter()
                chain_state, info = step(jr.key(1000 + iteration), chain_state, data)
                logliks[name].append(float(info.marginal_loglik))
                seconds[name].append(time.perf_counter() - started)
                chains[name] = (step, chain_state)
            emissions = info.updates.emissions
            acceptance.append([float(emissions.row_accepted), float(emissions.row_accepted_min),
                               float(emissions.bias_accepted)])  # fmt: skip
    medians = {name: float(np.median(values)) for name, values in times.items()}
    medians["iteration_blocked"] = medians["states"] + medians["parameters_blocked"]
    rows, worst, biases = np.mean(acceptance, axis=0)
    return medians | {
        "S": n_syllables, "row_acceptance": float(rows), "worst_row_acceptance": float(worst),
        "bias_acceptance": float(biases),
        "ess_plain": effective_sample_size(logliks["plain"]), "ess_exact": effective_sample_size(logliks["exact"]),
        "ess_per_s_plain": effective_sample_size(logliks["plain"]) / np.sum(seconds["plain"]),
        "ess_per_s_blocked": effective_sample_size(logliks["exact"]) / np.sum(seconds["exact"]),
        "chain_s_per_iteration_plain": float(np.median(seconds["plain"])),
        "chain_s_per_iteration_blocked": float(np.median(seconds["exact"])),
    }  # fmt: skip


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--case":
        print(json.dumps(run_case(*map(int, sys.argv[2:]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chain", type=int, default=60)
    args = parser.parse_args()
    print(f"21 x 50,000 frames, K = {N_STATES}; medians of {args.repeats} alternating runs after {args.warm_up} plain "
          f"iterations; chains of {args.chain} iterations")  # fmt: skip
    for n_syllables in args.sizes:
        command = [sys.executable, __file__, "--case", str(n_syllables), str(args.warm_up), str(args.repeats), str(args.chain)]
        row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        print(f"S={row['S']}: parameters plain {row['parameters_plain']:.3f} s / blocked {row['parameters_blocked']:.3f} s; "
              f"states {row['states']:.3f} s; iteration (host step) plain {row['iteration_plain']:.3f} s, "
              f"exact {row['iteration_exact']:.3f} s: ratio {row['iteration_exact'] / row['iteration_plain']:.2f}; "
              f"chains (median s/iteration) plain {row['chain_s_per_iteration_plain']:.3f}, exact "
              f"{row['chain_s_per_iteration_blocked']:.3f}: ratio "
              f"{row['chain_s_per_iteration_blocked'] / row['chain_s_per_iteration_plain']:.2f}; states + blocked "
              f"parameters {row['iteration_blocked']:.3f} s "
              f"(against states + plain parameters: "
              f"{row['iteration_blocked'] / (row['states'] + row['parameters_plain']):.2f}); acceptance rows "
              f"{row['row_acceptance']:.2f} (worst row of each iteration, mean {row['worst_row_acceptance']:.2f}), biases "
              f"{row['bias_acceptance']:.2f}; ESS/s of log p(x|θ): plain {row['ess_per_s_plain']:.2f}, "
              f"blocked {row['ess_per_s_blocked']:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
