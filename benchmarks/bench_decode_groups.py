"""Calibration and power of `sm.decode_groups` on simulated per-recording state sequences.

Each dataset: two groups of `--per-group` recordings, each recording `--frames` frames at
10 fps of `--states` states with gamma-distributed bouts (shape 4, mean 5 s) and uniform
jumps to another state. Null datasets: both groups alike. Planted datasets: the bouts of
state 2 last `--scale` times longer in group B. Every dataset is decoded with the default
shrinkage LDA, the bout-level transition features included, `--permutations` label
permutations.

Reported: for the null datasets, the fraction of p-values ≤ 0.05 (a valid test keeps it
≤ 5 % up to sampling noise: with n datasets its standard error is sqrt(0.05·0.95/n)),
the mean balanced accuracy (chance 0.5), and the Kolmogorov–Smirnov test of the p-values
against the uniform distribution (permutation p-values are discrete, so this is a rough
check); for the planted datasets, the median accuracy and the fraction with p ≤ 0.05
(the power). Also the median seconds per decoding.

    python benchmarks/bench_decode_groups.py                      # 60 null, 10 planted
    python benchmarks/bench_decode_groups.py --null 200 --planted 20
"""

import argparse
import time

import numpy as np
from scipy import stats

import smoseq as sm

FPS = 10.0


def semi_markov_states(rng, n_frames: int, n_states: int, scales: np.ndarray, mean_bout_s: float = 5.0) -> np.ndarray:
    """(n_frames,) int states: gamma(4) bouts of mean `mean_bout_s · scales[k]`, uniform jumps to another state."""
    pieces, total, state = [], 0, int(rng.integers(n_states))
    while total < n_frames:
        length = max(1, round(rng.gamma(4.0, mean_bout_s * scales[state] / 4.0) * FPS))
        pieces.append(np.full(length, state))
        total += length
        state = int(rng.choice([k for k in range(n_states) if k != state]))
    return np.concatenate(pieces)[:n_frames]


def dataset(seed: int, per_group: int, n_frames: int, n_states: int, scale: float | None):
    """(states, groups) of one simulated study; `scale` None: no effect."""
    rng = np.random.default_rng(seed)
    states, groups = {}, {}
    for i in range(2 * per_group):
        group = "AB"[i % 2]
        scales = np.ones(n_states)
        if scale is not None and group == "B":
            scales[2] = scale
        states[f"r{i:02d}"] = semi_markov_states(rng, n_frames, n_states, scales)
        groups[f"r{i:02d}"] = group
    return states, groups


def decode(seed: int, args, scale) -> tuple[float, float, float]:
    states, groups = dataset(seed, args.per_group, args.frames, args.states, scale)
    table = sm.behaviour_table(states, FPS, num_states=args.states)
    started = time.perf_counter()
    result = sm.decode_groups(table, groups, states, n_permutations=args.permutations, seed=seed)
    return result.accuracy, result.p_value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=60, help="null datasets (default 60)")
    parser.add_argument("--planted", type=int, default=10, help="planted datasets (default 10)")
    parser.add_argument("--per-group", type=int, default=8)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--states", type=int, default=6)
    parser.add_argument("--scale", type=float, default=2.5)
    parser.add_argument("--permutations", type=int, default=1000)
    args = parser.parse_args()
    print(f"{args.per_group} recordings per group, {args.frames} frames, K = {args.states}, "
          f"{args.permutations} permutations", flush=True)  # fmt: skip
    null = np.array([decode(1000 + i, args, None) for i in range(args.null)])
    if len(null):
        below = np.mean(null[:, 1] <= 0.05)
        stderr = np.sqrt(0.05 * 0.95 / len(null))
        ks = stats.kstest(null[:, 1], "uniform").pvalue
        print(f"null ({len(null)} datasets): p <= 0.05 in {below:.1%} (a valid test: <= 5 % ± {stderr:.1%}), "
              f"mean balanced accuracy {null[:, 0].mean():.3f} (chance 0.5), KS uniformity p = {ks:.2f}, "
              f"median {np.median(null[:, 2]):.1f} s per decoding", flush=True)  # fmt: skip
        deciles = np.histogram(null[:, 1], bins=np.linspace(0, 1, 11))[0]
        print(f"null p-values per tenth of [0, 1] (uniform: {len(null) / 10:g} each): {deciles.tolist()}", flush=True)
    planted = np.array([decode(2000 + i, args, args.scale) for i in range(args.planted)])
    if len(planted):
        print(f"planted ({len(planted)} datasets, state 2 bouts x{args.scale:g} in B): median balanced accuracy "
              f"{np.median(planted[:, 0]):.3f}, p <= 0.05 in {np.mean(planted[:, 1] <= 0.05):.0%}, "
              f"median p = {np.median(planted[:, 1]):.4f}, median {np.median(planted[:, 2]):.1f} s per decoding")  # fmt: skip


if __name__ == "__main__":
    main()
