"""The published interactive Sankey diagram between two labellings of the same frames (plotly)."""

import numpy as np

from ..metrics import compare_states, get_frequencies
from ._colors import state_colors


def _rgba(color, alpha: float) -> str:
    red, green, blue = (int(round(255 * channel)) for channel in color[:3])
    return f"rgba({red},{green},{blue},{alpha})"


def plot_sankey(states1, states2, labels: tuple[str, str] | None = None):
    """A plotly Sankey diagram: states of `states1` on the left, of `states2` on the right.

    The link from left state `i` to right state `j` carries the fraction of all frames
    labelled `i` in `states1` and `j` in `states2`, in left state `i`'s colour; as
    published, there is a link for every pair (in the order i = 0, j = 0, 1, …), empty
    pairs carrying 0, so `link.value` reshapes to the (K1, K2) joint table. Both sides
    colour state `k` alike (`state_colors`). As the published `plot_sankey`, it returns a
    `plotly.graph_objects.Figure` (`fig.update_layout(width=600)`, `fig.show()`,
    `fig.write_html(...)`); for a PNG report use the matplotlib `plot_alluvial`.

    Args:
        states1: dict recording -> (T_i,) int states (or a list of arrays, or one array).
        states2: the same recordings and lengths labelled another way (e.g. another seed or K).
        labels: optional names of the two sides, prefixed to the node labels
            (default: nodes are `"state k"`, as published).

    Returns:
        A `plotly.graph_objects.Figure` holding one `go.Sankey`.
    """
    import plotly.graph_objects as go  # plotly loads only when a Sankey is drawn

    comparison = compare_states(states1, states2)
    shares1 = get_frequencies(states1, comparison.confusion.shape[0])  # (K1,) fraction of frames per left state
    counts_share = comparison.confusion * shares1[:, None]
    n1, n2 = counts_share.shape
    colors = state_colors(max(n1, n2))
    prefix1, prefix2 = (f"{labels[0]}: ", f"{labels[1]}: ") if labels else ("", "")
    sources, targets = np.divmod(np.arange(n1 * n2), n2)
    sankey = go.Sankey(
        arrangement="snap",
        node={
            "pad": 15, "thickness": 20, "line": {"color": "black", "width": 0.5},
            "label": [f"{prefix1}state {i}" for i in range(n1)] + [f"{prefix2}state {j}" for j in range(n2)],
            "color": [_rgba(c, 0.8) for c in colors[:n1]] + [_rgba(c, 0.8) for c in colors[:n2]],
        },
        link={
            "source": sources.tolist(), "target": (n1 + targets).tolist(),
            "value": counts_share[sources, targets].tolist(),
            "color": [_rgba(colors[i], 0.8) for i in sources],
        },
    )  # fmt: skip
    return go.Figure(sankey)

