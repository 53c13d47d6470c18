"""Effects of inputs and covariates on how long each state lasts and where it goes, with calibrated intervals.

Estimated from the **hidden states** an input-driven fit sampled after its burn-in, not from
the model's coefficients: the sticky prior that keeps the sampled states clean (κ
pseudo-stays, "auto" = frames/K) would pull every state's duration, and the model's
per-frame Bernoulli law would treat the frames of one bout as independent. For each of D
draws of the states (`FitResult.feature_draws`: every recording's transition counts
c[r, u, i, j] split by the features x_u of the frame entered, at D ≤ 20 kept iterations),
every value is a regression on the counts under a weak reference prior, with a
recording-level interval (`smoseq.metrics._logistic_counts`):

    leaving state i:            σ(aᵢ + wᵢᵀ(x − c)),   from n = Σⱼ c[·, ·, i, j] frames and their exits
    going to j once leaving i:  σ(bᵢⱼ + vᵢⱼᵀ(x − c)),  from the exits of i and those into j

c the features' mean over the fitted frames. The effect of feature p going from 0 to 1 (the
others at their mean) is a ratio of probabilities: `leave_rate_ratio` (its inverse the
ratio of mean durations, which for any stationary semi-Markov process is the frames per
exit) and, per destination j, `destination_ratio` (for a 0/1 input: on / off).

Each draw's variance is the bias-reduced cluster-robust (CR2) sandwich over recordings with
its Bell–McCaffrey degrees of freedom ν_com (`smoseq.metrics._cluster_robust`); the D draws
are combined by Rubin's rules with the Barnard–Rubin degrees of freedom
(`smoseq.metrics._multiple_imputation`): estimate q̄ = mean of the draws' estimates,
variance T = W + (1 + 1/D) B (W the mean within-draw variance, B the between-draw
variance: how uncertain the states are), t quantile on ν. Averaging the counts over the
draws first and taking one sandwich (what an earlier version did) loses both the
between-draw variance and part of the within (averaged counts are smoother than any one
set of states): its 95 % intervals covered 89 % of the leave-rate truths. With fewer than
two recordings, or a covariate no two recordings share, there is no interval (NaN).
Reference prior: (K−1)/2 pseudo-exits in K/2 pseudo-frames per state and ½ pseudo-entry of
j in (K−1)/2 pseudo-exits (Jeffreys, as the group comparison), N(0, 10²) on every weight.
"""

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from ._logistic_counts import LogisticFit, contrast_interval, fit_logistic_counts, probability_ratio
from ._multiple_imputation import combine_draws
from .labels import with_state_names


