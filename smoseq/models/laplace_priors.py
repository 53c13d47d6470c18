"""Laplace draw of the low-rank emissions under any elementwise priors (e.g. `StudentT`).

`smoseq.models.laplace.sample_low_rank_emissions` is specialised to normal priors
(its loss and Hessian take the prior standard deviations). This module serves every other
prior object with the methods of `smoseq.models.priors` (`log_prob(x)` summing over
independent elements): the mode search uses `log_prob` itself, and the prior's share of
the precision is its elementwise curvature `−∂² log p / ∂x²`, found by automatic
differentiation and added to the diagonal of the structured likelihood precision.

Like the normal case this is a Laplace approximation, not an exact conditional draw.
A prior that is not log-concave (Student-t beyond |x| = √ν·scale) has negative curvature
there; it is clipped at 0 so that the precision stays positive definite.
"""

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from .laplace import (
    LaplaceInfo,
    LaplacePrecision,
    emission_log_likelihood_ratio,
    emission_log_posterior,
    factorize_precision,
    initial_emission_params,
    laplace_draw,
    laplace_precision,
    metropolis_laplace_draw,
)

__all__ = ["prior_curvature", "sample_low_rank_emissions_with_priors"]

def prior_curvature(prior, x: Array) -> Array:
    """`−∂² log p(x_e) / ∂x_e²` for every element of `x`, clipped at 0 (shape of `x`).

    Args:
        prior: a prior object whose `log_prob` sums independent elementwise terms.
        x: the point, any shape.

    Returns:
        Array of `x`'s shape: the non-negative curvature of each element's log prior.
    """
    second = jax.grad(jax.grad(lambda value: prior.log_prob(value)))
    return jnp.maximum(-jax.vmap(second)(x.ravel()).reshape(x.shape), 0.0)


def _with_prior_curvature(precision: LaplacePrecision, base_curvature, bias_curvature) -> LaplacePrecision:
    diagonal = jnp.arange(base_curvature.shape[-1])
    base_blocks = precision.base_blocks.at[:, diagonal, diagonal].add(base_curvature)
    bias_diagonal = jnp.arange(bias_curvature.size)
    bias_block = precision.bias_block.at[bias_diagonal, bias_diagonal].add(bias_curvature.ravel())
    return precision._replace(base_blocks=base_blocks, bias_block=bias_block)


def sample_low_rank_emissions_with_priors(
    key: PRNGKeyArray,
    counts: Float[Array, "K S S"],
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    base_prior,
    bias_prior,
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    diagonal_boost: float = 1e-2,
    metropolis: bool = False,
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], LaplaceInfo]:
    """Laplace-approximate draw of `(base, biases)` given counts, for any elementwise priors.

    The loss is `−(Σ N log P + base_prior.log_prob(base) + bias_prior.log_prob(biases))`;
    its mode is found with `optimizer` from the warm start `(base, biases)`, moved by one
    damped Newton step, and the draw is from `N(mode, Q⁻¹)` with `Q` the structured
    likelihood precision plus the priors' clipped curvature plus `diagonal_boost·I`.
    With `metropolis=True`, `(base, biases)` are the current parameters and that draw,
    searched from `initial_emission_params(counts)`, is an independence
    Metropolis–Hastings proposal for the exact conditional (see
    `smoseq.models.laplace.metropolis_laplace_draw`, which says what that guarantees).

    Args:
        key: PRNG key for the draw.
        counts: (K, S, S) transition counts `N[k, i, j]`.
        base: (S, S-1) warm start.
        biases: (K-1, S-1) warm start.
        base_prior, bias_prior: prior objects with `log_prob` (e.g. `Normal`, `StudentT`).
        optimizer: Optax optimizer of the mode search.
        max_iters: cap on optimizer steps.
        tol: relative loss-change tolerance of `find_mode`.
        diagonal_boost: added to the diagonal of Q.
        metropolis: whether to correct the draw by an independence Metropolis–Hastings step.

    Returns:
        `(base, biases, info)`: the draw and a `LaplaceInfo`.
    """
    counts = counts.astype(base.dtype)
    no_prior = jnp.asarray(jnp.inf, base.dtype)  # infinite σ: the likelihood alone (plus a constant)

    def loss_fn(params):
        log_likelihood = emission_log_posterior(*params, counts, no_prior, no_prior)
        return -(log_likelihood + base_prior.log_prob(params[0]) + bias_prior.log_prob(params[1]))

    def factor_at(params):
        precision = laplace_precision(*params, counts, no_prior, no_prior, diagonal_boost)
        curvatures = prior_curvature(base_prior, params[0]), prior_curvature(bias_prior, params[1])
        return factorize_precision(_with_prior_curvature(precision, *curvatures))

    if not metropolis:
        return laplace_draw(key, loss_fn, factor_at, (base, biases), optimizer, max_iters, tol)

    def log_target_ratio(new, old):
        log_prior_ratio = (base_prior.log_prob(new[0]) - base_prior.log_prob(old[0])) + (
            bias_prior.log_prob(new[1]) - bias_prior.log_prob(old[1])
        )
        return emission_log_likelihood_ratio(new, old, counts) + log_prior_ratio

    start = initial_emission_params(counts)
    return metropolis_laplace_draw(
        key, loss_fn, factor_at, (base, biases), start, optimizer, max_iters, tol, True, log_target_ratio
    )
