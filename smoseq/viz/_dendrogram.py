"""The hierarchy of states by how alike their emissions are."""

from matplotlib.figure import Figure
from scipy.cluster.hierarchy import dendrogram

from ..metrics.labels import labels_of
from ..metrics.state_similarity import state_distances, state_linkage
from ._colors import state_colors
from ._inputs import new_figure


def plot_state_dendrogram(source, usage=None, ignore_diagonal: bool | None = None, names=None) -> Figure:
    """A dendrogram of states by the Jensen–Shannon distance between their emissions.

    States that join low are candidates to merge (`sm.merge_states`): their syllable
    transition tables, weighted by how often each uses each syllable, are alike. The
    distance and its reasons are in `smoseq.metrics.state_similarity` (average linkage).

    Args:
        source: a `FitResult` or (K, S, S) per-state syllable transition tables.
        usage: (K, S) syllable usage per state (default: each table's stationary distribution).
        ignore_diagonal: leave out repeats (default: True for a fit with `repeats="ignore"`).
        names: state labels or state -> name (default: the fit's `state_names`).

    Returns:
        A `matplotlib.figure.Figure`: the dendrogram (leaves labelled and coloured by state)
        beside the (K, K) distance matrix.
    """
    distances = state_distances(source, usage, ignore_diagonal)
    n_states = len(distances)
    labels = labels_of(names if names is not None else (source if hasattr(source, "state_names") else None), n_states)
    figure, axes = new_figure(4.0 + 0.55 * n_states, 3.8, ncols=2)
    tree = dendrogram(state_linkage(source, usage, ignore_diagonal), ax=axes[0, 0], labels=labels,
                      color_threshold=0, above_threshold_color="0.3", leaf_rotation=90)  # fmt: skip
    colors = state_colors(n_states)
    for tick, leaf in zip(axes[0, 0].get_xticklabels(), tree["leaves"]):
        tick.set_color(colors[leaf])
    axes[0, 0].set_ylabel("Jensen–Shannon distance (bits, square root)")
    axes[0, 0].set_title("states by emissions")
    order = tree["leaves"]
    image = axes[0, 1].imshow(distances[order][:, order], cmap="viridis_r", vmin=0)
    axes[0, 1].set_xticks(range(n_states), [labels[k] for k in order], rotation=90, fontsize=8)
    axes[0, 1].set_yticks(range(n_states), [labels[k] for k in order], fontsize=8)
    axes[0, 1].set_title("distance")
    figure.colorbar(image, ax=axes[0, 1], shrink=0.8)
    return figure
