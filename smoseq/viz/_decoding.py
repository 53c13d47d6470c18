"""The figure of `decode_groups`: confusion matrix, permutation null, the features that decide."""

import numpy as np
from matplotlib.figure import Figure

from ._inputs import new_figure


def _feature_label(row, state_labels) -> str:
    def name(k: int) -> str:
        return state_labels[k] if state_labels is not None and 0 <= k < len(state_labels) else str(k)

    if row["kind"] == "transition":
        return f"{name(row['state'])} → {name(row['to_state'])}"
    kind = {"fraction_clr": "use (clr)", "log_median_bout_s": "bout length"}.get(row["kind"], row["kind"])
    return f"{kind}: {name(row['state'])}"


def plot_group_decoding(decoding, state_labels=None, top: int = 10) -> Figure:
    """Three panels: out-of-fold confusion matrix; balanced accuracy against its permutation
    distribution (p-value); the `top` features by |standardised weight|.

    Args:
        decoding: a `GroupDecoding` (`sm.decode_groups`).
        state_labels: optional list of K names used for the states in feature labels.
        top: features shown.

    Returns:
        A `matplotlib.figure.Figure`.
    """
    figure, axes = new_figure(13.0, 3.6, 1, 3)
    confusion = decoding.confusion.to_numpy()
    ax = axes[0, 0]
    ax.imshow(confusion, cmap="Blues", vmin=0)
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > confusion.max() / 2 else "black")
    ax.set_xticks(range(len(decoding.groups)), decoding.groups)
    ax.set_yticks(range(len(decoding.groups)), decoding.groups)
    ax.set_xlabel("predicted group")
    ax.set_ylabel("group")
    ax.set_title(f"{decoding.classifier}, {decoding.cv}", fontsize=9)

    ax = axes[0, 1]
    ax.hist(decoding.permutation_scores, bins=20, range=(0, 1), color="0.7", label="permuted groups")
    ax.axvline(decoding.accuracy, color="tab:red", label=f"observed {decoding.accuracy:.2f}")
    ax.axvline(decoding.chance, color="0.3", linestyle=":", label=f"chance {decoding.chance:.2f}")
    ax.set_xlabel("balanced accuracy (cross-validated)")
    ax.set_ylabel("permutations")
    ax.set_title(f"p = {decoding.p_value:.3g} ({decoding.n_permutations} permutations)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)

    ax = axes[0, 2]
    rows = decoding.features.head(top).iloc[::-1]
    labels = [_feature_label(row, state_labels) for _, row in rows.iterrows()]
    colors = ["tab:orange" if w > 0 else "tab:blue" for w in rows["weight"]]
    ax.barh(range(len(rows)), rows["weight"], color=colors)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.axvline(0, color="0.3", linewidth=0.8)
    towards = f" (> 0: towards {decoding.groups[1]})" if len(decoding.groups) == 2 else " (largest over groups)"
    ax.set_xlabel("standardised weight" + towards, fontsize=8)
    ax.set_title("features that carry the decision", fontsize=9)
    return figure
