"""The sticky Markov chain over hidden states (DESIGN §1)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .priors import dirichlet_log_prob


class StickyTransitions(eqx.Module):
    """Hidden-state transition matrix with a sticky Dirichlet prior.

    Row k of `probs` has prior Dirichlet(β·1 + κ·e_k): κ (`kappa`) sets how long states
    last, β (`beta`) how evenly the rest is spread. β and κ are array leaves, so a batch
    of models with different κ is one PyTree with a leading axis.

    Args:
        probs: (K, K) float transition matrix, rows summing to 1 (row = from-state).
        beta: β ≥ 0, the concentration added to every entry.
        kappa: κ ≥ 0, the extra concentration on the diagonal.

    Raises:
        ValueError: `probs` is not square.
    """

    probs: Float[Array, "K K"]
    beta: Float[Array, ""]
    kappa: Float[Array, ""]

    def __init__(self, probs, beta=1.0, kappa=0.0):
        self.probs = jnp.asarray(probs, dtype=float)
        self.beta = jnp.asarray(beta, dtype=float)
        self.kappa = jnp.asarray(kappa, dtype=float)

    def __check_init__(self):
        if self.probs.ndim < 2 or self.probs.shape[-1] != self.probs.shape[-2]:
            raise ValueError(f"transition probs must be square (K, K), got {self.probs.shape}")

    @property
    def n_states(self) -> int:
        return self.probs.shape[-1]

    def concentration(self) -> Float[Array, "K K"]:
        """Prior Dirichlet concentration of every row: β + κ·I.

        Returns:
            (K, K) float; row k is the concentration of `probs[k]`.
        """
        return self.beta + self.kappa * jnp.eye(self.n_states)

    def log_prior(self) -> Float[Array, ""]:
        """Σ_k log Dir(probs[k] | β + κ·e_k).

        Returns:
            Scalar float.
        """
        return dirichlet_log_prob(self.probs, self.concentration()).sum()

    def resample(self, key: PRNGKeyArray, counts: Float[Array, "K K"]) -> "StickyTransitions":
        """Conjugate draw of every row from Dirichlet(β + κ·e_k + counts[k]).

        Args:
            key: a JAX PRNG key (split into one per row).
            counts: (K, K) float transition counts (`transition_counts`).

        Returns:
            These transitions with new (K, K) `probs` (β and κ unchanged).
        """
        rows = jax.vmap(jr.dirichlet)(jr.split(key, self.n_states), counts + self.concentration())
        return eqx.tree_at(lambda t: t.probs, self, rows)

    def sample_prior(self, key: PRNGKeyArray) -> "StickyTransitions":
        """A draw of `probs` from the prior (`resample` with zero counts).

        Args:
            key: a JAX PRNG key.

        Returns:
            These transitions with new (K, K) `probs`.
        """
        return self.resample(key, jnp.zeros((self.n_states, self.n_states)))


def transition_counts(
    states: Int[Array, "N T"], mask: Float[Array, "N T"], n_states: int
) -> Float[Array, "K K"]:
    """C[i, j] = Σ_t mask[t-1]·1[z_{t-1}=i, z_t=j] over every sequence.

    Args:
        states: (N, T) int hidden states.
        mask: (N, T) float frame weights (1 real, 0 padding).
        n_states: K.

    Returns:
        (K, K) float counts.
    """
    flat = states[:, :-1] * n_states + states[:, 1:]
    weights = mask[:, :-1].astype(float)
    counts = jnp.zeros(n_states * n_states, weights.dtype).at[flat.ravel()].add(weights.ravel())
    return counts.reshape(n_states, n_states)
