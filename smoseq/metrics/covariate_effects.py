"""Effects of inputs and covariates on how long each state lasts: posterior summaries of an input-driven fit.

For state i with intercept aᵢ and weight wᵢₚ on feature p (`InputDrivenTransitions`,
features centred on c), the effect of feature p going from 0 to 1, the other features at
their mean, is

    log-odds of leaving:   wᵢₚ
    leave-rate ratio:      σ(aᵢ + wᵢₚ(1 − cₚ)) / σ(aᵢ − wᵢₚcₚ)
    duration ratio:        1 / leave-rate ratio (expected duration 1/σ(·) frames)

(for a 0/1 input: on versus off).

each summarised over the kept posterior samples by its median and an equal-tailed
credible interval. Where a state goes once it leaves does not depend on the inputs in
this model (constant destination rows), so there is no destination effect to report.
"""

import numpy as np
import pandas as pd
from scipy.special import expit

from .labels import with_state_names


def compare_covariate_effects(result, level: float = 0.95, fps: float | None = None) -> pd.DataFrame:
    """One row per (state, feature): the feature's effect on leaving the state, with credible intervals.

    Args:
        result: a `FitResult` of `sm.fit(..., transitions="input_driven")` (its
            `coefficient_samples` (n_kept, K, P+1) and the model's feature names), or a
            loaded fit folder's result.
        level: the credible level of the `*_lower`/`*_upper` columns (0.95: 2.5 % and 97.5 %).
        fps: frames per second; adds `baseline_duration_seconds`.

    Returns:
        `pandas.DataFrame` with columns `state`, `feature`, `log_odds` (median),
        `log_odds_lower`, `log_odds_upper`, `leave_rate_ratio` (+ `_lower`, `_upper`),
        `duration_ratio` (+ `_lower`, `_upper`), `baseline_duration_frames` (median of
        1/σ(aᵢ), the expected duration at the average frame), `state_name` (last, when the
        fit's states have names), and `flagged`: the log-odds interval at the family-wise level excludes 0,
        the interval widened by Bonferroni over the K·P effects (1 − (1 − level)/(K·P)),
        so that with no effect anywhere nothing is flagged with probability ≈ `level`.

    Raises:
        ValueError: the result kept no coefficient samples (not an input-driven fit), or
            `level` is not in (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    samples = getattr(result, "coefficient_samples", None)
    if samples is None:
        raise ValueError("the result kept no coefficient samples: fit with transitions='input_driven' and inputs= or covariates=")
    samples = np.asarray(samples, dtype=float)
    transitions = result.model.transitions
    names = list(getattr(transitions, "names", [f"x{p}" for p in range(samples.shape[-1] - 1)]))
    centre = np.asarray(getattr(transitions, "centre", np.zeros(len(names))), dtype=float)
    n_states, n_features = samples.shape[1], samples.shape[2] - 1
    family = 1 - (1 - level) / max(n_states * n_features, 1)
    rows = []
    for state in range(n_states):
        intercept = samples[:, state, 0]
        base_leave = expit(intercept)
        for p, name in enumerate(names):
            weight = samples[:, state, p + 1]
            rate_ratio = expit(intercept + weight * (1 - centre[p])) / expit(intercept - weight * centre[p])
            row = {"state": state, "feature": name}
            row |= _summary("log_odds", weight, level)
            row |= _summary("leave_rate_ratio", rate_ratio, level)
            row |= _summary("duration_ratio", 1.0 / rate_ratio, level)
            row["baseline_duration_frames"] = float(np.median(1.0 / base_leave))
            if fps is not None:
                row["baseline_duration_seconds"] = row["baseline_duration_frames"] / fps
            low, high = np.quantile(weight, [(1 - family) / 2, (1 + family) / 2])
            row["flagged"] = bool(low > 0 or high < 0)
            rows.append(row)
    table = pd.DataFrame(rows)
    state_names = getattr(result, "state_names", None)
    return with_state_names(table, state_names, n_states) if state_names else table


def _summary(name: str, values: np.ndarray, level: float) -> dict:
    low, median, high = np.quantile(values, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return {name: float(median), f"{name}_lower": float(low), f"{name}_upper": float(high)}
