"""Input-driven transitions: simulation-based calibration of the exact coefficient update, and the acceptance fits.

1. SBC (Talts et al. 2018) of the leaving update alone (and of the destination update:
   K = 3, one 0/1 input, `--events` exits, ranks of b₀₁, v₀₁ and p(0 → 1 | on)): for each of `--sims` simulations,
   draw one state's (intercept, weight) from the prior, simulate `--events` leave/stay
   events with a 0/1 input, run the independence-MH chain (`resample_coefficients`) for
   `--draws` × `--thin` steps, and rank the true value among the kept draws. Exact updates
   give uniform ranks: a χ² test over 10 bins for each coordinate.
2. Fits (`--fits`): a binary input doubles state 0's leaving rate (and a null input),
   input-driven versus sticky transitions: the effect intervals, flags and adjusted Rand
   indices, and the fit times.

3. Calibration at the defaults (`--calibration N`): N datasets from a generator that is not
   the model (semi-Markov Gamma(3) bout lengths whose clock a light speeds up, syllables of
   about 2 frames, 6 recordings × 2000 frames, K = 3, S = 10, each state's syllable
   preferences N(0, 3²) on a shared chain), cycling through four
   scenarios: the light doubles state 0's leaving rate; null; the light shifts where state 0
   goes (to state 1 with probability 0.8 instead of 0.5); null. Each is fitted by
   `sm.fit(..., n_states=3, transitions="input_driven", inputs=...)` at every other default,
   fitted states matched to true ones by the Hungarian assignment, and every 95 % interval
   of `sm.compare_covariate_effects` checked against the truth: coverage, the false-positive
   rate of the effects that are truly null, the power of the planted ones, and the
   adjusted Rand index against a default sticky fit (every 4th dataset). `--first N` runs a
   slice (datasets N, N+1, ...); `--save-counts DIR` keeps each fit's draws of the feature
   counts (states in the true order), the true states' counts and the truths, and
   `--rescore DIR` recomputes the summary from them with the current estimator, without
   fitting (`--oracle`: on the true states).

Run: `nice -n 10 python benchmarks/bench_input_driven.py [--sims 300] [--fits] [--calibration 64]`.
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

from smoseq.models import DestinationEvents, LeaveEvents, resample_coefficients, resample_destinations

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


def destination_sbc_ranks(key, n_sims: int, n_exits: int, n_draws: int, thin: int, beta: float = 1.0) -> tuple:
    """(n_sims, 3) ranks of the true b₀₁, v₀₁ and p(0 → 1 | light on) among posterior draws of the destination update.

    K = 3 states, one 0/1 input; the destination coefficients are drawn from their prior
    (log-Gamma(β) intercepts, N(0, 1) weights), `n_exits` exits simulated from uniformly
    drawn origins, and the `resample_destinations` chain started at the truth.
    """
    n_states = 3
    mean, precision = jnp.zeros(2), jnp.array([0.0, 1.0])
    off = (1 - jnp.eye(n_states))[..., None]

    def one(key):
        k_b, k_v, k_o, k_x, k_d, k_chain = jr.split(key, 6)
        truth = jnp.stack([jnp.log(jr.gamma(k_b, beta, (n_states, n_states))), jr.normal(k_v, (n_states, n_states))], -1) * off
        origin = jr.randint(k_o, (n_exits,), 0, n_states)
        x = jr.bernoulli(k_x, 0.5, (n_exits,)).astype(float)
        design = jnp.stack([jnp.ones(n_exits), x], axis=1)
        logits = jnp.einsum("mp,mkp->mk", design, truth[origin])
        logits = jnp.where(jnp.arange(n_states) == origin[:, None], -jnp.inf, logits)
        destination = jr.categorical(k_d, logits)
        events = DestinationEvents(origin, destination, jnp.ones(n_exits), design)

        def step(coefficients, key):
            coefficients, accepted = resample_destinations(key, coefficients, events, mean, precision, beta)
            return coefficients, (summary(coefficients), accepted.mean())

        _, (chain, accepted) = jax.lax.scan(step, truth, jr.split(k_chain, n_draws * thin))
        kept = chain[thin - 1 :: thin]
        return jnp.sum(kept < summary(truth), axis=0), accepted.mean()

    def summary(coefficients):
        on = coefficients[0, :, 0] + coefficients[0, :, 1]
        p_on = jnp.exp(on[1]) / (jnp.exp(on[1]) + jnp.exp(on[2]))
        return jnp.stack([coefficients[0, 1, 0], coefficients[0, 1, 1], p_on])

    ranks, accepted = jax.jit(jax.vmap(one))(jr.split(key, n_sims))
    return np.asarray(ranks), float(np.mean(accepted))


def destination_sbc(n_sims: int, n_exits: int, n_draws: int, thin: int, seed: int = 0) -> dict:
    """Ranks of the destination update's SBC, χ² uniformity p-values (10 bins), acceptance and time."""
    started = time.perf_counter()
    ranks, accepted = destination_sbc_ranks(jr.key(seed), n_sims, n_exits, n_draws, thin)
    bins = np.linspace(0, n_draws + 1, 11)
    p_values = [float(stats.chisquare(np.histogram(ranks[:, c], bins)[0]).pvalue) for c in range(3)]
    return {"sims": n_sims, "exits": n_exits, "draws": n_draws, "thin": thin, "p_intercept": p_values[0],
            "p_weight": p_values[1], "p_probability_on": p_values[2], "acceptance": accepted,
            "seconds": time.perf_counter() - started}  # fmt: skip


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


