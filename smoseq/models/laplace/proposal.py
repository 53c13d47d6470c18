"""The Laplace approximation as a proposal: mode search, factor at the mode, Newton step, draw.

`laplace_proposal` builds `N(centre, Q⁻¹)` for any negative log posterior `loss_fn` of a
`(base, biases)` PyTree and any `factor_at(params)` giving the block factor of its
precision; `laplace_draw` draws from it (the approximate Gibbs update);
`metropolis_laplace_draw` uses it, mixed with 5% of the prior, as an independence
Metropolis–Hastings proposal (`smoseq.models.metropolis`), which makes the update exact.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from ..metropolis import MetropolisInfo, independence_metropolis
from .factor import LaplaceFactor, factor_is_finite, solve_precision
from .gaussian import laplace_log_density, sample_laplace
from .mode import ModeResult, ModeSearch, find_mode

__all__ = [
    "LaplaceInfo", "LaplaceProposal", "defensive_log_density", "laplace_draw", "laplace_proposal",
    "metropolis_laplace_draw",
]  # fmt: skip

_NEWTON_STEP_SIZES = tuple(0.5**halvings for halvings in range(8))


class LaplaceInfo(NamedTuple):
    """What a Laplace draw reports besides the draw.

    Attributes:
        mode: `(base, biases)`, the centre of the Laplace approximation (the optimizer's
            result, Newton-corrected if enabled).
        mode_loss: the loss (negative log posterior) at `mode`.
        losses: (max_iters,) optimizer loss per step, NaN after the last step taken.
        n_steps: optimizer steps taken.
        converged: whether the optimizer's stopping rule fired (False: it hit `max_iters`
            or the loss became non-finite); the draw is then around a point that may be far
            from the mode.
        factor_ok: whether the block Cholesky factor is finite (Q numerically positive
            definite); if False the draw contains NaNs (and a Metropolis–Hastings update
            rejects it).
    """

    mode: tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]]
    mode_loss: Float[Array, ""]
    losses: Float[Array, " max_iters"]
    n_steps: Int[Array, ""]
    converged: Bool[Array, ""]
    factor_ok: Bool[Array, ""]


class LaplaceProposal(NamedTuple):
    """`N(centre, Q⁻¹)` and how it was found.

    Attributes:
        search: the optimizer's `ModeResult`.
        centre: the Gaussian's mean (the search's end point, Newton-corrected if enabled).
        centre_loss: the loss at `centre`.
        factor: block factor of Q at the search's end point.
    """

    search: ModeResult
    centre: PyTree
    centre_loss: Float[Array, ""]
    factor: LaplaceFactor

    def info(self) -> LaplaceInfo:
        """The `LaplaceInfo` of this proposal."""
        search = self.search
        return LaplaceInfo(
            self.centre, self.centre_loss, search.losses, search.n_steps, search.converged, factor_is_finite(self.factor)
        )


def _newton_corrected(loss_fn, params, loss, factor: LaplaceFactor):
    """Move `params` along the Newton direction `Q⁻¹ ∇log_post`, damped if need be.

    Tries step sizes 1, 1/2, …, 1/128 (in one batch) and keeps the lowest loss, or
    `params` itself if no step lowers the loss.
    """
    direction = solve_precision(factor, jax.grad(loss_fn)(params))
    step_sizes = jnp.asarray(_NEWTON_STEP_SIZES, dtype=loss.dtype)

    def moved(step_size):
        return jax.tree.map(lambda p, d: p - step_size * d, params, direction)

    candidate_losses = jax.vmap(lambda t: loss_fn(moved(t)))(step_sizes)
    candidate_losses = jnp.where(jnp.isnan(candidate_losses), jnp.inf, candidate_losses)
    best = jnp.argmin(candidate_losses)
    better = candidate_losses[best] < loss
    step_size = jnp.where(better, step_sizes[best], jnp.zeros((), loss.dtype))
    return moved(step_size), jnp.where(better, candidate_losses[best], loss)


def laplace_proposal(
    loss_fn: Callable[[PyTree], Float[Array, ""]],
    factor_at: Callable[[PyTree], LaplaceFactor],
    start: PyTree,
    mode_search: ModeSearch,
    newton_step: bool = True,
) -> LaplaceProposal:
    """Mode search from `start`, block factor at its end point, optional damped Newton step.

    Args:
        loss_fn: negative log posterior of the parameters.
        factor_at: `params -> LaplaceFactor` of the precision at `params`.
        start: where the search starts (a warm start, or a function of the data only).
        mode_search: the optimizer and its stopping rule (`metropolis` is not read here).
        newton_step: whether to move the centre by one damped Newton step, which reuses
            the factorisation and makes the centre far more accurate than the
            optimizer's stopping point at little cost.

    Returns:
        A `LaplaceProposal`.
    """
    search = find_mode(loss_fn, start, mode_search.optimizer, mode_search.max_iters, mode_search.tol)
    centre = search.params
    factor = factor_at(centre)
    centre_loss = loss_fn(centre)
    if newton_step:
        centre, centre_loss = _newton_corrected(loss_fn, centre, centre_loss, factor)
    return LaplaceProposal(search, centre, centre_loss, factor)


def laplace_draw(key: PRNGKeyArray, proposal: LaplaceProposal) -> tuple[PyTree, LaplaceInfo]:
    """A draw from `N(centre, Q⁻¹)`: the Laplace-approximate conditional draw.

    An unconverged search still yields a draw: check `info.converged`.

    Args:
        key: PRNG key for the draw.
        proposal: a `LaplaceProposal`.

    Returns:
        `(params, info)`.
    """
    return tuple(sample_laplace(key, proposal.centre, proposal.factor)), proposal.info()


def metropolis_laplace_draw(
    key: PRNGKeyArray,
    proposal: LaplaceProposal,
    current: PyTree,
    log_target_ratio: Callable[[PyTree, PyTree], Float[Array, ""]],
    log_prior: Callable[[PyTree], Float[Array, ""]],
    sample_prior: Callable[[PRNGKeyArray], PyTree],
    prior_weight: float = 0.05,
) -> tuple[PyTree, MetropolisInfo]:
    """An independence Metropolis–Hastings update of `current`, its proposal the Laplace draw defended by the prior.

    The proposal is the mixture `q = (1 − ε) N(centre, Q⁻¹) + ε · prior` (ε = `prior_weight`):
    a draw x' from q replaces the current x with probability `min(1, p(x') q(x) / (p(x) q(x')))`,
    p the unnormalised target, `log q(x) = logaddexp(log(1 − ε) + log N(x; centre, Q⁻¹),
    log ε + log_prior(x))` with the normalised Gaussian (`laplace_log_density`) and prior.

    Why the prior: the likelihood is a product of probabilities, so `p ≤ prior` and every
    importance weight `p / q ≤ 1/ε`: the sampler is uniformly ergodic. The Gaussian alone
    is lighter-tailed than the conditional in the directions of cells with no counts, its
    weights are unbounded and the chain under-visits those tails (miscalibrated).
    `prior_weight=0` gives the undefended Gaussian proposal (for tests).

    What it guarantees: if the proposal was built from a start (and a loss and factor)
    that depend only on what the target is conditioned on — not on `current` — then q is
    one fixed distribution for this target, whatever the optimizer does (converged or not,
    any `max_iters`, `tol` or Newton step), and the update leaves p exactly invariant. A
    proposal whose factor is not finite is rejected. A warm start from `current` would make
    q depend on x, and this ratio would no longer be the Metropolis–Hastings ratio of the move.

    Args:
        key: PRNG key (split into the draw's and the decision's; the draw's into the
            mixture choice's, the Gaussian's and the prior's, in that order).
        proposal: a `LaplaceProposal` built from the data alone.
        current: `(base, biases)`, the chain's current parameters.
        log_target_ratio: `(new, old) -> log p(new) − log p(old)`, summed term by term
            where the totals are too large for the dtype to resolve their difference.
        log_prior: `params -> log prior(params)`, normalised.
        sample_prior: `key -> params`, a draw from that prior.
        prior_weight: ε, the prior's weight in the proposal (0 ≤ ε < 1).

    Returns:
        `(params, MetropolisInfo)`: the draw if accepted, else `current`; the info's
        `proposal` is the `LaplaceInfo`.
    """
    current = tuple(current)
    weight = jnp.asarray(prior_weight, ravel_pytree(current)[0].dtype)

    def draw(k):
        k_choice, k_gauss, k_prior = jr.split(k, 3)
        from_prior = jr.uniform(k_choice, (), weight.dtype) < weight
        gaussian = tuple(sample_laplace(k_gauss, proposal.centre, proposal.factor))
        prior_draw = tuple(sample_prior(k_prior))
        return jax.tree.map(lambda a, b: jnp.where(from_prior, a.astype(b.dtype), b), prior_draw, gaussian)

    def log_density(x):
        return defensive_log_density(x, proposal, log_prior, weight)

    return independence_metropolis(key, current, draw, log_density, log_target_ratio, proposal.info())


def defensive_log_density(
    x: PyTree, proposal: LaplaceProposal, log_prior: Callable[[PyTree], Float[Array, ""]], prior_weight
) -> Float[Array, ""]:
    """`log q(x)` of the proposal of `metropolis_laplace_draw`: `(1 − ε) N(centre, Q⁻¹) + ε · prior`.

    `logaddexp(log(1 − ε) + laplace_log_density(x), log ε + log_prior(x))`; since the target
    is `likelihood · prior` with likelihood ≤ 1, `log p(x) − log q(x) ≤ −log ε` everywhere.

    Args:
        x: a `(base, biases)` PyTree.
        proposal: the `LaplaceProposal` (its centre and factor).
        log_prior: `params -> log prior(params)`, normalised.
        prior_weight: ε (scalar, 0 ≤ ε < 1).

    Returns:
        Scalar float.
    """
    weight = jnp.asarray(prior_weight, ravel_pytree(x)[0].dtype)
    gaussian = jnp.log1p(-weight) + laplace_log_density(x, proposal.centre, proposal.factor)
    return jnp.logaddexp(gaussian, jnp.log(weight) + log_prior(x))
