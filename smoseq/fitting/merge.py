"""Merging states that are one behaviour: `sm.merge_states` relabels states and merges parameters by rule.

The states of a merged group become one state, numbered at the place of its smallest
member (the other states keep their order). The parameters are merged without data, by
a rule that is exact when the merged states are the same:

- transitions (`StickyTransitions`, every group of `GroupedTransitions`, `HDPTransitions`,
  and every kept transition sample): the chain is *lumped*, each state weighted by its
  stationary probability w under that matrix:
  π'[A, B] = Σ_{i∈A} w_i Σ_{j∈B} π[i, j] / Σ_{i∈A} w_i. The lumped chain has the occupancy
  of the original (w'_A = Σ_{i∈A} w_i). `HDPTransitions`' global weights β are summed over
  each group (merging atoms of a Dirichlet adds their weights).
- emissions: the merged state's syllable transition table is the mixture the data show
  while in any of its members: row i is Σ_k f_k u_k(i) P_k[i, :] / Σ_k f_k u_k(i), f_k
  the frames the fit gave state k, u_k the syllable usage of state k (the stationary
  distribution of P_k). `FullRankEmissions` take that table. For `LowRankEmissions`, whose
  tables are softmax(B[i] + C[k]), the merged bias c is the one closest to the mixture
  (minimising Σ_i r(i)·KL(mixture[i] ‖ softmax(B[i] + c)), r the merged usage, B kept),
  found by L-BFGS from the frame-weighted mean of the members' biases; the biases are then
  re-centred across states into B, which leaves every table unchanged.

Any other component — subclasses of the built-ins too, which may hold more per-state
parameters — is merged by its own `merge_states(mapping, weights)` method (mapping (K,)
old -> new state, weights (K,) the states' frame fractions), or refused with an InputError.
"""

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from .._embedding import center_embedding
from .._errors import InputError
from ..metrics.group_dynamics import stationary_distribution
from ..models import HHMM, FullRankEmissions, GroupedTransitions, HDPTransitions, LowRankEmissions, StickyTransitions
from ..io.state_names import checked_state_names
from ..models.initial import InitialFromTransitions, UniformInitialState
from .result import FitResult


def merge_mapping(n_states: int, groups) -> np.ndarray:
    """Old state -> new state for merging `groups`: each group becomes one state, at its smallest member's place.

    Args:
        n_states: K.
        groups: lists of states to merge, e.g. `[[1, 4], [2, 6]]`; each of at least two
            states, no state in two groups.

    Returns:
        (K,) int64 `mapping[old] = new`, new states 0..K'-1 in the order of their smallest member.

    Raises:
        InputError: a group of fewer than two states, a state outside 0..K-1 or given twice.

    Examples:
        >>> merge_mapping(8, [[1, 4], [2, 6]]).tolist()
        [0, 1, 2, 3, 1, 4, 2, 5]
    """
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
        raise InputError(f"groups must be lists of states to merge, e.g. [[1, 4], [2, 6]]; got {groups!r}")
    owner = np.arange(n_states)
    seen: set[int] = set()
    for group in groups:
        members = _members(group, n_states)
        if seen & set(members):
            raise InputError(f"state {sorted(seen & set(members))[0]} is in two groups to merge")
        seen |= set(members)
        owner[members] = min(members)
    representatives = np.unique(owner)
    return np.searchsorted(representatives, owner).astype(np.int64)


def _members(group, n_states: int) -> list[int]:
    if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
        raise InputError(f"each group to merge must be a list of states, got {group!r}")
    members = []
    for state in group:
        if isinstance(state, bool) or not isinstance(state, (int, np.integer)) or not 0 <= state < n_states:
            raise InputError(f"unknown state {state!r} in {list(group)}: the fit has states 0..{n_states - 1}")
        members.append(int(state))
    if len(set(members)) < 2:
        raise InputError(f"a group to merge needs at least two different states, got {list(group)}")
    return members


