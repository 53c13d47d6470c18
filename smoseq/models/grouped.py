"""Transitions per experimental group: one sticky transition matrix per group, shared β and κ.

Each sequence follows the matrix of its recording's group (`SyllableData.groups`); the
emissions, and the prior's β and κ, are shared by every group. The update is the sticky
conjugate draw, group by group, from the transition counts of that group's sequences.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .priors import DirichletRows
from .transitions import AbstractTransitions
from .updates import DirichletRowsUpdate


class GroupedTransitions(AbstractTransitions):
    """One hidden-state transition matrix per experimental group, each with the sticky prior.

    Row k of group g's matrix has prior Dirichlet(β·1 + κ·e_k), as in `StickyTransitions`;
    β and κ are shared array leaves. A sequence's matrix is `probs[data.groups[n]]`, so
    the data must carry a group index per sequence (`sm.fit(..., groups=...)` sets it).

    Args:
        probs: (G, K, K) float, one transition matrix per group (rows sum to 1).
        group_names: the G group labels, in the order of `probs` (a static tuple of str).
        beta: β ≥ 0, the concentration added to every entry.
        kappa: κ ≥ 0, the extra concentration on the diagonal.

    Raises:
        ValueError: `probs` not (G, K, K), or `group_names` not G distinct labels.
    """

    probs: Float[Array, "G K K"]
    beta: Float[Array, ""]
    kappa: Float[Array, ""]
    group_names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, probs, group_names, beta=1.0, kappa=0.0):
        self.probs = jnp.asarray(probs, dtype=float)
        self.group_names = tuple(str(name) for name in group_names)
        self.beta = jnp.asarray(beta, dtype=float)
        self.kappa = jnp.asarray(kappa, dtype=float)

    def __check_init__(self):
        if self.probs.ndim < 3 or self.probs.shape[-1] != self.probs.shape[-2]:
            raise ValueError(f"grouped transition probs must be (G, K, K), got {self.probs.shape}")
        if len(self.group_names) != self.probs.shape[-3] or len(set(self.group_names)) != len(self.group_names):
            raise ValueError(f"group_names must be {self.probs.shape[-3]} distinct labels, got {self.group_names}")

    @classmethod
    def create(cls, group_names, n_states: int, beta=1.0, kappa=0.0) -> "GroupedTransitions":
        """Uniform placeholder matrices with the given prior (a fit replaces them at its first step).

        Args:
            group_names: the group labels (G).
            n_states: K.
            beta, kappa: the sticky prior (see the class).

        Returns:
            `GroupedTransitions` with every entry 1/K.
        """
        names = tuple(group_names)
        return cls(jnp.full((len(names), n_states, n_states), 1.0 / n_states), names, beta, kappa)

    @property
    def n_states(self) -> int:
        return self.probs.shape[-1]

    @property
    def n_groups(self) -> int:
        return self.probs.shape[-3]

    def concentration(self) -> Float[Array, "K K"]:
        """Prior Dirichlet concentration of every row of every group: β + κ·I."""
        return self.beta + self.kappa * jnp.eye(self.n_states)

    def row_prior(self) -> DirichletRows:
        """The prior of every row of every group, `DirichletRows` of β + κ·I broadcast to (G, K, K)."""
        return DirichletRows(jnp.broadcast_to(self.concentration(), self.probs.shape))

    def update_kernel(self) -> DirichletRowsUpdate:
        """`DirichletRowsUpdate()`: every row of every group from Dirichlet(β + κ·e_k + counts[g, k])."""
        return DirichletRowsUpdate()

    def transition_matrices(self, data: SyllableData) -> Float[Array, "N K K"]:
        """Each sequence's group's matrix.

        Args:
            data: `SyllableData` with `groups` (N,) set.

        Returns:
            (N, K, K) float.

        Raises:
            ValueError: data without a group index.
        """
        return self.probs[self._groups(data)]

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> Float[Array, "G K K"]:
        """Transition counts over real frames, summed over the sequences of each group.

        Args:
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T) with `groups` (N,).

        Returns:
            (G, K, K) float counts.
        """
        K = self.n_states
        cell = self._groups(data)[:, None] * K * K + states[:, :-1] * K + states[:, 1:]
        weights = data.mask[:, :-1].astype(float)
        counts = jnp.zeros(self.n_groups * K * K, weights.dtype).at[cell.ravel()].add(weights.ravel())
        return counts.reshape(self.n_groups, K, K)

    def log_prior(self) -> Float[Array, ""]:
        """Σ_g Σ_k log Dir(probs[g, k] | β + κ·e_k).

        Returns:
            Scalar float.
        """
        return self.row_prior().log_prob(self.probs)

    def sample_prior(self, key: PRNGKeyArray) -> "GroupedTransitions":
        """A draw of every group's matrix from the prior (`row_prior().sample`, one key per row).

        Args:
            key: a JAX PRNG key.

        Returns:
            These transitions with new (G, K, K) `probs`.
        """
        return eqx.tree_at(lambda t: t.probs, self, self.row_prior().sample(key))

    def _groups(self, data: SyllableData) -> Int[Array, " N"]:
        if data.groups is None:
            raise ValueError(
                "GroupedTransitions needs the group of every sequence: fit with sm.fit(..., groups=...) "
                "or build SyllableData(..., groups=...)"
            )
        return data.groups
