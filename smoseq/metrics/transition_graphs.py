"""Transition graphs: states as nodes (occupancy), where a state goes when it ends as edges.

An edge i -> j carries the probability that the state after a bout of i is j,
p(next state = j | leaving i) (self-transitions are left out: how long states last is
their durations' business). From state sequences it is the share of bouts of i followed by
a bout of j; from transition matrices π it is π[i, j] / (1 − π[i, i]). For a grouped fit
(`sm.fit(..., groups=...)`) every kept posterior sample gives one graph per group, so the
graphs are posterior means and their differences have credible intervals.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._errors import InputError
from .group_dynamics import stationary_distribution
from .labels import labels_of


@dataclass(frozen=True)
class TransitionGraphs:
    """Occupancy and leaving probabilities of every state, per group.

    Attributes:
        groups: the G group labels (`["all"]` without groups).
        occupancy: (G, K) fraction of time in each state.
        probabilities: (G, K, K) p(next state j | leaving i), zero diagonal, rows sum to 1
            (or 0 for a state never left).
        labels: the K state labels (names where given).
        samples: (n, G, K, K) leaving probabilities of every posterior sample of a grouped
            fit, else None.
    """

    groups: list
    occupancy: np.ndarray
    probabilities: np.ndarray
    labels: list
    samples: np.ndarray | None = None

    def index(self, group) -> int:
        """Position of `group` in `groups` (InputError naming the groups when unknown)."""
        names = [str(g) for g in self.groups]
        if str(group) not in names:
            raise InputError(f"unknown group {group!r}; the groups are {', '.join(names)}")
        return names.index(str(group))


def leaving_probabilities(matrices) -> np.ndarray:
    """π[i, j] / (1 − π[i, i]) off the diagonal, 0 on it.

    Args:
        matrices: (..., K, K) row-stochastic transition matrices.

    Returns:
        (..., K, K) float.
    """
    matrices = np.asarray(matrices, dtype=float)
    off = matrices * (1 - np.eye(matrices.shape[-1]))
    return off / np.maximum(off.sum(-1, keepdims=True), np.finfo(float).tiny)


def bout_transitions(states, num_states: int) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy and bout-to-bout leaving probabilities of state sequences.

    Args:
        states: dict recording -> (T,) int states (negative: no state, skipped), or a list of them.
        num_states: K.

    Returns:
        `(occupancy (K,), probabilities (K, K))`.
    """
    frames, counts = np.zeros(num_states), np.zeros((num_states, num_states))
    for array in states.values() if isinstance(states, Mapping) else states:
        array = np.asarray(array, dtype=np.int64)
        array = array[array >= 0]
        if array.size and array.max() >= num_states:
            raise InputError(f"states go up to {int(array.max())} but there are {num_states} states")
        frames += np.bincount(array, minlength=num_states)
        bouts = array[np.r_[True, array[1:] != array[:-1]]] if array.size else array
        np.add.at(counts, (bouts[:-1], bouts[1:]), 1.0)
    occupancy = frames / max(frames.sum(), 1.0)
    return occupancy, counts / np.maximum(counts.sum(1, keepdims=True), 1.0)


