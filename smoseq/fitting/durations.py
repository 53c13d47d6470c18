"""The fitted distribution of state durations, for transitions that model durations explicitly."""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._errors import InputError


class DurationDistributions(NamedTuple):
    """Fitted bout durations per state (frames).

    Attributes:
        durations: (D,) int, 1 … max_duration.
        pmf: (K, D) float, P(a bout of state k lasts d frames).
        median: (K,) int, the median duration of each state's bouts.
        mean: (K,) float, the mean duration.
        bout_weights: (K,) float, the long-run fraction of bouts that are of state k
            (the stationary distribution of where bouts go when they end).
        pooled: (D,) float, Σ_k bout_weights[k]·pmf[k]: the law of a bout picked at random,
            what `sm.get_durations` pools over every state.
    """

    durations: np.ndarray
    pmf: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    bout_weights: np.ndarray
    pooled: np.ndarray


def has_duration_model(fit) -> bool:
    """Whether a `FitResult` or `HHMM`'s transitions give a fitted duration distribution (`duration_pmf`)."""
    return callable(getattr(getattr(fit, "model", fit).transitions, "duration_pmf", None))


def duration_distributions(fit, max_duration: int | None = None, estimate: str = "posterior_mean") -> DurationDistributions:
    """The fitted distribution of bout durations of every state (e.g. `transitions="semi_markov"`).

    With `estimate="posterior_mean"` (default) and a `FitResult` whose last update
    recorded its Beta posteriors (`SemiMarkovInfo` in `last_updates`), p_k is their mean
    E[p_k | states] (Rao–Blackwellised: one Gibbs draw of p_k scatters by about
    1/√(r·bouts) relative to it); otherwise, and with `estimate="sample"`, the sampled p_k.

    Args:
        fit: a `FitResult` or an `HHMM` whose transitions have `duration_pmf(durations)`
            (K, D), `mean_durations()` (K,) and a bout switch matrix `switch` (K, K)
            (`SemiMarkovTransitions`).
        max_duration: the longest duration tabulated (default: 8 × the longest mean, so
            that the tabulated mass is ≥ 0.999 for the built-in negative binomials).
        estimate: `"posterior_mean"` or `"sample"`.

    Returns:
        `DurationDistributions`.

    Raises:
        InputError: the fit's transitions do not model durations.
    """
    transitions = getattr(fit, "model", fit).transitions
    if estimate not in ("posterior_mean", "sample"):
        raise InputError(f"estimate must be 'posterior_mean' or 'sample', got {estimate!r}")
    if not has_duration_model(fit):
        raise InputError(
            f"{type(transitions).__name__} has no explicit duration distribution (fit with transitions='semi_markov'); "
            "sm.get_durations gives the observed bout lengths of any fit"
        )
    posterior = getattr(fit, "last_updates", {})
    if estimate == "posterior_mean" and "transitions.stay_posterior_a" in posterior:
        a, b = (np.asarray(posterior[f"transitions.stay_posterior_{name}"], dtype=float) for name in "ab")
        order = getattr(fit, "info", {}).get("state_order")  # sm.reorder_states relabelled the model, not the trace
        if order is not None:
            a, b = a[np.asarray(order)], b[np.asarray(order)]
        transitions = eqx.tree_at(lambda t: t.stay, transitions, jnp.asarray(a / (a + b), dtype=transitions.stay.dtype))
    mean = np.asarray(transitions.mean_durations(), dtype=float)
    if max_duration is None:
        max_duration = int(np.ceil(8 * mean.max())) + 1
    durations = np.arange(1, int(max_duration) + 1)
    pmf = np.asarray(transitions.duration_pmf(durations), dtype=float)
    cdf = np.cumsum(pmf, axis=-1)
    median = durations[np.minimum((cdf < 0.5).sum(-1), durations.size - 1)]
    weights = _stationary(np.asarray(transitions.switch, dtype=float))
    return DurationDistributions(durations, pmf, median, mean, weights, weights @ pmf)


def _stationary(switch: np.ndarray) -> np.ndarray:
    """The stationary distribution of a (K, K) row-stochastic matrix (left eigenvector of eigenvalue 1)."""
    values, vectors = np.linalg.eig(switch.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    vector = np.abs(vector)
    return vector / vector.sum()


def fitted_duration_curve(fit) -> tuple[np.ndarray, np.ndarray] | None:
    """`(durations, pooled pmf)` for the duration figure's overlay, or None when the fit does not model durations."""
    if not has_duration_model(fit):
        return None
    fitted = duration_distributions(fit)
    return fitted.durations, fitted.pooled
