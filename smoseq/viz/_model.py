"""Figures of a fitted model's parameters."""

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..metrics.labels import labels_of
from ._colors import state_colors
from ._inputs import new_figure


def plot_syllable_tables(
    tables, n_cols: int = 5, relative: bool = False, vmax: float | None = None, labels=None
) -> Figure:
    """Each state's syllable-to-syllable transition table, one heatmap per state.

    Args:
        tables: `P[k, i, j] = p(next syllable j | syllable i, state k)`, shape (K, S, S), e.g.
            from `get_syllable_trans_probs(params)`.
        n_cols: heatmaps per row.
        relative: show `log2(P_k / mean over states)` instead of `P_k`: red where state `k`
            makes a transition more likely than the average state, blue where less.
        vmax: top of the colour scale (default: the 99th percentile of the values shown, or
            for `relative` the largest absolute log ratio, capped at 3).
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with K (S, S) heatmaps in rows of `n_cols`.

    Raises:
        ValueError: `tables` is not (K, S, S).
    """
    tables = np.asarray(tables, dtype=float)
    if tables.ndim != 3 or tables.shape[1] != tables.shape[2]:
        raise ValueError(f"tables must be (K, S, S), got shape {tables.shape}")
    n_states = tables.shape[0]
    if relative:
        values = np.log2((tables + 1e-12) / (tables.mean(axis=0, keepdims=True) + 1e-12))
        limit = vmax if vmax is not None else min(3.0, float(np.abs(values).max()) or 1.0)
        scale = {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
        label = "log2 ratio to mean"
    else:
        values = tables
        top = vmax if vmax is not None else float(np.percentile(values, 99)) or 1.0
        scale = {"cmap": "viridis", "vmin": 0.0, "vmax": top}
        label = "p(next | current)"

    n_cols = max(1, min(n_cols, n_states))
    n_rows = math.ceil(n_states / n_cols)
    figure, axes = new_figure(2.2 * n_cols + 0.8, 2.2 * n_rows, nrows=n_rows, ncols=n_cols, sharex=True, sharey=True)
    colors = state_colors(n_states)
    titles = [name if not name.isdigit() else f"state {name}" for name in labels_of(labels, n_states)]
    for k, ax in enumerate(axes.flat):
        if k >= n_states:
            ax.set_axis_off()
            continue
        image = ax.imshow(values[k], interpolation="none", **scale)
        ax.set_title(titles[k], color=colors[k], fontsize=10, fontweight="bold")
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("next syllable", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("current syllable", fontsize=8)
    figure.colorbar(image, ax=axes, label=label, shrink=0.8)
    return figure
