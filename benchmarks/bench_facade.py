"""The published tutorial's fitting loop through the seed-compatible facade, timed.

The loop of the example-data tutorial, verbatim but for `state_moseq` -> `smoseq`
(`resample_params` with Adam at `emission_gd_lr = 5e-3`, at most
`emission_gd_iters = 1000` steps; `resample_states`; `log_params_prob`; one history
segment copied to the host), on 21 recordings x 50,000 frames simulated from a K = 10
low-rank HHMM, random initial states as in the tutorial. Reported per case: median
seconds per iteration after 3 warm-up iterations (compilation excluded), the optimizer
steps taken, and peak RSS (each case in its own process). For the published package on the same data,
run `compare_published.py --what speed`.

    python benchmarks/bench_facade.py                # S = 50 and S = 100
    python benchmarks/bench_facade.py --case 50 10   # one case: S, timed iterations
"""

import json
import resource
import subprocess
import sys
import time

N_SEQUENCES, N_FRAMES, N_STATES, WARMUP = 21, 50_000, 10, 3


def run_case(n_syllables: int, n_iters: int) -> dict:
    import equinox as eqx
    import jax.random as jr
    import numpy as np

    import smoseq
    from smoseq.hhmm_efficient import log_params_prob, resample_params, resample_states
    from smoseq.models import low_rank_hhmm

    truth = low_rank_hhmm(jr.key(0), N_STATES, n_syllables, kappa=1e6)
    _, syllables = eqx.filter_jit(lambda m, k: m.simulate(k, N_SEQUENCES, N_FRAMES))(truth, jr.key(1))
    recordings = {f"r{i:02d}": np.asarray(syllables[i]) for i in range(N_SEQUENCES)}
    seqs, mask, _ = smoseq.batch(recordings, seg_length=None)
    hypparams = {
        "n_states": N_STATES, "emission_base_sigma": 1, "emission_biases_sigma": 1, "trans_beta": 1,
        "trans_kappa": 6e5, "n_syllables": n_syllables, "emission_gd_iters": 1000, "emission_gd_lr": 5e-3,
        "random_seed": 0,
    }  # fmt: skip
    data = {"syllables": np.asarray(seqs), "mask": np.asarray(mask)}
    seed = jr.PRNGKey(0)
    states = jr.randint(seed, data["syllables"].shape, 0, hypparams["n_states"])

    params, times, steps, log_probs, history = None, [], [], [], []
    for iteration in range(WARMUP + n_iters):
        started = time.perf_counter()
        seed, subseed = jr.split(seed)
        params, losses = resample_params(subseed, data, states, hypparams, params)
        states, marginal_loglik = resample_states(seed, data, params, False)
        log_probs.append(log_params_prob(params, hypparams).item() + marginal_loglik.item())
        history.append(np.array(states[0][mask[0] > 0]))
        if iteration >= WARMUP:
            times.append(time.perf_counter() - started)
            steps.append(len(losses))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"S": n_syllables, "seconds_per_iteration": float(np.median(times)), "adam_steps": steps,
            "final_log_prob": log_probs[-1], "peak_rss_mb": peak_mb}  # fmt: skip


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        print(json.dumps(run_case(int(sys.argv[2]), int(sys.argv[3]))))
        return
    print(f"{'S':>4} {'s/iteration':>12} {'Adam steps (median)':>20} {'peak RSS MB':>12}")
    for n_syllables in (50, 100):
        output = subprocess.run(
            [sys.executable, __file__, "--case", str(n_syllables), "10"], capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(output.strip().splitlines()[-1])
        median_steps = sorted(row["adam_steps"])[len(row["adam_steps"]) // 2]
        print(f"{n_syllables:4d} {row['seconds_per_iteration']:12.3f} {median_steps:20d} "
              f"{row['peak_rss_mb']:12.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
