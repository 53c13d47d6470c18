"""The figure of an input-driven fit: every input's effect on each state's leaving rate, with credible intervals."""

import numpy as np
from matplotlib.figure import Figure

from ._inputs import new_figure

_MARKERS = "osD^v<>p*h"


def plot_covariate_effects(table) -> Figure:
    """Leave-rate ratio (input on / off) per state and feature, on a log scale with the line at 1.

    Args:
        table: the `pandas.DataFrame` of `sm.compare_covariate_effects`.

    Returns:
        A `matplotlib.figure.Figure`: one marker series per feature, the posterior median
        and credible interval of `leave_rate_ratio` at every state (filled where `flagged`).

    Raises:
        ValueError: a table without `leave_rate_ratio` columns.
    """
    if "leave_rate_ratio" not in table:
        raise ValueError("the table has no leave_rate_ratio column (use sm.compare_covariate_effects)")
    figure, axes = new_figure(7, 4)
    ax = axes[0, 0]
    features = list(dict.fromkeys(table["feature"]))
    for index, feature in enumerate(features):
        part = table[table["feature"] == feature]
        offset = (index - (len(features) - 1) / 2) * 0.8 / max(len(features), 1)
        x = part["state"].to_numpy() + offset
        median = part["leave_rate_ratio"].to_numpy()
        spread = np.stack([median - part["leave_rate_ratio_lower"].to_numpy(), part["leave_rate_ratio_upper"].to_numpy() - median])
        marker = _MARKERS[index % len(_MARKERS)]
        bars = ax.errorbar(x, median, yerr=np.maximum(spread, 0), fmt=marker, mfc="white", capsize=2, label=feature)
        flagged = part["flagged"].to_numpy()
        ax.plot(x[flagged], median[flagged], marker, color=bars[0].get_color(), ls="none")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=1, ls="--")
    if not table.empty:
        ax.set_xticks(np.arange(int(table["state"].max()) + 1))
    ax.set_xlabel("high-level state")
    ax.set_ylabel("leave-rate ratio (feature +1 / baseline)")
    ax.legend(fontsize=8, loc="best")
    return figure
