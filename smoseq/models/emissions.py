"""Emission modules: per-hidden-state syllable transition tables.

Every emission module gives, for hidden state k, the probability `P_k[i, j]` of
syllable j following syllable i. The Gibbs sampler needs only the methods of
`AbstractEmissions`, so a new parameterisation (other priors, other tables) is a new
module and no change to inference code.
"""

import abc
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from .._embedding import raise_dim
from .data import SyllableData
from .priors import Dirichlet, Normal


class ModeSearch(NamedTuple):
    """How an emission update finds a posterior mode: an Optax optimizer and its stopping rule.

    Attributes:
        optimizer: any `optax.GradientTransformation` (e.g. `optax.adam(5e-3)`, `optax.lbfgs()`).
        max_iters: cap on optimizer steps per Gibbs iteration.
        tol: convergence tolerance of the mode search (see `smoseq.models.laplace.find_mode`).
        name: a label for records (fit.json), e.g. "lbfgs"; empty: recorded as "custom".
        metropolis: False (default): the update is the Laplace-approximate draw, its mode
            search warm-started from the current parameters. True: the Laplace draw, its
            mode search started from the counts alone, is an independence
            Metropolis–Hastings proposal accepted or rejected against the exact conditional
            posterior, so the Gibbs chain targets the exact posterior
            (`smoseq.models.laplace.metropolis_laplace_draw`); each update costs a cold
            mode search, and how often it accepts falls steeply with the number of
            parameters. Start such a chain with one plain update (`sm.fit` does): an
            independence sampler started far in the posterior's tails stays there. Conjugate
            updates are exact either way and ignore it.
    """

    optimizer: optax.GradientTransformation
    max_iters: int = 1000
    tol: float = 1e-6
    name: str = ""
    metropolis: bool = False


class EmissionInfo(NamedTuple):
    """What an emission update reports: optimizer losses (NaN after the last step), steps taken, acceptance.

    Attributes:
        losses: (max_iters,) float optimizer loss per step, NaN after the last step taken
            ((0,) for conjugate updates).
        n_steps: int scalar, optimizer steps taken (0 for conjugate updates).
        accepted: bool scalar, whether a Metropolis–Hastings update took its proposal;
            None for updates that always take their draw (reported as True).
        acceptance_prob: float scalar, that update's acceptance probability; None for
            updates that always take their draw (reported as 1).
    """

    losses: Float[Array, " max_iters"]
    n_steps: Int[Array, ""]
    accepted: Bool[Array, ""] | None = None
    acceptance_prob: Float[Array, ""] | None = None


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

    @abc.abstractmethod
    def resample(self, key: PRNGKeyArray, statistics, mode_search: ModeSearch | None = None) -> tuple["AbstractEmissions", EmissionInfo]:
        """A draw of the parameters given `statistics(states, data)`.

        Args:
            key: a JAX PRNG key.
            statistics: what `statistics` returned.
            mode_search: the optimizer and stopping rule, for updates that search a mode;
                conjugate updates ignore it.

        Returns:
            `(emissions, info)`: the updated component and an `EmissionInfo`
            (`no_optimizer_info()` for updates without an optimizer).
        """

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


def no_optimizer_info() -> EmissionInfo:
    """The `EmissionInfo` of an update without an optimizer: no losses, 0 steps."""
    return EmissionInfo(losses=jnp.zeros((0,)), n_steps=jnp.array(0, dtype=jnp.int32))


def _laplace_emission_info(info, mode_search: ModeSearch) -> EmissionInfo:
    """The `EmissionInfo` of a Laplace update (`LaplaceInfo`): acceptance only when it was a Metropolis–Hastings one."""
    if mode_search.metropolis:
        return EmissionInfo(info.losses, info.n_steps, info.accepted, info.acceptance_prob)
    return EmissionInfo(info.losses, info.n_steps)


