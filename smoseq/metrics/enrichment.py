"""Which syllables and syllable transitions each high-level state favours.

Enrichment is the log2 ratio of a within-state frequency to the overall frequency: +1
means twice as common in the state as overall, −1 half as common. It is computed from
labelled data (`syllable_enrichment`) or from a model's per-state transition tables
(`syllable_enrichment_from_model`).
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from .._errors import InputError
from ._inputs import as_segments, count_categories, paired_arrays


class SyllableEnrichment(NamedTuple):
    """Per-state syllable and transition frequencies and their enrichment.

    Attributes:
        usage: `(K, S)`, `P(x_t = s | z_t = k)`.
        overall_usage: `(S,)`, `P(x_t = s)`.
        usage_enrichment: `(K, S)`, `log2(usage / overall_usage)`.
        transitions: `(K, S, S)`, `P(x_{t-1} = i, x_t = j | z_t = k)` (joint, sums to 1 per k).
        overall_transitions: `(S, S)`, `P(x_{t-1} = i, x_t = j)`.
        transition_enrichment: `(K, S, S)`, `log2(transitions / overall_transitions)`.
    """

    usage: np.ndarray
    overall_usage: np.ndarray
    usage_enrichment: np.ndarray
    transitions: np.ndarray
    overall_transitions: np.ndarray
    transition_enrichment: np.ndarray

    def usage_table(self) -> pd.DataFrame:
        """Tidy table, one row per state × syllable, sorted by state then enrichment.

        Returns:
            A DataFrame of K·S rows with columns `state`, `syllable`, `usage`,
            `overall_usage`, `log2_enrichment`, sorted by state and then by decreasing
            enrichment.
        """
        n_states, n_syllables = self.usage.shape
        table = pd.DataFrame(
            {
                "state": np.repeat(np.arange(n_states), n_syllables),
                "syllable": np.tile(np.arange(n_syllables), n_states),
                "usage": self.usage.ravel(),
                "overall_usage": np.tile(self.overall_usage, n_states),
                "log2_enrichment": self.usage_enrichment.ravel(),
            }
        )
        return table.sort_values(["state", "log2_enrichment"], ascending=[True, False], ignore_index=True)


def _log2_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 → -inf, 0/0 → NaN, as documented
        return np.log2(numerator) - np.log2(denominator)


def _enrichment(usage, overall_usage, transitions, overall_transitions) -> SyllableEnrichment:
    return SyllableEnrichment(
        usage,
        overall_usage,
        _log2_ratio(usage, overall_usage),
        transitions,
        overall_transitions,
        _log2_ratio(transitions, overall_transitions),
    )


def _normalise(counts: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    totals = counts.sum(axis=axes, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def syllable_enrichment(
    syllables,
    states,
    n_syllables: int | None = None,
    n_states: int | None = None,
    *,
    pseudo_count: float = 1.0,
    mask=None,
) -> SyllableEnrichment:
    """Syllable and transition enrichment per state, from syllables labelled with states.

    Usage counts frames with `z_t = k`; transitions count pairs of consecutive frames of one
    recording `(x_{t-1}, x_t)` with `z_t = k` (the state of the later frame, as in the
    model's emission counts). `pseudo_count` is added to every count, per state and overall,
    so rare syllables are not given extreme ratios.

    Args:
        syllables, states: aligned collections (dicts with the same keys, lists, or 2-D
            arrays with an optional shared `mask`).
        n_syllables, n_states: sizes; default: largest label + 1.
        pseudo_count: added to every cell of the usage and transition counts. With 0, a
            cell never seen in a state has enrichment -inf (NaN if never seen at all).
        mask: for 2-D array inputs, frames to use (nonzero = use).

    Returns:
        A `SyllableEnrichment`: `usage` (K, S), `overall_usage` (S,), `usage_enrichment`
        (K, S), `transitions` (K, S, S), `overall_transitions` (S, S),
        `transition_enrichment` (K, S, S).

    Raises:
        InputError: syllables and states that do not pair up, or labels ≥ the given sizes.
    """
    x, z = paired_arrays(syllables, states, mask, ("syllables", "states"))
    n_syllables = count_categories(as_segments(x), n_syllables, "syllables")
    n_states = count_categories(as_segments(z), n_states, "states")
    usage_index = [zs * n_syllables + xs for xs, zs in zip(x, z)]
    pair_index = [(zs[1:] * n_syllables + xs[:-1]) * n_syllables + xs[1:] for xs, zs in zip(x, z)]
    empty = np.zeros(0, np.int64)
    usage = np.bincount(np.concatenate([empty, *usage_index]), minlength=n_states * n_syllables)
    transitions = np.bincount(np.concatenate([empty, *pair_index]), minlength=n_states * n_syllables**2)
    usage = usage.reshape(n_states, n_syllables) + float(pseudo_count)
    transitions = transitions.reshape(n_states, n_syllables, n_syllables) + float(pseudo_count)
    return _enrichment(
        _normalise(usage, (1,)),
        _normalise(usage.sum(0), (0,)),
        _normalise(transitions, (1, 2)),
        _normalise(transitions.sum(0), (0, 1)),
    )


def syllable_enrichment_from_model(trans_probs, usage, state_weights=None) -> SyllableEnrichment:
    """Syllable and transition enrichment per state from a model's emission tables.

    With `P_k = trans_probs[k]` (each row a distribution over the next syllable) and the
    usage `u` of the previous syllable: `transitions[k, i, j] = u_k[i] P_k[i, j]`,
    `usage[k, j] = Σ_i transitions[k, i, j]`, and the overall values are their averages
    over states weighted by `state_weights`. With a shared `u`, the transition enrichment
    is `log2(P_k[i, j] / Σ_k' w_k' P_k'[i, j])`.

    Args:
        trans_probs: `(K, S, S)` per-state syllable transition probabilities (e.g. from
            `get_syllable_trans_probs`).
        usage: `(S,)` syllable usage shared by all states, or `(K, S)` per state.
        state_weights: `(K,)` state frequencies (e.g. `get_frequencies(states)`);
            default: equal weights.

    Returns:
        A `SyllableEnrichment` with the shapes listed there (K states, S syllables).

    Raises:
        InputError: `trans_probs` is not (K, S, S), or `state_weights` is not K
            numbers with a positive sum.
    """
    trans_probs = np.asarray(trans_probs, np.float64)
    if trans_probs.ndim != 3 or trans_probs.shape[1] != trans_probs.shape[2]:
        raise InputError(f"trans_probs must be (K, S, S), got shape {trans_probs.shape}")
    n_states, n_syllables, _ = trans_probs.shape
    usage = np.broadcast_to(np.asarray(usage, np.float64), (n_states, n_syllables))
    weights = np.ones(n_states) if state_weights is None else np.asarray(state_weights, np.float64)
    if weights.shape != (n_states,) or weights.sum() <= 0:
        raise InputError(f"state_weights must be {n_states} non-negative numbers with a positive sum")
    weights = weights / weights.sum()
    transitions = _normalise(usage[:, :, None] * trans_probs, (1, 2))
    per_state_usage = transitions.sum(1)
    return _enrichment(
        per_state_usage,
        weights @ per_state_usage,
        transitions,
        np.tensordot(weights, transitions, axes=1),
    )
