"""The parameter-scan figure: how the stickiness κ shapes fit quality and state durations."""

from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from ._inputs import new_figure

SCAN_COLUMNS = ("kappa", "n_states", "seed", "final_log_prob", "median_duration_s")


def plot_scan(summary) -> Figure:
    """Three panels from a scan summary: log probability vs κ, median duration vs κ, and
    median duration vs log probability with one dot per model coloured by κ.

    In the first two panels the line is the median across seeds and the band the
    inter-quartile range; a scan over several `n_states` draws one line per value.

    Args:
        summary: pandas DataFrame with one row per fitted model and at least the columns
            `kappa`, `n_states`, `seed`, `final_log_prob`, `median_duration_s`
            (e.g. `smoseq.scan.load_summary`).

    Returns:
        A `matplotlib.figure.Figure` with three panels.

    Raises:
        ValueError: `summary` lacks a needed column or has no rows.
    """
    missing = [c for c in SCAN_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"scan summary lacks columns {missing}; it needs {list(SCAN_COLUMNS)}")
    if len(summary) == 0:
        raise ValueError("scan summary has no rows")

    figure, axes = new_figure(10, 2.8, ncols=3)
    groups = list(summary.groupby("n_states", sort=True))
    for n_states, group in groups:
        label = f"{n_states} states" if len(groups) > 1 else None
        for ax, column in zip(axes[0, :2], ("final_log_prob", "median_duration_s")):
            _median_and_quartiles(ax, group, column, label)
    axes[0, 0].set_ylabel("log probability")
    axes[0, 1].set_ylabel("median duration (s)")
    for ax in axes[0, :2]:
        ax.set_xscale("log")
        ax.set_xlabel("κ (stickiness)")
    if len(groups) > 1:
        axes[0, 0].legend(fontsize=7)

    kappas = summary["kappa"].to_numpy(dtype=float)
    ax = axes[0, 2]
    norm = LogNorm(kappas.min(), kappas.max()) if kappas.min() > 0 and kappas.max() > kappas.min() else None
    dots = ax.scatter(
        summary["median_duration_s"], summary["final_log_prob"], c=kappas, cmap="viridis", norm=norm, s=18,
    )  # fmt: skip
    figure.colorbar(dots, ax=ax, label="κ")
    ax.set_xlabel("median duration (s)")
    ax.set_ylabel("log probability")
    return figure


def _median_and_quartiles(ax, group, column: str, label: str | None) -> None:
    stats = group.groupby("kappa", sort=True)[column].quantile([0.25, 0.5, 0.75]).unstack()
    kappas = stats.index.to_numpy(dtype=float)
    (line,) = ax.plot(kappas, stats[0.5].to_numpy(), marker="o", ms=3, label=label)
    ax.fill_between(kappas, stats[0.25].to_numpy(), stats[0.75].to_numpy(), color=line.get_color(), alpha=0.25, lw=0)
