"""Transition graphs of states, per group side by side, and the difference between two of them."""

from collections.abc import Mapping

import networkx as nx
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..metrics.transition_graphs import transition_difference, transition_graph, transition_graphs
from ._colors import state_colors
from ._inputs import new_figure

_INCREASE, _DECREASE = "#c0392b", "#2563a8"


def graph_layout(n_states: int, layout="circular", probabilities=None) -> dict:
    """Node positions shared by every panel, so graphs of different groups compare side by side.

    Args:
        n_states: K.
        layout: `"circular"` (state 0 at the right, counter-clockwise: the same for any
            data), `"spring"` (networkx's spring layout of the pooled graph, seed 0: states
            that often follow each other sit close), or a dict state -> (x, y).
        probabilities: (G, K, K) edge values pooled for `"spring"`.

    Returns:
        dict state -> (x, y).
    """
    if isinstance(layout, Mapping):
        missing = [k for k in range(n_states) if k not in layout]
        if missing:
            raise ValueError(f"layout has no position for state {missing[0]}")
        return {k: np.asarray(layout[k], dtype=float) for k in range(n_states)}
    if layout == "circular":
        return nx.circular_layout(range(n_states))
    if layout == "spring":
        pooled = np.zeros((n_states, n_states)) if probabilities is None else np.abs(probabilities).mean(0)
        undirected = nx.Graph()
        undirected.add_nodes_from(range(n_states))
        for i, j in zip(*np.nonzero(np.triu(pooled + pooled.T, 1))):
            undirected.add_edge(int(i), int(j), weight=float(pooled[i, j] + pooled[j, i]))
        return nx.spring_layout(undirected, seed=0, weight="weight")
    raise ValueError(f"layout must be 'circular', 'spring' or a dict state -> (x, y), got {layout!r}")


def plot_transition_graph(source, groups=None, threshold: float = 0.05, layout="circular", names=None, num_states=None) -> Figure:
    """Where each state goes when it ends, as a graph: one panel per group, one layout for all.

    Nodes are states, their area proportional to the time spent in them; an edge i -> j is
    p(next state = j | leaving i), its width proportional to it, drawn when ≥ `threshold`
    (self-transitions are left out). From states, that is the share of i's bouts followed by
    j; for a grouped fit without `groups`, the posterior mean of π[i, j] / (1 − π[i, i]).
    States are labelled by their names where given (`sm.name_states`).

    Args:
        source: a `FitResult` or a dict recording -> (T,) int states.
        groups: dict recording -> group label for one panel per group (`sm.load_groups`),
            or None (one panel; a grouped fit's own groups).
        threshold: smallest probability drawn as an edge.
        layout: `"circular"`, `"spring"` or a dict state -> (x, y) (see `graph_layout`).
        names: state labels or state -> name (default: the fit's names).
        num_states: K for a dict of states (default: largest state + 1).

    Returns:
        A `matplotlib.figure.Figure`, one panel per group.
    """
    graphs = transition_graphs(source, groups, num_states, names)
    n_groups, n_states = graphs.probabilities.shape[:2]
    positions = graph_layout(n_states, layout, graphs.probabilities)
    figure, axes = new_figure(4.2 * n_groups, 4.4, ncols=n_groups)
    for g, ax in enumerate(axes[0]):
        graph = transition_graph(graphs.occupancy[g], graphs.probabilities[g], graphs.labels, threshold)
        widths = [6.0 * d["weight"] for _, _, d in graph.edges(data=True)]
        _draw(ax, graph, positions, graphs.occupancy[g], widths, "0.35", ["solid"] * len(widths))
        ax.set_title(f"{graphs.groups[g]}" if n_groups > 1 or graphs.groups[0] != "all" else "state transitions")
    figure.suptitle(f"p(next state | leaving a state) ≥ {threshold:g}; node area: time in state", fontsize=9)
    return figure


