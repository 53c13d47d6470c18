"""Held-out log-likelihood per frame of the generating model and of fitted models, under both repeats settings.

    python benchmarks/bench_repeats.py [--states 4] [--syllables 20] [--frames 5000] [--iters 100]

The data are simulated from a model whose tables are `r·I + (1 − r)·Q_k`: a repeat has the
same probability r in every state, so under `repeats="ignore"` the scored syllable changes
follow exactly `Q_k` (zero diagonal) and the repeats say nothing about the state. A proper
likelihood lets no fitted model beat the generating one on held-out recordings, under
either setting. For contrast the last column scores the changes by the unrenormalised
tables (what `"ignore"` scored before its emissions were the distribution of the next
different syllable): there the fitted models, whose diagonals drift to 0, looked better
than the truth.
"""

import argparse
import itertools
import json
import time

import jax.random as jr
import numpy as np

import smoseq as sm
from smoseq.fitting.data import prepare_data
from smoseq.inference.states import marginal_logliks
from smoseq.models import HHMM, FullRankEmissions, StickyTransitions, SyllableData


def generating_model(n_states, n_syllables, repeat_probability, seed):
    rng = np.random.default_rng(seed)
    off = np.zeros((n_states, n_syllables, n_syllables))
    for k, i in itertools.product(range(n_states), range(n_syllables)):
        others = [j for j in range(n_syllables) if j != i]
        off[k, i, others] = rng.dirichlet(np.full(n_syllables - 1, 0.3))
    tables = repeat_probability * np.eye(n_syllables) + (1 - repeat_probability) * off
    leave = 0.002
    transitions = np.full((n_states, n_states), leave / (n_states - 1)) + (1 - leave - leave / (n_states - 1)) * np.eye(n_states)
    return HHMM(FullRankEmissions(tables), StickyTransitions(transitions, beta=1.0, kappa=100.0))


def unrenormalised_score(model, recordings) -> float:
    """The changes scored by the tables themselves (diagonal mass kept): the former `"ignore"` likelihood."""
    prepared = prepare_data(recordings, seg_overlap=0, n_syllables=model.n_syllables, repeats="ignore")
    data = prepared.data
    raw = SyllableData(data.syllables, data.mask, data.evidence, data.groups, repeats="model")
    return float(np.asarray(marginal_logliks(model, raw, "auto")).sum() / np.asarray(data.mask).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=4)
    parser.add_argument("--syllables", type=int, default=20)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--recordings", type=int, default=12)
    parser.add_argument("--held-out", type=int, default=4)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--repeat-probability", type=float, default=0.7)
    args = parser.parse_args()

    truth = generating_model(args.states, args.syllables, args.repeat_probability, seed=0)
    _, syllables = truth.simulate(jr.key(1), args.recordings + args.held_out, args.frames)
    recordings = {f"r{i:02d}": np.asarray(x) for i, x in enumerate(syllables)}
    names = sorted(recordings)
    train = {n: recordings[n] for n in names[: args.recordings]}
    held_out = {n: recordings[n] for n in names[args.recordings :]}

    rows = []
    for repeats in ("ignore", "model"):
        generating = sm.heldout_loglik_per_frame(truth, held_out, repeats=repeats)
        row = {"repeats": repeats, "generating": generating}
        if repeats == "ignore":
            row["generating_unrenormalised"] = unrenormalised_score(truth, held_out)
        for emissions in ("low_rank", "full_rank"):
            started = time.perf_counter()
            fitted = sm.fit(train, n_states=args.states, emissions=emissions, repeats=repeats, n_iters=args.iters,
                            progress=False, seed=0)  # fmt: skip
            row[emissions] = sm.heldout_loglik_per_frame(fitted, held_out)
            if repeats == "ignore":
                row[f"{emissions}_unrenormalised"] = unrenormalised_score(fitted.model, held_out)
            row[f"{emissions}_seconds"] = time.perf_counter() - started
        rows.append(row)
        print(json.dumps(row), flush=True)
    for row in rows:
        best_fitted = max(row["low_rank"], row["full_rank"])
        verdict = "ok" if row["generating"] >= best_fitted else "FITTED MODEL SCORES BETTER"
        print(f"repeats={row['repeats']}: generating {row['generating']:.4f} nats/frame, "
              f"low-rank {row['low_rank']:.4f}, full-rank {row['full_rank']:.4f}: {verdict}")


if __name__ == "__main__":
    main()
