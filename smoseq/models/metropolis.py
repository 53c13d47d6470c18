"""The generic Metropolis–Hastings correction that an update composes on top of a proposal.

As in BlackJAX, where the independence sampler is a few lines over the generic MH step:
`metropolis_hastings` accepts or rejects any proposed state given the log of its
acceptance ratio, and `independence_metropolis` builds that ratio for a proposal that
does not depend on the current state (`log p(x') − log p(x) + log q(x) − log q(x')`).
The update that proposes (e.g. the Laplace draw of the low-rank emissions) stays
unaware of the correction; its own info travels in `MetropolisInfo.proposal`.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray, PyTree

__all__ = ["MetropolisInfo", "independence_metropolis", "metropolis_hastings"]


class MetropolisInfo(NamedTuple):
    """What a Metropolis–Hastings-corrected update reports.

    Attributes:
        accepted: bool scalar, whether the proposal replaced the current state.
        acceptance_prob: float scalar `min(1, exp(log_ratio))` (0 for a NaN ratio).
        proposal: the proposal's own info (e.g. a `LaplaceInfo`).
    """

    accepted: Bool[Array, ""]
    acceptance_prob: Float[Array, ""]
    proposal: Any


def metropolis_hastings(
    key: PRNGKeyArray, current: PyTree, proposed: PyTree, log_ratio: Float[Array, ""]
) -> tuple[PyTree, Bool[Array, ""], Float[Array, ""]]:
    """Accept `proposed` with probability `min(1, exp(log_ratio))`, else keep `current`.

    A NaN ratio (e.g. a proposal whose density could not be evaluated) is a rejection.

    Args:
        key: PRNG key of the decision.
        current: the current state (any PyTree of arrays).
        proposed: the proposed state, same structure.
        log_ratio: log of the Metropolis–Hastings acceptance ratio.

    Returns:
        `(state, accepted, acceptance_prob)`.
    """
    log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    accepted = jnp.log(jr.uniform(key, (), log_ratio.dtype)) < log_ratio
    state = jax.tree.map(lambda p, c: jnp.where(accepted, p, c), proposed, current)
    return state, accepted, jnp.exp(jnp.minimum(log_ratio, 0.0))


def independence_metropolis(
    key: PRNGKeyArray,
    current: PyTree,
    draw: Callable[[PRNGKeyArray], PyTree],
    proposal_log_density: Callable[[PyTree], Float[Array, ""]],
    log_target_ratio: Callable[[PyTree, PyTree], Float[Array, ""]],
    proposal_info: Any = None,
) -> tuple[PyTree, MetropolisInfo]:
    """One independence Metropolis–Hastings step: propose from q, correct against the target p.

    If q does not depend on `current` (it may depend on what the target is conditioned
    on), the step leaves p exactly invariant whatever q is; how often it accepts depends
    on how close q is to p.

    Args:
        key: PRNG key (split into the draw's and the decision's).
        current: the current state.
        draw: `key -> x'`, a draw from q.
        proposal_log_density: `x -> log q(x)` (normalised, or up to a constant shared by every x).
        log_target_ratio: `(new, old) -> log p(new) − log p(old)` for the unnormalised target.
        proposal_info: the proposal's info, reported in `MetropolisInfo.proposal`.

    Returns:
        `(state, MetropolisInfo)`.
    """
    k_draw, k_accept = jr.split(key)
    proposed = draw(k_draw)
    log_ratio = log_target_ratio(proposed, current) + (proposal_log_density(current) - proposal_log_density(proposed))
    state, accepted, probability = metropolis_hastings(k_accept, current, proposed, log_ratio)
    return state, MetropolisInfo(accepted, probability, proposal_info)
