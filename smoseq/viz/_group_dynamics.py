"""The figure of a grouped fit: per-group durations and occupancies with credible intervals, and their ratios."""

import numpy as np
from matplotlib.figure import Figure

from ._inputs import new_figure

_GROUP_MARKERS = "osD^v<>p*h"


def plot_group_dynamics(table) -> Figure:
    """Expected duration and stationary occupancy of every state per group, and the ratios between groups.

    Args:
        table: the `pandas.DataFrame` of `sm.compare_group_dynamics` (its `group` and
            `ratio` rows of `duration_seconds` when present, else `duration_frames`, and of
            `occupancy`).

    Returns:
        A `matplotlib.figure.Figure` of 2 × 2 panels: posterior medians with 95 % credible
        intervals per state, one marker per group (top), and the ratio of each later group
        to the first group on a log scale with the line at 1 (bottom).

    Raises:
        ValueError: a table without duration or occupancy rows.
    """
    duration = "duration_seconds" if (table["quantity"] == "duration_seconds").any() else "duration_frames"
    figure, axes = new_figure(9, 5.5, nrows=2, ncols=2)
    for column, quantity in enumerate((duration, "occupancy")):
        rows = table[table["quantity"] == quantity]
        if rows.empty:
            raise ValueError(f"the table has no {quantity} rows (use sm.compare_group_dynamics)")
        _intervals(axes[0, column], rows[rows["kind"] == "group"], "group", quantity.replace("_", " "))
        ratios = rows[rows["kind"] == "ratio"]
        _intervals(axes[1, column], ratios, "pair", f"ratio of {quantity.replace('_', ' ')}")
        axes[1, column].set_yscale("log")
        axes[1, column].axhline(1.0, color="k", lw=1, ls="--")
    return figure


def _intervals(ax, rows, label_by: str, ylabel: str) -> None:
    labels = rows["group"] if label_by == "group" else rows["group"] + " / " + rows["reference"]
    series = list(dict.fromkeys(labels))
    for index, name in enumerate(series):
        part = rows[(labels == name).to_numpy()]
        offset = (index - (len(series) - 1) / 2) * 0.8 / max(len(series), 1)
        x = part["state"].to_numpy() + offset
        median = part["median"].to_numpy()
        spread = np.stack([median - part["lower"].to_numpy(), part["upper"].to_numpy() - median])
        ax.errorbar(x, median, yerr=np.maximum(spread, 0), fmt=_GROUP_MARKERS[index % len(_GROUP_MARKERS)],
                    capsize=2, label=name)  # fmt: skip
    if not rows.empty:
        ax.set_xticks(np.arange(int(rows["state"].max()) + 1))
    ax.set_xlabel("high-level state")
    ax.set_ylabel(ylabel)
    if series:
        ax.legend(fontsize=8, loc="best")
