"""Which leaves of a model gradients may move: the unconstrained parameters.

`eqx.is_inexact_array` picks every float leaf, which in an `HHMM` includes
hyperparameters (κ, β, σ) and probabilities constrained to a simplex (transition
matrices, full-rank tables): a gradient step on those breaks the model.
`trainable_leaves(model)` is a filter spec for `eqx.partition` that is True only on
unconstrained parameters:

- `LowRankEmissions`: `base` and `biases` (unconstrained logits; their priors' σ stay fixed);
- every other built-in: none (simplex-constrained probabilities, or no parameters);
- a component of your own: the fields named by its class attribute
  `trainable_fields = ("w", ...)` (every array leaf under them). A component without
  that attribute is refused, rather than guessed.
"""

import equinox as eqx
import jax

from .full_rank import FullRankEmissions
from .low_rank import LowRankEmissions
from .grouped import GroupedTransitions
from .hdp import HDPTransitions
from .hhmm import HHMM
from .initial import InitialFromTransitions, UniformInitialState
from .transitions import StickyTransitions

__all__ = ["trainable_leaves"]

_BUILTIN_FIELDS = {
    LowRankEmissions: ("base", "biases"),
    FullRankEmissions: (),
    StickyTransitions: (),
    GroupedTransitions: (),
    HDPTransitions: (),
    UniformInitialState: (),
    InitialFromTransitions: (),
}


def trainable_fields(component: eqx.Module) -> tuple[str, ...]:
    """The fields of `component` that hold unconstrained parameters.

    Raises:
        TypeError: a component of your own without a `trainable_fields` class attribute.
    """
    declared = getattr(type(component), "trainable_fields", None)
    if declared is not None:
        return tuple(declared)
    if type(component) in _BUILTIN_FIELDS:
        return _BUILTIN_FIELDS[type(component)]
    raise TypeError(
        f"{type(component).__name__} does not say which of its fields are unconstrained parameters: give the class "
        f"an attribute trainable_fields = ('field', ...) (an empty tuple if none)"
    )


def trainable_leaves(model: HHMM):
    """A filter spec (same tree as `model`, bools at the leaves): True on unconstrained parameters.

    Args:
        model: an `HHMM`.

    Returns:
        A PyTree for `eqx.partition(model, spec)`: `(params, static)`, with `params`
        holding only the unconstrained arrays (`eqx.combine(params, static)` rebuilds the model).

    Raises:
        TypeError: a component of your own without `trainable_fields`.

    Example:
        >>> params, static = eqx.partition(model, sm.trainable_leaves(model))
        >>> grads = jax.grad(lambda p: marginal_logliks(eqx.combine(p, static), data).sum())(params)
    """
    spec = jax.tree_util.tree_map(lambda _: False, model)
    for name in ("emissions", "transitions", "initial"):
        component = getattr(model, name)
        for field in trainable_fields(component):
            subtree = getattr(component, field)
            marks = jax.tree_util.tree_map(eqx.is_inexact_array, subtree)
            spec = eqx.tree_at(lambda m, name=name, field=field: getattr(getattr(m, name), field), spec, marks)
    return spec
