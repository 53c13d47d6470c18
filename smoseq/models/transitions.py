"""How hidden states follow each other: the transition interface and the sticky Markov chain (DESIGN §1)."""

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .counts import weighted_counts
from .data import SyllableData
from .priors import DirichletRows
from .updates import AbstractUpdate, DirichletRowsUpdate


class AbstractTransitions(eqx.Module):
    """Interface of a transition component: the hidden chain's matrices, prior and update.

    The kernels only see `transition_matrices(data)`: one (K, K) matrix shared by every
    sequence, or one per sequence (N, K, K) (e.g. one matrix per experimental group).

    A component whose prior also fixes the initial-state distribution (the HDP prior
    draws z_1 from its global weights) sets the class attribute `sets_initial_state =
    True` and implements `initial_log_probs()`; the `HHMM` holding it then takes
    `InitialFromTransitions` as its initial component, and the component's own
    `statistics`/`resample` account for the first states.

    Attributes:
        n_states: K (a static field or property of every subclass).
        sets_initial_state: class attribute; True when `initial_log_probs` gives p(z_1).
    """

    n_states: eqx.AbstractVar[int]
    sets_initial_state: ClassVar[bool] = False

    def initial_log_probs(self) -> Float[Array, " K"]:
        """log p(z_1 = k), for components with `sets_initial_state = True`.

        Returns:
            (K,) float.

        Raises:
            TypeError: this component leaves p(z_1) to the initial-state component.
        """
        raise TypeError(f"{type(self).__name__} does not set the initial-state distribution")

    @property
    def n_observed_states(self) -> int:
        """The states a user sees (K); the hidden chain may be larger (semi-Markov phases). Default `n_states`."""
        return self.n_states

    def observed_states(self, states):
        """The states a user sees of hidden states (N, T) (NumPy or JAX ints); default: the states themselves."""
        return states

    def observed_probs(self, probs):
        """(..., n_states) hidden-state probabilities as (..., n_observed_states); default: unchanged."""
        return probs

    def hidden_states(self, states, mask=None):
        """Hidden states to start a chain from, for states a user sees (N, T); default: the states themselves."""
        return states

    def emissions_for(self, emissions):
        """The emissions to pair with these transitions, given emissions for the observed states; default: unchanged."""
        return emissions

    @abc.abstractmethod
    def transition_matrices(self, data: SyllableData) -> Float[Array, "K K"] | Float[Array, "N K K"]:
        """p(z_t = j | z_{t-1} = i): (K, K) shared, (N, K, K) per sequence or (N, T, K, K) per frame ([n, t]: t-1 -> t)."""

    @abc.abstractmethod
    def log_prior(self) -> Float[Array, ""]:
        """log p(parameters) under the component's prior."""

    @abc.abstractmethod
    def sample_prior(self, key: PRNGKeyArray) -> "AbstractTransitions":
        """The same component with its parameters drawn from its prior."""

    @abc.abstractmethod
    def statistics(self, states: Int[Array, "N T"], data: SyllableData):
        """The sufficient statistics `resample` needs from the hidden states (any PyTree of arrays)."""

    def update_kernel(self) -> AbstractUpdate:
        """The update that draws this component's parameters (`smoseq.models.updates`).

        Override it (or `resample` itself).

        Raises:
            NotImplementedError: the component overrides neither this nor `resample`.
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither update_kernel nor resample")

    def resample(self, key: PRNGKeyArray, statistics) -> tuple["AbstractTransitions", object]:
        """A draw of the parameters given `statistics(states, data)`: `update_kernel().step(key, self, statistics)`.

        Returns:
            `(component, info)`: the updated component and the update's info (a NamedTuple).
        """
        return self.update_kernel().step(key, self, statistics)


class StickyTransitions(AbstractTransitions):
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

    def row_prior(self) -> DirichletRows:
        """The prior of the rows, `DirichletRows(β + κ·I)`."""
        return DirichletRows(self.concentration())

    def update_kernel(self) -> DirichletRowsUpdate:
        """`DirichletRowsUpdate()`: every row from Dirichlet(β + κ·e_k + counts[k])."""
        return DirichletRowsUpdate()

    def transition_matrices(self, data: SyllableData) -> Float[Array, "K K"]:
        """The one (K, K) matrix every sequence follows.

        Args:
            data: `SyllableData` (unused: the matrix is shared).

        Returns:
            (K, K) float `probs`.
        """
        return self.probs

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> Float[Array, "K K"]:
        """Transition counts over real frames (`transition_counts` with `data.mask`).

        Args:
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T).

        Returns:
            (K, K) float counts.
        """
        return transition_counts(states, data.mask, self.n_states)

    def log_prior(self) -> Float[Array, ""]:
        """Σ_k log Dir(probs[k] | β + κ·e_k).

        Returns:
            Scalar float.
        """
        return self.row_prior().log_prob(self.probs)

    def sample_prior(self, key: PRNGKeyArray) -> "StickyTransitions":
        """A draw of `probs` from the prior (`row_prior().sample`, one key per row).

        Args:
            key: a JAX PRNG key.

        Returns:
            These transitions with new (K, K) `probs`.
        """
        return eqx.tree_at(lambda t: t.probs, self, self.row_prior().sample(key))


def transition_counts(
    states: Int[Array, "N T"], mask: Float[Array, "N T"], n_states: int
) -> Float[Array, "K K"]:
    """C[i, j] = Σ_t mask[t-1]·1[z_{t-1}=i, z_t=j] over every sequence.

    Args:
        states: (N, T) int hidden states.
        mask: (N, T) float frame weights (1 real, 0 padding).
        n_states: K.

    Returns:
        (K, K) float counts, exact past 2²⁴ per cell (`weighted_counts`).
    """
    flat = states[:, :-1] * n_states + states[:, 1:]
    weights = mask[:, :-1].astype(float)
    counts = weighted_counts(flat.ravel(), weights.ravel(), n_states * n_states)
    return counts.reshape(n_states, n_states)