SCENARIOS = ("leave", "null", "destination", "null")


def calibration_fit(index: int, n_iters: int = 100, sticky: bool = False, save: str | None = None) -> dict:
    """One simulated dataset of the calibration study fitted at the defaults: every interval against its truth.

    With `save` a folder, writes `d{index:04d}.npz`: the fit's `feature_draws` and the true
    states' counts, both with states in the true order, and the truths (`--rescore` reads them).
    """
    import smoseq as sm
    from scipy.optimize import linear_sum_assignment

    from smoseq.datasets import simulate_input_driven

    scenario = SCENARIOS[index % len(SCENARIOS)]
    example = simulate_input_driven(
        n_recordings=6, n_frames=2000, n_states=3, n_syllables=10, leave=0.02, block=200, seed=1000 + index,
        duration_shape=3.0, syllable_frames=2.0, state_bias=3.0, rate_ratio=2.0 if scenario == "leave" else 1.0,
        destination_shift=0.6 if scenario == "destination" else 0.0,
    )  # fmt: skip
    truth = np.concatenate(list(example.states.values()))
    started = time.perf_counter()
    fit = sm.fit(example.syllables, n_states=3, n_iters=n_iters, transitions="input_driven", inputs=example.inputs,
                 seed=index, progress=False)  # fmt: skip
    seconds = time.perf_counter() - started
    found = np.concatenate([fit.states[key] for key in example.states])
    overlap = np.array([[np.sum((found == k) & (truth == j)) for j in range(3)] for k in range(3)])
    fitted, true = linear_sum_assignment(-overlap)
    order = np.empty(3, int)
    order[true] = fitted  # order[j]: the fitted state matched to true state j
    off, on = example.destinations  # (2, K, K): input off, on
    record = {"draws": np.asarray(fit.feature_draws)[..., order, :][..., order], "rows": fit.feature_rows,
              "centre": np.asarray(fit.model.transitions.centre), "names": np.array(fit.model.transitions.names),
              "true_counts": true_counts(example, list(fit.states), fit.feature_rows), "rate_ratio": example.rate_ratio,
              "on_off": np.divide(on, off, out=np.ones_like(on), where=off > 0), "scenario": scenario,
              "ari": sm.get_adjusted_rand(truth, found), "seconds": seconds}  # fmt: skip
    if save:
        np.savez(f"{save}/d{index:04d}.npz", **record)
    out = {"index": index, "scenario": scenario, "ari": float(record["ari"]), "seconds": seconds, "checks": score(record)}
    if sticky:
        plain = sm.fit(example.syllables, n_states=3, n_iters=n_iters, seed=index, progress=False)
        out["ari_sticky"] = float(sm.get_adjusted_rand(truth, np.concatenate([plain.states[key] for key in example.states])))
    return out


def true_counts(example, keys: list, rows: np.ndarray) -> np.ndarray:
    """(R, U, K, K) transition counts of the true states split by the entered frame's input (0/1 rows)."""
    K = len(example.rate_ratio)
    counts = np.zeros((len(keys), len(rows), K, K))
    for r, key in enumerate(keys):
        states, light = example.states[key], example.inputs[key]["light"]
        codes = np.searchsorted(rows[:, 0], light)
        np.add.at(counts[r], (codes[1:], states[:-1], states[1:]), 1)
    return counts


def score(record, oracle: bool = False) -> list[dict]:
    """Every interval of the effects table (of the fit's draws, or of the true states) against its truth."""
    from smoseq.metrics.covariate_effects import covariate_effects_table

    counts = record["true_counts"] if oracle else record["draws"]
    table = covariate_effects_table(counts, record["rows"], list(record["names"]), record["centre"])
    checks = []
    for row in table.itertuples():
        expected = float(record["rate_ratio"][row.state] if row.kind == "leave" else record["on_off"][row.state, row.to_state])
        checks.append({"kind": row.kind, "planted": expected != 1.0, "covered": bool(row.ratio_lower <= expected <= row.ratio_upper),
                       "excludes_one": bool(row.ratio_lower > 1 or row.ratio_upper < 1), "flagged": bool(row.flagged)})  # fmt: skip
    return checks


