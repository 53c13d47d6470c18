"""Figures of behaviour per state: where in the arena, how fast, how long."""

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from ..metrics.behaviour import bout_table, frame_speeds, frames_by_state
from ..metrics.labels import labels_of
from ._colors import state_colors
from ._inputs import as_sequences, count_states, new_figure, set_state_ticks


def _panel_grid(n_panels: int, max_columns: int = 5) -> tuple[int, int]:
    columns = min(n_panels, max_columns)
    return -(-n_panels // columns), columns


def plot_occupancy(states, centroids, n_states: int | None = None, bins: int = 40, labels=None) -> Figure:
    """Where each state happens: a heatmap of the arena per state.

    Each panel is the 2-D histogram of the centroid over the frames in one state, pooled
    over recordings, as a fraction of that state's frames (panels share the extent, so
    places compare across states; each has its own colour scale, a power 0.4 of the
    fraction, so that sparse places still show).

    Args:
        states: dict recording -> (T,) int states.
        centroids: dict recording -> (T, 2) positions (the same recordings and lengths).
        n_states: K (default: largest state + 1).
        bins: histogram bins along each axis.
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with one heatmap per state (K panels).

    Raises:
        ValueError: a recording without a centroid track, or one of another length.
    """
    n_states = count_states(as_sequences(states), n_states)
    missing = [name for name in states if name not in centroids]
    if missing:
        raise ValueError(f"recording {missing[0]!r} has no centroid track")
    pooled_states = np.concatenate([np.asarray(states[name]) for name in states])
    pooled_xy = np.concatenate([np.asarray(centroids[name], dtype=float).reshape(-1, 2) for name in states])
    if len(pooled_xy) != len(pooled_states):
        raise ValueError("every centroid track needs one position per frame of its recording's states")
    finite = np.all(np.isfinite(pooled_xy), axis=1)
    pooled_states, pooled_xy = pooled_states[finite], pooled_xy[finite]
    low, high = pooled_xy.min(0), pooled_xy.max(0)
    extent = ((low[0], high[0]), (low[1], high[1]))
    rows, columns = _panel_grid(n_states)
    figure, axes = new_figure(2.0 * columns, 2.0 * rows + 0.3, nrows=rows, ncols=columns)
    colors = state_colors(n_states)
    names = [name if not name.isdigit() else f"state {name}" for name in labels_of(labels, n_states)]
    for state, ax in zip(range(n_states), axes.flat):
        here = pooled_xy[pooled_states == state]
        counts, _, _ = np.histogram2d(here[:, 0], here[:, 1], bins=bins, range=extent)
        image = counts.T / max(len(here), 1)
        norm = PowerNorm(0.4, vmin=0, vmax=max(image.max(), 1e-12))  # a square-root-like scale shows the spread
        ax.imshow(image, origin="lower", extent=(*extent[0], *extent[1]), cmap="magma", norm=norm, interpolation="none")
        ax.set_title(f"{names[state]} ({len(here)} frames)", fontsize=8, color=colors[state])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.invert_yaxis()  # image coordinates: y points down, as in the videos
    for ax in list(axes.flat)[n_states:]:
        ax.set_visible(False)
    figure.suptitle("occupancy of the arena per state (fraction of the state's frames)", fontsize=10)
    return figure


def _box_per_state(ax, values: list[np.ndarray], n_states: int, labels=None) -> None:
    colors = state_colors(n_states)
    shown = [k for k in range(n_states) if len(values[k])]
    if shown:
        boxes = ax.boxplot(
            [values[k] for k in shown], positions=shown, widths=0.6, whis=(5, 95), showfliers=False, patch_artist=True
        )
        for box, k in zip(boxes["boxes"], shown):
            box.set_facecolor(colors[k])
            box.set_alpha(0.7)
        for median in boxes["medians"]:
            median.set_color("k")
    set_state_ticks(ax, n_states, labels)
    ax.set_xlim(-0.6, n_states - 0.4)
    ax.set_xlabel("state")


def plot_state_speeds(
    states, centroids, fps: float, n_states: int | None = None, units: str = "units", smooth_s: float = 0.0, labels=None
) -> Figure:
    """Speed distributions per state: boxes of the frame speeds (whiskers 5–95 %).

    Args:
        states: dict recording -> (T,) int states.
        centroids: dict recording -> (T, 2) positions.
        fps: frames per second (> 0); speeds are `units` per second (`frame_speeds`).
        n_states: K (default: largest state + 1).
        units: name of the position unit, for the axis label.
        smooth_s: average the centroid over a centred window of this many seconds first.
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with one box per state.
    """
    n_states = count_states(as_sequences(states), n_states)
    speeds = {name: frame_speeds(centroids[name], fps, smooth_s) if name in centroids else None for name in states}
    missing = [name for name, value in speeds.items() if value is None]
    if missing:
        raise ValueError(f"recording {missing[0]!r} has no centroid track")
    figure, axes = new_figure(0.45 * n_states + 1.6, 2.4)
    _box_per_state(axes[0, 0], frames_by_state(states, speeds, n_states), n_states, labels)
    axes[0, 0].set_ylabel(f"speed ({units} / s)")
    axes[0, 0].set_title("speed per state", fontsize=10)
    return figure


def plot_bout_durations(states, fps: float, n_states: int | None = None, labels=None) -> Figure:
    """Bout-duration distributions per state: boxes (whiskers 5–95 %) on a log axis.

    Args:
        states: dict recording -> (T,) int states.
        fps: frames per second (> 0).
        n_states: K (default: largest state + 1).
        labels: state labels (K names, or state -> name, e.g. `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure` with one box per state; the title gives the bouts counted.
    """
    n_states = count_states(as_sequences(states), n_states)
    bouts = bout_table(states, fps)
    durations = [bouts.loc[bouts["state"] == k, "duration_s"].to_numpy() for k in range(n_states)]
    figure, axes = new_figure(0.45 * n_states + 1.6, 2.4)
    _box_per_state(axes[0, 0], durations, n_states, labels)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel("bout duration (s)")
    axes[0, 0].set_title(f"bout durations per state ({len(bouts)} bouts)", fontsize=10)
    return figure
