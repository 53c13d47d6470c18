"""Mode search: minimise a loss with any Optax optimizer inside a `lax.while_loop`.

`ModeSearch` is what a caller chooses (the optimizer and its stopping rule), `find_mode`
the search itself, the first step of a Laplace update; jittable and vmappable over a batch of
problems, each stopping on its own.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int, PyTree

__all__ = ["ModeResult", "ModeSearch", "find_mode"]


class ModeSearch(NamedTuple):
    """How an emission update finds a posterior mode: an Optax optimizer and its stopping rule.

    Attributes:
        optimizer: any `optax.GradientTransformation` (e.g. `optax.adam(5e-3)`, `optax.lbfgs()`).
        max_iters: cap on optimizer steps per Gibbs iteration.
        tol: convergence tolerance of the mode search (see `find_mode`).
        name: a label for records (fit.json), e.g. "lbfgs"; empty: recorded as "custom".
        metropolis: False (default): the update is the Laplace-approximate draw, its mode
            search warm-started from the current parameters. True: the Laplace draw, its
            mode search started from the counts alone, is an independence
            Metropolis–Hastings proposal accepted or rejected against the exact conditional
            posterior, so the Gibbs chain targets the exact posterior
            (`smoseq.models.laplace.metropolis_laplace_draw`); each update costs a cold
            mode search, and how often it accepts falls steeply with the number of
            parameters. Start such a chain with one plain update (`sm.fit` does): an
            independence sampler started far in the posterior's tails stays there. Conjugate
            updates are exact either way and ignore it.
        emission_update: which update `LowRankEmissions.update_kernel` builds: "laplace"
            (default; the Laplace draw above, MH-corrected with `metropolis`) or
            "exact_blocked" (`smoseq.models.ExactBlockedUpdate`, the exact blocked update;
            it searches no mode, so the optimizer settings are unused).
    """

    optimizer: optax.GradientTransformation
    max_iters: int = 1000
    tol: float = 1e-6
    name: str = ""
    metropolis: bool = False
    emission_update: str = "laplace"


class ModeResult(NamedTuple):
    """Outcome of `find_mode`.

    Attributes:
        params: the parameters after the last step taken (same PyTree as the start).
        losses: (max_iters,) loss after each step; NaN after the last step taken.
        n_steps: number of steps taken.
        converged: whether the stopping rule fired (False: hit `max_iters` or the loss
            became non-finite, in which case that step was rejected).
    """

    params: PyTree
    losses: Float[Array, " max_iters"]
    n_steps: Int[Array, ""]
    converged: Bool[Array, ""]


class _SearchState(NamedTuple):
    step: Int[Array, ""]
    params: PyTree
    opt_state: optax.OptState
    loss: Float[Array, ""]
    grad: PyTree
    losses: Float[Array, " max_iters"]
    n_small_changes: Int[Array, ""]
    diverged: Bool[Array, ""]


def _value_and_grad_fn(loss_fn, opt_state):
    """`(params, opt_state) -> (loss, grad)`, reusing a line search's stored value if any."""
    if optax.tree.get(opt_state, "value") is None:
        value_and_grad = jax.value_and_grad(loss_fn)
        return lambda params, state: value_and_grad(params)
    from_state = optax.value_and_grad_from_state(loss_fn)
    return lambda params, state: from_state(params, state=state)


def find_mode(
    loss_fn: Callable[[PyTree], Float[Array, ""]],
    init_params: PyTree,
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    *,
    patience: int = 3,
) -> ModeResult:
    """Minimise `loss_fn` from `init_params` with an Optax optimizer in a `lax.while_loop`.

    Stopping rule: stop after the step at which the loss changed by at most
    `tol · max(|loss|, 1)` on `patience` consecutive steps (so never before `patience`
    steps), or after `max_iters` steps. A step whose loss is non-finite is rejected and
    ends the search unconverged. Each step calls `optimizer.update` with the extra
    arguments `value`, `grad` and `value_fn` (ignored by optimizers that take none), and
    reuses the value and gradient a line search (e.g. `optax.lbfgs()`) stored in its
    state, so both `optax.adam(lr)` and `optax.lbfgs()` work unchanged.

    Jittable and `jax.vmap`-able over a batch of problems (each stops on its own).

    Args:
        loss_fn: scalar loss of the parameters.
        init_params: starting point (warm start), any PyTree of float arrays.
        optimizer: an `optax.GradientTransformation`.
        max_iters: cap on the number of steps (static).
        tol: relative loss-change tolerance of the stopping rule (may be traced).
        patience: consecutive small changes required to stop (static).

    Returns:
        A `ModeResult`; `losses[t]` is the loss after step t + 1.
    """
    optimizer = optax.with_extra_args_support(optimizer)
    opt_state = optimizer.init(init_params)
    value_and_grad = _value_and_grad_fn(loss_fn, opt_state)
    loss, grad = jax.value_and_grad(loss_fn)(init_params)
    start = _SearchState(
        step=jnp.zeros((), jnp.int32),
        params=init_params,
        opt_state=opt_state,
        loss=loss,
        grad=grad,
        losses=jnp.full((max_iters,), jnp.nan, dtype=loss.dtype),
        n_small_changes=jnp.zeros((), jnp.int32),
        diverged=jnp.zeros((), bool),
    )

    def keep_going(state: _SearchState) -> Bool[Array, ""]:
        return (state.step < max_iters) & (state.n_small_changes < patience) & ~state.diverged

    def take_step(state: _SearchState) -> _SearchState:
        updates, opt_state = optimizer.update(
            state.grad, state.opt_state, state.params,
            value=state.loss, grad=state.grad, value_fn=loss_fn,
        )  # fmt: skip
        params = optax.apply_updates(state.params, updates)
        loss, grad = value_and_grad(params, opt_state)
        small = jnp.abs(loss - state.loss) <= tol * jnp.maximum(jnp.abs(loss), 1.0)
        accepted = _SearchState(
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            loss=loss,
            grad=grad,
            losses=state.losses.at[state.step].set(loss),
            n_small_changes=jnp.where(small, state.n_small_changes + 1, 0),
            diverged=state.diverged,
        )
        rejected = state._replace(diverged=jnp.ones((), bool))
        finite = jnp.isfinite(loss)
        return jax.tree.map(lambda a, r: jnp.where(finite, a, r), accepted, rejected)

    final = jax.lax.while_loop(keep_going, take_step, start)
    return ModeResult(
        params=final.params,
        losses=final.losses,
        n_steps=final.step,
        converged=final.n_small_changes >= patience,
    )