class LowRankEmissions(AbstractTableEmissions):
    """Low-rank tables `P_k[i, :] = softmax(B[i, :] + C[k, :])` (the reference's "efficient" model).

    `B = raise_dim(base, 1)` (S, S) is shared by every state; `C = raise_dim(raise_dim(biases, 0), 1)`
    (K, S) is each state's additive bias on the next syllable. Priors are elementwise on
    `base` (S, S-1) and `biases` (K-1, S-1). The conditional update is a Laplace
    approximation (see `smoseq.models.laplace`), not an exact draw, unless the
    `ModeSearch` it is given has `metropolis=True`: then the Laplace draw is a
    Metropolis–Hastings proposal and the update is exact.

    Args:
        base: (S, S-1) float shared logits in the zero-sum basis.
        biases: (K-1, S-1) float per-state biases in the zero-sum basis (both axes).
        base_prior: prior on every entry of `base` (default `Normal(1.0)`).
        bias_prior: prior on every entry of `biases` (default `Normal(1.0)`).

    Raises:
        ValueError: shapes that are not (S, S-1) and (K-1, S-1), or S < 2 or K < 2.
    """

    base: Float[Array, "S S-1"]
    biases: Float[Array, "K-1 S-1"]
    base_prior: Normal
    bias_prior: Normal
    n_syllables: int = eqx.field(static=True)
    n_states: int = eqx.field(static=True)

    def __init__(self, base, biases, base_prior=None, bias_prior=None):
        self.base = jnp.asarray(base, dtype=float)
        self.biases = jnp.asarray(biases, dtype=float)
        self.base_prior = Normal(1.0) if base_prior is None else base_prior
        self.bias_prior = Normal(1.0) if bias_prior is None else bias_prior
        self.n_syllables = self.base.shape[-2]
        self.n_states = self.biases.shape[-2] + 1

    def __check_init__(self):
        S, K = self.n_syllables, self.n_states
        if self.base.shape[-1] != S - 1 or self.biases.shape[-1] != S - 1:
            raise ValueError(f"base must be (S, S-1) and biases (K-1, S-1); got {self.base.shape}, {self.biases.shape}")
        if S < 2 or K < 2:
            raise ValueError(f"need at least 2 syllables and 2 states, got S={S}, K={K}")

    @classmethod
    def from_prior(cls, key, n_states: int, n_syllables: int, sigma_base=1.0, sigma_bias=1.0):
        """A random draw from the prior (Normal(σ) on every entry of base and biases).

        Args:
            key: a JAX PRNG key.
            n_states: K.
            n_syllables: S.
            sigma_base: σ of the `Normal` prior on `base`.
            sigma_bias: σ of the `Normal` prior on `biases`.

        Returns:
            `LowRankEmissions` with `base` (S, S-1) and `biases` (K-1, S-1) drawn from those priors.
        """
        base_prior, bias_prior = Normal(sigma_base), Normal(sigma_bias)
        k_base, k_bias = jr.split(key)
        return cls(
            base_prior.sample(k_base, (n_syllables, n_syllables - 1)),
            bias_prior.sample(k_bias, (n_states - 1, n_syllables - 1)),
            base_prior,
            bias_prior,
        )

    def logits(self) -> Float[Array, "K S S"]:
        """Unnormalised log tables `B[i, j] + C[k, j]` (raised to S × S and K × S).

        Returns:
            (K, S, S) float logits; `transition_tables` is their softmax over the last axis.
        """
        full_base = raise_dim(self.base, 1)
        full_biases = raise_dim(raise_dim(self.biases, 0), 1)
        return full_base[None] + full_biases[:, None]

    def transition_tables(self) -> Float[Array, "K S S"]:
        """P[k, i, j] = softmax over j of `logits()[k, i]`.

        Returns:
            (K, S, S) float tables; rows sum to 1.
        """
        return jax.nn.softmax(self.logits(), axis=-1)

    def log_tables(self) -> Float[Array, "K S S"]:
        """log P[k, i, j]: a log-softmax of the logits (no log of small probabilities).

        Returns:
            (K, S, S) float.
        """
        return jax.nn.log_softmax(self.logits(), axis=-1)

    def log_prior(self) -> Float[Array, ""]:
        """`base_prior.log_prob(base) + bias_prior.log_prob(biases)`.

        Returns:
            Scalar float.
        """
        return self.base_prior.log_prob(self.base) + self.bias_prior.log_prob(self.biases)

    def resample(self, key, counts, mode_search):
        """A Laplace-approximate draw of (base, biases) given counts, warm-started from the current values.

        With `Normal` priors this is `smoseq.models.laplace.sample_low_rank_emissions`;
        other priors use `smoseq.models.laplace_priors`. With `mode_search.metropolis`,
        the mode search starts from the counts alone and its Laplace draw is accepted or
        rejected against the exact conditional posterior (an independence
        Metropolis–Hastings update: the current values are kept when rejected), which
        leaves the exact conditional invariant; `info.accepted` says which.

        Args:
            key: a JAX PRNG key.
            counts: (K, S, S) float counts (`emission_counts`).
            mode_search: the optimizer and stopping rule of the mode search (required).

        Returns:
            `(emissions, info)`: updated emissions and `EmissionInfo` (`losses` (max_iters,), `n_steps`;
            `accepted` and `acceptance_prob` with `metropolis`).

        Raises:
            ValueError: `mode_search` is None.
        """
        from .laplace import sample_low_rank_emissions

        if mode_search is None:
            raise ValueError("LowRankEmissions.resample needs a ModeSearch (an Optax optimizer and its stopping rule)")
        if not (type(self.base_prior) is Normal and type(self.bias_prior) is Normal):
            return self._resample_other_priors(key, counts, mode_search)
        base, biases, info = sample_low_rank_emissions(
            key,
            counts,
            self.base,
            self.biases,
            self.base_prior.sigma,
            self.bias_prior.sigma,
            mode_search.optimizer,
            mode_search.max_iters,
            mode_search.tol,
            metropolis=mode_search.metropolis,
        )
        updated = eqx.tree_at(lambda e: (e.base, e.biases), self, (base, biases))
        return updated, _laplace_emission_info(info, mode_search)

    def _resample_other_priors(self, key, counts, mode_search):
        """The Laplace update for priors other than `Normal` (e.g. `StudentT`), see `smoseq.models.laplace_priors`."""
        from .laplace_priors import sample_low_rank_emissions_with_priors

        base, biases, info = sample_low_rank_emissions_with_priors(
            key, counts, self.base, self.biases, self.base_prior, self.bias_prior,
            mode_search.optimizer, mode_search.max_iters, mode_search.tol, metropolis=mode_search.metropolis,
        )  # fmt: skip
        updated = eqx.tree_at(lambda e: (e.base, e.biases), self, (base, biases))
        return updated, _laplace_emission_info(info, mode_search)

    def with_data_driven_start(self, counts: Float[Array, "K S S"]) -> "LowRankEmissions":
        """These emissions with (base, biases) set from log(counts + 0.01) (the reference's start).

        Args:
            counts: (K, S, S) float counts (`emission_counts`).

        Returns:
            `LowRankEmissions` with new `base` (S, S-1) and `biases` (K-1, S-1), same priors.
        """
        from .laplace import initial_emission_params

        base, biases = initial_emission_params(counts)
        return eqx.tree_at(lambda e: (e.base, e.biases), self, (base, biases))

    def sample_prior(self, key):
        """These emissions with `base` and `biases` drawn from their priors.

        Args:
            key: a JAX PRNG key.

        Returns:
            `LowRankEmissions` of the same shapes and priors.
        """
        k_base, k_bias = jr.split(key)
        return eqx.tree_at(
            lambda e: (e.base, e.biases),
            self,
            (self.base_prior.sample(k_base, self.base.shape), self.bias_prior.sample(k_bias, self.biases.shape)),
        )


