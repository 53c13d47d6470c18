"""Logistic regression on per-recording counts with a recording-level (cluster-robust) interval.

The calibrated estimator behind `sm.compare_covariate_effects`: successes y[r, u] out of
trials n[r, u] of recording r on the feature row u (design row X[u] = [1, x_u − c]),

    p_u = σ(X[u] β),

β the penalised maximum-likelihood estimate (a weak reference prior: pseudo-successes and
pseudo-trials spread over the rows in proportion to their trials, and N(0, σ²) on every
coefficient but the intercept). The interval comes from the recording-level sandwich
V = H⁻¹ M H⁻¹, H the penalised information, M built from the recordings' score vectors
s_r = Σ_u (y_ru − n_ru p_u) X[u]: whatever makes events within a recording dependent (bouts
that last longer than a geometric law says, decoding noise shared by neighbouring frames,
animals that differ) is inside s_r, and only recordings are taken as independent. With few
recordings the plain M = Σ_r s_r s_rᵀ is too small (each recording's residuals are shrunk by
its own leverage on β̂), so M uses the bias-reduced (CR2) scores and a contrast's t interval
the Bell–McCaffrey degrees of freedom (`smoseq.metrics._cluster_robust`); the binomial
counts of a row stand for its frames, so the leverage is that of the frame-level
(Bernoulli) regression.
"""

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ._cluster_robust import cr2_covariance, satterthwaite_df

WEIGHT_SIGMA = 10.0


class LogisticFit(NamedTuple):
    """A penalised fit: `estimate` (Q,), CR2 sandwich `covariance` (Q, Q), and what a contrast's degrees of freedom need.

    `bread` (Q, Q) is H⁻¹, `information` H, `blocks` (R, Q, Q) every recording's information
    M_r (see `smoseq.metrics._cluster_robust`).
    """

    estimate: np.ndarray
    covariance: np.ndarray
    bread: np.ndarray
    information: np.ndarray
    blocks: np.ndarray


def fit_logistic_counts(successes, trials, design, pseudo_successes: float, pseudo_trials: float) -> LogisticFit:
    """Penalised logistic regression of per-recording counts, with the recording-level CR2 sandwich covariance.

    Args:
        successes: (R, U) float y[r, u].
        trials: (R, U) float n[r, u] ≥ y[r, u].
        design: (U, Q) float, first column the intercept.
        pseudo_successes, pseudo_trials: the reference prior's totals, spread over the rows
            in proportion to their trials (the intercept's Jeffreys-like prior).

    Returns:
        A `LogisticFit` (NaN covariance with fewer than two recordings).
    """
    successes, trials, design = (np.asarray(a, dtype=float) for a in (successes, trials, design))
    n_rec, width = trials.shape[0], design.shape[1]
    share = trials.sum(0) / trials.sum() if trials.sum() > 0 else np.full(len(design), 1 / len(design))
    y = successes.sum(0) + pseudo_successes * share
    n = trials.sum(0) + pseudo_trials * share
    precision = np.full(width, WEIGHT_SIGMA**-2)
    precision[0] = 0.0
    beta = np.zeros(width)
    beta[0] = np.log(y.sum() + 1e-9) - np.log(max(n.sum() - y.sum(), 1e-9))
    for _ in range(100):
        p = expit(design @ beta)
        gradient = design.T @ (y - n * p) - precision * beta
        hessian = (design.T * (n * p * (1 - p))) @ design + np.diag(precision)
        step = np.linalg.solve(hessian + 1e-10 * np.eye(width), gradient)
        beta = beta + step * min(1.0, 2.0 / max(np.linalg.norm(step), 1e-12))
        if np.linalg.norm(step) < 1e-10:
            break
    p = expit(design @ beta)
    weight = p * (1 - p)
    information = (design.T * (n * weight)) @ design + np.diag(precision)
    bread = np.linalg.pinv(information)
    blocks = np.einsum("ru,uq,uk->rqk", trials * weight, design, design)
    if n_rec < 2:
        return LogisticFit(beta, np.full((width, width), np.nan), bread, information, blocks)
    scores = (successes - trials * p) @ design  # (R, Q)
    return LogisticFit(beta, cr2_covariance(scores, blocks, bread), bread, information, blocks)


def contrast_interval(fit: LogisticFit, contrast: np.ndarray) -> tuple[float, float]:
    """The CR2 variance of ℓᵀβ̂ and its Bell–McCaffrey degrees of freedom (NaN, NaN with one recording)."""
    contrast = np.asarray(contrast, dtype=float)
    variance = float(contrast @ fit.covariance @ contrast)
    return variance, satterthwaite_df(contrast, fit.blocks, fit.bread, fit.information)


def probability_ratio(fit: LogisticFit, column: int, centre: float) -> tuple[float, np.ndarray]:
    """log(p(x_col = 1) / p(x_col = 0)), other features at their mean, and its gradient in β (delta method).

    Returns:
        `(log_ratio, gradient)`, gradient (Q,).
    """
    a, w = fit.estimate[0], fit.estimate[column]
    high, low = a + w * (1 - centre), a - w * centre
    log_ratio = np.log(expit(high)) - np.log(expit(low))
    gradient = np.zeros_like(fit.estimate)
    gradient[0] = (1 - expit(high)) - (1 - expit(low))
    gradient[column] = (1 - expit(high)) * (1 - centre) + (1 - expit(low)) * centre
    return float(log_ratio), gradient
