"""Emissions shared by the phases of an expanded state space (explicit-duration states).

A semi-Markov state k is a chain of r hidden phase-states z = k·r + i that all emit like
state k. `phase_emissions(inner, r)` wraps any K-state emission component into a K·r-state
one: its log-likelihoods (or tables) are the inner ones repeated r times along the state
axis, and its statistics are the inner statistics of the behavioural states z // r, so the
inner component's own update draws its parameters unchanged.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .emissions import AbstractEmissions, AbstractTableEmissions, lookup_tables
from .laplace.mode import ModeSearch


class PhaseEmissions(AbstractEmissions):
    """Any K-state emissions shared by r phases per state: K·r hidden states, scored like z // r.

    Args:
        inner: an `AbstractEmissions` with K states.
        n_phases: r ≥ 1 (static).
    """

    inner: AbstractEmissions
    n_phases: int = eqx.field(static=True)

    def __check_init__(self):
        if not isinstance(self.inner, AbstractEmissions) or self.n_phases < 1:
            raise ValueError(f"PhaseEmissions needs an AbstractEmissions and n_phases >= 1, got {type(self.inner).__name__}, {self.n_phases}")

    @property
    def n_states(self) -> int:
        """K·r."""
        return self.inner.n_states * self.n_phases

    @property
    def n_syllables(self) -> int:
        """S, the inner emissions'."""
        return self.inner.n_syllables

    def log_likelihoods(
        self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"], repeats: str = "model"
    ) -> Float[Array, "N T Kr"]:
        """The inner (N, T, K) log-likelihoods, each state's repeated for its r phases.

        Args:
            syllables: (N, T) int.
            mask: (N, T) float emission mask.
            repeats: `SyllableData.repeats`, passed to the inner component (unless `"model"`).

        Returns:
            (N, T, K·r) float.
        """
        if repeats == "model":
            inner = self.inner.log_likelihoods(syllables, mask)
        else:
            inner = self.inner.log_likelihoods(syllables, mask, repeats=repeats)
        return jnp.repeat(inner, self.n_phases, axis=-1)

    def log_prior(self) -> Float[Array, ""]:
        """The inner log prior."""
        return self.inner.log_prior()

    def sample_prior(self, key: PRNGKeyArray) -> "PhaseEmissions":
        """The inner parameters drawn from their prior."""
        return eqx.tree_at(lambda e: e.inner, self, self.inner.sample_prior(key))

    def statistics(self, states: Int[Array, "N T"], data: SyllableData):
        """The inner statistics of the behavioural states `states // r`."""
        return self.inner.statistics(states // self.n_phases, data)

    def resample(self, key: PRNGKeyArray, statistics, mode_search: ModeSearch | None = None):
        """The inner update on the inner statistics: `(emissions, inner info)`."""
        inner, info = self.inner.resample(key, statistics, mode_search)
        return eqx.tree_at(lambda e: e.inner, self, inner), info

    def with_data_driven_start(self, statistics) -> "PhaseEmissions":
        """The inner data-driven start."""
        return eqx.tree_at(lambda e: e.inner, self, self.inner.with_data_driven_start(statistics))


class PhaseTableEmissions(AbstractTableEmissions):
    """K-state table emissions shared by r phases: the (K·r, S, S) tables are the inner ones repeated.

    It keeps the inherited table lookup, so the native kernel reads the repeated tables
    (`lookup_tables`) and never builds the (N, T, K·r) log-likelihoods.

    Args:
        inner: an `AbstractTableEmissions` with K states whose likelihoods are its table lookups.
        n_phases: r ≥ 1 (static).
    """

    inner: AbstractTableEmissions
    n_phases: int = eqx.field(static=True)

    def __check_init__(self):
        if not isinstance(self.inner, AbstractTableEmissions) or self.n_phases < 1:
            raise ValueError(f"PhaseTableEmissions needs an AbstractTableEmissions and n_phases >= 1, got {type(self.inner).__name__}, {self.n_phases}")

    @property
    def n_states(self) -> int:
        """K·r."""
        return self.inner.n_states * self.n_phases

    @property
    def n_syllables(self) -> int:
        """S, the inner emissions'."""
        return self.inner.n_syllables

    def log_tables(self) -> Float[Array, "Kr S S"]:
        """The inner (K, S, S) log tables repeated r times along the state axis: (K·r, S, S)."""
        return jnp.repeat(self.inner.log_tables(), self.n_phases, axis=0)

    def scored_log_tables(self, repeats: str = "model") -> Float[Array, "Kr S S"]:
        """The inner scored log tables, repeated (so an inner override of the scoring is honoured)."""
        return jnp.repeat(self.inner.scored_log_tables(repeats), self.n_phases, axis=0)

    def log_prior(self) -> Float[Array, ""]:
        """The inner log prior."""
        return self.inner.log_prior()

    def sample_prior(self, key: PRNGKeyArray) -> "PhaseTableEmissions":
        """The inner parameters drawn from their prior."""
        return eqx.tree_at(lambda e: e.inner, self, self.inner.sample_prior(key))

    def statistics(self, states: Int[Array, "N T"], data: SyllableData):
        """The inner statistics (a `TableStatistics`, K states) of the behavioural states `states // r`."""
        return self.inner.statistics(states // self.n_phases, data)

    def resample(self, key: PRNGKeyArray, statistics, mode_search: ModeSearch | None = None):
        """The inner update on the inner statistics: `(emissions, inner info)`."""
        inner, info = self.inner.resample(key, statistics, mode_search)
        return eqx.tree_at(lambda e: e.inner, self, inner), info

    def with_data_driven_start(self, statistics) -> "PhaseTableEmissions":
        """The inner data-driven start."""
        return eqx.tree_at(lambda e: e.inner, self, self.inner.with_data_driven_start(statistics))


def phase_emissions(inner: AbstractEmissions, n_phases: int) -> PhaseEmissions | PhaseTableEmissions:
    """K-state emissions shared by r phases: `PhaseTableEmissions` when the inner likelihoods are table lookups
    (the native kernel then reads tables), else `PhaseEmissions`.

    Args:
        inner: K-state emissions.
        n_phases: r.

    Returns:
        A K·r-state emission component.
    """
    if lookup_tables(inner) is not None:
        return PhaseTableEmissions(inner, n_phases)
    return PhaseEmissions(inner, n_phases)
