"""Comparing two labellings of the same frames: Hungarian-matched confusion, adjusted Rand."""

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._errors import InputError
from ._inputs import as_segments, count_categories, paired_arrays


class StateComparison(NamedTuple):
    """Result of `compare_states`; unpacks as `(confusion, permutation, accuracy)`, as the published one.

    Attributes:
        confusion: `(K1, K2)`; `confusion[i, j]` = fraction of the frames labelled `i` in
            `states1` that are labelled `j` in `states2` (rows sum to 1). Rows of labels
            `states1` never uses are 0 (the published function gives NaN there).
        permutation: `(K2,)`; `permutation[j]` = the `states1` label matched to `states2` label
            `j` by the optimal one-to-one assignment, or -1 if `j` is left unmatched (K2 > K1).
            So `permutation[states2]` relabels `states2` with `states1`'s labels, and
            `params_of_states1_model[permutation]` orders a model's per-state rows like `states2`.
        accuracy: fraction of frames whose `states1` label is the one matched to their
            `states2` label.
    """

    confusion: np.ndarray
    permutation: np.ndarray
    accuracy: float


def _state_counts(n_states, arrays1, arrays2) -> tuple[int, int]:
    given = n_states if isinstance(n_states, (tuple, list)) else (n_states, n_states)
    k1 = count_categories(as_segments(arrays1), given[0], "states1")
    k2 = count_categories(as_segments(arrays2), given[1], "states2")
    return k1, k2


def compare_states(states1, states2, n_states: int | tuple[int, int] | None = None, *, mask=None) -> StateComparison:
    """Match the labels of two labellings of the same frames one to one (Hungarian algorithm) and score it.

    The published (0.0.0) convention: the confusion matrix is indexed `[states1, states2]`
    with rows normalised over `states1`, and `permutation[j]` is the `states1` label matched
    to `states2` label `j`. smoseq's extras: the two may use different numbers of states,
    unused rows are 0 rather than NaN, and the result has named fields.

    Args:
        states1: reference labels (dict, list of 1-D arrays, or 2-D array; numpy or jax).
        states2: labels to match, same recordings and lengths (dicts are matched by key).
        n_states: number of states of both (int), of each (`(K1, K2)`), or `None` to use
            the largest label + 1 of each.
        mask: for 2-D array inputs, frames to compare (nonzero = compare).

    Returns:
        `StateComparison(confusion, permutation, accuracy)`; see its docstring.

    Example:
        >>> compare_states(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 0, 1])).permutation
        array([1, 2, 0])
    """
    arrays1, arrays2 = paired_arrays(states1, states2, mask, ("states1", "states2"))
    k1, k2 = _state_counts(n_states, arrays1, arrays2)
    labels1 = np.concatenate([np.zeros(0, np.int64), *arrays1])
    labels2 = np.concatenate([np.zeros(0, np.int64), *arrays2])
    if labels1.size == 0:
        raise InputError("no frames to compare")
    counts = np.bincount(labels1 * k2 + labels2, minlength=k1 * k2).reshape(k1, k2)  # [states1, states2]
    matched2, matched1 = linear_sum_assignment(-counts.T)
    permutation = np.full(k2, -1, np.int64)
    permutation[matched2] = matched1
    accuracy = counts[matched1, matched2].sum() / labels1.size
    totals = counts.sum(1, keepdims=True)
    confusion = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    return StateComparison(confusion, permutation, np.float64(accuracy))


def _pairs_count(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def adjusted_rand_index(labels1, labels2) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two flat labellings of the same items.

    From the contingency table `n_ij`, its row sums `a_i` and column sums `b_j`:
    `(Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E)`, `E = Σ C(a_i,2) Σ C(b_j,2) / C(n,2)`.
    1 for identical partitions (up to renaming), about 0 for independent ones. When both
    partitions are trivial in the same way (one cluster, or all singletons) it is 1.

    Args:
        labels1: (n,) int labels (any integer values; only equality matters).
        labels2: (n,) int labels of the same items.

    Returns:
        The adjusted Rand index, a Python float ≤ 1.
    """
    labels1, labels2 = np.asarray(labels1, np.int64), np.asarray(labels2, np.int64)
    _, codes1 = np.unique(labels1, return_inverse=True)
    _, codes2 = np.unique(labels2, return_inverse=True)
    k2 = codes2.max(initial=-1) + 1
    table = np.bincount(codes1 * k2 + codes2, minlength=(codes1.max(initial=-1) + 1) * k2)
    index = _pairs_count(table)
    table = table.reshape(-1, k2) if k2 else table.reshape(0, 0)
    rows, columns = _pairs_count(table.sum(1)), _pairs_count(table.sum(0))
    n = labels1.size
    expected = rows * columns / (n * (n - 1) / 2) if n > 1 else 0.0
    maximum = (rows + columns) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def get_adjusted_rand(states1, states2, downsample: int = 10, *, mask=None) -> float:
    """Adjusted Rand index between two state labellings of the same recordings.

    Every `downsample`-th frame of each recording (frames 0, d, 2d, ... of each, after
    masking) is used, then all recordings are pooled. Inputs as for `compare_states`.

    Args:
        states1: reference labels: dict recording -> (T_i,) int, list of 1-D arrays, or
            (N, T) array (numpy or jax).
        states2: labels of the same recordings and lengths (dicts are matched by key).
        downsample: use every `downsample`-th frame of each recording (≥ 1).
        mask: for (N, T) array inputs, frames to compare (nonzero = compare).

    Returns:
        The adjusted Rand index (`adjusted_rand_index`) of the pooled frames, a Python float.

    Raises:
        InputError: `downsample` < 1, or inputs that do not pair up.
    """
    if int(downsample) < 1:
        raise InputError(f"downsample must be a positive integer, got {downsample}")
    arrays1, arrays2 = paired_arrays(states1, states2, mask, ("states1", "states2"))
    step = int(downsample)
    labels1 = np.concatenate([np.zeros(0, np.int64), *(a[::step] for a in arrays1)])
    labels2 = np.concatenate([np.zeros(0, np.int64), *(a[::step] for a in arrays2)])
    return adjusted_rand_index(labels1, labels2)
