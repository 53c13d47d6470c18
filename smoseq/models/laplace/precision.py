"""The Laplace precision of the low-rank emissions as a structured operator (DESIGN §2).

With `c = raise(biases, axis=0)` (K, S-1), the logits of row i in state k are
`E_S (base_i + c_k)`, so the Hessian couples row i of `base` only with itself and with
the biases. In the flattened `(base, biases)` order of `jax.flatten_util.ravel_pytree`,
`Q = −H + prior curvature + diagonal_boost·I` has S diagonal base blocks `Q_ii`
((S-1)²), cross blocks `Q_iβ` ((S-1) × M) and one bias block `Q_ββ` (M × M),
M = (K-1)(S-1). The cross blocks are never stored: in raised coordinates each is a sum of
diagonal-plus-rank-one matrices `n_ki (diag p_ki − p_ki p_kiᵀ)`, so products with them
(`cross_times_bias`, `cross_transposed_times_base`) cost O(KS²) from the row weights
and probabilities. `smoseq.models.laplace.factor` factorises this operator.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ..._embedding import center_embedding
from .posterior import transition_probs

__all__ = [
    "LaplacePrecision",
    "cross_blocks",
    "cross_times_bias",
    "cross_transposed_times_base",
    "embeddings",
    "laplace_precision",
]


class LaplacePrecision(NamedTuple):
    """`Q = −H + diagonal_boost·I` in the flattened `(base, biases)` order, by blocks.

    The diagonal blocks are stored densely; the cross blocks `Q_iβ` are not: in the raised
    coordinates each is a sum of `H_ki = diag(u_ki) − u_ki p_kiᵀ` (u = n·p), so the row
    weights u and probabilities p define them (`cross_blocks` materialises them for small S).

    Attributes:
        base_blocks: (S, S-1, S-1) `Q_ii`, one per row of `base`.
        bias_block: (M, M) `Q_ββ`, M = (K-1)(S-1), rows in row-major order of `biases`.
        row_weights: (K, S, S) `u[k, i] = n_ki p_ki`.
        probs: (K, S, S) `p[k, i] = P_k[i, :]`.
    """

    base_blocks: Float[Array, "S S-1 S-1"]
    bias_block: Float[Array, "M M"]
    row_weights: Float[Array, "K S S"]
    probs: Float[Array, "K S S"]


def _projected_diagonal_parts(weights: Float[Array, "*batch S"]):
    """Pieces of `E_Sᵀ diag(w) E_S`, which costs O(S²) per matrix given the layout of E_S.

    Column a of `E_S` (j = a + 1) is `scale_j·(e_j − (1/j) Σ_{s<j} e_s)`. With
    `below_j = Σ_{s<j} w_s`, entry (a, b) for a < b is `left[a]·right[b]` with
    `left = scale·(below/j − w_j)`, `right = scale/j`, and the diagonal is
    `scale²·(below/j² + w_j)`.

    Returns:
        `(left (*batch, S-1), right (S-1,), diagonal (*batch, S-1))`.
    """
    size = weights.shape[-1]
    j = jnp.arange(1, size, dtype=weights.dtype)
    scale = 1.0 / jnp.sqrt(1.0 + 1.0 / j)
    batch_shape = (1,) * (weights.ndim - 1) + (size - 1,)  # explicit, for rank promotion
    j_batched, scale_batched = j.reshape(batch_shape), scale.reshape(batch_shape)
    below = jnp.cumsum(weights, axis=-1)[..., :-1]
    at = weights[..., 1:]
    left = scale_batched * (below / j_batched - at)
    diagonal = scale_batched**2 * (below / j_batched**2 + at)
    return left, scale / j, diagonal


def _project_diagonal(weights: Float[Array, "*batch S"]) -> Float[Array, "*batch S-1 S-1"]:
    """`E_Sᵀ diag(w) E_S` for each vector w along the last axis."""
    left, right, diagonal = _projected_diagonal_parts(weights)
    upper = jnp.einsum("...a,b->...ab", left, right)
    strict = jnp.triu(upper, 1) + jnp.tril(jnp.swapaxes(upper, -1, -2), -1)
    identity = jnp.eye(right.shape[0], dtype=right.dtype)
    return strict + jnp.einsum("...a,ab->...ab", diagonal, identity)


def _add_to_diagonal(blocks, values):
    """`blocks + diag(values)` for a (stack of) square matrices; `values` (..., n) one diagonal per matrix."""
    identity = jnp.eye(blocks.shape[-1], dtype=blocks.dtype)
    return blocks + jnp.expand_dims(values, -2) * jnp.broadcast_to(identity, blocks.shape)


def embeddings(row_weights):
    """`(E_K (K, K-1), E_S (S, S-1))` for (K, S, S) row weights, in their dtype."""
    num_states, size = row_weights.shape[0], row_weights.shape[-1]
    dtype = row_weights.dtype
    return center_embedding(num_states).astype(dtype), center_embedding(size).astype(dtype)


def laplace_precision(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    base_curvature: Float[Array, "..."],
    bias_curvature: Float[Array, "..."],
    diagonal_boost: float = 1e-2,
    possible: Bool[Array, "S S"] | None = None,
) -> LaplacePrecision:
    """The blocks of `Q = −∇² log_post + diagonal_boost·I`, computed analytically.

    Row i in state k contributes `H_ki = n_ki E_Sᵀ (diag p_ki − p_ki p_kiᵀ) E_S`
    (`n_ki = Σ_j N[k,i,j]`, p the probabilities over the possible transitions, 0
    elsewhere) to `Q_ii`, `F[k,m]·H_ki` to the (i, m) cross block and
    `F[k,m] F[k,m']·H_ki` to the (m, m') bias block, F = `E_K`; the priors add their
    elementwise curvature to the diagonal (`Normal(σ)`: 1/σ², the embeddings being
    orthonormal; see `smoseq.models.priors.elementwise_curvature`).

    Args:
        base, biases: the point at which to evaluate Q (normally the mode).
        counts: (K, S, S) transition counts.
        base_curvature: `−∂² log p(base) / ∂base²` elementwise, broadcasting to (S, S-1) (≥ 0).
        bias_curvature: the same for the biases, broadcasting to (K-1, S-1) (≥ 0).
        diagonal_boost: added to the diagonal (the reference's 10⁻²).
        possible: (S, S) bool, which transitions the tables cover (None: all).

    Returns:
        A `LaplacePrecision`.
    """
    probs = transition_probs(base, biases, possible)
    row_counts = counts.astype(base.dtype).sum(axis=-1)
    weighted = row_counts[..., None] * probs  # u = n_ki p_ki
    embed_states, embed_syllables = embeddings(weighted)
    projected = probs @ embed_syllables  # E_Sᵀ p_ki
    weighted_projected = row_counts[..., None] * projected

    base_blocks = _project_diagonal(weighted.sum(axis=0)) - jnp.einsum(
        "kia,kib->iab", weighted_projected, projected
    )
    base_blocks = _add_to_diagonal(base_blocks, jnp.broadcast_to(base_curvature + diagonal_boost, base.shape))
    per_state = _project_diagonal(weighted.sum(axis=1)) - jnp.einsum(
        "kia,kib->kab", weighted_projected, projected
    )
    bias_block = jnp.einsum("km,kn,kab->manb", embed_states, embed_states, per_state)
    bias_dim = (counts.shape[0] - 1) * (counts.shape[-1] - 1)
    bias_diagonal = jnp.broadcast_to(bias_curvature + diagonal_boost, biases.shape).reshape(bias_dim)
    bias_block = _add_to_diagonal(bias_block.reshape(bias_dim, bias_dim), bias_diagonal)
    return LaplacePrecision(base_blocks, bias_block, weighted, probs)


def cross_times_bias(row_weights, probs, bias_part: Float[Array, " M"]) -> Float[Array, "S S-1"]:
    """`Q_iβ x` for every base row i, without forming the cross blocks.

    Raise x to the (K, S) bias logits c, apply `H_ki c_k = u_ki ∘ c_k − u_ki (p_ki·c_k)`,
    sum over k and lower the result back to (S-1) per row.
    """
    embed_states, embed_syllables = embeddings(row_weights)
    num_states = row_weights.shape[0]
    raised = embed_states @ bias_part.reshape(num_states - 1, -1) @ embed_syllables.T  # (K, S)
    along_probs = jnp.einsum("kia,ka->ki", probs, raised)
    applied = jnp.einsum("kia,ka->ia", row_weights, raised) - jnp.einsum(
        "kia,ki->ia", row_weights, along_probs
    )
    return applied @ embed_syllables


def cross_transposed_times_base(row_weights, probs, base_part: Float[Array, "S S-1"]) -> Float[Array, " M"]:
    """`Σ_i Q_βi y_i` for a base-shaped y, without forming the cross blocks."""
    embed_states, embed_syllables = embeddings(row_weights)
    raised = base_part @ embed_syllables.T  # (S, S)
    along_probs = jnp.einsum("kia,ia->ki", probs, raised)
    applied = jnp.einsum("kia,ia->ka", row_weights, raised) - jnp.einsum(
        "kia,ki->ka", row_weights, along_probs
    )
    return (embed_states.T @ applied @ embed_syllables).ravel()


def cross_blocks(precision: LaplacePrecision) -> Float[Array, "S S-1 M"]:
    """The dense cross blocks `Q_iβ` (S, S-1, M). For tests and small S only."""
    size = precision.row_weights.shape[-1]
    bias_dim = precision.bias_block.shape[0]
    identity = jnp.eye(bias_dim, dtype=precision.bias_block.dtype)
    columns = jax.vmap(
        lambda unit: cross_times_bias(precision.row_weights, precision.probs, unit)
    )(identity)  # (M, S, S-1)
    return jnp.moveaxis(columns, 0, -1).reshape(size, size - 1, bias_dim)
