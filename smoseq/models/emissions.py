"""Emission modules: per-hidden-state syllable transition tables.

Every emission module gives, for hidden state k, the probability `P_k[i, j]` of
syllable j following syllable i. The Gibbs sampler needs only the methods of
`AbstractEmissions`, so a new parameterisation (other priors, other tables) is a new
module and no change to inference code. Each component draws its parameters with an
update kernel it names in `update_kernel` (`smoseq.models.updates`): `LaplaceUpdate` for
the low-rank tables, `ConjugateTablesUpdate` for the full-rank ones.
"""

import abc
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .counts import weighted_counts
from .data import SyllableData
from .laplace.mode import ModeSearch
from .updates import AbstractUpdate, ConjugateInfo


def emission_counts(
    syllables: Int[Array, "N T"], mask: Float[Array, "N T"], states: Int[Array, "N T"], n_states: int, n_syllables: int
) -> Float[Array, "K S S"]:
    """N[k, i, j] = Σ_{t≥1} mask[t]·1[z_t=k, x_{t-1}=i, x_t=j] over every sequence.

    Args:
        syllables: (N, T) int.
        mask: (N, T) float frame weights (e.g. `SyllableData.emission_mask`).
        states: (N, T) int hidden states.
        n_states: K.
        n_syllables: S.

    Returns:
        (K, S, S) float counts, exact past 2²⁴ per cell (`weighted_counts`).
    """
    flat = (states[:, 1:] * n_syllables + syllables[:, :-1]) * n_syllables + syllables[:, 1:]
    weights = mask[:, 1:].astype(float)
    counts = weighted_counts(flat.ravel(), weights.ravel(), n_states * n_syllables * n_syllables)
    return counts.reshape(n_states, n_syllables, n_syllables)


