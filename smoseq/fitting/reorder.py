"""Relabelling hidden states — most used first — in states, model parameters and a whole fit.

A state's label is arbitrary: the sampler may call the most used state 7. Reordering
renames states everywhere at once, so that the states, the model's parameters and every
figure drawn from them agree. `order[new] = old`: new state 0 is the old state `order[0]`.
"""

import dataclasses
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._embedding import lower_dim, raise_dim
from .._errors import InputError
from ..models import (
    HHMM, FullRankEmissions, GroupedTransitions, HDPTransitions, LowRankEmissions, PhaseEmissions, PhaseTableEmissions,
    StickyTransitions,
)
from ..models.initial import InitialFromTransitions, UniformInitialState
from .result import FitResult


def state_order(states: Mapping, num_states: int, by="frequency") -> np.ndarray:
    """The order of states by use: `order[new] = old`.

    Args:
        states: dict recording -> (T,) int states.
        num_states: K.
        by: `"frequency"` (most frames first) or `"bouts"` (most bouts first), ties kept
            in label order; or a sequence, a permutation of `0..K-1` used as it is.

    Returns:
        (K,) int permutation.

    Raises:
        InputError: an unknown `by`, or a sequence that is not a permutation of 0..K-1.
    """
    if not isinstance(by, str):
        order = np.asarray(by)
        if order.shape != (num_states,) or sorted(order.tolist()) != list(range(num_states)):
            raise InputError(f"by must be 'frequency', 'bouts' or a permutation of 0..{num_states - 1}, got {by!r}")
        return order.astype(np.int64)
    if by not in ("frequency", "bouts"):
        raise InputError(f"by must be 'frequency', 'bouts' or a permutation of the states, got {by!r}")
    counts = np.zeros(num_states, np.int64)
    for array in states.values():
        array = np.asarray(array, dtype=np.int64)
        if by == "bouts" and array.size:
            array = array[np.r_[True, array[1:] != array[:-1]]]
        counts += np.bincount(array, minlength=num_states)[:num_states]
    return np.argsort(-counts, kind="stable")


def relabel(states, order: np.ndarray):
    """States renamed by `order` (`order[new] = old`): a dict of arrays or one array, dtypes
    kept; negative values (no state) are left as they are."""
    new_label = np.argsort(order)
    if isinstance(states, Mapping):
        return {name: relabel(array, order) for name, array in states.items()}
    array = np.asarray(states)
    return np.where(array >= 0, new_label[np.maximum(array, 0)], array).astype(array.dtype)


def permute_model(model: HHMM, order: Sequence[int]) -> HHMM:
    """The same model with its states renamed: new state `i` is old state `order[i]`.

    Built-in components are permuted here (`StickyTransitions`: rows and columns;
    `GroupedTransitions`: rows and columns of every group's matrix; `HDPTransitions`: rows,
    columns and the global weights; `LowRankEmissions`: the per-state biases, in the
    zero-sum basis; `FullRankEmissions`: the tables; `UniformInitialState`,
    `InitialFromTransitions`: nothing). Any other component is permuted by its own
    `permute_states(order)` method, if it has one.

    Args:
        model: an `HHMM`.
        order: (K,) permutation, `order[new] = old`.

    Returns:
        The permuted `HHMM`; it scores every labelling relabelled by `order` exactly as the
        original scores the original labelling.

    Raises:
        InputError: a component that is neither built in nor has `permute_states`.
    """
    order = np.asarray(order, dtype=np.int64)
    return HHMM(
        _permuted(model.emissions, order),
        _permuted(model.transitions, order),
        _permuted(model.initial, order),
    )


