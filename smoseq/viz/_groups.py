"""Figures comparing experimental groups: a metric per state by group, transitions per group."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..metrics import get_bout_transition_matrix
from ._inputs import as_sequences, count_states, new_figure, set_state_ticks

_STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def _stars(p_value: float, alpha: float) -> str:
    return next((mark for level, mark in _STARS if level <= max(alpha, 0.001) and p_value < level), "")


def _group_labels(groups: Mapping, recordings) -> list[str]:
    missing = [r for r in recordings if r not in groups]
    if missing:
        raise ValueError(f"no group for recording {missing[0]!r}")
    return sorted({str(groups[r]) for r in recordings})


def plot_group_metric(
    table: pd.DataFrame,
    groups: Mapping,
    metric: str,
    statistics: pd.DataFrame | None = None,
    alpha: float = 0.05,
    n_states: int | None = None,
    labels=None,
) -> Figure:
    """One metric per state and group: mean ± SEM, every recording as a point, significance marks.

    Args:
        table: one row per recording × state (e.g. `behaviour_table`).
        groups: dict recording -> group label.
        metric: the column to show, e.g. `"median_bout_s"`.
        statistics: optional `compare_groups` result; states whose test of this metric
            (the two-group test, or Kruskal–Wallis for more groups) has `p_corrected`
            below `alpha` get * (< 0.05), ** (< 0.01) or *** (< 0.001).
        alpha: significance level for the marks.
        n_states: K (default: largest state in the table + 1).
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with K clusters of one bar per group.

    Raises:
        ValueError: `metric` is not a column, or a recording has no group.
    """
    if metric not in table.columns:
        raise ValueError(f"the table has no column {metric!r}")
    state_labels = labels
    labels = _group_labels(groups, table["recording"].unique())
    n_states = int(table["state"].max()) + 1 if n_states is None else n_states
    width = 0.8 / len(labels)
    rng = np.random.default_rng(0)
    figure, axes = new_figure(min(24.0, max(3.5, 0.25 * n_states * len(labels) + 1.8)), 2.6)
    ax = axes[0, 0]
    group_of = table["recording"].map(lambda r: str(groups[r]))
    for index, label in enumerate(labels):
        rows = table[group_of == label]
        offsets = np.arange(n_states) + (index - (len(labels) - 1) / 2) * width
        by_state = [rows.loc[rows["state"] == k, metric].dropna().to_numpy(float) for k in range(n_states)]
        means = np.array([v.mean() if len(v) else np.nan for v in by_state])
        sems = np.array([v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in by_state])
        ax.bar(offsets, means, width * 0.9, yerr=sems, color=f"C{index}", alpha=0.45, capsize=2, label=label)
        for offset, values in zip(offsets, by_state):
            jitter = rng.uniform(-0.25, 0.25, len(values)) * width
            ax.scatter(offset + jitter, values, s=6, color=f"C{index}", edgecolor="k", linewidth=0.3, zorder=3)
    if statistics is not None:
        _mark_significance(ax, statistics, metric, alpha, table, n_states)
    set_state_ticks(ax, n_states, state_labels)
    ax.set_xlabel("state")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=7, frameon=False, loc="best")
    return figure


def _mark_significance(ax, statistics: pd.DataFrame, metric: str, alpha: float, table, n_states: int) -> None:
    rows = statistics[(statistics["metric"] == metric) & (statistics["test"] != "Dunn")]
    top = np.nanmax(table[metric].to_numpy(float)) if table[metric].notna().any() else 1.0
    for _, row in rows.iterrows():
        mark = _stars(row["p_corrected"], alpha) if pd.notna(row["p_corrected"]) else ""
        if mark and row["state"] < n_states:
            ax.text(row["state"], top * 1.05, mark, ha="center", va="bottom", fontsize=9)
    ax.set_ylim(top=max(ax.get_ylim()[1], top * 1.15))


def plot_group_transitions(
    states, groups: Mapping, n_states: int | None = None, reference: str | None = None, labels=None
) -> Figure:
    """Bout-level transition matrices per group and their difference from a reference group.

    Each group's matrix pools the bout transitions of its recordings (`P(next = j |
    leaving i)`, `get_bout_transition_matrix`). The bottom row shows each other group's
    matrix minus the reference's (red: more frequent than in the reference).

    Args:
        states: dict recording -> (T,) int states.
        groups: dict recording -> group label.
        n_states: K (default: largest state + 1).
        reference: the group the others are compared with (default: the first label
            in sorted order).
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure`: one matrix per group, and one difference per other group.

    Raises:
        ValueError: a recording without a group, or an unknown `reference`.
    """
    n_states = count_states(as_sequences(states), n_states)
    state_labels = labels
    labels = _group_labels(groups, list(states))
    reference = labels[0] if reference is None else str(reference)
    if reference not in labels:
        raise ValueError(f"reference group {reference!r} is not one of {labels}")
    matrices = {
        label: get_bout_transition_matrix({r: s for r, s in states.items() if str(groups[r]) == label}, n_states)
        for label in labels
    }
    others = [label for label in labels if label != reference]
    size = 0.25 * n_states + 1.6
    figure, axes = new_figure(size * len(labels), size * 2, nrows=2, ncols=len(labels))
    peak = max(float(m.max()) for m in matrices.values()) or 1.0
    for ax, label in zip(axes[0], labels):
        image = ax.imshow(matrices[label], cmap="Greys", vmin=0, vmax=peak, interpolation="none")
        ax.set_title(f"{label}" + (" (reference)" if label == reference else ""), fontsize=9)
    figure.colorbar(image, ax=list(axes[0]), label="P(next | leaving)", shrink=0.8)
    differences = {label: matrices[label] - matrices[reference] for label in others}
    spread = max((float(np.abs(d).max()) for d in differences.values()), default=0.0) or 1.0
    for ax, label in zip(axes[1], others):
        image = ax.imshow(differences[label], cmap="RdBu_r", vmin=-spread, vmax=spread, interpolation="none")
        ax.set_title(f"{label} − {reference}", fontsize=9)
    if others:
        figure.colorbar(image, ax=list(axes[1]), label="difference", shrink=0.8)
    for ax in axes[1][len(others) :]:
        ax.set_visible(False)
    for ax in axes.flat:
        set_state_ticks(ax, n_states, state_labels, "x")
        set_state_ticks(ax, n_states, state_labels, "y")
        ax.tick_params(labelsize=6)
        ax.set_xlabel("to state", fontsize=7)
        ax.set_ylabel("from state", fontsize=7)
    return figure
