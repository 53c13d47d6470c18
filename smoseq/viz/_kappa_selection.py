"""Figures of scan selection: agreement across seeds, and the evidence behind the κ and n_states suggestions."""

import numpy as np
from matplotlib.figure import Figure

from ._colors import state_colors
from ._inputs import new_figure


def plot_seed_agreement(agreement, title: str = "") -> Figure:
    """Two seed × seed matrices: Hungarian-matched accuracy and adjusted Rand index (from `seed_agreement`).

    Args:
        agreement: the DataFrame of `seed_agreement` (columns `seed_a`, `seed_b`,
            `accuracy`, `adjusted_rand`); the diagonal is drawn as 1.
        title: optional figure title.

    Returns:
        A `matplotlib.figure.Figure` with two annotated heat maps.
    """
    seeds = sorted(set(agreement["seed_a"]) | set(agreement["seed_b"]))
    index = {seed: i for i, seed in enumerate(seeds)}
    figure, axes = new_figure(7, 3.2, ncols=2)
    for ax, column, label in zip(axes[0], ("accuracy", "adjusted_rand"), ("matched accuracy", "adjusted Rand index")):
        matrix = np.eye(len(seeds))
        for row in agreement.itertuples():
            matrix[index[row.seed_a], index[row.seed_b]] = matrix[index[row.seed_b], index[row.seed_a]] = getattr(row, column)
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
        ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
        ax.set_yticks(range(len(seeds)), [str(s) for s in seeds])
        ax.set_xlabel("seed")
        ax.set_ylabel("seed")
        ax.set_title(label, fontsize=9)
        figure.colorbar(image, ax=ax, shrink=0.8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_seed_confusions(confusions: dict, reference_seed: int, title: str = "") -> Figure:
    """One heat map per other seed: its confusion with the reference seed, matches on the diagonal.

    The published parameter-scan tutorial's figure: a row of row-normalised confusion
    matrices (`seed_confusions`), the reference seed's states on the rows and the other
    seed's on the columns. A clean diagonal means the two seeds found the same states; a
    row split over two columns, a state one seed splits and the other merges.

    Args:
        confusions: dict other seed -> (K, K) matrix (`smoseq.scan.seed_confusions`).
        reference_seed: the seed on the rows.
        title: optional figure title.

    Returns:
        A `matplotlib.figure.Figure` with one panel per other seed.

    Raises:
        ValueError: `confusions` is empty.
    """
    if not confusions:
        raise ValueError("no other seed to compare with")
    figure, axes = new_figure(min(1.3 * len(confusions) + 0.8, 16), 1.9, ncols=len(confusions))
    for ax, (seed, matrix) in zip(axes[0], confusions.items()):
        image = ax.imshow(np.asarray(matrix), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"states\n(seed={seed})", fontsize=8)
    axes[0][0].set_ylabel(f"states\n(seed={reference_seed})", fontsize=8)
    figure.colorbar(image, ax=axes[0][-1], shrink=0.8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_agreement_by_kappa(table) -> Figure:
    """Mean pairwise accuracy and adjusted Rand across seeds against κ (one line per n_states).

    Args:
        table: the DataFrame of `agreement_by_kappa` (columns `n_states`, `kappa`,
            `accuracy`, `adjusted_rand`).

    Returns:
        A `matplotlib.figure.Figure` (log-scaled κ axis).
    """
    figure, axes = new_figure(4.5, 3)
    ax = axes[0, 0]
    for n_states, group in table.groupby("n_states", sort=True):
        suffix = f" (K={n_states})" if table["n_states"].nunique() > 1 else ""
        ax.plot(group["kappa"], group["accuracy"], marker="o", ms=3, label="matched accuracy" + suffix)
        ax.plot(group["kappa"], group["adjusted_rand"], marker="s", ms=3, ls="--", label="adjusted Rand" + suffix)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("κ (stickiness)")
    ax.set_ylabel("agreement across seeds (mean of pairs)")
    ax.legend(fontsize=7)
    return figure


def plot_kappa_suggestion(suggestion, fps: float) -> Figure:
    """Left: real and Markov MI above the shuffle, the separation lag marked. Right: median duration vs κ.

    Args:
        suggestion: a `KappaSuggestion` (`suggest_kappa`); the separation and the
            suggested κ (with the rule that chose it) are marked when there are any.
        fps: frames per second, to plot lags in seconds.

    Returns:
        A `matplotlib.figure.Figure` with two panels.
    """
    figure, axes = new_figure(9, 3, ncols=2)
    left, right = axes[0]
    mi = suggestion.mi
    seconds = mi["lag"].to_numpy(float) / fps
    left.plot(seconds, mi["real_excess"], marker="o", ms=3, label="real − shuffle")
    left.plot(seconds, mi["markov_excess"], marker="o", ms=3, label="Markov − shuffle")
    left.set_xscale("log")
    left.set_xlabel("lag (s)")
    left.set_ylabel("MI above shuffle (nats)")
    per_kappa = suggestion.per_kappa
    right.plot(per_kappa["kappa"], per_kappa["median_duration_s"], marker="o", ms=3, color="k")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("κ (stickiness)")
    right.set_ylabel("median state duration (s)")
    if suggestion.timescale_s is not None:
        left.axvline(suggestion.timescale_s, color="tab:red", ls="--", lw=1, label=f"separation {suggestion.timescale_s:.3g} s")
        right.axhline(suggestion.timescale_s, color="tab:red", ls="--", lw=1)
    if suggestion.kappa is not None:
        rule = "log-probability peak" if suggestion.rule == "log_prob_peak" else "MI timescale"
        right.axvline(suggestion.kappa, color="tab:red", lw=1, label=f"suggested κ {suggestion.kappa:.4g} ({rule})")
        right.legend(fontsize=7)
    left.legend(fontsize=7)
    return figure


def plot_n_states_selection(suggestion) -> Figure:
    """Choosing n_states: ranked state frequencies per n_states (a line per seed), states used,
    median log probability and median pairwise adjusted Rand index against n_states.

    Args:
        suggestion: an `NStatesSuggestion` (`smoseq.scan.suggest_n_states`).

    Returns:
        A `matplotlib.figure.Figure` with four panels; the suggested n_states is marked.
    """
    figure, axes = new_figure(12, 3, ncols=4)
    ranked, used, log_prob, agreement = axes[0]
    table = suggestion.table
    colors = state_colors(len(table))
    for color, (n_states, per_seed) in zip(colors, sorted(suggestion.frequencies.items())):
        for seed, frequencies in enumerate(per_seed):
            ranked.plot(np.arange(1, len(frequencies) + 1), frequencies, color=color, lw=1,
                        label=f"n_states={n_states}" if seed == 0 else None)  # fmt: skip
    ranked.axhline(suggestion.min_frequency, color="k", ls=":", lw=1)
    ranked.set_yscale("log")
    ranked.set_xlabel("state rank")
    ranked.set_ylabel("fraction of frames")
    ranked.legend(fontsize=6)
    for ax, column, label in (
        (used, "median_effective_states", f"states used (≥ {suggestion.min_frequency:.0%}, median)"),
        (log_prob, "median_final_log_prob", "final log probability (median)"),
        (agreement, "median_adjusted_rand", "adjusted Rand across seeds (median)"),
    ):
        ax.plot(table["n_states"], table[column], marker="o", ms=3, color="k")
        ax.axvline(suggestion.n_states, color="tab:red", lw=1)
        ax.set_xlabel("n_states")
        ax.set_ylabel(label)
    used.plot(table["n_states"], table["n_states"], color="0.7", ls="--", lw=1)
    return figure
