"""Figures that check a fit: optimizer losses, log probability, state history."""

import numpy as np
from matplotlib.figure import Figure

from ..metrics.labels import labels_of
from ._colors import state_colormap
from ._inputs import count_states, new_figure


def _curves_with_tail(values, tail_from: int, ylabel: str, xlabel: str, what: str, size) -> Figure:
    """Two panels: every step, and the steps from `tail_from` on (clamped to the second half)."""
    curves = np.atleast_2d(np.asarray(values, dtype=float))
    if curves.ndim != 2 or curves.shape[1] == 0:
        raise ValueError(f"expected a 1-D (n_steps,) or 2-D (n_curves, n_steps) array, got shape {np.shape(values)}")
    n_steps = curves.shape[1]
    if not 0 <= tail_from < n_steps:
        tail_from = n_steps // 2
    steps = np.arange(n_steps)
    figure, axes = new_figure(*size, ncols=2)
    for curve in curves:
        axes[0, 0].plot(steps, curve, lw=1)
        axes[0, 1].plot(steps[tail_from:], curve[tail_from:], lw=1)
    axes[0, 0].set_title(f"All {what}", fontsize=10)
    axes[0, 1].set_title(f"Final {n_steps - tail_from} {what}", fontsize=10)
    axes[0, 0].set_ylabel(ylabel)
    for ax in axes[0]:
        ax.set_xlabel(xlabel)
    return figure


def plot_emission_losses(losses, tail_from: int = 500) -> Figure:
    """Optimizer loss of the last low-rank emission update: all steps, and the tail.

    A loss that has not flattened calls for more optimizer steps; one that rises calls for a
    smaller learning rate.

    Args:
        losses: loss per optimizer step, shape (n_steps,), or (n_models, n_steps) for a batch.
        tail_from: first step shown in the right panel (clamped to the second half if too large).

    Returns:
        A `matplotlib.figure.Figure` with two panels, one curve per model.

    Raises:
        ValueError: `losses` is not 1-D or 2-D, or has no steps.
    """
    return _curves_with_tail(losses, tail_from, "loss", "optimizer step", "optimizer steps", (6, 2.2))


def plot_log_probs(log_probs, tail_from: int = 50) -> Figure:
    """Log probability over Gibbs iterations: all, and from `tail_from` on, to judge convergence.

    Args:
        log_probs: log p(params) + log p(data | params) per iteration, shape (n_iters,), or
            (n_models, n_iters) for a batch of models.
        tail_from: first iteration shown in the right panel (outside `0..n_iters-1`:
            the second half).

    Returns:
        A `matplotlib.figure.Figure` with two panels, one curve per model.

    Raises:
        ValueError: `log_probs` is not 1-D or 2-D, or has no iterations.
    """
    return _curves_with_tail(log_probs, tail_from, "log probability", "Gibbs iteration", "Gibbs iterations", (6, 2.2))


def plot_state_history(
    history, fps: float, start: int = 0, end: int | None = None, n_states: int | None = None, labels=None
) -> Figure:
    """States of one segment over the Gibbs iterations, as a heatmap (time in seconds).

    Args:
        history: states per iteration, shape (n_iters, T) ints.
        fps: frames per second.
        start, end: frame interval shown (default: all).
        n_states: number of states, for colours (default: largest state + 1).
        labels: state labels on the colour bar (K names, or state -> name, e.g.
            `result.state_names`); default the numbers.

    Returns:
        A `matplotlib.figure.Figure`: an (n_iters, end - start) heatmap coloured with `state_colors`.

    Raises:
        ValueError: `history` is not 2-D, the interval is empty, or a state ≥ `n_states`.
    """
    history = np.asarray(history)
    if history.ndim != 2:
        raise ValueError(f"history must be (n_iters, T), got shape {history.shape}")
    end = history.shape[1] if end is None else min(end, history.shape[1])
    if not 0 <= start < end:
        raise ValueError(f"empty interval: start={start}, end={end} of {history.shape[1]} frames")
    n_states = count_states([history.ravel()], n_states)
    cmap, norm = state_colormap(n_states)
    figure, axes = new_figure(6, 2.5)
    ax = axes[0, 0]
    image = ax.imshow(
        history[:, start:end], cmap=cmap, norm=norm, aspect="auto", interpolation="none",
        extent=(start / fps, end / fps, len(history), 0),
    )  # fmt: skip
    colorbar = figure.colorbar(image, ax=ax, label="state", ticks=np.arange(n_states) if n_states <= 20 else None)
    if labels is not None and n_states <= 20:
        colorbar.ax.set_yticklabels(labels_of(labels, n_states))
    colorbar.ax.tick_params(labelsize=7)
    ax.set_xlabel("seconds")
    ax.set_ylabel("Gibbs iteration")
    return figure
