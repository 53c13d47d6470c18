"""Calibration of `sm.compare_group_dynamics` at the defaults, checked the way a methods paper would.

Each dataset: two groups (A, B) of `--per-group` recordings × `--frames` frames, from a
generator that is **not** the model: K semi-Markov states with gamma bout durations (CV
0.5, not geometric), syllables that last several frames (gamma, mean `--syllable-frames`),
each state its own syllable transition table (`bench_accuracy.draw_process`). Every
recording starts in the stationary regime (first state from the stationary occupancy, first
bout a length-biased residual) and has its own animal effect: all its bout durations are
scaled by exp(u), u ~ N(0, `--animal-sd`²) (recordings differ, as animals do). Half of the
datasets plant an effect: one state's bouts last `--effect`× longer in B; the other half
are null. The true ratio of state k is the ratio of the generator's mean bout durations,
mean_B[k] / mean_A[k] (1 for every unchanged state; the animal effect has the same
distribution in both groups, so it cancels).

Each dataset is fitted with `sm.fit(recordings, n_states=K, groups=groups, seed=i)` — every
other argument at its default (κ "auto", low-rank emissions, 100 iterations) — then
`sm.compare_group_dynamics(result)`; fitted states are matched to the true ones by
`sm.compare_states` (Hungarian). Reported: (a) coverage of the 95 % intervals of the
duration ratios for the true ratios (all states, all datasets; target 93–97 %), (b) the
false-positive rate, the share of intervals of unchanged states that exclude 1 (target
≤ 5 %), (c) power, the share of planted states whose interval excludes 1 in the right
direction. `--oracle` runs the same estimator on the *true* states (no fit): the
calibration of the interval itself, apart from state decoding. `--matrix` also scores the
previous estimator, 1/(1 − π_kk) of the fitted per-group matrices (`transition_samples`).

Run: `nice -n 10 .venv/bin/python benchmarks/bench_group_calibration.py --datasets 100
[--oracle] [--matrix] [--out results.csv] [--save-counts DIR]`; one row per dataset is
printed as it ends, then the summary. `--first N --datasets M` runs a slice (to split the
work over processes); `--save-counts DIR` keeps every fit's `group_counts`, and
`--rescore DIR` scores the estimator on them again without refitting.

Measured (2 shared CPU cores, ~10–35 s per fit, 100 datasets, `--matrix`): coverage
0.970 (388 of 400 intervals), false-positive rate 0.031 (11 of 350 unchanged states),
power 0.82 (median planted ratio 1.86 for the true 2); the fitted matrices'
1/(1 − π_kk): coverage 0.975, false positives 0.009, power 0.26 (median 1.44).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import SemiMarkovSpec, draw_durations, draw_process, syllable_path  # noqa: E402

GROUPS = ("A", "B")


def gamma_residual(rng, mean: float, cv: float) -> int:
    """The remaining length of the bout in progress at a random time (stationary start): a
    length-biased gamma draw (shape + 1), cut uniformly."""
    shape = 1.0 / cv**2
    biased = rng.gamma(shape + 1, mean / shape)
    return max(int(np.ceil(rng.uniform() * biased)), 1)


def stationary_occupancy(switch: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Long-run share of frames in each state of a semi-Markov chain (embedded chain × mean bout)."""
    values, vectors = np.linalg.eig(switch.T)
    embedded = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    weights = embedded / embedded.sum() * means
    return weights / weights.sum()


def state_path(switch: np.ndarray, means: np.ndarray, cv: float, n_frames: int, rng) -> np.ndarray:
    """(n_frames,) semi-Markov states started in the stationary regime; state k's bouts ~ gamma(means[k], cv)."""
    K = len(means)
    state = int(rng.choice(K, p=stationary_occupancy(switch, means)))
    pieces = [np.full(gamma_residual(rng, means[state], cv), state, np.int32)]
    total = len(pieces[0])
    while total < n_frames:
        state = int(rng.choice(K, p=switch[state]))
        length = int(draw_durations(rng, "gamma", means[state], cv, 1)[0])
        pieces.append(np.full(length, state, np.int32))
        total += length
    return np.concatenate(pieces)[:n_frames]


