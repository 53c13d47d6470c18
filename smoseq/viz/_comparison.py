"""Figures that compare two models' states of the same frames: confusion matrix, alluvial plot.

State labels are arbitrary, so the second model's states are first matched one-to-one to
the first model's with `smoseq.metrics.compare_states` (the Hungarian algorithm on the
frame-overlap counts), then drawn in the matched order and, where matched, in the colour of
their partner.
"""

from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._colors import state_colors
from ._inputs import count_states, new_figure, paired_sequences


class _Matching(NamedTuple):
    counts: np.ndarray  # (K1, K2) frames labelled i by model 1 and j by model 2
    order: np.ndarray  # (K2,) model-2 states, matched ones in the order of their partners
    colors1: np.ndarray  # (K1, 4)
    colors2: np.ndarray  # (K2, 4), indexed by model-2 state
    agreement: float  # fraction of frames on which the matched labels agree


def _match(states1, states2, n_states1, n_states2) -> _Matching:
    from ..metrics import compare_states  # the matching, and agreement, of the metrics module

    first, second = paired_sequences(states1, states2)
    n1, n2 = count_states([first], n_states1), count_states([second], n_states2)
    counts = np.zeros((n1, n2), dtype=np.int64)
    np.add.at(counts, (first, second), 1)
    comparison = compare_states(first, second, (n1, n2))
    matched2 = np.flatnonzero(comparison.permutation >= 0)
    by_partner = np.argsort(comparison.permutation[matched2])  # in increasing model-1 states
    matched2 = matched2[by_partner]
    matched1 = comparison.permutation[matched2]
    unmatched = np.setdiff1d(np.arange(n2), matched2)
    palette = state_colors(n1 + unmatched.size)
    colors2 = np.empty((n2, 4))
    colors2[matched2] = palette[matched1]
    colors2[unmatched] = palette[n1:]
    order = np.concatenate([matched2, unmatched])
    return _Matching(counts, order, palette[:n1], colors2, comparison.accuracy)


def plot_confusion(
    states1,
    states2,
    n_states1: int | None = None,
    n_states2: int | None = None,
    labels: tuple[str, str] = ("model 1", "model 2"),
) -> Figure:
    """Row-normalised confusion matrix between two models' states of the same frames.

    Cell (i, j) is the fraction of the frames in model-1 state `i` that model 2 puts in state
    `order[j]`; columns are in matched order, so a good agreement is a bright diagonal.

    Args:
        states1, states2: dicts recording -> states (T,) with the same keys and lengths (or
            two arrays of equal shape).
        n_states1, n_states2: numbers of states (default: largest state + 1).
        labels: names of the two models.

    Returns:
        A `matplotlib.figure.Figure` with a (K1, K2) heatmap, its title the matched agreement.

    Raises:
        ValueError: the two inputs differ in recordings or lengths, are not integer
            sequences, or hold a state ≥ `n_states1` / `n_states2`.
    """
    match = _match(states1, states2, n_states1, n_states2)
    counts = match.counts[:, match.order]
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n1, n2 = fractions.shape

    figure, axes = new_figure(0.45 * n2 + 2.0, 0.4 * n1 + 1.3)
    ax = axes[0, 0]
    image = ax.imshow(fractions, cmap="Greys", vmin=0, vmax=1, interpolation="none")
    figure.colorbar(image, ax=ax, label=f"fraction of {labels[0]} state", shrink=0.8)
    if max(n1, n2) <= 12:
        for (i, j), value in np.ndenumerate(fractions):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="w" if value > 0.5 else "k")
    ax.set_xticks(np.arange(n2), [str(k) for k in match.order])
    ax.set_yticks(np.arange(n1))
    for tick, color in zip(ax.get_xticklabels(), match.colors2[match.order]):
        tick.set_color(color)
    for tick, color in zip(ax.get_yticklabels(), match.colors1):
        tick.set_color(color)
    ax.set_xlabel(f"{labels[1]} state (matched order)")
    ax.set_ylabel(f"{labels[0]} state")
    ax.set_title(f"agreement after matching: {match.agreement:.0%}", fontsize=10)
    return figure


