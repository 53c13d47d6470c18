"""Gaussians on a subspace, with a block-diagonal precision restricted to it.

The low-rank emission parameters live in lowered coordinates x (d,); their raised image
`y = V x` lies in a d-dimensional subspace of R^n, V (n, d) with orthonormal columns
(the zero-sum bases of `smoseq._embedding`, or Kronecker products of them). A Gaussian
with precision `Q = Vᵀ A V`, A (n, n) block diagonal and positive definite, is the
conditional of `N(0, A⁻¹)` on R^n given `Wᵀ y = 0`, W (n, r) an orthonormal basis of the
complement. With `A = L Lᵀ` (one Cholesky factor per block) and `G = Wᵀ A⁻¹ W` (r, r):

    Q⁻¹ = Vᵀ (A⁻¹ − A⁻¹ W G⁻¹ Wᵀ A⁻¹) V,      det Q = det A · det G,

and `Vᵀ (w − A⁻¹ W G⁻¹ Wᵀ w)` with `w = L⁻ᵀ z`, z standard normal, is a draw from
`N(0, Q⁻¹)`. Nothing of size d × d is factorised: only the blocks of A and G, which is
what makes the per-row and per-state curvature of the emissions cheap to use.

Triangular inverses are formed once (one batched solve) and applied by matmuls, so no
two LAPACK calls run concurrently (see the note in `smoseq.models.laplace`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["SubspaceFactor", "factorize", "log_density", "sample", "solve"]


class SubspaceFactor(NamedTuple):
    """Factor of `Q = Vᵀ A V` (see the module docstring).

    Attributes:
        basis: (n, d) V, orthonormal columns.
        complement: (n, r) W, orthonormal columns spanning the complement of V.
        cholesky: (B, m, m) lower-triangular L_b, `A = blockdiag(L_b L_bᵀ)`, n = B·m.
        cholesky_inverse: (B, m, m) `L_b⁻¹`.
        solved_complement: (n, r) `A⁻¹ W`.
        gram_cholesky_inverse: (r, r) `L_G⁻¹`, `G = Wᵀ A⁻¹ W = L_G L_Gᵀ`.
        log_det: scalar `log det Q`.
    """

    basis: Float[Array, "n d"]
    complement: Float[Array, "n r"]
    cholesky: Float[Array, "B m m"]
    cholesky_inverse: Float[Array, "B m m"]
    solved_complement: Float[Array, "n r"]
    gram_cholesky_inverse: Float[Array, "r r"]
    log_det: Float[Array, ""]


def _lower_inverse(lower: Float[Array, "B m m"]) -> Float[Array, "B m m"]:
    identity = jnp.broadcast_to(jnp.eye(lower.shape[-1], dtype=lower.dtype), lower.shape)
    solve = lambda a, b: jax.lax.linalg.triangular_solve(a, b, left_side=True, lower=True)
    return jax.vmap(solve)(lower, identity)


def _blocks_apply(matrices: Float[Array, "B m m"], vectors: Float[Array, "n ..."], transpose: bool = False):
    """`blockdiag(M_b) v` (or `blockdiag(M_bᵀ) v`) for v (n,) or (n, r)."""
    num_blocks, size = matrices.shape[0], matrices.shape[-1]
    shaped = vectors.reshape((num_blocks, size) + vectors.shape[1:])
    pattern = "bji,bj...->bi..." if transpose else "bij,bj...->bi..."
    return jnp.einsum(pattern, matrices, shaped).reshape(vectors.shape)


def _inverse_apply(factor_inverse: Float[Array, "B m m"], vectors):
    """`A⁻¹ v = L⁻ᵀ L⁻¹ v` blockwise."""
    return _blocks_apply(factor_inverse, _blocks_apply(factor_inverse, vectors), transpose=True)


def factorize(blocks: Float[Array, "B m m"], basis: Float[Array, "n d"], complement: Float[Array, "n r"]) -> SubspaceFactor:
    """Factor `Q = Vᵀ blockdiag(blocks) V`.

    Args:
        blocks: (B, m, m) symmetric positive definite blocks of A (n = B·m).
        basis: (n, d) V.
        complement: (n, r) W, with `[V W]` orthogonal (d + r = n).

    Returns:
        A `SubspaceFactor`; NaNs if a block is not numerically positive definite.
    """
    cholesky = jnp.linalg.cholesky(blocks)
    cholesky_inverse = _lower_inverse(cholesky)
    whitened = _blocks_apply(cholesky_inverse, complement)  # L⁻¹ W
    gram = whitened.T @ whitened
    gram_cholesky = jnp.linalg.cholesky(gram)
    gram_cholesky_inverse = _lower_inverse(gram_cholesky[None])[0]
    log_det = 2.0 * (
        jnp.sum(jnp.log(jnp.diagonal(cholesky, axis1=-2, axis2=-1))) + jnp.sum(jnp.log(jnp.diagonal(gram_cholesky)))
    )
    solved = _blocks_apply(cholesky_inverse, whitened, transpose=True)  # A⁻¹ W
    return SubspaceFactor(basis, complement, cholesky, cholesky_inverse, solved, gram_cholesky_inverse, log_det)


def _project_out(factor: SubspaceFactor, raised: Float[Array, " n"]) -> Float[Array, " n"]:
    """`w − A⁻¹ W G⁻¹ Wᵀ w`."""
    coefficients = factor.gram_cholesky_inverse @ (factor.complement.T @ raised)
    return raised - factor.solved_complement @ (factor.gram_cholesky_inverse.T @ coefficients)


def solve(factor: SubspaceFactor, rhs: Float[Array, " d"]) -> Float[Array, " d"]:
    """`Q⁻¹ g`.

    Args:
        factor: a `SubspaceFactor`.
        rhs: (d,) g in lowered coordinates.

    Returns:
        (d,) float.
    """
    applied = _inverse_apply(factor.cholesky_inverse, factor.basis @ rhs)
    return factor.basis.T @ _project_out(factor, applied)


def sample(key: PRNGKeyArray, factor: SubspaceFactor, mean: Float[Array, " d"]) -> Float[Array, " d"]:
    """A draw from `N(mean, Q⁻¹)`.

    Args:
        key: PRNG key.
        factor: a `SubspaceFactor`.
        mean: (d,) float.

    Returns:
        (d,) float.
    """
    noise = jr.normal(key, (factor.basis.shape[0],), mean.dtype)
    raised = _blocks_apply(factor.cholesky_inverse, noise, transpose=True)  # L⁻ᵀ z ~ N(0, A⁻¹)
    return mean + factor.basis.T @ _project_out(factor, raised)


def log_density(x: Float[Array, " d"], mean: Float[Array, " d"], factor: SubspaceFactor) -> Float[Array, ""]:
    """Normalised `log N(x; mean, Q⁻¹)`.

    Args:
        x: (d,) float.
        mean: (d,) float.
        factor: a `SubspaceFactor`.

    Returns:
        Scalar float.
    """
    whitened = _blocks_apply(factor.cholesky, factor.basis @ (x - mean), transpose=True)  # Lᵀ V (x − mean)
    dim = factor.basis.shape[1]
    return -0.5 * jnp.sum(whitened**2) + 0.5 * factor.log_det - 0.5 * dim * jnp.log(2 * jnp.pi).astype(x.dtype)
