"""Statistics of state sequences: durations, frequencies, transitions, a per-recording table.

Every function takes `states` as a dict recording → 1-D int array (as `unbatch` returns),
a list of 1-D arrays, or a 2-D array (with an optional `mask`: frames with mask 0 are
dropped and runs never continue across them); numpy or jax. Runs (bouts) never continue
from the end of one recording into the start of the next. The first and last bout of each
recording are cut off by the recording's edges and are counted as they are.
"""

import numpy as np
import pandas as pd

from ._inputs import Segments, as_segments, count_categories
from .instances import find_runs


def run_lengths(sequence) -> tuple[np.ndarray, np.ndarray]:
    """`(labels, lengths)` of the maximal constant runs of a 1-D sequence."""
    starts, ends, labels = find_runs(sequence)
    return labels, ends - starts


def get_durations(states, *, mask=None) -> np.ndarray:
    """Lengths (frames) of all bouts, recording by recording, in recording order.

    Args:
        states: recording name -> (T_i,) int states (a dict), a list of such arrays, or
            one (N, T) array of segments.
        mask: optional, the same layout as `states`; frames where it is 0 are left out
            (e.g. the padding of `sm.batch`).

    Returns:
        (n_bouts,) int lengths of the maximal runs of one state, in order.

    Examples:
        >>> get_durations({"a": np.array([1, 1, 2, 2, 2, 3]), "b": np.array([3, 0, 0, 0, 1])})
        array([2, 3, 1, 1, 3, 1])

    (The published version concatenates recordings first and would merge the 3 ending "a"
    with the 3 starting "b" into one bout of 2.)
    """
    segments = as_segments(states, mask)
    lengths = [run_lengths(array)[1] for array in segments.arrays]
    return np.concatenate(lengths) if lengths else np.zeros(0, np.int64)


def get_frequencies(states, num_states: int | None = None, runlength: bool = False, *, mask=None) -> np.ndarray:
    """Fraction of frames (or, with `runlength=True`, of bouts) in each state.

    Args:
        states: recording name -> (T_i,) int states (a dict), a list of such arrays, or
            one (N, T) array of segments.
        mask: optional, the same layout as `states`; frames where it is 0 are left out
            (e.g. the padding of `sm.batch`).
        num_states: K (default: largest state + 1).
        runlength: count bouts instead of frames.

    Returns:
        (K,) float fractions summing to 1 (all zeros if there are no frames).
    """
    segments = as_segments(states, mask)
    num_states = count_categories(segments, num_states, "states")
    labels = [run_lengths(a)[0] if runlength else a for a in segments.arrays]
    counts = np.bincount(np.concatenate([np.zeros(0, np.int64), *labels]), minlength=num_states)
    return counts / max(counts.sum(), 1)


def _pairs(segments: Segments, bouts: bool) -> tuple[np.ndarray, np.ndarray]:
    """(from, to) of consecutive frames — or consecutive bouts — within each segment."""
    sources, targets = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for array in segments.arrays:
        labels = run_lengths(array)[0] if bouts else array
        sources.append(labels[:-1])
        targets.append(labels[1:])
    return np.concatenate(sources), np.concatenate(targets)


def get_frame_transition_counts(states, num_states: int | None = None, *, mask=None) -> np.ndarray:
    """`counts[i, j]`: number of frames t (within one recording) with `z_{t-1} = i, z_t = j`.

    The diagonal holds the frames a state continues.

    Args:
        states: recording name -> (T_i,) int states (a dict), a list of such arrays, or
            one (N, T) array of segments.
        mask: optional, the same layout as `states`; frames where it is 0 are left out
            (e.g. the padding of `sm.batch`).
        num_states: K (default: largest state + 1).

    Returns:
        (K, K) int64 counts.
    """
    segments = as_segments(states, mask)
    num_states = count_categories(segments, num_states, "states")
    sources, targets = _pairs(segments, bouts=False)
    flat = np.bincount(sources * num_states + targets, minlength=num_states**2)
    return flat.reshape(num_states, num_states)


def get_bout_transition_matrix(
    states, num_states: int | None = None, *, normalize: bool = True, mask=None
) -> np.ndarray:
    """Bout-level transitions: one count per change of state within a recording.

    `matrix[i, j]` (i ≠ j) is the number of times a bout of `i` is followed by a bout of
    `j`; the diagonal is 0. With `normalize=True` (default) each row is divided by its sum,
    giving `P(next state = j | leaving i)`; a state that is never left has a row of zeros.

    Args:
        states: recording name -> (T_i,) int states (a dict), a list of such arrays, or
            one (N, T) array of segments.
        mask: optional, the same layout as `states`; frames where it is 0 are left out
            (e.g. the padding of `sm.batch`).
        num_states: K (default: largest state + 1).
        normalize: divide each row by its sum.

    Returns:
        (K, K) float probabilities (`normalize=True`) or int64 counts.
    """
    segments = as_segments(states, mask)
    num_states = count_categories(segments, num_states, "states")
    sources, targets = _pairs(segments, bouts=True)
    counts = np.bincount(sources * num_states + targets, minlength=num_states**2).reshape(num_states, num_states)
    if not normalize:
        return counts
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def state_summary_table(states, num_states: int | None = None, *, fps: float | None = None, mask=None) -> pd.DataFrame:
    """A tidy table with one row per recording × state.

    Columns: `recording`, `state`, `frames` (frames in the state), `bouts` (number of runs),
    `median_duration` (frames; NaN without bouts), `frequency` (fraction of the recording's
    frames) and, if `fps` is given, `median_duration_s`. Every state `0..num_states-1`
    appears for every recording, so the table joins directly with a per-recording sheet
    (group, genotype, ...) on `recording`.

    Args:
        states: recording name -> (T_i,) int states (a dict), a list of such arrays, or
            one (N, T) array of segments.
        mask: optional, the same layout as `states`; frames where it is 0 are left out
            (e.g. the padding of `sm.batch`).
        num_states: K (default: largest state + 1).
        fps: frame rate; adds `median_duration_s`.

    Returns:
        A `pandas.DataFrame` with (recordings × K) rows.
    """
    segments = as_segments(states, mask)
    num_states = count_categories(segments, num_states, "states")
    labels_by_recording: dict = {}
    lengths_by_recording: dict = {}
    for name, array in zip(segments.names, segments.arrays):
        labels, lengths = run_lengths(array)
        labels_by_recording.setdefault(name, []).append(labels)
        lengths_by_recording.setdefault(name, []).append(lengths)
    rows = []
    for name in labels_by_recording:
        labels = np.concatenate(labels_by_recording[name])
        lengths = np.concatenate(lengths_by_recording[name])
        total = lengths.sum()
        for state in range(num_states):
            durations = lengths[labels == state]
            frames = int(durations.sum())
            rows.append(
                {
                    "recording": name,
                    "state": state,
                    "frames": frames,
                    "bouts": len(durations),
                    "median_duration": float(np.median(durations)) if len(durations) else np.nan,
                    "frequency": frames / total if total else 0.0,
                }
            )
    table = pd.DataFrame(rows, columns=["recording", "state", "frames", "bouts", "median_duration", "frequency"])
    if fps is not None:
        table["median_duration_s"] = table["median_duration"] / fps
    return table
