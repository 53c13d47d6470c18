"""Weighted counts of many events into few cells, exact past float32's 2²⁴.

A float32 accumulator stops counting at 2²⁴ = 16 777 216: adding 1 to it gives it back.
A 300 M-frame fit has cells of its transition and emission counts far above that (each
state's self-transitions alone are ~3·10⁷), so one scatter-add over every frame would cap
them. `weighted_counts` scatters blocks of at most `BLOCK_EVENTS` events (each block's
counts of 0/1 weights are then exact integers below 2²⁴) and adds the blocks with a
compensated (Neumaier) sum, so the result is the exact total rounded once to float32
(exact itself below 2²⁴). With at most one block, it is the plain scatter-add.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

__all__ = ["BLOCK_EVENTS", "weighted_counts"]

BLOCK_EVENTS = 1 << 22
"""Events scattered into one block of counts (each cell of a block holds at most this many)."""


def _scatter(indices, weights, size: int):
    return jnp.zeros(size, weights.dtype).at[indices].add(weights)


def _neumaier_add(total, compensation, value):
    """`total + value` with the rounding error carried in `compensation` (Neumaier's two-sum)."""
    new_total = total + value
    error = jnp.where(jnp.abs(total) >= jnp.abs(value), (total - new_total) + value, (value - new_total) + total)
    return new_total, compensation + error


def weighted_counts(
    indices: Int[Array, " M"], weights: Float[Array, " M"], size: int, block: int = BLOCK_EVENTS
) -> Float[Array, " size"]:
    """`counts[c] = Σ_m weights[m]·1[indices[m] = c]`, exact for 0/1 weights at any count.

    Args:
        indices: (M,) int cell of each event, in [0, size).
        weights: (M,) float weight of each event.
        size: number of cells.
        block: events per block (static); at most one block is the plain scatter-add.

    Returns:
        (size,) counts in the dtype of `weights`: the exact sum rounded once (for weights that are
        integers, exact below 2²⁴ per cell and within half a unit in the last place above).
    """
    n_events = indices.shape[0]
    if n_events <= block:
        return _scatter(indices, weights, size)
    n_full = n_events // block

    def add_block(b, carry):
        start = b * block
        part_indices = jax.lax.dynamic_slice(indices, (start,), (block,))
        part = _scatter(part_indices, jax.lax.dynamic_slice(weights, (start,), (block,)), size)
        return _neumaier_add(*carry, part)

    zero = jnp.zeros(size, weights.dtype)
    total, compensation = jax.lax.fori_loop(0, n_full, add_block, (zero, zero))
    if n_events > n_full * block:
        rest = _scatter(indices[n_full * block :], weights[n_full * block :], size)
        total, compensation = _neumaier_add(total, compensation, rest)
    return total + compensation
