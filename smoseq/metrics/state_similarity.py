"""Which states emit alike? Distances between states' emission distributions, and their hierarchy.

A state's emissions are a syllable transition table P_k[i, j] = p(x_t = j | x_{t-1} = i).
The distance between two states is the Jensen–Shannon distance between the joint
distributions of consecutive syllable pairs each state produces,
Q_k[i, j] = u_k(i)·P_k[i, j], u_k the state's syllable usage (the stationary distribution
of P_k): D(k, l) = sqrt(JS(Q_k, Q_l)), logarithms base 2, so 0 ≤ D ≤ 1.

Why this one: weighting each row by how often the state uses the syllable makes a
difference in a row the state rarely visits count little, and a difference in what
syllables the state uses count too; Jensen–Shannon is symmetric and finite where one table
has zeros (Kullback–Leibler is neither); and its square root is a metric (Endres &
Schindelin 2003), so average linkage builds a proper hierarchy on it.
"""

from collections.abc import Mapping

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from .._errors import InputError
from .group_dynamics import stationary_distribution


def js_divergence(p, q, axis=None) -> np.ndarray:
    """Jensen–Shannon divergence in bits: ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2.

    Args:
        p, q: arrays of probabilities of the same shape (each a distribution over `axis`,
            or over all entries when `axis` is None).
        axis: the axis (or axes) summed over.

    Returns:
        The divergence, in [0, 1].
    """
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    mean = (p + q) / 2

    def kl(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / np.where(mean > 0, mean, 1.0)), 0.0)
        return terms.sum(axis=axis)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def pair_distributions(tables, usage=None, ignore_diagonal: bool = False) -> np.ndarray:
    """Every state's joint distribution of consecutive syllables Q_k[i, j] = u_k(i)·P_k[i, j].

    Args:
        tables: (K, S, S) per-state syllable transition tables (rows sum to 1).
        usage: (K, S) syllable usage of every state (default: each table's stationary distribution).
        ignore_diagonal: drop the diagonal and renormalise the rows first (for fits with
            `repeats="ignore"`, where a repeat is not an event the model scores).

    Returns:
        (K, S, S) float, each summing to 1.
    """
    tables = np.asarray(tables, dtype=float)
    if tables.ndim != 3 or tables.shape[1] != tables.shape[2]:
        raise InputError(f"tables must be (K, S, S), got {tables.shape}")
    if ignore_diagonal:
        tables = tables * (1 - np.eye(tables.shape[-1]))
        tables = tables / np.maximum(tables.sum(-1, keepdims=True), 1e-300)
    if usage is None:
        usage = stationary_distribution((1 - 1e-9) * tables + 1e-9 / tables.shape[-1])
    usage = np.clip(np.asarray(usage, dtype=float), 0.0, None)
    if usage.shape != tables.shape[:2]:
        raise InputError(f"usage must be (K, S) = {tables.shape[:2]}, got {usage.shape}")
    usage = usage / usage.sum(-1, keepdims=True)
    return usage[:, :, None] * tables


def state_distances(source, usage=None, ignore_diagonal: bool | None = None) -> np.ndarray:
    """Jensen–Shannon distance between every two states' emissions (see the module docstring).

    Args:
        source: a fit (`FitResult`: its model's `transition_tables()`), or (K, S, S) tables.
        usage: (K, S) syllable usage per state (default: each table's stationary distribution).
        ignore_diagonal: leave out repeats (default: True for a fit with `repeats="ignore"`,
            else False).

    Returns:
        (K, K) symmetric float, zero diagonal, entries in [0, 1].

    Raises:
        InputError: emissions that are not syllable transition tables.
    """
    tables, ignore = _tables(source, ignore_diagonal)
    joint = pair_distributions(tables, usage, ignore)
    distances = np.sqrt(js_divergence(joint[:, None], joint[None, :], axis=(-2, -1)))
    np.fill_diagonal(distances, 0.0)
    return (distances + distances.T) / 2


def state_linkage(source, usage=None, ignore_diagonal: bool | None = None, method: str = "average") -> np.ndarray:
    """The hierarchy of states by `state_distances`: a SciPy linkage matrix.

    Args:
        source, usage, ignore_diagonal: as `state_distances`.
        method: SciPy linkage method (default "average": UPGMA).

    Returns:
        (K-1, 4) float linkage (`scipy.cluster.hierarchy.linkage`): row m joins clusters
        `Z[m, 0]` and `Z[m, 1]` at distance `Z[m, 2]`; clusters < K are single states.
    """
    distances = state_distances(source, usage, ignore_diagonal)
    if len(distances) < 2:
        raise InputError("a hierarchy needs at least two states")
    return linkage(squareform(distances, checks=False), method=method)


def _tables(source, ignore_diagonal):
    model = getattr(source, "model", None)
    if model is None:
        return np.asarray(source, dtype=float), bool(ignore_diagonal)
    emissions = model.emissions
    if not hasattr(emissions, "transition_tables"):
        raise InputError(
            f"{type(emissions).__name__} has no syllable transition tables; pass (K, S, S) tables to compare states"
        )
    if ignore_diagonal is None:
        hyper = getattr(source, "hyperparameters", None)
        ignore_diagonal = isinstance(hyper, Mapping) and hyper.get("repeats", "model") == "ignore"
    return np.asarray(emissions.transition_tables(), dtype=float), bool(ignore_diagonal)