def transition_graphs(source, groups=None, num_states: int | None = None, names=None) -> TransitionGraphs:
    """The transition graph of every group (or of all recordings).

    Args:
        source: a `FitResult` or a dict recording -> (T,) int states. A grouped fit with
            kept transition samples and no `groups` gives the posterior mean graph of each
            of its groups, with the samples.
        groups: dict recording -> group label (`sm.load_groups`), or None (one graph; the
            fit's own groups for a grouped fit).
        num_states: K (default: the fit's, or the largest state + 1).
        names: state labels or state -> name (default: the fit's `state_names`).

    Returns:
        `TransitionGraphs`.

    Raises:
        InputError: a recording without a group, or states beyond `num_states`.
    """
    states = getattr(source, "states", source)
    if not isinstance(states, Mapping) or not states:
        raise InputError("transition graphs take a FitResult or a dict recording -> (T,) int states")
    if num_states is None:
        model = getattr(source, "model", None)
        num_states = model.n_states if model is not None else 1 + max(int(np.max(a, initial=-1)) for a in states.values())
    labels = labels_of(names if names is not None else source if not isinstance(source, Mapping) else None, num_states)
    samples = getattr(source, "transition_samples", None)
    if groups is None and samples is not None:
        return _from_samples(np.asarray(samples, dtype=float), source, labels)
    if groups is None:
        occupancy, probabilities = bout_transitions(states, num_states)
        return TransitionGraphs(["all"], occupancy[None], probabilities[None], labels)
    missing = [name for name in states if name not in groups]
    if missing:
        raise InputError(f"recording {missing[0]!r} has no group")
    labels_of_groups = sorted({str(groups[name]) for name in states})
    parts = [bout_transitions([states[n] for n in states if str(groups[n]) == g], num_states) for g in labels_of_groups]
    return TransitionGraphs(labels_of_groups, np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts]), labels)


def _from_samples(samples: np.ndarray, result, labels) -> TransitionGraphs:
    names = (getattr(result, "hyperparameters", None) or {}).get("group_names") or list(range(samples.shape[1]))
    leaving = leaving_probabilities(samples)
    occupancy = stationary_distribution(samples).mean(0)
    return TransitionGraphs([str(n) for n in names], occupancy, leaving.mean(0), labels, leaving)


def transition_difference(graphs: TransitionGraphs, a, b, level: float = 0.95):
    """Group `b`'s graph minus group `a`'s, and (with samples) which edge differences are credible.

    Args:
        graphs: `TransitionGraphs` holding both groups.
        a, b: group labels.
        level: mass of the credible interval of each edge's difference.

    Returns:
        `(occupancy (K,), probabilities (K, K), credible)`: differences b − a, and a (K, K)
        bool array, True where the equal-tailed credible interval of the difference excludes
        0 — or None without posterior samples.
    """
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    first, second = graphs.index(a), graphs.index(b)
    occupancy = graphs.occupancy[second] - graphs.occupancy[first]
    probabilities = graphs.probabilities[second] - graphs.probabilities[first]
    if graphs.samples is None:
        return occupancy, probabilities, None
    differences = graphs.samples[:, second] - graphs.samples[:, first]
    tail = 100 * (1 - level) / 2
    lower, upper = np.percentile(differences, tail, axis=0), np.percentile(differences, 100 - tail, axis=0)
    credible = ((lower > 0) | (upper < 0)) & ~np.eye(len(occupancy), dtype=bool)
    return occupancy, probabilities, credible


def transition_graph(occupancy, probabilities, labels=None, threshold: float = 0.05):
    """A `networkx.DiGraph`: one node per state, one edge per leaving probability ≥ `threshold`.

    Args:
        occupancy: (K,) fraction of time per state (node attribute `occupancy`).
        probabilities: (K, K) edge values (attribute `weight`); the diagonal is left out,
            and edges with |value| < `threshold` (a difference graph may be negative).
        labels: K node labels (attribute `label`; default the state numbers).
        threshold: smallest |value| drawn as an edge.

    Returns:
        The graph; nodes are the state numbers 0..K-1, every state present.
    """
    import networkx as nx  # loaded on first use: `import smoseq` stays quick

    occupancy, probabilities = np.asarray(occupancy, dtype=float), np.asarray(probabilities, dtype=float)
    labels = labels_of(labels, len(occupancy))
    graph = nx.DiGraph()
    for state, (share, label) in enumerate(zip(occupancy, labels)):
        graph.add_node(state, occupancy=float(share), label=label)
    for i, j in zip(*np.nonzero(np.abs(probabilities) >= threshold)):
        if i != j:
            graph.add_edge(int(i), int(j), weight=float(probabilities[i, j]))
    return graph
