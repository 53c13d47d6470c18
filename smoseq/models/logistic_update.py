"""Exact update of per-state logistic regressions on leave/stay events (the input-driven transitions' weights).

For every hidden state k the probability of leaving on a step is σ(βₖᵀ x̃), x̃ = [1, x]
(intercept and features), with independent Gaussian priors on βₖ (a coordinate of
precision 0 has a flat prior; a prior on it can enter as weighted pseudo-events). Given the hidden
states the K regressions are independent. The update is an independence
Metropolis–Hastings step per state: a multivariate Student-t proposal (ν = 5) centred on
the conditional posterior's mode with the inverse Hessian there as its scale. The mode is
found by a fixed number of damped Newton steps started from the prior mean, so the
proposal does not depend on the chain's current value and the accept/reject step makes
the update exact (its stationary law is the conditional posterior), whether or not Newton
fully converged. All of it is plain JAX (jit- and vmap-safe, no host callback).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.special import gammaln
from jaxtyping import Array, Float, Int, PRNGKeyArray

DEGREES_OF_FREEDOM = 5.0


class LeaveEvents(NamedTuple):
    """The steps t-1 -> t of every sequence, flattened to M steps.

    Attributes:
        origin: (M,) int state at t-1.
        leave: (M,) float 1 where z_t ≠ z_{t-1}.
        weight: (M,) float 1 for a real step, 0 for padding.
        design: (M, P+1) float [1, x_t]: the intercept column and the step's features.
        offset: (M,) float added to every event's log-odds, or None (the destination update's
            −log Σ exp of the other destinations' logits).
    """

    origin: Int[Array, " M"]
    leave: Float[Array, " M"]
    weight: Float[Array, " M"]
    design: Float[Array, "M P1"]
    offset: Float[Array, " M"] | None = None


def linear_predictor(coefficients: Float[Array, "K P1"], events: LeaveEvents) -> Float[Array, " M"]:
    """ψ_m = x̃_mᵀ β_{origin_m} (+ offset_m): the log-odds of every event."""
    psi = jnp.einsum("mp,mp->m", events.design, coefficients[events.origin])
    return psi if events.offset is None else psi + events.offset


def state_log_likelihoods(coefficients: Float[Array, "K P1"], events: LeaveEvents) -> Float[Array, " K"]:
    """Σ_t over the steps leaving state k of log Bernoulli(leave_t | σ(βₖᵀ x̃_t)), for every k.

    Returns:
        (K,) float.
    """
    psi = linear_predictor(coefficients, events)
    terms = events.weight * (events.leave * psi - jnp.logaddexp(0.0, psi))
    return jnp.zeros(coefficients.shape[0], psi.dtype).at[events.origin].add(terms)


def log_gamma_log_prior(coefficients, shape) -> Float[Array, " K"]:
    """log density of the intercept b = log g, g ~ Gamma(shape, 1): shape·b − e^b − log Γ(shape) (0 where shape is 0).

    With this prior on every logit of a softmax, the softmax is Dirichlet(shape) distributed.

    Returns:
        (K,) float.
    """
    intercept = coefficients[..., 0]
    safe = jnp.where(shape > 0, shape, 1.0)
    return jnp.where(shape > 0, safe * intercept - jnp.exp(intercept) - gammaln(safe), 0.0)


def gaussian_log_prior(coefficients, mean, precision) -> Float[Array, " K"]:
    """Σ_p log N(βₖₚ | meanₚ, 1/precisionₚ) per state over the coordinates of precision > 0 (others flat).

    Returns:
        (K,) float (`mean`, `precision` broadcast against (K, P+1)).
    """
    precision = jnp.broadcast_to(precision, coefficients.shape)
    safe = jnp.where(precision > 0, precision, 1.0)
    terms = -0.5 * precision * (coefficients - mean) ** 2 + 0.5 * jnp.log(safe / (2 * jnp.pi))
    return jnp.sum(jnp.where(precision > 0, terms, 0.0), axis=-1)


def _gradient_hessian(coefficients, events, mean, precision, shape=0.0):
    """Per-state gradient (K, P1) and negative Hessian (K, P1, P1) of the log posterior."""
    n_states, width = coefficients.shape
    prob = jax.nn.sigmoid(linear_predictor(coefficients, events))
    residual = events.weight * (events.leave - prob)
    curvature = events.weight * prob * (1 - prob)
    gradient = jnp.zeros((n_states, width)).at[events.origin].add(residual[:, None] * events.design)
    outer = curvature[:, None, None] * events.design[:, :, None] * events.design[:, None, :]
    hessian = jnp.zeros((n_states, width, width)).at[events.origin].add(outer)
    prior_precision = jnp.broadcast_to(precision, coefficients.shape)
    gradient = gradient - (coefficients - mean) * prior_precision
    growth = jnp.where(shape > 0, jnp.exp(coefficients[:, 0]), 0.0)  # the log-gamma intercept prior
    gradient = gradient.at[:, 0].add(jnp.where(shape > 0, shape, 0.0) - growth)
    hessian = hessian.at[:, 0, 0].add(growth)
    return gradient, hessian + jax.vmap(jnp.diag)(prior_precision)


def posterior_mode(
    events: LeaveEvents, mean, precision, n_states: int, width: int, n_steps: int = 30, max_step: float = 2.0, shape=0.0
):
    """The conditional posterior mode of every state's coefficients, by damped Newton from the prior mean.

    Each Newton step is shortened to length ≤ `max_step`; the log posterior is concave
    (strictly, with a Gaussian prior or events on every coordinate), so the iteration
    converges from anywhere.

    Returns:
        `(mode, precision)`: (K, P+1) float and (K, P+1, P+1) float negative Hessian at `mode`.
    """
    start = jnp.broadcast_to(mean, (n_states, width)).astype(float)

    def step(coefficients, _):
        gradient, hessian = _gradient_hessian(coefficients, events, mean, precision, shape)
        delta = jnp.linalg.solve(hessian, gradient[..., None])[..., 0]
        norm = jnp.linalg.norm(delta, axis=-1, keepdims=True)
        return coefficients + delta * jnp.minimum(1.0, max_step / jnp.maximum(norm, 1e-12)), None

    mode, _ = jax.lax.scan(step, start, None, length=n_steps)
    return mode, _gradient_hessian(mode, events, mean, precision, shape)[1]


def _t_log_density(x, centre, chol_precision):
    """Log density of the multivariate t (ν = 5) centred on `centre` with scale matrix precision^-1 (K,)."""
    width = x.shape[-1]
    z = jnp.einsum("kqp,kp->kq", chol_precision, x - centre)  # U (x - m), Uᵀ U = precision
    quad = jnp.sum(z**2, axis=-1)
    nu = DEGREES_OF_FREEDOM
    log_det = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(chol_precision, axis1=-2, axis2=-1))), axis=-1)
    const = gammaln((nu + width) / 2) - gammaln(nu / 2) - 0.5 * width * jnp.log(nu * jnp.pi)
    return const + log_det - 0.5 * (nu + width) * jnp.log1p(quad / nu)


def resample_coefficients(
    key: PRNGKeyArray, coefficients: Float[Array, "K P1"], events: LeaveEvents, mean, precision, n_proposals: int = 2,
    shape=0.0, n_newton: int = 30,
) -> tuple[Float[Array, "K P1"], Float[Array, " K"]]:  # fmt: skip
    """An exact draw-step of every state's coefficients given the leave/stay events.

    Args:
        key: a JAX PRNG key.
        coefficients: (K, P+1) current [intercept, weights] per state.
        events: `LeaveEvents`.
        mean, precision: the Gaussian prior's mean and precision (0: flat), broadcast to (K, P+1).
        n_proposals: independence Metropolis–Hastings proposals per call.
        shape: > 0: the intercept's prior is log-Gamma(shape) (`log_gamma_log_prior`) instead
            of the Gaussian's (give it precision 0 there).
        n_newton: damped Newton steps of the proposal's mode search.

    Returns:
        `(coefficients, accepted)`: the new (K, P+1) values and the (K,) fraction of proposals accepted.
    """
    n_states, width = coefficients.shape
    mode, hessian = posterior_mode(events, mean, precision, n_states, width, n_steps=n_newton, shape=shape)
    chol_precision = jnp.swapaxes(jnp.linalg.cholesky(hessian), -1, -2)  # upper U, Uᵀ U = precision

    def target(x):
        return state_log_likelihoods(x, events) + gaussian_log_prior(x, mean, precision) + log_gamma_log_prior(x, shape)

    def propose(carry, step_key):
        current, current_log_ratio = carry
        k_normal, k_chi, k_accept = jr.split(step_key, 3)
        normal = jr.normal(k_normal, (n_states, width))
        scale = jnp.sqrt(DEGREES_OF_FREEDOM / jr.chisquare(k_chi, DEGREES_OF_FREEDOM, (n_states, 1)))
        offset = jax.scipy.linalg.solve_triangular(chol_precision, (normal * scale)[..., None], lower=False)[..., 0]
        proposal = mode + offset
        proposal_log_ratio = target(proposal) - _t_log_density(proposal, mode, chol_precision)
        log_alpha = jnp.nan_to_num(proposal_log_ratio - current_log_ratio, nan=-jnp.inf)
        accept = jnp.log(jr.uniform(k_accept, (n_states,))) < log_alpha
        new = jnp.where(accept[:, None], proposal, current)
        return (new, jnp.where(accept, proposal_log_ratio, current_log_ratio)), accept.astype(float)

    start = (coefficients, target(coefficients) - _t_log_density(coefficients, mode, chol_precision))
    (new, _), accepted = jax.lax.scan(propose, start, jr.split(key, n_proposals))
    return new, accepted.mean(axis=0)


class DestinationEvents(NamedTuple):
    """The steps t-1 -> t of every sequence that leave a state, for the destination regressions.

    Attributes:
        origin: (M,) int state at t-1.
        destination: (M,) int state at t.
        weight: (M,) float 1 for a real step that leaves (z_t ≠ z_{t-1}), else 0.
        design: (M, P+1) float [1, x_t].
    """

    origin: Int[Array, " M"]
    destination: Int[Array, " M"]
    weight: Float[Array, " M"]
    design: Float[Array, "M P1"]


def resample_destinations(
    key: PRNGKeyArray, coefficients: Float[Array, "K K P1"], events: DestinationEvents, mean, precision, shape,
    n_newton: int = 15,
) -> tuple[Float[Array, "K K P1"], Float[Array, " K"]]:  # fmt: skip
    """An exact sweep over the destinations' softmax regressions: p(z_t = j | leave i, x) ∝ exp(ηᵢⱼ(x)), j ≠ i.

    ηᵢⱼ(x) = x̃ᵀ γᵢⱼ. Destination by destination (Holmes and Held 2006), γ_·ⱼ given the others
    is a logistic regression of "went to j" on the exits of every origin i ≠ j with offset
    −log Σ_{k ≠ i, j} exp(ηᵢₖ(x)); each is updated by `resample_coefficients` (exact
    independence Metropolis–Hastings), so the sweep leaves the joint conditional invariant.
    The diagonal γᵢᵢ is unused and kept at 0.

    Args:
        key: a JAX PRNG key.
        coefficients: (K, K, P+1) γ[i, j] = [bᵢⱼ, vᵢⱼ].
        events: `DestinationEvents`.
        mean, precision: Gaussian prior of every γᵢⱼ (precision 0 on the intercept).
        shape: the intercepts' log-Gamma(shape) prior (the rows are Dirichlet(shape) at zero weights).
        n_newton: Newton steps of each proposal's mode search.

    Returns:
        `(coefficients, accepted)`: the new (K, K, P+1) and the (K,) acceptance per destination.
    """
    n_states = coefficients.shape[0]
    others = jnp.arange(n_states)

    def sweep(current, inputs):
        step_key, j = inputs
        logits = jnp.einsum("mp,mkp->mk", events.design, current[events.origin])  # (M, K)
        rest = (others != events.origin[:, None]) & (others != j)
        offset = -jax.scipy.special.logsumexp(jnp.where(rest, logits, -jnp.inf), axis=1)
        weight = events.weight * (events.origin != j)
        leave = LeaveEvents(events.origin, (events.destination == j).astype(float), weight, events.design, offset)
        column, accepted = resample_coefficients(step_key, current[:, j], leave, mean, precision, shape=shape,
                                                 n_newton=n_newton)  # fmt: skip
        column = jnp.where((others == j)[:, None], 0.0, column)
        return current.at[:, j].set(column), jnp.sum(jnp.where(others == j, 0.0, accepted)) / (n_states - 1)

    new, accepted = jax.lax.scan(sweep, coefficients, (jr.split(key, n_states), others))
    return new, accepted
