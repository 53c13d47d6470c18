"""Block Cholesky factor of the Laplace precision, and the solves and products it gives.

`Q = L Lᵀ` with

    L = [[blockdiag(L_i), 0], [Wᵀ, L_s]],   L_i L_iᵀ = Q_ii,   W_i = L_i⁻¹ Q_iβ,
    L_s L_sᵀ = Q_ββ − Σ_i W_iᵀ W_i            (the Schur complement),

built without the dense (S(S-1) + M)² matrix or the (S, S-1, M) cross blocks: the Schur
correction is assembled from the diagonal-plus-rank-one structure of the cross blocks in
O(K²S³) operations (see `smoseq.models.laplace.precision`).

Performance note: the small Cholesky and triangular kernels run in the LAPACK that jaxlib
borrows from SciPy (OpenBLAS). With OpenBLAS's default threading, on a busy 2-core
machine each 99 × 99 call can take ~10 ms instead of ~0.05 ms: call this module inside
`smoseq._threads.single_threaded_blas()` (the fit loop does) or with
`OPENBLAS_NUM_THREADS=1`.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Bool, Float, PyTree

from .precision import LaplacePrecision, cross_times_bias, cross_transposed_times_base, embeddings

__all__ = [
    "LaplaceFactor",
    "dense_covariance",
    "factor_is_finite",
    "factorize_precision",
    "log_det_cholesky",
    "multiply_transposed",
    "solve_precision",
    "solve_transposed",
]


class LaplaceFactor(NamedTuple):
    """Block Cholesky factor `L` of Q, `Q = L Lᵀ` (see the module docstring).

    `W_i = L_i⁻¹ Q_iβ` is applied from the precision's row weights and probabilities
    rather than stored.

    Attributes:
        base_cholesky: (S, S-1, S-1) lower-triangular `L_i`.
        base_cholesky_inverse: (S, S-1, S-1) `L_i⁻¹`.
        schur_cholesky: (M, M) lower-triangular `L_s`.
        row_weights: (K, S, S) as in `LaplacePrecision`.
        probs: (K, S, S) as in `LaplacePrecision`.
    """

    base_cholesky: Float[Array, "S S-1 S-1"]
    base_cholesky_inverse: Float[Array, "S S-1 S-1"]
    schur_cholesky: Float[Array, "M M"]
    row_weights: Float[Array, "K S S"]
    probs: Float[Array, "K S S"]


def _solve_lower(lower, rhs):
    """`lower⁻¹ rhs` for a stack of lower-triangular matrices and matrix right-hand sides."""
    solve = lambda a, b: jax.lax.linalg.triangular_solve(a, b, left_side=True, lower=True)
    return jax.vmap(solve)(lower, rhs)


def _weighted_inverse_term(row_weights, raised_inverse) -> Float[Array, "K S K S"]:
    """`t[k,a,l,b] = Σ_i u_kia A_iab u_lib`, one (K, S) @ (S, K·S) matmul per a.

    A loop over a (`lax.map`) keeps each right-hand side (S, K·S) small; materialising
    all of them at once, as a plain einsum does, is memory-bound and ~3x slower on CPU.
    """
    num_states, size = row_weights.shape[0], row_weights.shape[1]
    by_row = jnp.transpose(row_weights, (1, 0, 2))  # (i, l, b)

    def for_column(args):
        inverse_column, weights_column = args  # (i, b), (k, i)
        right = (inverse_column[:, None, :] * by_row).reshape(size, num_states * size)
        return weights_column @ right

    columns = (jnp.transpose(raised_inverse, (1, 0, 2)), jnp.transpose(row_weights, (2, 0, 1)))
    out = jax.lax.map(for_column, columns)  # (a, k, l·b)
    return jnp.transpose(out.reshape(size, num_states, num_states, size), (1, 0, 2, 3))


def _schur_correction(row_weights, probs, base_cholesky_inverse) -> Float[Array, "M M"]:
    """`Σ_i Q_βi Q_ii⁻¹ Q_iβ` from the structure of the cross blocks.

    In raised coordinates `Q_βi Q_ii⁻¹ Q_iβ` has (k, l) block `H_ki A_i H_li` with
    `A_i = E_S Q_ii⁻¹ E_Sᵀ` and `H_ki = diag(u_ki) − u_ki p_kiᵀ`, so entry (k,a; l,b) of
    the sum over i is `Σ_i u_kia u_lib (A_iab − q_lia − q_kib + g_ikl)` with `q = A p`
    and `g_ikl = p_kiᵀ A_i p_li`. That costs O(K²S³) instead of the O(K²S⁴) of stacking
    dense cross blocks; the result is then lowered to the (M, M) embedded coordinates.
    """
    embed_states, embed_syllables = embeddings(row_weights)
    whitened = base_cholesky_inverse @ embed_syllables.T  # (S, S-1, S): L_i⁻¹ E_Sᵀ
    raised_inverse = jnp.einsum("ica,icb->iab", whitened, whitened)  # A_i (S, S, S)
    applied = jnp.einsum("iab,kib->kia", raised_inverse, probs)  # q
    along = jnp.einsum("kia,lia->ikl", probs, applied)  # g
    correction = _weighted_inverse_term(row_weights, raised_inverse)
    cross_term = jnp.einsum("kia,lia,lib->kalb", row_weights, applied, row_weights)
    correction = correction - cross_term - jnp.transpose(cross_term, (2, 3, 0, 1))
    along_weights = jnp.einsum("ikl,lib->iklb", along, row_weights)
    correction = correction + jnp.einsum("kia,iklb->kalb", row_weights, along_weights)
    lowered = jnp.einsum("kalb,ac,bd->kcld", correction, embed_syllables, embed_syllables)
    lowered = jnp.einsum("kcld,km,ln->mcnd", lowered, embed_states, embed_states)
    bias_dim = lowered.shape[0] * lowered.shape[1]
    return lowered.reshape(bias_dim, bias_dim)


def factorize_precision(precision: LaplacePrecision) -> LaplaceFactor:
    """Block Cholesky factorisation of a structured precision.

    The Schur complement `Q_ββ − Σ_i Q_βi Q_ii⁻¹ Q_iβ` is built from the structure of
    the cross blocks (`_schur_correction`), never from dense cross blocks. A block that
    is not numerically positive definite gives NaNs (`LaplaceInfo.factor_ok`).

    Args:
        precision: the blocks of Q.

    Returns:
        A `LaplaceFactor`.
    """
    base_cholesky = jnp.linalg.cholesky(precision.base_blocks)
    identity = jnp.broadcast_to(
        jnp.eye(base_cholesky.shape[-1], dtype=base_cholesky.dtype), base_cholesky.shape
    )
    # One batched solve for L_i⁻¹, then matmuls everywhere: much faster on CPU than
    # triangular solves with many right-hand sides, and no concurrent LAPACK calls later.
    inverse = _solve_lower(base_cholesky, identity)
    schur = precision.bias_block - _schur_correction(precision.row_weights, precision.probs, inverse)
    return LaplaceFactor(
        base_cholesky, inverse, jnp.linalg.cholesky(schur), precision.row_weights, precision.probs
    )


def _split(flat, size):
    """Flat `(base, biases)` vector -> base part (S, S-1) and bias part (M,)."""
    return flat[: size * (size - 1)].reshape(size, size - 1), flat[size * (size - 1) :]


def _join(base_part, bias_part):
    return jnp.concatenate([base_part.ravel(), bias_part])


def _times_inverse(factor: LaplaceFactor, base_part):
    """`L_i⁻¹ y_i` for every row i."""
    return jnp.einsum("iab,ib->ia", factor.base_cholesky_inverse, base_part)


def _times_inverse_transposed(factor: LaplaceFactor, base_part):
    """`L_i⁻ᵀ y_i` for every row i."""
    return jnp.einsum("iba,ib->ia", factor.base_cholesky_inverse, base_part)


def _solve_forward(factor: LaplaceFactor, rhs_base, rhs_bias):
    """Solve `L u = g` for u, with g split into base (S, S-1) and bias (M,) parts.

    `u_β = L_s⁻¹ (g_β − Σ_i W_iᵀ u_i)` with `W_iᵀ u_i = Q_βi L_i⁻ᵀ L_i⁻¹ g_i`.
    """
    base_part = _times_inverse(factor, rhs_base)
    through = cross_transposed_times_base(
        factor.row_weights, factor.probs, _times_inverse_transposed(factor, base_part)
    )
    return base_part, solve_triangular(factor.schur_cholesky, rhs_bias - through, lower=True)


def _solve_transposed(factor: LaplaceFactor, rhs_base, rhs_bias):
    """Solve `Lᵀ x = z` for x, with z split into base (S, S-1) and bias (M,) parts."""
    bias_part = solve_triangular(factor.schur_cholesky, rhs_bias, lower=True, trans="T")
    cross = _times_inverse(factor, cross_times_bias(factor.row_weights, factor.probs, bias_part))
    return _times_inverse_transposed(factor, rhs_base - cross), bias_part


def _multiply_transposed(factor: LaplaceFactor, base_part, bias_part):
    """`Lᵀ x`, with x split into base (S, S-1) and bias (M,) parts."""
    base_out = jnp.einsum("iba,ib->ia", factor.base_cholesky, base_part)
    cross = _times_inverse(factor, cross_times_bias(factor.row_weights, factor.probs, bias_part))
    return base_out + cross, factor.schur_cholesky.T @ bias_part


def solve_precision(factor: LaplaceFactor, rhs: PyTree) -> PyTree:
    """`Q⁻¹ g` by block forward and back substitution.

    Args:
        factor: block factor of Q.
        rhs: g, a `(base (S, S-1), biases (K-1, S-1))` PyTree.

    Returns:
        `Q⁻¹ g` with the structure of `rhs`.
    """
    flat, unravel = ravel_pytree(rhs)
    size = factor.base_cholesky.shape[0]
    forward = _solve_forward(factor, *_split(flat, size))
    return unravel(_join(*_solve_transposed(factor, *forward)))


def solve_transposed(factor: LaplaceFactor, flat: Float[Array, " D"]) -> Float[Array, " D"]:
    """`L⁻ᵀ z` for a flat vector z in the `(base, biases)` order (a draw's noise, a unit vector).

    Args:
        factor: block factor of Q.
        flat: (D,) float, D = S(S-1) + M.

    Returns:
        (D,) float.
    """
    size = factor.base_cholesky.shape[0]
    return _join(*_solve_transposed(factor, *_split(flat, size)))


def multiply_transposed(factor: LaplaceFactor, flat: Float[Array, " D"]) -> Float[Array, " D"]:
    """`Lᵀ x` for a flat vector x in the `(base, biases)` order (whitens an offset from the mode).

    Args:
        factor: block factor of Q.
        flat: (D,) float.

    Returns:
        (D,) float.
    """
    size = factor.base_cholesky.shape[0]
    return _join(*_multiply_transposed(factor, *_split(flat, size)))


def log_det_cholesky(factor: LaplaceFactor) -> Float[Array, ""]:
    """`log det L = ½ log det Q`.

    Args:
        factor: block factor of Q.

    Returns:
        Scalar float.
    """
    base = jnp.sum(jnp.log(jnp.diagonal(factor.base_cholesky, axis1=-2, axis2=-1)))
    return base + jnp.sum(jnp.log(jnp.diagonal(factor.schur_cholesky)))


def factor_is_finite(factor: LaplaceFactor) -> Bool[Array, ""]:
    """Whether the block Cholesky factor is finite, i.e. Q was numerically positive definite.

    Args:
        factor: block factor of Q.

    Returns:
        Scalar bool.
    """
    return jnp.all(jnp.isfinite(factor.schur_cholesky)) & jnp.all(jnp.isfinite(factor.base_cholesky))


def dense_covariance(factor: LaplaceFactor) -> Float[Array, "D D"]:
    """The dense covariance `Q⁻¹ = L⁻ᵀ L⁻¹` rebuilt from the block factor.

    For tests and small S only: it materialises a D × D matrix, D = S(S-1) + M.

    Args:
        factor: a `LaplaceFactor` (`factorize_precision`).

    Returns:
        (D, D) float covariance, coordinates ordered as `base.ravel()` (S(S-1)) then the
        M = (K-1)(S-1) bias coordinates.
    """
    size = factor.base_cholesky.shape[0]
    bias_dim = factor.schur_cholesky.shape[0]
    identity = jnp.eye(size * (size - 1) + bias_dim, dtype=factor.schur_cholesky.dtype)

    inverse_transposed = jax.vmap(lambda unit: solve_transposed(factor, unit), out_axes=1)(identity)  # L⁻ᵀ
    return inverse_transposed @ inverse_transposed.T