def make_dataset(index: int, args) -> dict:
    """One two-group dataset: recordings, true states, groups, and the true duration ratio of every state."""
    rng = np.random.default_rng(1000 + index)
    spec = SemiMarkovSpec(n_states=args.n_states, n_syllables=args.n_syllables, dwell_mean=args.dwell_mean,
                          dwell_cv=0.5, syllable_frames=args.syllable_frames, usage_contrast=0.8, row_contrast=0.3)  # fmt: skip
    process = draw_process(spec, rng)
    planted = index % 2 == 0
    planted_state = int(rng.integers(args.n_states)) if planted else -1
    means = {g: np.full(args.n_states, args.dwell_mean) for g in GROUPS}
    if planted:
        means["B"][planted_state] *= args.effect
    recordings, states, groups = {}, {}, {}
    for g in GROUPS:
        for r in range(args.per_group):
            name = f"{g}{r:02d}"
            animal = np.exp(args.animal_sd * rng.standard_normal())
            states[name] = state_path(process.switch, means[g] * animal, 0.5, args.frames, rng)
            recordings[name] = syllable_path(process, states[name], rng)
            groups[name] = g
    return {"recordings": recordings, "states": states, "groups": groups, "planted_state": planted_state,
            "true_ratio": means["B"] / means["A"]}  # fmt: skip


def duration_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """The B/A duration-ratio rows of a comparison table, indexed by state."""
    ratios = table[(table.kind == "ratio") & (table.quantity == "duration_frames")]
    return ratios.set_index("state")[["median", "lower", "upper"]]


def score(ratios: pd.DataFrame, true_of_fitted, dataset: dict, label: str, index: int) -> list[dict]:
    """One row per true state: its true ratio, the interval of the fitted state matched to it."""
    rows = []
    for fitted, true in enumerate(true_of_fitted):
        row = ratios.loc[fitted]
        truth = float(dataset["true_ratio"][true])
        rows.append({"estimator": label, "dataset": index, "state": int(true), "planted": true == dataset["planted_state"],
                     "true_ratio": truth, "median": row["median"], "lower": row["lower"], "upper": row["upper"],
                     "covers": row["lower"] <= truth <= row["upper"],
                     "excludes_one": not (row["lower"] <= 1 <= row["upper"])})  # fmt: skip
    return rows


def run_dataset(index: int, args) -> tuple[list[dict], str]:
    """Fit one dataset at the defaults (or, with --oracle, use its true states) and score it."""
    import smoseq as sm
    from smoseq.metrics.group_dynamics import group_dynamics_table, transition_counts

    dataset = make_dataset(index, args)
    names = list(dataset["recordings"])
    group_index = np.array([GROUPS.index(dataset["groups"][n]) for n in names])
    K = args.n_states
    rows = []
    oracle = group_dynamics_table(transition_counts([dataset["states"][n] for n in names], K), group_index, GROUPS)
    rows += score(duration_ratios(oracle), range(K), dataset, "true states", index)
    note = ""
    if not args.oracle:
        started = time.perf_counter()
        result = sm.fit(dataset["recordings"], n_states=K, groups=dataset["groups"], seed=index, progress=False)
        seconds = time.perf_counter() - started
        matched = sm.compare_states(dataset["states"], result.states, K)
        true_of_fitted = np.asarray(matched.permutation)
        rows += score(duration_ratios(sm.compare_group_dynamics(result)), true_of_fitted, dataset, "fit", index)
        if args.save_counts is not None:  # to score other estimators later without refitting
            args.save_counts.mkdir(parents=True, exist_ok=True)
            np.savez(args.save_counts / f"dataset{index:03d}.npz", group_counts=result.group_counts,
                     groups=group_index, true_of_fitted=true_of_fitted, true_ratio=dataset["true_ratio"],
                     planted_state=dataset["planted_state"])  # fmt: skip
        if args.matrix:
            rows += score(matrix_duration_ratios(result), true_of_fitted, dataset, "fitted matrices", index)
        note = f"accuracy {matched.accuracy:.3f}  fit {seconds:.0f} s  kappa {result.hyperparameters['kappa']:.0f}"
    return rows, note


