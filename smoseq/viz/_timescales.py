"""Figures of timescales: lagged mutual information, state durations."""

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..metrics import get_durations
from ._inputs import new_figure

_MI_STYLE = (("real", "red"), ("Markov", "black"), ("shuffle", "gray"))


def plot_lagged_mi(lags, real, markov, shuffle, fps: float) -> Figure:
    """Mutual information between syllables `lag` frames apart, log-log, mean ± 2 SEM.

    Real sequences whose MI stays above that of Markov chains with the same transition
    probabilities are non-Markovian on those timescales; the shuffle (pairs of different
    recordings) is the chance level. `lagged_mutual_information`'s result unpacks into the
    three arrays: `plot_lagged_mi(lags, *mi, fps=fps)`.

    Args:
        lags: lags in frames, shape (n_lags,).
        real, markov, shuffle: MI per sequence, shape (n_sequences, n_lags) (or (n_lags,)).
        fps: frames per second (lags are shown in seconds).

    Returns:
        A `matplotlib.figure.Figure`: one curve (mean over sequences) and ±2 SEM band per input.

    Raises:
        ValueError: an MI array whose last axis is not `lags`' length.
    """
    lags = np.asarray(lags, dtype=float)
    seconds = lags / fps
    figure, axes = new_figure(4, 3)
    ax = axes[0, 0]
    for values, (label, color) in zip((real, markov, shuffle), _MI_STYLE):
        values = np.atleast_2d(np.asarray(values, dtype=float))
        if values.shape[-1] != lags.size:
            raise ValueError(f"{label} MI has {values.shape[-1]} lags but lags has {lags.size}")
        mean = values.mean(0)
        err = 2 * values.std(0) / np.sqrt(len(values))
        ax.plot(seconds, mean, c=color, label=label)
        ax.fill_between(seconds, np.clip(mean - err, 1e-12, None), mean + err, facecolor=color, alpha=0.3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(seconds[0], seconds[-1])
    ax.set_xlabel("lag (seconds)")
    ax.set_ylabel("mutual information")
    ax.legend(loc="upper right")
    return figure


def plot_durations(states, fps: float, bins: int = 40, max_seconds: float | None = None, fitted=None) -> Figure:
    """Histogram of state durations in seconds, with the median in the title, and the fitted distribution if given.

    Args:
        states: a dict recording -> states (T,), whose bouts (runs, which end at recording
            boundaries) are measured with `get_durations`, or an array of durations in
            frames, shape (n_runs,).
        fps: frames per second.
        bins: number of histogram bins.
        max_seconds: right end of the histogram (default: the 99th percentile).
        fitted: optional `(durations, pmf)` in frames, (D,) each: a fitted duration
            distribution (e.g. `sm.duration_distributions(fit)`'s `durations` and `pooled`),
            drawn over the histogram as a density in seconds (pmf × fps), its median in the title.

    Returns:
        A `matplotlib.figure.Figure` with a density histogram of durations in seconds.

    Raises:
        ValueError: there are no durations.
    """
    if isinstance(states, Mapping):
        durations = get_durations(states)
    else:
        durations = np.asarray(states)
    seconds = durations / fps
    if seconds.size == 0:
        raise ValueError("no durations to plot")
    if max_seconds is None:
        max_seconds = float(np.percentile(seconds, 99)) or float(seconds.max())
    figure, axes = new_figure(3, 2.2)
    ax = axes[0, 0]
    ax.hist(seconds, bins=bins, range=(0, max_seconds), density=True, color="C0")
    title = f"Median duration = {np.median(seconds):.2f} seconds"
    if fitted is not None:
        frames, pmf = (np.asarray(a, dtype=float) for a in fitted)
        shown = frames / fps <= max_seconds
        ax.plot(frames[shown] / fps, pmf[shown] * fps, color="C3", lw=1.5, label="fitted")
        fitted_median = frames[min(int((np.cumsum(pmf) < 0.5 * pmf.sum()).sum()), frames.size - 1)] / fps
        title += f"\nfitted: {fitted_median:.2f} seconds"
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("state duration (seconds)")
    ax.set_ylabel("probability density")
    return figure