def lump_transitions(probs, mapping: np.ndarray, weights=None) -> np.ndarray:
    """Transition matrices of the lumped chain (see the module docstring).

    Args:
        probs: (..., K, K) row-stochastic matrices.
        mapping: (K,) old -> new state (`merge_mapping`).
        weights: (..., K) weight of every state (default: each matrix's stationary distribution).

    Returns:
        (..., K', K') row-stochastic matrices.
    """
    probs = np.asarray(probs, dtype=float)
    weights = stationary_distribution(probs) if weights is None else np.broadcast_to(weights, probs.shape[:-1])
    weights = np.clip(weights, 1e-12, None)
    onehot = np.eye(int(mapping.max()) + 1)[mapping]  # (K, K')
    into_groups = probs @ onehot  # (..., K, K')
    lumped = np.einsum("...i,...ib,ia->...ab", weights, into_groups, onehot)
    return lumped / lumped.sum(-1, keepdims=True)


def merge_model(model: HHMM, mapping: np.ndarray, frame_weights: np.ndarray) -> HHMM:
    """The model with its states merged by `mapping` (rules in the module docstring).

    Args:
        model: an `HHMM` with K states.
        mapping: (K,) old -> new state.
        frame_weights: (K,) fraction of frames in each state (weights of the emission mixture).

    Returns:
        An `HHMM` with K' = mapping.max() + 1 states.

    Raises:
        InputError: a component that is not built in and has no `merge_states` method.
    """
    mapping = np.asarray(mapping, dtype=np.int64)
    frame_weights = np.asarray(frame_weights, dtype=float)
    transitions = _merged_transitions(model.transitions, mapping, frame_weights)
    emissions = _merged_emissions(model.emissions, mapping, frame_weights)
    n_new = int(mapping.max()) + 1
    if hasattr(model.initial, "merge_states"):
        initial = model.initial.merge_states(mapping, frame_weights)
    elif type(model.initial) is UniformInitialState:
        initial = UniformInitialState(n_new)
    elif type(model.initial) is InitialFromTransitions:
        initial = InitialFromTransitions(n_new)
    else:
        initial = _custom_merge(model.initial, mapping, frame_weights)
    return HHMM(emissions, transitions, initial)


def _custom_merge(component, mapping, weights):
    if hasattr(component, "merge_states"):
        return component.merge_states(mapping, weights)
    raise InputError(
        f"cannot merge the states of a {type(component).__name__}: give it a merge_states(mapping, weights) method, "
        "or merge the states dict alone"
    )


def _merged_transitions(component, mapping, weights):
    if hasattr(component, "merge_states"):
        return component.merge_states(mapping, weights)
    if type(component) is GroupedTransitions:
        return eqx.tree_at(lambda t: t.probs, component, jnp.asarray(lump_transitions(component.probs, mapping)))
    if type(component) in (StickyTransitions, HDPTransitions) and component.probs.ndim == 2:
        merged = eqx.tree_at(lambda t: t.probs, component, jnp.asarray(lump_transitions(component.probs, mapping)))
        if type(component) is HDPTransitions:
            summed = np.bincount(mapping, weights=np.asarray(component.weights, dtype=float))
            merged = eqx.tree_at(lambda t: t.weights, merged, jnp.asarray(summed))
        return merged
    return _custom_merge(component, mapping, weights)