def matrix_duration_ratios(result) -> pd.DataFrame:
    """The previous estimator: 1/(1 − π_kk) of every kept per-group matrix; ratio B/A, 2.5–97.5 percentiles."""
    diagonal = np.diagonal(result.transition_samples, axis1=-2, axis2=-1)
    ratio = (1 - diagonal[:, 0]) / (1 - diagonal[:, 1])
    return pd.DataFrame({"median": np.median(ratio, 0), "lower": np.percentile(ratio, 2.5, 0),
                         "upper": np.percentile(ratio, 97.5, 0)})  # fmt: skip


def rescore(folder: Path) -> list[dict]:
    """Score `sm.compare_group_dynamics`'s estimator on the counts saved by an earlier run (`--save-counts`)."""
    from smoseq.metrics.group_dynamics import group_dynamics_table

    rows = []
    for path in sorted(folder.glob("dataset*.npz")):
        saved = np.load(path)
        index = int(path.stem.removeprefix("dataset"))
        dataset = {"true_ratio": saved["true_ratio"], "planted_state": int(saved["planted_state"])}
        table = group_dynamics_table(saved["group_counts"], saved["groups"], GROUPS)
        rows += score(duration_ratios(table), saved["true_of_fitted"], dataset, "fit", index)
    return rows


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage, false-positive rate and power per estimator."""
    out = []
    for label, part in rows.groupby("estimator", sort=False):
        null, planted = part[~part.planted], part[part.planted]
        out.append({
            "estimator": label, "datasets": part.dataset.nunique(), "intervals": len(part),
            "coverage": part.covers.mean(), "false_positive_rate": null.excludes_one.mean(),
            "power": (planted.excludes_one & (planted.lower > 1)).mean() if len(planted) else np.nan,
            "planted_median_ratio": planted["median"].median() if len(planted) else np.nan,
            "null_median_ratio": null["median"].median(),
        })  # fmt: skip
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--first", type=int, default=0, help="index of the first dataset (to split a run)")
    parser.add_argument("--per-group", type=int, default=5)
    parser.add_argument("--frames", type=int, default=8000)
    parser.add_argument("--n-states", type=int, default=4)
    parser.add_argument("--n-syllables", type=int, default=20)
    parser.add_argument("--dwell-mean", type=float, default=400.0)
    parser.add_argument("--syllable-frames", type=float, default=6.0)
    parser.add_argument("--effect", type=float, default=2.0)
    parser.add_argument("--animal-sd", type=float, default=0.2)
    parser.add_argument("--oracle", action="store_true", help="true states only (no fits)")
    parser.add_argument("--matrix", action="store_true", help="also score 1/(1 − π_kk) of the fitted matrices")
    parser.add_argument("--out", type=Path, default=None, help="CSV of every interval")
    parser.add_argument("--save-counts", type=Path, default=None, help="folder for every fit's group_counts (.npz)")
    parser.add_argument("--rescore", type=Path, default=None, help="score the counts saved in this folder (no fits)")
    args = parser.parse_args()
    if args.rescore is not None:
        print(summarise(pd.DataFrame(rescore(args.rescore))).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return
    rows = []
    for index in range(args.first, args.first + args.datasets):
        new, note = run_dataset(index, args)
        rows += new
        fit_rows = [r for r in new if r["estimator"] == ("true states" if args.oracle else "fit")]
        cells = "  ".join(f"{r['state']}:{r['median']:.2f}[{r['lower']:.2f},{r['upper']:.2f}]/{r['true_ratio']:.1f}"
                          for r in sorted(fit_rows, key=lambda r: r["state"]))  # fmt: skip
        print(f"dataset {index:3d}  {cells}  {note}", flush=True)
        if args.out is not None:
            pd.DataFrame(rows).to_csv(args.out, index=False)
    print(summarise(pd.DataFrame(rows)).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
