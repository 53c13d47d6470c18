"""How many states the sticky HDP prior keeps, and how γ and α change it (the defaults' measurement).

Protocol: semi-Markov synthetic recordings from `bench_accuracy.py` (preset
`usage-K5-S30` by default: 5 true states with gamma dwell times), fitted with an upper
bound of `--n-states` (20) states. One `sm.fit_models` batch fits every (γ, α) of the grid
and every seed at once (the HDP hyperparameters are array leaves: one program), next to
the sticky prior for reference. For each model: the states used (≥ 1 % of frames) and the
many-to-one accuracy of its training states (each fitted state mapped to the true state
it overlaps most), and the held-out Hungarian accuracy of `predict` (one fitted state per
true state, so extra states cost accuracy) and its many-to-one accuracy (`ho-m2one`).

Run: `.venv/bin/python benchmarks/bench_hdp.py [--preset usage-K5-S30] [--seeds 0 1 2]
[--gammas 0.1 1 10] [--alphas 0.1 1 10] [--n-train 6] [--frames 10000] [--iters 100]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_accuracy import SYNTHETIC_PRESETS, draw_process, synthetic_recordings

import smoseq as sm


def many_to_one_accuracy(true_states: dict, fitted_states: dict, n_fitted: int) -> float:
    """Fraction of frames whose fitted state maps (by majority overlap) to their true state."""
    truth = np.concatenate([true_states[k] for k in sorted(true_states)])
    fitted = np.concatenate([fitted_states[k] for k in sorted(true_states)])
    counts = np.zeros((n_fitted, truth.max() + 1))
    np.add.at(counts, (fitted, truth), 1)
    return float(counts.max(1).sum() / len(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="usage-K5-S30", choices=sorted(SYNTHETIC_PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--n-states", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=6)
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()

    spec = SYNTHETIC_PRESETS[args.preset]
    rng = np.random.default_rng(0)
    process = draw_process(spec, rng)
    train, train_states = synthetic_recordings(process, args.n_train, args.frames, rng, "train")
    heldout, heldout_states = synthetic_recordings(process, 3, args.frames, rng, "heldout")
    K = args.n_states
    kappa = args.n_train * args.frames / K
    grid = [(gamma, alpha) for gamma in args.gammas for alpha in args.alphas]
    labels = [f"hdp gamma={g:g} alpha={a:g}" for g, a in grid for _ in args.seeds] + ["sticky"] * len(args.seeds)
    components = [sm.HDPTransitions.create(K, gamma=g, alpha=a, kappa=kappa) for g, a in grid for _ in args.seeds]
    seeds = [s for _ in grid for s in args.seeds]
    started = time.perf_counter()
    results = sm.fit_models(train, K, [kappa] * len(seeds), seeds, args.iters, transitions=components, progress=False)
    results += sm.fit_models(train, K, kappa, args.seeds, args.iters, progress=False)
    seconds = time.perf_counter() - started
    print(f"{args.preset}: {spec.n_states} true states, K = {K}, {args.n_train} x {args.frames} frames, "
          f"{args.iters} iterations, {len(results)} models in {seconds:.0f} s")  # fmt: skip
    print(f"{'model':<28} {'seed':>4} {'used':>4} {'m2one':>6} {'heldout':>7} {'ho-m2one':>8}")
    for label, seed, result in zip(labels, seeds + args.seeds, results):
        used = int((sm.get_frequencies(result.states, K) >= 0.01).sum())
        m2one = many_to_one_accuracy(train_states, result.states, K)
        predicted = result.predict(heldout)
        heldout_accuracy = sm.compare_states(heldout_states, predicted, (spec.n_states, K)).accuracy
        heldout_m2one = many_to_one_accuracy(heldout_states, predicted, K)
        print(f"{label:<28} {seed:>4} {used:>4} {m2one:>6.3f} {heldout_accuracy:>7.3f} {heldout_m2one:>8.3f}")


if __name__ == "__main__":
    main()