class FullRankEmissions(AbstractTableEmissions):
    """Unconstrained tables, each row with a Dirichlet prior (the reference's "standard" model).

    The conditional update is an exact conjugate draw: the prior must be conjugate to the
    counts, i.e. have a `posterior_concentration(counts)` method giving the Dirichlet
    concentration of every row's posterior (`Dirichlet` has it, with a scalar β_e or an
    array of concentrations broadcasting against (K, S, S)). A prior without one (e.g.
    `StudentT`) is refused: it has no conjugate update; write an emission component of
    your own for it.

    Args:
        tables: (K, S, S) float tables, every row a probability vector.
        prior: prior on every row (default `Dirichlet(1.0)`): an object with `log_prob`,
            `sample` and `posterior_concentration`.

    Raises:
        ValueError: `tables` is not (K, S, S).
        TypeError: `prior` has no conjugate Dirichlet update.
    """

    tables: Float[Array, "K S S"]
    prior: Dirichlet
    n_syllables: int = eqx.field(static=True)
    n_states: int = eqx.field(static=True)

    def __init__(self, tables, prior=None):
        self.tables = jnp.asarray(tables, dtype=float)
        self.prior = Dirichlet(1.0) if prior is None else prior
        self.n_states, self.n_syllables = self.tables.shape[-3], self.tables.shape[-1]

    def __check_init__(self):
        if self.tables.shape[-2] != self.tables.shape[-1]:
            raise ValueError(f"tables must be (K, S, S), got {self.tables.shape}")
        if not callable(getattr(self.prior, "posterior_concentration", None)):
            raise TypeError(
                f"FullRankEmissions draws its tables from their conjugate Dirichlet posterior, so its prior needs "
                f"a posterior_concentration(counts) method (as smoseq.models.Dirichlet has); "
                f"{type(self.prior).__name__} has none. For a non-conjugate prior, write an emission component "
                "of your own (docs/custom-variants.md)"
            )

    @classmethod
    def from_prior(cls, key, n_states: int, n_syllables: int, beta=1.0):
        """A random draw from a symmetric Dirichlet(β) prior on every row.

        Args:
            key: a JAX PRNG key.
            n_states: K.
            n_syllables: S.
            beta: concentration β_e.

        Returns:
            `FullRankEmissions` with (K, S, S) tables and prior `Dirichlet(beta)`.
        """
        prior = Dirichlet(beta)
        return cls(prior.sample(key, (n_states, n_syllables, n_syllables)), prior)

    def transition_tables(self):
        """The tables themselves.

        Returns:
            (K, S, S) float `tables`.
        """
        return self.tables

    def log_tables(self):
        """log of the tables.

        Returns:
            (K, S, S) float.
        """
        return jnp.log(self.tables)

    def log_prior(self):
        """`prior.log_prob(tables)`: the sum over all K·S rows.

        Returns:
            Scalar float.
        """
        return self.prior.log_prob(self.tables)

    def resample(self, key, counts, mode_search=None):
        """Exact conjugate draw of every row from its Dirichlet posterior (`prior.posterior_concentration(counts)`).

        Args:
            key: a JAX PRNG key.
            counts: (K, S, S) float counts (`emission_counts`).
            mode_search: ignored.

        Returns:
            `(emissions, info)`: new (K, S, S) tables and an empty `EmissionInfo`
            (`losses` (0,), `n_steps` 0).
        """
        concentration = jnp.broadcast_to(self.prior.posterior_concentration(counts), counts.shape)
        return eqx.tree_at(lambda e: e.tables, self, jr.dirichlet(key, concentration)), no_optimizer_info()

    def sample_prior(self, key):
        """These emissions with tables drawn from the prior.

        Args:
            key: a JAX PRNG key.

        Returns:
            `FullRankEmissions` with new (K, S, S) tables.
        """
        return eqx.tree_at(lambda e: e.tables, self, self.prior.sample(key, self.tables.shape))