def plot_transition_graph_difference(
    a, b, source=None, groups=None, threshold: float = 0.02, level: float = 0.95, layout="circular", names=None,
    num_states=None,
) -> Figure:  # fmt: skip
    """The change from graph `a` to graph `b`: edge colour the sign, width the size of b − a.

    Two uses: `a` and `b` are two fits or two dicts of states (e.g. the same model applied to
    two experiments), or they are two group labels of `source` (a fit or a dict of states,
    with `groups` unless it is a grouped fit). For a grouped fit, an edge whose
    `level` credible interval of the difference (from the kept posterior samples) excludes 0
    is drawn solid, the others dashed; without posterior samples every edge is solid.

    Args:
        a, b: the reference and the compared graph (see above).
        source: a `FitResult` or dict of states holding groups `a` and `b`, or None.
        groups: dict recording -> group label for `source` (default: a grouped fit's own).
        threshold: smallest |difference| drawn as an edge.
        level: mass of the credible intervals.
        layout: as `plot_transition_graph` (the same layout makes the figures comparable).
        names: state labels or state -> name (default: the fit's names).
        num_states: K for dicts of states.

    Returns:
        A `matplotlib.figure.Figure` with one panel.
    """
    if source is None:
        first = transition_graphs(a, None, num_states, names)
        second = transition_graphs(b, None, first.probabilities.shape[-1] if num_states is None else num_states, names)
        occupancy = (first.occupancy[0] + second.occupancy[0]) / 2
        difference, credible, labels = second.probabilities[0] - first.probabilities[0], None, first.labels
        title = "second − first"
    else:
        graphs = transition_graphs(source, groups, num_states, names)
        _, difference, credible = transition_difference(graphs, a, b, level)
        occupancy = (graphs.occupancy[graphs.index(a)] + graphs.occupancy[graphs.index(b)]) / 2
        labels, title = graphs.labels, f"{b} − {a}"
    graph = transition_graph(occupancy, difference, labels, threshold)
    edges = list(graph.edges(data=True))
    colours = [_INCREASE if d["weight"] > 0 else _DECREASE for _, _, d in edges]
    styles = ["solid" if credible is None or credible[i, j] else "dashed" for i, j, _ in edges]
    widths = [12.0 * abs(d["weight"]) for _, _, d in edges]
    figure, axes = new_figure(5.2, 4.8)
    ax = axes[0, 0]
    _draw(ax, graph, graph_layout(len(occupancy), layout, difference[None]), occupancy, widths, colours, styles)
    ax.set_title(f"change in p(next state | leaving): {title}", fontsize=10)
    legend = [Line2D([], [], color=_INCREASE, lw=2, label="more likely"), Line2D([], [], color=_DECREASE, lw=2, label="less likely")]
    if credible is not None:
        legend += [Line2D([], [], color="0.3", lw=2, label=f"{level:.0%} interval excludes 0"),
                   Line2D([], [], color="0.3", lw=2, ls="--", label="interval includes 0")]  # fmt: skip
    ax.legend(handles=legend, fontsize=7, loc="lower right", frameon=False)
    return figure


def _draw(ax, graph, positions, occupancy, widths, colours, styles) -> None:
    n_states = len(occupancy)
    nodes = list(range(n_states))
    sizes = 150 + 2500 * np.asarray(occupancy, dtype=float)
    nx.draw_networkx_nodes(graph, positions, nodelist=nodes, node_size=sizes, node_color=state_colors(n_states), ax=ax)
    labels = {k: graph.nodes[k]["label"] for k in nodes}
    nx.draw_networkx_labels(graph, positions, labels=labels, font_size=8, ax=ax)
    edges = [(i, j) for i, j, _ in graph.edges(data=True)]
    colours = colours if isinstance(colours, list) else [colours] * len(edges)
    for style in ("solid", "dashed"):
        chosen = [n for n, s in enumerate(styles) if s == style]
        if not chosen:
            continue
        nx.draw_networkx_edges(
            graph, positions, edgelist=[edges[n] for n in chosen], width=[widths[n] for n in chosen],
            edge_color=[colours[n] for n in chosen], style=style, arrows=True, arrowstyle="-|>", arrowsize=10,
            connectionstyle="arc3,rad=0.15", nodelist=nodes, node_size=sizes, ax=ax,
        )  # fmt: skip
    ax.set_axis_off()
    ax.margins(0.15)
