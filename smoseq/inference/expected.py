"""Smoothed expected statistics of an HMM: the gradient of its marginal log-likelihood.

For one sequence, with `trans` (K, K) or per frame (T, K, K) (`trans[t]`: t-1 -> t,
the convention of `smoseq.inference.kernels`):

- `∂ log p(obs) / ∂ log_init[k] = p(z_0 = k | obs)`;
- `∂ log p(obs) / ∂ log_likelihoods[t, k] = p(z_t = k | obs)` (the smoothed marginals);
- `∂ log p(obs) / ∂ trans[t, i, j] = p(z_{t-1} = i, z_t = j | obs) / trans[t, i, j]`
  (finite where `trans` is 0), summed over t for a shared matrix.

These are the expected sufficient statistics of the hidden chain, computed by one
forward and one backward serial scan (`kernels.forward_pass`, `kernels.backward_pass`)
without forming the (T, K, K) pairwise marginals when the matrix is shared. The native
kernels' custom VJP (`smoseq.inference.native.filter_native`) returns them, so
`jax.grad` of a marginal log-likelihood works, and agrees, on every method.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float

from .kernels import backward_pass, forward_pass, safe_normalise, scaled_likelihoods

__all__ = ["ExpectedStatistics", "hmm_expected_statistics"]


class ExpectedStatistics(NamedTuple):
    """The gradient of `log p(obs)` with respect to each kernel input.

    Attributes:
        marginal_loglik: `log p(obs_0..T-1)`, shape ().
        log_init: `p(z_0 | obs)`, shape (K,).
        trans: `Σ_t p(z_{t-1} = i, z_t = j | obs) / trans[i, j]`, shape (K, K); or, per
            frame, shape (T, K, K) with row 0 zero (`trans[0]` is never read).
        log_likelihoods: `p(z_t | obs)`, shape (T, K).
    """

    marginal_loglik: Float[Array, ""]
    log_init: Float[Array, " K"]
    trans: Float[Array, "K K"] | Float[Array, "T K K"]
    log_likelihoods: Float[Array, "T K"]


def hmm_expected_statistics(
    log_init: Float[Array, " K"],
    trans: Float[Array, "K K"] | Float[Array, "T K K"],
    log_likelihoods: Float[Array, "T K"],
) -> ExpectedStatistics:
    """Marginal log-likelihood and its gradient with respect to every input (one sequence).

    Args:
        log_init: log initial state probabilities, shape (K,).
        trans: shape (K, K), or (T, K, K) per frame.
        log_likelihoods: shape (T, K).

    Returns:
        `ExpectedStatistics`; on a sequence of probability zero the statistics are not
        meaningful (the marginal is `-inf`).
    """
    likelihoods, log_scales = scaled_likelihoods(log_likelihoods)
    filtered, normalisers = forward_pass(jnp.exp(log_init), trans, likelihoods)
    betas = backward_pass(trans, likelihoods)
    smoothed = safe_normalise(filtered * betas)
    weights = likelihoods[1:] * betas[1:]  # (T-1, K): lik[t, j] * beta[t, j]
    if trans.ndim == 3:
        predicted = jnp.einsum("ti,tij->tj", filtered[:-1], trans[1:])
    else:
        predicted = filtered[:-1] @ trans
    totals = jnp.sum(predicted * weights, axis=-1)  # Z_t = Σ_ij filtered[t-1, i] trans[t, i, j] w[t, j]
    scaled_weights = weights / jnp.where(totals > 0, totals, 1.0)[:, None]
    if trans.ndim == 3:
        pairs = filtered[:-1, :, None] * scaled_weights[:, None, :]
        trans_gradient = jnp.concatenate([jnp.zeros_like(trans[:1]), pairs], axis=0)
    else:
        trans_gradient = filtered[:-1].T @ scaled_weights
    marginal = jnp.sum(jnp.log(normalisers) + log_scales)
    return ExpectedStatistics(marginal, smoothed[0], trans_gradient, smoothed)