def plot_alluvial(
    states1,
    states2,
    n_states1: int | None = None,
    n_states2: int | None = None,
    labels: tuple[str, str] = ("model 1", "model 2"),
    min_flow: float = 0.001,
) -> Figure:
    """Alluvial (Sankey) diagram: how the frames of each model-1 state split among model-2 states.

    Bars on the left and right are the states of the two models, their heights the fractions
    of frames; a ribbon from left state `i` to right state `j` is as thick as the fraction
    of frames labelled `i` by model 1 and `j` by model 2.

    Args:
        states1, states2: dicts recording -> states (T,) with the same keys and lengths (or
            two arrays of equal shape).
        n_states1, n_states2: numbers of states (default: largest state + 1).
        labels: names of the two models, written above the columns.
        min_flow: ribbons thinner than this fraction of all frames are not drawn.

    Returns:
        A `matplotlib.figure.Figure`, its title the matched agreement.

    Raises:
        ValueError: the two inputs differ in recordings or lengths, are not integer
            sequences, or hold a state ≥ `n_states1` / `n_states2`.
    """
    match = _match(states1, states2, n_states1, n_states2)
    flows = match.counts / match.counts.sum()
    n1, n2 = flows.shape
    gap = 0.02
    left_top = _stack_tops(flows.sum(axis=1), gap)  # by model-1 state
    right_top = np.empty(n2)
    right_top[match.order] = _stack_tops(flows.sum(axis=0)[match.order], gap)
    rank2 = np.argsort(match.order)  # position of each model-2 state on the right

    figure, axes = new_figure(5, 4)
    ax = axes[0, 0]
    x_left, x_right, width = 0.0, 1.0, 0.06
    left_cursor, right_cursor = left_top.copy(), right_top.copy()
    for i in range(n1):  # ribbons leave a left bar in the order of their right ends, and vice versa
        for j in sorted(range(n2), key=lambda j: rank2[j]):
            if flows[i, j] < min_flow:
                left_cursor[i] -= flows[i, j]
                continue
            _ribbon(ax, x_left + width, x_right, left_cursor[i], right_cursor[j], flows[i, j], match.colors1[i])
            left_cursor[i] -= flows[i, j]
            right_cursor[j] -= flows[i, j]
    for x, tops, heights, colors, names, side in (
        (x_left, left_top, flows.sum(axis=1), match.colors1, range(n1), "right"),
        (x_right, right_top, flows.sum(axis=0), match.colors2, range(n2), "left"),
    ):
        for k, (top, height) in enumerate(zip(tops, heights)):
            ax.add_patch(Rectangle((x, top - height), width, height, color=colors[k], lw=0))
            if height > 0.015:
                text_x = x - 0.01 if side == "right" else x + width + 0.01
                ax.text(text_x, top - height / 2, f"state {names[k]}", ha=side, va="center", fontsize=7)
    ax.text(x_left + width / 2, 1.0 + gap, labels[0], ha="center", va="bottom", fontsize=9)
    ax.text(x_right + width / 2, 1.0 + gap, labels[1], ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.3, 1.36)
    ax.set_ylim(-gap * max(n1, n2) - 0.01, 1.08)
    ax.set_axis_off()
    ax.set_title(f"agreement after matching: {match.agreement:.0%}", fontsize=10)
    return figure


def _stack_tops(heights: np.ndarray, gap: float) -> np.ndarray:
    """Top y of bars stacked downwards from y = 1 with `gap` between them."""
    return 1.0 - np.concatenate([[0.0], np.cumsum(heights)[:-1]]) - gap * np.arange(len(heights))


def _ribbon(ax, x0: float, x1: float, top0: float, top1: float, thickness: float, color) -> None:
    x = np.linspace(x0, x1, 50)
    s = 0.5 - 0.5 * np.cos(np.pi * (x - x0) / (x1 - x0))  # smooth step from 0 to 1
    top = top0 + (top1 - top0) * s
    ax.fill_between(x, top - thickness, top, color=color, alpha=0.45, lw=0)
