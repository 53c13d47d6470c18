"""Input-driven transitions: simulation-based calibration of the exact coefficient update, and the acceptance fits.

1. SBC (Talts et al. 2018) of the weight update alone: for each of `--sims` simulations,
   draw one state's (intercept, weight) from the prior, simulate `--events` leave/stay
   events with a 0/1 input, run the independence-MH chain (`resample_coefficients`) for
   `--draws` × `--thin` steps, and rank the true value among the kept draws. Exact updates
   give uniform ranks: a χ² test over 10 bins for each coordinate.
2. Fits (`--fits`): a binary input doubles state 0's leaving rate (and a null input),
   input-driven versus sticky transitions: the effect intervals, flags and adjusted Rand
   indices, and the fit times.

Run: `nice -n 10 python benchmarks/bench_input_driven.py [--sims 300] [--fits]`.
"""

import argparse
import json
import resource
import time

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from scipy import stats

from smoseq.models import LeaveEvents, resample_coefficients

PRIOR_MEAN = jnp.array([-1.0, 0.0])
PRIOR_SD = jnp.array([1.0, 1.0])


def sbc_ranks(key, n_sims: int, n_events: int, n_draws: int, thin: int) -> np.ndarray:
    """(n_sims, 2) ranks of the true (intercept, weight) among `n_draws` posterior draws."""
    precision = PRIOR_SD**-2

    def one(key):
        k_true, k_x, k_y, k_chain = jr.split(key, 4)
        truth = PRIOR_MEAN + PRIOR_SD * jr.normal(k_true, (2,))
        x = jr.bernoulli(k_x, 0.5, (n_events,)).astype(float)
        design = jnp.stack([jnp.ones(n_events), x], axis=1)
        leave = jr.bernoulli(k_y, jax.nn.sigmoid(design @ truth)).astype(float)
        events = LeaveEvents(jnp.zeros(n_events, jnp.int32), leave, jnp.ones(n_events), design)

        def step(coefficients, key):
            coefficients, accepted = resample_coefficients(key, coefficients, events, PRIOR_MEAN, precision)
            return coefficients, (coefficients[0], accepted[0])

        start = truth[None]  # started at the truth: a stationary chain when the update is exact
        _, (chain, accepted) = jax.lax.scan(step, start, jr.split(k_chain, n_draws * thin))
        kept = chain[thin - 1 :: thin]
        return jnp.sum(kept < truth, axis=0), accepted.mean()

    ranks, accepted = jax.jit(jax.vmap(one))(jr.split(key, n_sims))
    return np.asarray(ranks), float(np.mean(accepted))


def sbc(n_sims: int, n_events: int, n_draws: int, thin: int, seed: int = 0) -> dict:
    """Ranks, their χ² uniformity p-values (10 bins) per coordinate, acceptance and time."""
    started = time.perf_counter()
    ranks, accepted = sbc_ranks(jr.key(seed), n_sims, n_events, n_draws, thin)
    bins = np.linspace(0, n_draws + 1, 11)
    p_values = [float(stats.chisquare(np.histogram(ranks[:, c], bins)[0]).pvalue) for c in range(2)]
    return {"sims": n_sims, "events": n_events, "draws": n_draws, "thin": thin, "p_intercept": p_values[0],
            "p_weight": p_values[1], "acceptance": accepted, "seconds": time.perf_counter() - started}  # fmt: skip


def acceptance_fit(rate_ratio: float, seed: int, n_iters: int = 200) -> dict:
    """Input-driven and sticky fits of one simulated dataset: effect table rows and adjusted Rand indices."""
    import smoseq as sm
    from smoseq.datasets import simulate_input_driven

    example = simulate_input_driven(n_recordings=6, n_frames=4000, rate_ratio=rate_ratio, seed=seed)
    truth = np.concatenate(list(example.states.values()))
    out = {"rate_ratio": rate_ratio, "seed": seed}
    for name in ("input_driven", "sticky"):
        started = time.perf_counter()
        fit = sm.fit(example.syllables, n_states=3, n_iters=n_iters, transitions=name, emissions="full_rank",
                     inputs=example.inputs if name == "input_driven" else None, kappa=100.0, seed=0, progress=False)  # fmt: skip
        found = np.concatenate([fit.states[key] for key in example.states])
        out[f"ari_{name}"] = float(sm.get_adjusted_rand(truth, found))
        out[f"seconds_{name}"] = time.perf_counter() - started
        if name == "input_driven":
            table = sm.compare_covariate_effects(fit)
            affected = int(np.bincount(found[truth == 0], minlength=3).argmax())
            expected = np.where(table["state"] == affected, rate_ratio, 1.0)
            out["covered"] = bool(((table["leave_rate_ratio_lower"] <= expected) & (expected <= table["leave_rate_ratio_upper"])).all())
            out["flagged_states"] = [int(s) for s in table["state"][table["flagged"]]]
            out["affected_state"] = affected
            out["ratios"] = [[round(float(v), 3) for v in row] for row in
                             table[["leave_rate_ratio", "leave_rate_ratio_lower", "leave_rate_ratio_upper"]].to_numpy()]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--draws", type=int, default=99)
    parser.add_argument("--thin", type=int, default=3)
    parser.add_argument("--fits", action="store_true", help="also run the acceptance fits (minutes)")
    parser.add_argument("--fit-seeds", type=int, nargs="*", default=[11])
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    print(json.dumps({"sbc": sbc(args.sims, args.events, args.draws, args.thin)}))
    if args.fits:
        for seed in args.fit_seeds:
            for ratio in (2.0, 1.0):
                print(json.dumps({"fit": acceptance_fit(ratio, seed)}))
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