class AbstractEmissions(eqx.Module):
    """Interface of an emission component (K hidden states, S syllables).

    An emission component scores every frame: `log_likelihoods(syllables, mask)` (N, T, K)
    is all the kernels see, so a subclass may score frames however it likes. It owns its
    parameters and priors (`log_prior`, `sample_prior`), the sufficient statistics its
    update needs (`statistics(states, data)`) and the update itself (`resample`).
    Components whose likelihoods are lookups in (K, S, S) syllable transition tables
    subclass `AbstractTableEmissions` instead, which lets the native kernel do the lookups.

    Attributes:
        n_states: K (a static field of every subclass).
        n_syllables: S (a static field of every subclass).
    """

    n_states: eqx.AbstractVar[int]
    n_syllables: eqx.AbstractVar[int]

    @abc.abstractmethod
    def log_likelihoods(
        self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"], repeats: str = "model"
    ) -> Float[Array, "N T K"]:
        """log p(x_t | x_{<t}, z_t = k) of every frame; 0 at frames that carry no evidence.

        Args:
            syllables: (N, T) int.
            mask: (N, T) float emission mask (`SyllableData.emission_mask`); frames where it
                is 0 must contribute 0, as must the first frame of every sequence.
            repeats: `SyllableData.repeats`. With `"ignore"` the scored frames are the
                syllable changes, and a likelihood must be that of the next *different*
                syllable (no mass on x_t = x_{t−1}).

        Returns:
            (N, T, K) float log-likelihoods.
        """

    @abc.abstractmethod
    def log_prior(self) -> Float[Array, ""]:
        """log p(emission parameters) under the component's priors (scalar)."""

    @abc.abstractmethod
    def sample_prior(self, key: PRNGKeyArray) -> "AbstractEmissions":
        """The same component with its parameters drawn from its priors (same type, shapes, priors)."""

    @abc.abstractmethod
    def statistics(self, states: Int[Array, "N T"], data: SyllableData):
        """The sufficient statistics `resample` needs from the hidden states and data (any PyTree)."""

    def update_kernel(self, mode_search: ModeSearch | None = None) -> AbstractUpdate:
        """The update that draws this component's parameters (`smoseq.models.updates`).

        Override it to give a component its update (or a subclass another update), or
        override `resample` itself.

        Args:
            mode_search: the optimizer and stopping rule, for updates that search a mode;
                conjugate updates ignore it.

        Returns:
            An `AbstractUpdate`.

        Raises:
            NotImplementedError: the component overrides neither this nor `resample`.
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither update_kernel nor resample")

    def resample(self, key: PRNGKeyArray, statistics, mode_search: ModeSearch | None = None):
        """A draw of the parameters given `statistics(states, data)`: `update_kernel(mode_search).step(...)`.

        Args:
            key: a JAX PRNG key.
            statistics: what `statistics` returned.
            mode_search: the optimizer and stopping rule, for updates that search a mode;
                conjugate updates ignore it.

        Returns:
            `(emissions, info)`: the updated component and the update's info (a NamedTuple,
            e.g. `LaplaceInfo`, `MetropolisInfo`, `ConjugateInfo`).
        """
        return self.update_kernel(mode_search).step(key, self, statistics)

    def with_data_driven_start(self, statistics) -> "AbstractEmissions":
        """Parameters to start a chain from, given the statistics of the initial states.

        The default keeps the current parameters (the first Gibbs step replaces them);
        `LowRankEmissions` sets its logits from the counts, as the reference does.
        """
        return self


class TableStatistics(NamedTuple):
    """What a table emission's update needs: the transition counts and which transitions are events.

    Attributes:
        counts: (K, S, S) float counts `N[k, i, j]` over frames with evidence (`emission_counts`).
        possible: (S, S) bool, the transitions the tables give mass to
            (`SyllableData.possible_transitions`: all of them with `repeats="model"`, j ≠ i
            with `"ignore"`, where the diagonal counts are 0).
    """

    counts: Float[Array, "K S S"]
    possible: Bool[Array, "S S"]


class AbstractTableEmissions(AbstractEmissions):
    """Emissions that are syllable transition tables: `p(x_t = j | x_{t-1} = i, z_t = k) = P_k[i, j]`.

    Subclasses give `log_tables()` (K, S, S); the likelihoods are lookups in the tables as
    scored under the data's repeats setting (`scored_log_tables`: with `"ignore"`, each row
    renormalised over j ≠ i, the distribution of the next different syllable). Do not
    override `log_likelihoods`: a subclass that does is scored by its own likelihoods on
    every kernel, and the native kernel then reads the (N, T, K) log-likelihoods instead
    of the tables. The statistics are a `TableStatistics` (the counts `emission_counts`
    (K, S, S) and the possible transitions (S, S)).
    """

    @abc.abstractmethod
    def log_tables(self) -> Float[Array, "K S S"]:
        """log P[k, i, j]; every row normalised in probability.

        Returns:
            (K, S, S) float.
        """

    def transition_tables(self) -> Float[Array, "K S S"]:
        """P[k, i, j] = p(x_t = j | x_{t-1} = i, z_t = k); rows sum to 1.

        Returns:
            (K, S, S) float tables.
        """
        return jnp.exp(self.log_tables())

    def scored_log_tables(self, repeats: str = "model") -> Float[Array, "K S S"]:
        """The log tables the likelihoods are lookups in under a repeats setting.

        `"model"`: `log_tables()`. `"ignore"`: the distribution of the next different
        syllable, `log P[k, i, j] − log Σ_{j' ≠ i} P[k, i, j']` for j ≠ i and −∞ on the
        diagonal (never looked up: repeated frames carry no evidence).

        Args:
            repeats: `"model"` or `"ignore"` (`SyllableData.repeats`).

        Returns:
            (K, S, S) float, every row normalised over its possible transitions.
        """
        return renormalised_log_tables(self.log_tables(), repeats)

    def scored_tables(self, repeats: str = "model") -> Float[Array, "K S S"]:
        """`exp(scored_log_tables(repeats))`: with `"ignore"`, the tables of the next different syllable (0 diagonal).

        Args:
            repeats: `"model"` or `"ignore"`.

        Returns:
            (K, S, S) float tables; rows sum to 1.
        """
        if repeats == "model":
            return self.transition_tables()
        return jnp.exp(self.scored_log_tables(repeats))

    def log_likelihoods(
        self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"], repeats: str = "model"
    ) -> Float[Array, "N T K"]:
        """`scored_log_tables(repeats)[k, x_{t-1}, x_t]`; 0 at the first frame and at masked frames.

        Args:
            syllables: (N, T) int.
            mask: (N, T) float; frames where it is 0 contribute 0.
            repeats: `SyllableData.repeats`.

        Returns:
            (N, T, K) float log-likelihoods.
        """
        log_tables = self.scored_log_tables(repeats).transpose(1, 2, 0)  # (S, S, K)
        per_frame = log_tables[syllables[:, :-1], syllables[:, 1:]]
        per_frame = jnp.where(mask[:, 1:, None] > 0, per_frame, 0.0)
        return jnp.concatenate([jnp.zeros_like(per_frame[:, :1]), per_frame], axis=1)

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> TableStatistics:
        """Syllable transition counts per hidden state over frames with evidence, and the possible transitions.

        Args:
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T); its `emission_mask` weights each frame, its
                `repeats` says which transitions are events.

        Returns:
            `TableStatistics`: (K, S, S) counts `N[k, i, j]` (`emission_counts`) and (S, S) `possible`.
        """
        counts = emission_counts(data.syllables, data.emission_mask, states, self.n_states, self.n_syllables)
        return TableStatistics(counts, data.possible_transitions(self.n_syllables))


def renormalised_log_tables(log_tables: Float[Array, "K S S"], repeats: str = "model") -> Float[Array, "K S S"]:
    """Log tables as scored under a repeats setting: unchanged, or renormalised over j ≠ i with a −∞ diagonal.

    Args:
        log_tables: (K, S, S) float, rows normalised.
        repeats: `"model"` or `"ignore"`.

    Returns:
        (K, S, S) float.
    """
    if repeats == "model":
        return log_tables
    diagonal = jnp.eye(log_tables.shape[-1], dtype=bool)
    off_diagonal = jnp.where(diagonal, -jnp.inf, log_tables)
    return off_diagonal - logsumexp(off_diagonal, axis=-1, keepdims=True)


def lookup_tables(emissions: AbstractEmissions, repeats: str = "model") -> Float[Array, "K S S"] | None:
    """The (K, S, S) probability tables the likelihoods of `emissions` are lookups in, or None.

    None unless `emissions` is an `AbstractTableEmissions` whose `log_likelihoods` is the
    table lookup itself: a subclass that overrides `log_likelihoods` is scored by its own
    method, so kernels must not use its tables.

    Args:
        emissions: any emission component.
        repeats: `SyllableData.repeats`: the tables as scored under it (`scored_tables`).

    Returns:
        (K, S, S) float tables, or None.
    """
    if isinstance(emissions, AbstractTableEmissions) and (
        type(emissions).log_likelihoods is AbstractTableEmissions.log_likelihoods
    ):
        return emissions.scored_tables(repeats)
    return None


def no_optimizer_info() -> ConjugateInfo:
    """The info of an update without an optimizer or tuning, e.g. a conjugate draw: `ConjugateInfo()`."""
    return ConjugateInfo()