def _permuted(component, order: np.ndarray):
    if isinstance(component, (UniformInitialState, InitialFromTransitions)):
        return component
    if isinstance(component, StickyTransitions) and component.probs.ndim == 2:
        return eqx.tree_at(lambda t: t.probs, component, component.probs[order][:, order])
    if isinstance(component, GroupedTransitions):
        return eqx.tree_at(lambda t: t.probs, component, component.probs[:, order][:, :, order])
    if isinstance(component, HDPTransitions) and component.probs.ndim == 2:
        permuted = eqx.tree_at(lambda t: t.probs, component, component.probs[order][:, order])
        return eqx.tree_at(lambda t: t.weights, permuted, component.weights[order])
    if isinstance(component, FullRankEmissions):
        return eqx.tree_at(lambda e: e.tables, component, component.tables[order])
    if isinstance(component, LowRankEmissions):
        biases = raise_dim(raise_dim(component.biases, 0), 1)[jnp.asarray(order)]
        return eqx.tree_at(lambda e: e.biases, component, lower_dim(lower_dim(biases, 1), 0))
    if isinstance(component, (PhaseEmissions, PhaseTableEmissions)):
        return eqx.tree_at(lambda e: e.inner, component, _permuted(component.inner, order))
    if hasattr(component, "permute_states"):
        return component.permute_states(order)
    raise InputError(
        f"cannot reorder the states of a {type(component).__name__}: give it a permute_states(order) method, "
        "or reorder the states dict alone (sm.reorder_states(result.states))"
    )


def reorder_states(result_or_states, by="frequency", *, num_states: int | None = None):
    """Relabel states so that state 0 is the most used (or in any order you give).

    With a `FitResult`, everything is relabelled together: the model's parameters
    (`permute_model`), `states`, the state history and the segment states, so figures
    and movies drawn afterwards use the new labels; `info["state_order"]` records the
    order (`order[new] = old`); names given to states (`state_names`) follow their states,
    and the per-group transition samples of a grouped fit are permuted too. With a dict of
    states, the dict is relabelled.

    Args:
        result_or_states: a `FitResult`, or a dict recording -> (T,) int states.
        by: `"frequency"` (most frames first), `"bouts"` (most bouts first), or a
            permutation of `0..K-1` with `order[new] = old`.
        num_states: K for a dict of states (default: largest state + 1); a fit's own K
            otherwise.

    Returns:
        A new `FitResult`, or a new dict of states (the input is not changed).

    Examples:
        >>> reorder_states({"a": np.array([0, 1, 1, 2, 2, 2])})
        {'a': array([2, 1, 1, 0, 0, 0])}
    """
    if isinstance(result_or_states, FitResult):
        return _reorder_fit(result_or_states, by)
    if not isinstance(result_or_states, Mapping):
        raise InputError("reorder_states takes a FitResult or a dict recording -> (T,) int states")
    largest = max((int(np.max(a)) for a in result_or_states.values() if np.size(a)), default=-1)
    num_states = largest + 1 if num_states is None else num_states
    if largest >= num_states:
        raise InputError(f"states hold the state {largest} but num_states is {num_states}")
    return relabel(result_or_states, state_order(result_or_states, num_states, by))


def _reorder_fit(result: FitResult, by) -> FitResult:
    order = state_order(result.states, result.n_states, by)
    hidden_order = getattr(result.model.transitions, "hidden_order", lambda order: order)(order)
    segment_states = None if result.segment_states is None else relabel(result.segment_states, hidden_order)
    samples = result.transition_samples
    counts = result.group_counts
    new_label = np.argsort(order)
    return dataclasses.replace(
        result,
        model=permute_model(result.model, order),
        states=relabel(result.states, order),
        history=relabel(result.history, order),
        segment_states=segment_states,
        transition_samples=None if samples is None else np.asarray(samples)[..., order, :][..., order],
        group_counts=None if counts is None else np.asarray(counts)[..., order, :][..., order],
        coefficient_samples=None if result.coefficient_samples is None else np.asarray(result.coefficient_samples)[:, order],
        feature_counts=None if result.feature_counts is None else np.asarray(result.feature_counts)[..., order, :][..., order],
        feature_draws=None if result.feature_draws is None else np.asarray(result.feature_draws)[..., order, :][..., order],
        info={**result.info, "state_order": order.tolist()},
        state_names=dict(sorted((int(new_label[old]), name) for old, name in result.state_names.items())),
        folder=None,
    )
