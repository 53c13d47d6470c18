"""The distribution of the first hidden state of every sequence (DESIGN §1: uniform)."""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData


class AbstractInitialState(eqx.Module):
    """Interface of an initial-state component: p(z_1) over K hidden states.

    Like the other components it owns its parameters, its prior, the statistics it needs
    from `(states, data)` and its conditional update; the kernels only see `log_probs()`.

    Attributes:
        n_states: K (a static field of every subclass).
    """

    n_states: eqx.AbstractVar[int]

    def log_probs_given(self, transitions) -> Float[Array, " K"]:
        """log p(z_1 = k) in a model with these transitions (what `HHMM.log_init` uses).

        Args:
            transitions: the model's `AbstractTransitions` (ignored unless a subclass reads it).

        Returns:
            (K,) float; by default `log_probs()`.
        """
        return self.log_probs()

    @abc.abstractmethod
    def log_probs(self) -> Float[Array, " K"]:
        """log p(z_1 = k).

        Returns:
            (K,) float, normalised in probability.
        """

    @abc.abstractmethod
    def log_prior(self) -> Float[Array, ""]:
        """log p(parameters) under the component's prior (0 when it has no parameters)."""

    @abc.abstractmethod
    def sample_prior(self, key: PRNGKeyArray) -> "AbstractInitialState":
        """The same component with its parameters drawn from its prior."""

    @abc.abstractmethod
    def statistics(self, states: Int[Array, "N T"], data: SyllableData):
        """The sufficient statistics `resample` needs (any PyTree of arrays)."""

    @abc.abstractmethod
    def resample(self, key: PRNGKeyArray, statistics) -> tuple["AbstractInitialState", object]:
        """A draw of the parameters given `statistics(states, data)`: `(component, info)`."""


class UniformInitialState(AbstractInitialState):
    """p(z_1 = k) = 1/K, no parameters (the reference model's choice).

    Args:
        n_states: K.
    """

    n_states: int = eqx.field(static=True)

    def log_probs(self) -> Float[Array, " K"]:
        """(K,) float, every entry −log K."""
        return jnp.full(self.n_states, -jnp.log(self.n_states))

    def log_prior(self) -> Float[Array, ""]:
        """0: nothing to put a prior on."""
        return jnp.zeros(())

    def sample_prior(self, key: PRNGKeyArray) -> "UniformInitialState":
        """Itself."""
        return self

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> None:
        """None: the update needs nothing."""
        return None

    def resample(self, key: PRNGKeyArray, statistics) -> tuple["UniformInitialState", None]:
        """Itself, and no info."""
        return self, None


class InitialFromTransitions(AbstractInitialState):
    """p(z_1) set by the transitions component (`HDPTransitions`: the global weights β).

    It has no parameters of its own: `log_probs_given(transitions)` returns
    `transitions.initial_log_probs()`, and the transitions' update accounts for the first
    states. `HHMM` uses it by default for transitions with `sets_initial_state = True`.

    Args:
        n_states: K.
    """

    n_states: int = eqx.field(static=True)

    def log_probs_given(self, transitions) -> Float[Array, " K"]:
        """`transitions.initial_log_probs()`.

        Args:
            transitions: an `AbstractTransitions` with `sets_initial_state = True`.

        Returns:
            (K,) float.
        """
        return transitions.initial_log_probs()

    def log_probs(self) -> Float[Array, " K"]:
        """Not defined alone: p(z_1) lives in the transitions (use `log_probs_given` or `HHMM.log_init`).

        Raises:
            TypeError: always.
        """
        raise TypeError("InitialFromTransitions reads p(z_1) from the transitions: call log_probs_given(transitions)")

    def log_prior(self) -> Float[Array, ""]:
        """0: the parameters and their prior belong to the transitions."""
        return jnp.zeros(())

    def sample_prior(self, key: PRNGKeyArray) -> "InitialFromTransitions":
        """Itself."""
        return self

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> None:
        """None: the transitions count the first states."""
        return None

    def resample(self, key: PRNGKeyArray, statistics) -> tuple["InitialFromTransitions", None]:
        """Itself, and no info."""
        return self, None
