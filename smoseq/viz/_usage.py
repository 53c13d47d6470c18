"""Figures of how states are used: frequencies, transitions, ethograms."""

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..metrics import get_frequencies
from ..metrics.instances import find_runs
from ..metrics.labels import labels_of
from ._colors import state_colormap, state_colors
from ._inputs import as_sequences, count_states, new_figure, set_state_ticks


def plot_frequencies(states, n_states: int | None = None, cutoff: float = 0.02, labels=None) -> Figure:
    """Proportion of frames (left) and of bouts (right) in each state (`get_frequencies`),
    with a cut-off line.

    The model is fit with a fixed number of states, but some may be barely used; states
    below the cut-off (1-2 % is a good rule) are best left out of further analysis. Bars
    below the cut-off are drawn pale.

    Args:
        states: dict recording -> states (T,) ints (or one sequence, or a 2-D array of rows).
        n_states: number of states (default: largest state + 1).
        cutoff: proportion drawn as a dashed line.
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with two bar charts of K bars each.

    Raises:
        ValueError: states that are empty, not 1-D integer sequences, or ≥ `n_states`.
    """
    n_states = count_states(as_sequences(states), n_states)
    per_frame = get_frequencies(states, n_states)
    per_bout = get_frequencies(states, n_states, runlength=True)
    colors = state_colors(n_states)
    figure, axes = new_figure(5, 2.2, ncols=2, sharey=True)
    for ax, proportions, unit in zip(axes[0], (per_frame, per_bout), ("frames", "bouts")):
        bars = ax.bar(np.arange(n_states), proportions, color=colors)
        for bar, p in zip(bars, proportions):
            bar.set_alpha(1.0 if p >= cutoff else 0.35)
        ax.axhline(cutoff, ls="--", lw=1, c="k", label=f"cut-off {cutoff:.0%}")
        ax.set_xlabel("high-level state")
        ax.set_ylabel(f"proportion of {unit}")
        set_state_ticks(ax, n_states, labels)
    axes[0, 0].legend(loc="best", fontsize=8)
    return figure


def plot_transition_matrix(
    matrix,
    title: str = "transition probabilities",
    exclude_diagonal: bool = False,
    annotate: bool | None = None,
    labels=None,
) -> Figure:
    """Heatmap of a (K, K) transition matrix: bout-level transitions or a model's `π`.

    Args:
        matrix: row `i` holds the probabilities (or counts) of going from state `i` to each
            state, shape (K, K), e.g. `get_bout_transition_matrix(states_dict)` or a model's
            `params["trans_probs"]`. Rows are normalised to sum to 1.
        title: figure title.
        exclude_diagonal: blank the diagonal and renormalise the rest of each row, i.e. show
            where each state goes when it ends (useful for a sticky `π`).
        annotate: print the values in the cells (default: when K <= 12).
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with a (K, K) heatmap of row-normalised probabilities.

    Raises:
        ValueError: `matrix` is not square.
    """
    matrix = np.array(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (K, K), got shape {matrix.shape}")
    n_states = matrix.shape[0]
    if exclude_diagonal:
        np.fill_diagonal(matrix, 0.0)
    totals = matrix.sum(axis=1, keepdims=True)
    probabilities = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    if exclude_diagonal:
        np.fill_diagonal(probabilities, np.nan)

    figure, axes = new_figure(0.45 * n_states + 1.8, 0.4 * n_states + 1.2)
    ax = axes[0, 0]
    image = ax.imshow(probabilities, cmap="Greys", vmin=0, interpolation="none")
    figure.colorbar(image, ax=ax, label="probability", shrink=0.8)
    if annotate if annotate is not None else n_states <= 12:
        peak = np.nanmax(probabilities) if np.any(np.isfinite(probabilities)) else 1.0
        for (i, j), value in np.ndenumerate(probabilities):
            if np.isfinite(value):
                color = "w" if value > peak / 2 else "k"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
    _color_state_ticks(ax, n_states, labels=labels)
    ax.set_xlabel("to state")
    ax.set_ylabel("from state")
    ax.set_title(title, fontsize=10)
    return figure


def _color_state_ticks(ax, n_states: int, x: bool = True, y: bool = True, labels=None) -> None:
    colors = state_colors(n_states)
    for axis, on in ((ax.xaxis, x), (ax.yaxis, y)):
        if not on:
            continue
        set_state_ticks(ax, n_states, labels, "x" if axis is ax.xaxis else "y")
        for tick, color in zip(axis.get_ticklabels(), colors):
            tick.set_color(color)
            tick.set_fontweight("bold")


def plot_ethogram(
    states,
    syllables,
    fps: float,
    start: int = 0,
    end: int | None = None,
    n_states: int | None = None,
    title: str | None = None,
    labels=None,
) -> Figure:
    """One recording over time: its states as a colour band, its syllables beneath.

    Each syllable bout is a short horizontal bar at the syllable's row, coloured by the
    state at its onset, so the syllables that make up each state stand out.

    Args:
        states: states of the recording, shape (T,) ints.
        syllables: syllables of the recording, shape (T,) ints.
        fps: frames per second (the time axis is in seconds).
        start, end: frame interval shown (default: all).
        n_states: number of states, for colours (default: largest state + 1).
        title: figure title, e.g. the recording's name.
        labels: state labels in the legend (K names, or state -> name, e.g.
            `result.state_names`); default "state k".

    Returns:
        A `matplotlib.figure.Figure`: a state band above a syllable raster.

    Raises:
        ValueError: `states` and `syllables` are not 1-D of equal length, the interval is
            empty, or a state ≥ `n_states`.
    """
    states, syllables = np.asarray(states), np.asarray(syllables)
    if states.ndim != 1 or states.shape != syllables.shape:
        raise ValueError(f"states and syllables must be 1-D of equal length, got {states.shape} and {syllables.shape}")
    end = states.size if end is None else min(end, states.size)
    if not 0 <= start < end:
        raise ValueError(f"empty interval: start={start}, end={end} of {states.size} frames")
    n_states = count_states([states], n_states)
    states, syllables = states[start:end], syllables[start:end]
    t0, t1 = start / fps, end / fps

    figure, axes = new_figure(8, 3.2, nrows=2, sharex=True, gridspec_kw={"height_ratios": [1, 5]})
    band, raster = axes[:, 0]
    cmap, norm = state_colormap(n_states)
    band.imshow(states[None], cmap=cmap, norm=norm, aspect="auto", interpolation="none", extent=(t0, t1, 0, 1))
    band.set_yticks([])
    band.set_ylabel("state", rotation=0, ha="right", va="center")
    if title:
        band.set_title(title, fontsize=10)

    run_starts, run_ends, run_syllables = find_runs(syllables)
    segments = np.stack(
        [np.stack([run_starts, run_syllables], 1), np.stack([run_ends, run_syllables], 1)], axis=1
    ).astype(float)
    segments[..., 0] = segments[..., 0] / fps + t0
    colors = state_colors(n_states)[states[run_starts]]
    raster.add_collection(LineCollection(segments, colors=colors, linewidths=3))
    raster.set_xlim(t0, t1)
    raster.set_ylim(-0.5, syllables.max() + 0.5)
    raster.invert_yaxis()
    raster.set_xlabel("seconds")
    raster.set_ylabel("syllable")
    shown = np.unique(states)
    if shown.size <= 20:
        names = [f"state {k}" for k in range(n_states)] if labels is None else labels_of(labels, n_states)
        handles = [Patch(color=state_colors(n_states)[k], label=names[k]) for k in shown]
        raster.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    return figure