def compare_covariate_effects(result, level: float = 0.95, fps: float | None = None) -> pd.DataFrame:
    """One row per (state, feature) for leaving and per (state, destination, feature) for where it goes.

    Args:
        result: a `FitResult` of `sm.fit(..., transitions="input_driven")` or
            `sm.fit_models` (its `feature_draws`, `feature_rows` and the model's feature
            names and centre), or a loaded fit folder's result.
        level: the coverage of the `*_lower`/`*_upper` intervals (0.95 by default).
        fps: frames per second; adds `baseline_seconds` (leave rows).

    Returns:
        `pandas.DataFrame`, columns `kind` (`"leave"` or `"destination"`), `state`,
        `to_state` (−1 on leave rows), `feature`, `log_odds` (+ `_lower`, `_upper`): the
        change in the log-odds of leaving (of going to `to_state` once leaving) per unit of
        the feature; `ratio` (+ bounds): that probability with the feature at 1 over at 0,
        the others at their mean (leave rows: the leave-rate ratio; also in
        `leave_rate_ratio`); `duration_ratio` (+ bounds, leave rows): 1 / ratio, the ratio of
        mean durations; `baseline` (+ bounds): leave rows the mean duration in frames at the
        average frame, destination rows the probability of going to `to_state`;
        `flagged`: the log-odds interval at the family-wise level (Bonferroni over all
        rows) excludes 0; `state_name`/`to_state_name` last when the states have names.

    Raises:
        ValueError: the result kept no feature counts or draws of them (not an input-driven
            fit, or a fit folder written by an older smoseq: refit it), or `level` is not in (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    counts = getattr(result, "feature_counts", None)
    if counts is None:
        raise ValueError("the result kept no feature counts: fit with transitions='input_driven' and inputs= or covariates=")
    draws = getattr(result, "feature_draws", None)
    if draws is None:
        raise ValueError("the result kept no draws of the feature counts (a fit folder written by an older smoseq): refit it")
    rows = np.asarray(result.feature_rows, dtype=float)
    transitions = result.model.transitions
    names = list(transitions.names)
    centre = np.asarray(transitions.centre, dtype=float)
    table = covariate_effects_table(np.asarray(draws, dtype=float), rows, names, centre, level, fps)
    state_names = getattr(result, "state_names", None)
    return with_state_names(table, state_names, np.shape(draws)[-1]) if state_names else table


def covariate_effects_table(counts, rows, names, centre, level: float = 0.95, fps: float | None = None) -> pd.DataFrame:
    """The table of `compare_covariate_effects` from counts (see the module).

    Args:
        counts: (D, R, U, K, K) the counts of D draws of the states, combined by Rubin's
            rules, or (R, U, K, K) one set (e.g. of true states, for a check):
            c[r, u, i, j], frames of recording r in state i followed by j on a frame with
            features `rows[u]`.
        rows: (U, P) the feature rows.
        names: the P feature names.
        centre: (P,) the features' mean c.
        level, fps: as `compare_covariate_effects`.

    Returns:
        The `pandas.DataFrame` of `compare_covariate_effects` (without state names).
    """
    draws = np.asarray(counts, dtype=float)
    draws = draws[None] if draws.ndim == 4 else draws
    n_rec = draws.shape[1]
    design = np.concatenate([np.ones((len(rows), 1)), rows - centre], axis=1)
    identified = n_rec - 1 - _between_recording_features(draws.sum(0), rows) >= 1
    frames = draws.sum(-1)  # (D, R, U, K)
    exits = frames - np.diagonal(draws, axis1=-2, axis2=-1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a bound on a handful of events may be infinite
        records = _all_rows(draws, exits, frames, design, names, centre, level, identified)
    table = pd.DataFrame(records)
    family = 1 - (1 - level) / max(len(table), 1)
    z = (table["log_odds"] / table["log_odds_se"]).to_numpy()
    df = table["log_odds_df"].to_numpy()
    threshold = stats.t.ppf(0.5 + family / 2, np.where(np.isfinite(df) & (df > 0), df, 1.0))
    table["flagged"] = (np.abs(z) > threshold) & np.isfinite(df)
    table = table.drop(columns=["log_odds_se", "log_odds_df"])
    if fps is not None:
        table["baseline_seconds"] = np.where(table["kind"] == "leave", table["baseline"] / fps, np.nan)
    return table


def _all_rows(draws, exits, frames, design, names, centre, level, identified) -> list[dict]:
    """Every leave and destination regression fitted to every draw (D, R, U, ...), as table rows."""
    K = draws.shape[-1]
    records = []
    for i in range(K):
        fits = [fit_logistic_counts(exits[d, ..., i], frames[d, ..., i], design, (K - 1) / 2, K / 2) for d in range(len(draws))]
        records += _rows(fits, "leave", i, -1, names, centre, level, identified)
        for j in range(K):
            if j != i and K > 2:
                fits = [fit_logistic_counts(draws[d, ..., i, j], exits[d, ..., i], design, 0.5, (K - 1) / 2)
                        for d in range(len(draws))]  # fmt: skip
                records += _rows(fits, "destination", i, j, names, centre, level, identified)
    return records


def _between_recording_features(counts, rows) -> int:
    """How many features take one value within every recording (per-recording covariates)."""
    used = counts.sum(axis=(-1, -2)) > 0  # (R, U)
    constant = [all(np.unique(rows[used[r], p]).size <= 1 for r in range(len(used))) for p in range(rows.shape[1])]
    return int(np.sum(constant))


def _rows(fits: list[LogisticFit], kind: str, state: int, to_state: int, names, centre, level, identified: bool) -> list[dict]:
    """The table rows of one regression fitted to every draw: Rubin-combined estimates and t intervals."""
    width = len(fits[0].estimate)

    def combined(quantity):  # quantity(fit) -> (value, gradient): (estimate, half-width, standard error, df)
        values, variances, dfs = [], [], []
        for fit in fits:
            value, gradient = quantity(fit)
            variance, df = contrast_interval(fit, gradient) if identified else (np.nan, np.nan)
            values, variances, dfs = values + [value], variances + [variance], dfs + [df]
        estimate, variance, df = combine_draws(values, variances, dfs)
        quantile = stats.t.ppf(0.5 + level / 2, df) if df > 0 else np.nan
        se = np.sqrt(max(variance, 0.0)) if np.isfinite(variance) else np.nan
        return estimate, quantile * se, se, df

    a, half_a, _, _ = combined(lambda fit: (fit.estimate[0], np.eye(width)[0]))
    if kind == "leave":  # mean duration 1/σ(a): d log/da = −(1 − σ(a))
        baseline = np.exp(-np.log(expit(a)) + np.array([0.0, -1.0, 1.0]) * (1 - expit(a)) * half_a)
    else:
        baseline = expit(a + np.array([0.0, -half_a, half_a]))
    out = []
    for p, name in enumerate(names):
        weight, half_w, se, df = combined(lambda fit: (fit.estimate[p + 1], np.eye(width)[p + 1]))
        log_ratio, half, _, _ = combined(lambda fit: probability_ratio(fit, p + 1, centre[p]))
        ratio = np.exp(log_ratio + np.array([0.0, -half, half]))
        row = {"kind": kind, "state": state, "to_state": to_state, "feature": name, "log_odds": weight,
               "log_odds_lower": weight - half_w, "log_odds_upper": weight + half_w, "log_odds_se": se, "log_odds_df": df,
               "ratio": ratio[0], "ratio_lower": ratio[1], "ratio_upper": ratio[2]}  # fmt: skip
        if kind == "leave":
            row |= {"leave_rate_ratio": ratio[0], "leave_rate_ratio_lower": ratio[1], "leave_rate_ratio_upper": ratio[2],
                    "duration_ratio": 1 / ratio[0], "duration_ratio_lower": 1 / ratio[2], "duration_ratio_upper": 1 / ratio[1]}  # fmt: skip
        row |= {"baseline": baseline[0], "baseline_lower": baseline[1], "baseline_upper": baseline[2]}
        out.append(row)
    return out
