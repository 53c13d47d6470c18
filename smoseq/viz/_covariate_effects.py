"""The figure of an input-driven fit: every input's effect on how long each state lasts and where it goes."""

import numpy as np
from matplotlib.figure import Figure

from ._inputs import new_figure

_MARKERS = "osD^v<>p*h"


def plot_covariate_effects(table) -> Figure:
    """Effect ratios (feature at 1 / at 0) with their intervals, on a log scale with the line at 1.

    Left: the leave-rate ratio of every state. Right (K ≥ 3): the ratio of the probability
    of going to each destination once the state is left, one tick per "i→j".

    Args:
        table: the `pandas.DataFrame` of `sm.compare_covariate_effects`.

    Returns:
        A `matplotlib.figure.Figure`: one marker series per feature, the estimate and
        interval of every effect (filled where `flagged`).

    Raises:
        ValueError: a table without `kind` and `ratio` columns.
    """
    if not {"kind", "ratio", "ratio_lower", "ratio_upper"} <= set(table.columns):
        raise ValueError("the table has no kind/ratio columns (use sm.compare_covariate_effects)")
    panels = [("leave", "leave-rate ratio (feature 1 / 0)")]
    if (table["kind"] == "destination").any():
        panels.append(("destination", "destination probability ratio (feature 1 / 0)"))
    figure, axes = new_figure(6 * len(panels), 4, ncols=len(panels))
    features = list(dict.fromkeys(table["feature"]))
    for ax, (kind, label) in zip(axes[0], panels):
        part = table[table["kind"] == kind]
        ticks = list(dict.fromkeys(zip(part["state"], part["to_state"])))
        for index, feature in enumerate(features):
            rows = part[part["feature"] == feature]
            offset = (index - (len(features) - 1) / 2) * 0.8 / max(len(features), 1)
            x = np.array([ticks.index(key) for key in zip(rows["state"], rows["to_state"])]) + offset
            ratio = rows["ratio"].to_numpy()
            spread = np.stack([ratio - rows["ratio_lower"].to_numpy(), rows["ratio_upper"].to_numpy() - ratio])
            marker = _MARKERS[index % len(_MARKERS)]
            bars = ax.errorbar(x, ratio, yerr=np.nan_to_num(np.maximum(spread, 0)), fmt=marker, mfc="white", capsize=2,
                               label=feature)  # fmt: skip
            flagged = rows["flagged"].to_numpy(dtype=bool)
            ax.plot(x[flagged], ratio[flagged], marker, color=bars[0].get_color(), ls="none")
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set_xticks(np.arange(len(ticks)))
        ax.set_xticklabels([str(i) if j < 0 else f"{i}→{j}" for i, j in ticks])
        ax.set_xlabel("high-level state" if kind == "leave" else "transition")
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="best")
    return figure
