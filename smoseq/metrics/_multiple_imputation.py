"""Rubin's rules: one estimate per sampled set of hidden states, combined with the between-draw variance.

The effect estimates of `sm.compare_covariate_effects` are functions of the hidden states,
which the fit does not know but samples. Each of D draws of the states (kept iterations)
gives a complete-data estimate q_d with its variance u_d and degrees of freedom ν_com
(the CR2 sandwich and its Bell–McCaffrey df). Rubin (1987) combines them:

    q̄ = mean_d q_d,   W = mean_d u_d,   B = var_d q_d (ddof 1),   T = W + (1 + 1/D) B,

and Barnard and Rubin (1999) give the small-sample degrees of freedom of (q̄ − q)/√T:

    γ = (1 + 1/D) B / T,   ν_old = (D − 1)/γ²,   ν_obs = (ν_com + 1)/(ν_com + 3) · ν_com (1 − γ),
    ν = ν_old ν_obs / (ν_old + ν_obs)

(γ floored at 10⁻⁴, as in R's mice). With one draw (e.g. the true states of a simulation)
the result is the complete-data one: q, u, ν_com.
"""

import numpy as np


def combine_draws(estimates, variances, complete_df) -> tuple[float, float, float]:
    """(q̄, T, ν) of D draws' estimates, variances and complete-data degrees of freedom.

    Args:
        estimates: (D,) q_d.
        variances: (D,) u_d.
        complete_df: (D,) ν_com of each draw (their mean is used).

    Returns:
        `(estimate, variance, df)`; NaN variance and df when any draw's are NaN.
    """
    estimates, variances, complete_df = (np.asarray(a, dtype=float) for a in (estimates, variances, complete_df))
    n_draws, estimate, within = len(estimates), float(estimates.mean()), float(variances.mean())
    df_com = float(complete_df.mean())
    if n_draws == 1 or not np.isfinite(within + df_com):
        return estimate, within, df_com
    between = float(estimates.var(ddof=1))
    total = within + (1 + 1 / n_draws) * between
    gamma = max((1 + 1 / n_draws) * between / total, 1e-4) if total > 0 else 1e-4
    df_old = (n_draws - 1) / gamma**2
    df_obs = (df_com + 1) / (df_com + 3) * df_com * (1 - gamma)
    return estimate, total, float(df_old * df_obs / (df_old + df_obs))