def rescore(folder: str, oracle: bool = False) -> list[dict]:
    """The saved fits of `--save-counts` scored again with the current estimator (or on their true states)."""
    import glob

    fits = []
    for path in sorted(glob.glob(f"{folder}/d*.npz")):
        record = dict(np.load(path))
        fits.append({"index": int(path[-8:-4]), "scenario": str(record["scenario"]), "ari": float(record["ari"]),
                     "seconds": float(record["seconds"]), "checks": score(record, oracle)})  # fmt: skip
    return fits


def calibration_summary(fits: list[dict]) -> dict:
    """Coverage of every interval, false-positive rate of the null effects, power of the planted ones."""
    checks = [c | {"scenario": f["scenario"]} for f in fits for c in f["checks"]]

    def rate(selected, key):
        values = [c[key] for c in selected]
        return {"rate": float(np.mean(values)) if values else None, "n": len(values)}

    null = [c for c in checks if not c["planted"]]
    planted = [c for c in checks if c["planted"]]
    null_datasets = [f for f in fits if f["scenario"] == "null"]
    paired = [f for f in fits if "ari_sticky" in f]
    return {
        "datasets": len(fits),
        "coverage_all": rate(checks, "covered"),
        "coverage_leave": rate([c for c in checks if c["kind"] == "leave"], "covered"),
        "coverage_destination": rate([c for c in checks if c["kind"] == "destination"], "covered"),
        "coverage_planted": rate(planted, "covered"),
        "false_positive_interval": rate(null, "excludes_one"),
        "false_positive_flagged": rate(null, "flagged"),
        "null_datasets_any_flag": float(np.mean([any(c["flagged"] for c in f["checks"]) for f in null_datasets])) if null_datasets else None,
        "power_interval": rate(planted, "excludes_one"),
        "power_flagged": rate(planted, "flagged"),
        "ari_input_driven": float(np.mean([f["ari"] for f in fits])),
        "ari_pairs": [[round(f["ari"], 3), round(f["ari_sticky"], 3)] for f in paired],
        "median_fit_seconds": float(np.median([f["seconds"] for f in fits])),
        "power_leave_interval": rate([c for c in planted if c["kind"] == "leave"], "excludes_one"),
        "power_destination_interval": rate([c for c in planted if c["kind"] == "destination"], "excludes_one"),
        "false_positive_interval_leave": rate([c for c in null if c["kind"] == "leave"], "excludes_one"),
        "false_positive_interval_destination": rate([c for c in null if c["kind"] == "destination"], "excludes_one"),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=300)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--draws", type=int, default=99)
    parser.add_argument("--thin", type=int, default=3)
    parser.add_argument("--fits", action="store_true", help="also run the acceptance fits (minutes)")
    parser.add_argument("--fit-seeds", type=int, nargs="*", default=[11])
    parser.add_argument("--calibration", type=int, default=0, help="datasets of the calibration study at the defaults")
    parser.add_argument("--iters", type=int, default=100, help="Gibbs iterations of each calibration fit (default: sm.fit's)")
    parser.add_argument("--first", type=int, default=0, help="index of the first calibration dataset (to run slices)")
    parser.add_argument("--save-counts", help="folder: keep every calibration fit's draws and truths for --rescore")
    parser.add_argument("--rescore", help="folder of --save-counts: the summary with the current estimator, no fitting")
    parser.add_argument("--oracle", action="store_true", help="with --rescore: the estimator on the true states")
    parser.add_argument("--skip-sbc", action="store_true")
    args = parser.parse_args()
    if args.rescore:
        print(json.dumps({"calibration": calibration_summary(rescore(args.rescore, args.oracle))}), flush=True)
        return
    if args.calibration:
        fits = []
        for index in range(args.first, args.first + args.calibration):
            fits.append(calibration_fit(index, args.iters, sticky=index % 4 == 0, save=args.save_counts))
            checks = fits[-1]["checks"]
            line = {k: v for k, v in fits[-1].items() if k != "checks"} | {
                "covered": f"{sum(c['covered'] for c in checks)}/{len(checks)}",
                "flagged": [f"{c['kind']}{'*' if c['planted'] else ''}" for c in checks if c["flagged"]]}  # fmt: skip
            print(json.dumps({"calibration_fit": line}), flush=True)
        print(json.dumps({"calibration": calibration_summary(fits)}), flush=True)
    if args.skip_sbc:
        return
    jax.config.update("jax_enable_x64", True)
    print(json.dumps({"sbc": sbc(args.sims, args.events, args.draws, args.thin)}), flush=True)
    print(json.dumps({"destination_sbc": destination_sbc(args.sims, args.events, args.draws, args.thin)}), flush=True)
    if args.fits:
        for seed in args.fit_seeds:
            for ratio in (2.0, 1.0):
                print(json.dumps({"fit": acceptance_fit(ratio, seed)}))
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
