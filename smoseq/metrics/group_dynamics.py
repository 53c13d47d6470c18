"""Do experimental groups differ in how long states last and how they follow each other?

Summaries of the posterior samples of a grouped fit (`sm.fit(..., groups=...)` keeps the
(G, K, K) transition matrices of every iteration after the burn-in). For every group and
state: the expected duration 1/(1 − π_kk) (frames, and seconds given fps), the stationary
occupancy (the stationary distribution of the group's chain) and every transition
probability π_kj; each as a posterior median with a 95 % credible interval (the 2.5 and
97.5 percentiles of the samples). For every pair of groups, the ratio of each value
(later group over earlier group, in sorted order) with its interval, and the posterior
probability that the later group's value exceeds the earlier one's.
"""

import itertools

import numpy as np
import pandas as pd

from .._errors import InputError

COLUMNS = ["kind", "quantity", "state", "to_state", "group", "reference", "median", "lower", "upper", "p_greater"]


def compare_group_dynamics(result, fps: float | None = None, group_names=None, level: float = 0.95) -> pd.DataFrame:
    """Per-group durations, occupancies and transition probabilities, with credible intervals, and group contrasts.

    Args:
        result: a grouped `FitResult` (its `transition_samples` and
            `hyperparameters["group_names"]`), or an array (n_samples, G, K, K) of
            per-group transition matrices (then give `group_names`).
        fps: frames per second; adds `duration_seconds` rows.
        group_names: the G group labels (default: the fit's).
        level: mass of the credible intervals (0.95: the 2.5 and 97.5 percentiles).

    Returns:
        A tidy `pandas.DataFrame`, one estimate per row, columns `COLUMNS`:
        `kind` `"group"` (the value in `group`) or `"ratio"` (value of `group` / value of
        `reference`); `quantity` `duration_frames`, `duration_seconds`, `occupancy` or
        `transition_probability`; `state` k; `to_state` j for transition probabilities
        (−1 otherwise); `median`, `lower`, `upper` of the posterior samples; `p_greater`
        (ratio rows) the posterior probability that `group`'s value exceeds `reference`'s.

    Raises:
        InputError: a fit without transition samples (not grouped), samples that are not
            (n, G, K, K), or group names that do not match G.
    """
    samples, names = _samples_and_names(result, group_names)
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    values = group_values(samples, fps)
    rows = []
    for quantity, value in values.items():  # value: (n, G, K) or (n, G, K, K)
        for g, name in enumerate(names):
            rows += _rows("group", quantity, value[:, g], name, "", level)
        for a, b in itertools.combinations(range(len(names)), 2):
            rows += _rows("ratio", quantity, value[:, b] / value[:, a], names[b], names[a], level, value[:, b] > value[:, a])
    return pd.DataFrame(rows, columns=COLUMNS)


def group_values(samples: np.ndarray, fps: float | None = None) -> dict[str, np.ndarray]:
    """Every summarised quantity of every sample: name -> (n, G, K) or (n, G, K, K) array.

    Args:
        samples: (n, G, K, K) float per-group transition matrices.
        fps: frames per second, or None (no `duration_seconds`).

    Returns:
        dict with `duration_frames` 1/(1 − π_kk), `duration_seconds` (with fps),
        `occupancy` (stationary distribution) and `transition_probability` π_kj.
    """
    diagonal = np.diagonal(samples, axis1=-2, axis2=-1)
    durations = 1.0 / np.maximum(1.0 - diagonal, np.finfo(float).tiny)
    values = {"duration_frames": durations}
    if fps is not None:
        values["duration_seconds"] = durations / fps
    values |= {"occupancy": stationary_distribution(samples), "transition_probability": samples}
    return values


def stationary_distribution(matrices: np.ndarray) -> np.ndarray:
    """The stationary distribution p (p·π = p, Σp = 1) of every transition matrix.

    Args:
        matrices: (..., K, K) float row-stochastic matrices.

    Returns:
        (..., K) float.
    """
    K = matrices.shape[-1]
    system = np.swapaxes(matrices, -1, -2) - np.eye(K)
    system[..., -1, :] = 1.0  # replace one (redundant) balance equation by Σp = 1
    right = np.zeros(matrices.shape[:-1])
    right[..., -1] = 1.0
    return np.linalg.solve(system.astype(float), right[..., None])[..., 0]


def _rows(kind, quantity, value, group, reference, level, greater=None) -> list:
    tail = 100 * (1 - level) / 2
    median, lower, upper = (np.percentile(value, q, axis=0) for q in (50, tail, 100 - tail))
    p_greater = greater.mean(0) if greater is not None else np.full(median.shape, np.nan)
    rows = []
    for index in np.ndindex(median.shape):
        state, to_state = (index[0], index[1]) if len(index) == 2 else (index[0], -1)
        rows.append([kind, quantity, state, to_state, group, reference, median[index], lower[index], upper[index],
                     p_greater[index]])  # fmt: skip
    return rows


def _samples_and_names(result, group_names) -> tuple[np.ndarray, list[str]]:
    if isinstance(result, np.ndarray) or not hasattr(result, "transition_samples"):
        samples = np.asarray(result, dtype=float)
    else:
        if result.transition_samples is None:
            raise InputError("the fit kept no per-group transition samples: fit with sm.fit(..., groups=...)")
        samples = np.asarray(result.transition_samples, dtype=float)
        if group_names is None:
            group_names = result.hyperparameters.get("group_names")
    if samples.ndim != 4 or samples.shape[-1] != samples.shape[-2] or samples.shape[0] < 1:
        raise InputError(f"transition samples must be (n_samples, G, K, K), got {samples.shape}")
    names = [str(name) for name in (group_names if group_names is not None else range(samples.shape[1]))]
    if len(names) != samples.shape[1]:
        raise InputError(f"{len(names)} group names for {samples.shape[1]} groups")
    return samples, names
