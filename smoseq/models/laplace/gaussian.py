"""The Gaussian `N(mode, Q⁻¹)` of a Laplace approximation: draws and normalised log density.

Both work from the block factor (`smoseq.models.laplace.factor`): a draw is
`mode + L⁻ᵀ z`, the density whitens the offset with `Lᵀ`.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .factor import LaplaceFactor, log_det_cholesky, multiply_transposed, solve_transposed

__all__ = ["laplace_log_density", "sample_laplace"]


def sample_laplace(key: PRNGKeyArray, mode: PyTree, factor: LaplaceFactor) -> PyTree:
    """Draw `mode + L⁻ᵀ z`, i.e. from `N(mode, Q⁻¹)`.

    `z = jr.normal(key, (D,))` in the flattened order of `mode`, so a test can reproduce
    the draw from a dense factor.

    Args:
        key: PRNG key.
        mode: `(base (S, S-1), biases (K-1, S-1))`.
        factor: block factor of Q.

    Returns:
        A draw with the structure of `mode`.
    """
    flat_mode, unravel = ravel_pytree(mode)
    noise = jr.normal(key, flat_mode.shape, flat_mode.dtype)
    # The barrier makes the noise solve wait for `mode` (e.g. a Newton step's own
    # triangular solves): two LAPACK trsm calls running at once can deadlock jaxlib
    # 0.10's 2-thread CPU pool (observed on a 2-core machine).
    flat_mode, noise = jax.lax.optimization_barrier((flat_mode, noise))
    return unravel(flat_mode + solve_transposed(factor, noise))


def laplace_log_density(x: PyTree, mode: PyTree, factor: LaplaceFactor) -> Float[Array, ""]:
    """Normalised log density of `N(mode, Q⁻¹)` at x (e.g. for a Metropolis correction).

    Args:
        x: a `(base, biases)` PyTree.
        mode: the mean, same structure.
        factor: block factor of Q.

    Returns:
        Scalar `log N(x; mode, Q⁻¹)`.
    """
    offset = ravel_pytree(x)[0] - ravel_pytree(mode)[0]
    squared_norm = jnp.sum(multiply_transposed(factor, offset) ** 2)
    log_two_pi = jnp.log(2 * jnp.pi).astype(offset.dtype)
    return -0.5 * squared_norm + log_det_cholesky(factor) - 0.5 * offset.shape[0] * log_two_pi
