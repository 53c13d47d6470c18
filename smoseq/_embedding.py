"""The zero-sum embedding used by the low-rank emissions (DESIGN §1).

`raise_dim` maps R^(n-1) onto the zero-sum subspace of R^n with the orthonormal basis
`E_n` (n × (n-1)) whose column j (rows indexed from 0) is `e_j − (1/j)·Σ_{i<j} e_i`,
normalised. `lower_dim` is its adjoint (and left inverse). This is the reference
layout, so parameter arrays are interchangeable with `state-moseq`.
"""

from functools import lru_cache

import jax.numpy as jnp
import numpy as np


@lru_cache(maxsize=64)
def _embedding_numpy(n: int) -> np.ndarray:
    j = np.arange(1, n)  # column j-1 holds e_j − mean of e_0..e_{j-1}
    rows = np.arange(n)[:, None]
    basis = np.where(rows < j, -1.0 / j, 0.0) + (rows == j)
    return basis / np.sqrt(1.0 + 1.0 / j)


def center_embedding(n: int) -> jnp.ndarray:
    """The orthonormal basis `E_n`, shape (n, n-1), of the zero-sum subspace of R^n."""
    return jnp.asarray(_embedding_numpy(n), dtype=jnp.result_type(float))


def raise_dim(array, axis: int = 0):
    """Embed `axis` (length n-1) into the zero-sum subspace of R^n: `E_n @ a` along `axis`."""
    array = jnp.asarray(array)
    basis = center_embedding(array.shape[axis] + 1).astype(array.dtype)
    moved = jnp.moveaxis(array, axis, -1)
    return jnp.moveaxis(moved @ basis.T, -1, axis)


def lower_dim(array, axis: int = 0):
    """Project `axis` (length n) onto the zero-sum basis: `E_nᵀ @ a` along `axis` (length n-1)."""
    array = jnp.asarray(array)
    basis = center_embedding(array.shape[axis]).astype(array.dtype)
    moved = jnp.moveaxis(array, axis, -1)
    return jnp.moveaxis(moved @ basis, -1, axis)
