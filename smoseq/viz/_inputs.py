"""Turning the arrays and dicts that figures accept into plain numpy."""

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A pyplot-free figure (safe under any backend) and its axes."""
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return figure, axes


def as_sequences(states, what: str = "states") -> list[np.ndarray]:
    """A dict of 1-D sequences, one 1-D sequence, or a 2-D array (one row each) -> list of 1-D int arrays."""
    if isinstance(states, Mapping):
        sequences = [np.asarray(v) for v in states.values()]
    else:
        array = np.asarray(states)
        sequences = [array] if array.ndim == 1 else list(array)
    for seq in sequences:
        if seq.ndim != 1 or (seq.size and not np.issubdtype(seq.dtype, np.integer)):
            raise ValueError(f"{what} must be 1-D integer sequences, got shape {seq.shape} and dtype {seq.dtype}")
    if not sequences or all(seq.size == 0 for seq in sequences):
        raise ValueError(f"{what} are empty")
    return sequences


def paired_sequences(states1, states2) -> tuple[np.ndarray, np.ndarray]:
    """Two labellings of the same frames, concatenated: dicts are matched by key."""
    if isinstance(states1, Mapping) != isinstance(states2, Mapping):
        raise ValueError("states1 and states2 must both be dicts or both be arrays")
    if isinstance(states1, Mapping):
        missing = [k for k in states1 if k not in states2]
        if missing:
            raise ValueError(f"recordings missing from states2: {missing[:5]}")
        states2 = {k: states2[k] for k in states1}
    first, second = as_sequences(states1, "states1"), as_sequences(states2, "states2")
    for a, b in zip(first, second):
        if a.shape != b.shape:
            raise ValueError(f"states1 and states2 differ in length ({a.shape[0]} vs {b.shape[0]} frames)")
    return np.concatenate(first), np.concatenate(second)


def count_states(sequences, n_states: int | None) -> int:
    largest = max(int(seq.max(initial=-1)) for seq in sequences)
    if n_states is None:
        return largest + 1
    if largest >= n_states:
        raise ValueError(f"states go up to {largest} but n_states is {n_states}")
    return n_states


def set_state_ticks(ax, n_states: int, labels=None, axis: str = "x", **tick_kw) -> None:
    """One tick per state on `axis`, labelled by `labels` (names or state -> name; default the numbers)."""
    from ..metrics.labels import labels_of

    names = labels_of(labels, n_states)
    rotation = 90 if axis == "x" and any(not name.isdigit() for name in names) else 0
    getattr(ax, f"set_{axis}ticks")(np.arange(n_states), names, rotation=rotation, **tick_kw)
