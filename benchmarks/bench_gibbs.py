"""Per-iteration time of the Gibbs sampler, split into emissions and states, and peak memory.

    python benchmarks/bench_gibbs.py            # the three DESIGN §7 sizes
    python benchmarks/bench_gibbs.py --quick    # 21 x 50,000 frames, S = 50 only
    python benchmarks/bench_gibbs.py --laplace  # with the Laplace emission update (exact_emissions=False)

Each case runs in its own process (so peak RSS is that case's alone): simulated data
from a K = 10 low-rank HHMM, one warm-up iteration, then the median of 5 iterations of
(a) the emission + transition update, (b) the native state update, (c) the whole step,
with `sm.fit`'s default emission update (`--case S FRAMES --laplace`: the Laplace one).
"""

import json
import resource
import subprocess
import sys
import time

CASES = [(50, 50_000), (100, 50_000), (50, 432_000)]
N_SEQUENCES, N_STATES, REPEATS = 21, 10, 5


def run_case(n_syllables: int, n_frames: int) -> dict:
    import equinox as eqx
    import jax
    import jax.random as jr
    import numpy as np

    from smoseq._threads import single_threaded_blas
    from smoseq.fitting.components import build_prior_model
    from smoseq.fitting.data import prepare_data
    from smoseq.fitting.loop import Sampler
    from smoseq.fitting.settings import FitSettings
    from smoseq.inference import gibbs
    from smoseq.inference.states import sample_states
    from smoseq.models import low_rank_hhmm

    truth = low_rank_hhmm(jr.key(0), N_STATES, n_syllables, kappa=1e6)
    states, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, N_SEQUENCES, n_frames))(truth, jr.key(1))
    prepared = prepare_data({f"r{i:02d}": np.asarray(syllables[i]) for i in range(N_SEQUENCES)}, seg_overlap=0)
    data = prepared.data
    model = build_prior_model(N_STATES, prepared.n_syllables, 1e5, 1.0, "low_rank", 1.0, 1.0, 1.0)
    state = gibbs.init(model, np.asarray(states), data)
    # sm.fit's default emission update (exact blocked, or Laplace with `--laplace` as the second argument)
    exact = FitSettings(exact_emissions=False if "--laplace" in sys.argv else None).uses_exact_emissions
    mode_search = Sampler.create(None, "native", None, exact).mode_search
    step = gibbs.compiled_kernel(mode_search, "native", "host")  # the step sm.fit runs (host-side native sampler)
    params_only = eqx.filter_jit(lambda k, m, s: m.resample(k, s, data, mode_search))
    states_only = eqx.filter_jit(lambda k, m: sample_states(k, m, data, "native"))

    def median_time(function):
        jax.block_until_ready(function(0))
        times = []
        for repeat in range(REPEATS):
            started = time.perf_counter()
            jax.block_until_ready(function(repeat + 1))
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    with single_threaded_blas():
        state, _ = step(jr.key(0), state, data)
        emissions = median_time(lambda i: params_only(jr.key(i), state.model, state.states))
        sampling = median_time(lambda i: states_only(jr.key(i), state.model))
        whole = median_time(lambda i: step(jr.key(i), state, data))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"S": n_syllables, "frames": N_SEQUENCES * n_frames, "emissions_s": emissions, "states_s": sampling,
            "iteration_s": whole, "peak_rss_mb": peak_mb, "emission_update": mode_search.emission_update}


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(int(sys.argv[2]), int(sys.argv[3]))))
        return
    cases = CASES[:1] if "--quick" in sys.argv else CASES
    print(f"{'S':>4} {'frames':>11} {'emissions s':>12} {'states s':>9} {'iteration s':>12} {'peak RSS MB':>12}")
    for n_syllables, n_frames in cases:
        output = subprocess.run(
            [sys.executable, __file__, "--case", str(n_syllables), str(n_frames), *(["--laplace"] if "--laplace" in sys.argv else [])],
            capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(output.strip().splitlines()[-1])
        print(f"{row['S']:>4} {row['frames']:>11,} {row['emissions_s']:>12.3f} {row['states_s']:>9.3f} "
              f"{row['iteration_s']:>12.3f} {row['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