def mixture_tables(tables, mapping: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The merged states' syllable transition tables, and their syllable usage.

    Args:
        tables: (K, S, S) per-state tables P_k[i, j].
        mapping: (K,) old -> new state.
        weights: (K,) frame fraction f_k of every state.

    Returns:
        `(mixed, usage)`: (K', S, S) tables (row i: Σ_k f_k u_k(i) P_k[i] / Σ_k f_k u_k(i)
        over the group's members) and (K', S) the merged usage Σ_k f_k u_k / Σ_k f_k.
    """
    tables = np.asarray(tables, dtype=float)
    n_syllables = tables.shape[-1]
    usage = stationary_distribution((1 - 1e-9) * tables + 1e-9 / n_syllables)  # (K, S); a tiny mix keeps it defined
    weights = np.clip(np.asarray(weights, dtype=float), 1e-12, None)
    onehot = np.eye(int(mapping.max()) + 1)[mapping]  # (K, K')
    row_weights = weights[:, None] * np.clip(usage, 1e-300, None)  # (K, S)
    mixed = np.einsum("ks,ksj,ka->asj", row_weights, tables, onehot) / np.einsum("ks,ka->as", row_weights, onehot)[..., None]
    merged_usage = (onehot.T @ (weights[:, None] * usage)) / (onehot.T @ weights)[:, None]
    return mixed, merged_usage


def _merged_emissions(component, mapping, weights):
    if hasattr(component, "merge_states"):
        return component.merge_states(mapping, weights)
    if type(component) is FullRankEmissions:
        mixed, _ = mixture_tables(component.transition_tables(), mapping, weights)
        return FullRankEmissions(jnp.asarray(mixed), component.prior)
    if type(component) is LowRankEmissions:
        return _merged_low_rank(component, mapping, weights)
    return _custom_merge(component, mapping, weights)


def low_rank_logits(emissions: LowRankEmissions) -> tuple[np.ndarray, np.ndarray]:
    """`(B, C)`: the (S, S) shared logits and the (K, S) per-state biases of low-rank emissions, in NumPy.

    P_k[i, :] = softmax(B[i, :] + C[k, :]); rows of B and C sum to 0, and so do C's columns.
    """
    n_states, n_syllables = emissions.n_states, emissions.n_syllables
    states_basis, syllables_basis = np.asarray(center_embedding(n_states)), np.asarray(center_embedding(n_syllables))
    base = np.asarray(emissions.base, dtype=float) @ syllables_basis.T
    biases = states_basis @ np.asarray(emissions.biases, dtype=float) @ syllables_basis.T
    return base, biases


def low_rank_from_logits(base: np.ndarray, biases: np.ndarray, like: LowRankEmissions) -> LowRankEmissions:
    """`LowRankEmissions` with tables softmax(base[i] + biases[k]) and the priors of `like`.

    Args:
        base: (S, S) logits; biases: (K, S) logits (any centring: constants per row and the
            mean across states are moved where the zero-sum parameterisation keeps them, which
            leaves every table unchanged).
        like: the emissions whose priors the new ones take.
    """
    biases = biases - biases.mean(1, keepdims=True)  # a constant per row leaves softmax unchanged
    shift = biases.mean(0)  # the mean across states goes into the shared logits
    base, biases = base + shift[None, :], biases - shift[None, :]
    base = base - base.mean(1, keepdims=True)
    states_basis = np.asarray(center_embedding(biases.shape[0]))
    syllables_basis = np.asarray(center_embedding(base.shape[0]))
    return LowRankEmissions(
        base @ syllables_basis, states_basis.T @ biases @ syllables_basis, like.base_prior, like.bias_prior
    )  # fmt: skip


def _merged_low_rank(component: LowRankEmissions, mapping, weights) -> LowRankEmissions:
    if mapping.max() < 1:
        raise InputError("merging would leave one state; a low-rank emission model needs at least two")
    base, biases = low_rank_logits(component)
    tables = softmax(base[None] + biases[:, None, :], axis=-1)
    mixed, usage = mixture_tables(tables, mapping, weights)
    merged = np.zeros((int(mapping.max()) + 1, biases.shape[1]))
    for new in range(len(merged)):
        members = np.flatnonzero(mapping == new)
        member_weights = weights[members] / max(weights[members].sum(), 1e-300)
        start = member_weights @ biases[members]
        merged[new] = start if len(members) == 1 else _closest_bias(base, mixed[new], usage[new], start)
    return low_rank_from_logits(base, merged, component)


def _closest_bias(base: np.ndarray, target: np.ndarray, usage: np.ndarray, start: np.ndarray) -> np.ndarray:
    """c minimising Σ_i usage(i)·KL(target[i] ‖ softmax(base[i] + c)) (convex in c)."""

    def objective(c):
        log_probs = log_softmax(base + c[None, :], axis=1)
        value = -np.sum(usage[:, None] * target * log_probs)
        gradient = usage @ softmax(base + c[None, :], axis=1) - usage @ target
        return value, gradient

    return minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-10}).x


def merge_states(result: FitResult, groups) -> FitResult:
    """A fit whose states in each group are one state: states, parameters and names kept consistent.

    New state numbers: each group becomes one state at the place of its smallest member,
    the other states keep their order (`merge_mapping`). States, the state history, the
    segment states and the per-group transition samples are relabelled; the model's
    parameters are merged by the rule in this module's docstring (no data needed; exact
    when merged states have the same parameters); the merged state's name is its members'
    names joined by "+" (the one name, when only one member has a name). The trace
    (log probabilities, losses) is the original fit's. The result saves and loads like any
    fit; `info["merged_states"]` records the groups.

    Args:
        result: a `FitResult` with K states.
        groups: lists of states to merge, e.g. `[[1, 4], [2, 6]]`.

    Returns:
        A new `FitResult` with K − Σ(len(group) − 1) states.

    Raises:
        InputError: bad groups (see `merge_mapping`), or a component that cannot be merged.
    """
    mapping = merge_mapping(result.n_states, groups)
    frames = np.zeros(result.n_states)
    for states in result.states.values():
        states = np.asarray(states)
        frames += np.bincount(states[states >= 0], minlength=result.n_states)[: result.n_states]
    weights = (frames + 1e-9) / (frames.sum() + 1e-9 * result.n_states)
    samples = result.transition_samples
    hyperparameters = dict(result.hyperparameters)
    if "n_states" in hyperparameters:
        hyperparameters["n_states"] = int(mapping.max()) + 1
    info = {key: value for key, value in result.info.items() if key != "state_order"}
    return dataclasses.replace(
        result,
        model=merge_model(result.model, mapping, weights),
        states=_mapped(result.states, mapping),
        history=_mapped(result.history, mapping),
        segment_states=None if result.segment_states is None else _mapped(result.segment_states, mapping),
        transition_samples=None if samples is None else lump_transitions(samples, mapping),
        group_counts=None if result.group_counts is None else summed_counts(result.group_counts, mapping),
        hyperparameters=hyperparameters,
        info={**info, "merged_states": [sorted(int(s) for s in group) for group in groups]},
        state_names=merged_names(result.state_names, mapping),
        folder=None,
    )


def _mapped(states, mapping: np.ndarray):
    if isinstance(states, dict):
        return {name: _mapped(array, mapping) for name, array in states.items()}
    array = np.asarray(states)
    return np.where(array >= 0, mapping[np.maximum(array, 0)], array).astype(array.dtype)


def merged_names(names: dict, mapping: np.ndarray) -> dict[int, str]:
    """Names after merging: a merged state's members' names joined by "+", in state order."""
    merged: dict[int, list[str]] = {}
    for old in sorted(names):
        merged.setdefault(int(mapping[old]), []).append(names[old])
    return checked_state_names({new: "+".join(parts) for new, parts in sorted(merged.items())}, int(mapping.max()) + 1)


def summed_counts(counts: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Transition counts of merged states: the counts between their members, added.

    Args:
        counts: (..., K, K) counts between the original states.
        mapping: (K,) the merged state of each original state.

    Returns:
        (..., K', K') counts, K' = mapping.max() + 1.
    """
    merged = int(mapping.max()) + 1
    membership = np.eye(merged, dtype=np.float64)[mapping]  # (K, K')
    return np.einsum("...ij,ia,jb->...ab", np.asarray(counts, dtype=np.float64), membership, membership).astype(
        np.asarray(counts).dtype
    )
