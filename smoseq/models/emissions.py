"""Emission modules: per-hidden-state syllable transition tables.

Every emission module gives, for hidden state k, the probability `P_k[i, j]` of
syllable j following syllable i. The Gibbs sampler needs only the methods of
`AbstractEmissions`, so a new parameterisation (other priors, other tables) is a new
module and no change to inference code. Each component draws its parameters with an
update kernel it names in `update_kernel` (`smoseq.models.updates`): `LaplaceUpdate` for
the low-rank tables, `ConjugateTablesUpdate` for the full-rank ones.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

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
        (K, S, S) float counts.
    """
    flat = (states[:, 1:] * n_syllables + syllables[:, :-1]) * n_syllables + syllables[:, 1:]
    weights = mask[:, 1:].astype(float)
    size = n_states * n_syllables * n_syllables
    counts = jnp.zeros(size, weights.dtype).at[flat.ravel()].add(weights.ravel())
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
    def log_likelihoods(self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"]) -> Float[Array, "N T K"]:
        """log p(x_t | x_{<t}, z_t = k) of every frame; 0 at frames that carry no evidence.

        Args:
            syllables: (N, T) int.
            mask: (N, T) float emission mask (`SyllableData.emission_mask`); frames where it
                is 0 must contribute 0, as must the first frame of every sequence.

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


class AbstractTableEmissions(AbstractEmissions):
    """Emissions that are syllable transition tables: `p(x_t = j | x_{t-1} = i, z_t = k) = P_k[i, j]`.

    Subclasses give `log_tables()` (K, S, S); the likelihoods are lookups in them (do not
    override `log_likelihoods`: a subclass that does is scored by its own likelihoods on
    every kernel, and the native kernel then reads the (N, T, K) log-likelihoods instead
    of the tables). The statistics are the counts `emission_counts` (K, S, S).
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

    def log_likelihoods(self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"]) -> Float[Array, "N T K"]:
        """`log_tables()[k, x_{t-1}, x_t]`; 0 at the first frame and at masked frames.

        Args:
            syllables: (N, T) int.
            mask: (N, T) float; frames where it is 0 contribute 0.

        Returns:
            (N, T, K) float log-likelihoods.
        """
        log_tables = self.log_tables().transpose(1, 2, 0)  # (S, S, K)
        per_frame = log_tables[syllables[:, :-1], syllables[:, 1:]]
        per_frame = jnp.where(mask[:, 1:, None] > 0, per_frame, 0.0)
        return jnp.concatenate([jnp.zeros_like(per_frame[:, :1]), per_frame], axis=1)

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> Float[Array, "K S S"]:
        """Syllable transition counts per hidden state over frames with evidence.

        Args:
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T); its `emission_mask` weights each frame.

        Returns:
            (K, S, S) float counts `N[k, i, j]` (`emission_counts`).
        """
        return emission_counts(data.syllables, data.emission_mask, states, self.n_states, self.n_syllables)


def lookup_tables(emissions: AbstractEmissions) -> Float[Array, "K S S"] | None:
    """The (K, S, S) probability tables the likelihoods of `emissions` are lookups in, or None.

    None unless `emissions` is an `AbstractTableEmissions` whose `log_likelihoods` is the
    table lookup itself: a subclass that overrides `log_likelihoods` is scored by its own
    method, so kernels must not use its tables.

    Args:
        emissions: any emission component.

    Returns:
        (K, S, S) float tables, or None.
    """
    if isinstance(emissions, AbstractTableEmissions) and (
        type(emissions).log_likelihoods is AbstractTableEmissions.log_likelihoods
    ):
        return emissions.transition_tables()
    return None


def no_optimizer_info() -> ConjugateInfo:
    """The info of an update without an optimizer or tuning, e.g. a conjugate draw: `ConjugateInfo()`."""
    return ConjugateInfo()
