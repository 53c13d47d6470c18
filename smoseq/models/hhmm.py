"""The hierarchical HMM: a sticky chain of hidden states, each biasing syllable transitions."""

import inspect
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .emissions import AbstractEmissions, AbstractTableEmissions
from .full_rank import FullRankEmissions
from .laplace.mode import ModeSearch
from .low_rank import LowRankEmissions
from .initial import AbstractInitialState, InitialFromTransitions, UniformInitialState
from .transitions import AbstractTransitions, StickyTransitions


class ModelInfo(NamedTuple):
    """What one `HHMM.resample` reports: every component's update info.

    Attributes:
        initial: the initial-state update's info (None for the built-ins, which have no parameters).
        transitions: the transitions' (`ConjugateInfo` for sticky and grouped, `HDPInfo` for the HDP).
        emissions: the emissions' (`LaplaceInfo`, `MetropolisInfo` with its `proposal`, `ConjugateInfo`, or yours).
    """

    initial: Any
    transitions: Any
    emissions: Any


class HHMM(eqx.Module):
    """A hierarchical HMM: an initial state, transitions and emissions, each a component.

    Hidden states z_t (K) start from `initial` and follow `transitions`; syllables are
    scored by `emissions` given z_t. With the built-ins: p(z_1) = 1/K;
    p(z_t | z_{t-1}) = `transitions.probs`; p(x_t | x_{t-1}, z_t = k) = P_k[x_{t-1}, x_t] for
    t ≥ 2, the first frame and masked frames contributing log-likelihood 0.

    The model only composes: each component owns its parameters, prior, statistics and
    update, and the kernels see the arrays `log_init()`, `transition_matrices(data)` and
    `log_likelihoods(...)`.

    Args:
        emissions: an `AbstractEmissions` (`LowRankEmissions`, `FullRankEmissions`, or yours).
        transitions: an `AbstractTransitions` (`StickyTransitions`, or yours).
        initial: an `AbstractInitialState` (default `UniformInitialState(K)`, or
            `InitialFromTransitions(K)` for transitions that set p(z_1) themselves, such as
            `HDPTransitions`).

    Raises:
        TypeError: a component that does not implement its interface.
        ValueError: components that disagree on K, or transitions that set p(z_1) paired
            with another initial component than `InitialFromTransitions` (or the reverse).
    """

    emissions: AbstractEmissions
    transitions: AbstractTransitions
    initial: AbstractInitialState

    def __init__(self, emissions, transitions, initial=None):
        self.emissions = emissions
        self.transitions = transitions
        if initial is None:
            own = getattr(transitions, "sets_initial_state", False)
            initial = (InitialFromTransitions if own else UniformInitialState)(transitions.n_states)
        self.initial = initial

    def __check_init__(self):
        for name, interface in (
            ("emissions", AbstractEmissions), ("transitions", AbstractTransitions), ("initial", AbstractInitialState)
        ):
            component = getattr(self, name)
            if not isinstance(component, interface):
                raise TypeError(
                    f"HHMM {name} must be an {interface.__name__} (smoseq.models), got {type(component).__name__}"
                )
        sizes = {name: getattr(self, name).n_states for name in ("emissions", "transitions", "initial")}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"components disagree on the number of states: {sizes}")
        if self.transitions.sets_initial_state != isinstance(self.initial, InitialFromTransitions):
            raise ValueError(
                f"{type(self.transitions).__name__} "
                + ("sets p(z_1) itself: use initial=InitialFromTransitions (the default)"
                   if self.transitions.sets_initial_state else "does not set p(z_1): InitialFromTransitions needs transitions that do")
                + f", got {type(self.initial).__name__}"
            )  # fmt: skip

    @property
    def n_states(self) -> int:
        return self.transitions.n_states

    @property
    def n_syllables(self) -> int:
        return self.emissions.n_syllables

    def log_init(self) -> Float[Array, " K"]:
        """log p(z_1) (`initial.log_probs_given(transitions)`, by default `initial.log_probs()`).

        Returns:
            (K,) float.
        """
        return self.initial.log_probs_given(self.transitions)

    def transition_matrices(self, data: SyllableData) -> Float[Array, "K K"] | Float[Array, "N K K"]:
        """The hidden-state transition matrix of every sequence (`transitions.transition_matrices`).

        Args:
            data: `SyllableData` (N, T).

        Returns:
            (K, K) float shared by every sequence, or (N, K, K) one per sequence.
        """
        return self.transitions.transition_matrices(data)

    def log_prior(self) -> Float[Array, ""]:
        """log p(params): the sum of the three components' log priors.

        Returns:
            Scalar float.
        """
        return self.emissions.log_prior() + self.transitions.log_prior() + self.initial.log_prior()

    def log_likelihoods(
        self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"], repeats: str = "model"
    ) -> Float[Array, "N T K"]:
        """log p(x_t | x_{<t}, z_t = k) of every frame (`emissions.log_likelihoods`).

        Args:
            syllables: (N, T) int.
            mask: (N, T) float; frames where it is 0 contribute 0.
            repeats: `SyllableData.repeats`; with `"ignore"` the emissions score the next
                different syllable (passed to `emissions.log_likelihoods`).

        Returns:
            (N, T, K) float; 0 at the first frame of each sequence and at masked frames.

        Raises:
            TypeError: `repeats="ignore"` with emissions whose `log_likelihoods` takes no `repeats`.
        """
        if repeats == "model":
            return self.emissions.log_likelihoods(syllables, mask)
        if "repeats" not in inspect.signature(self.emissions.log_likelihoods).parameters:
            raise TypeError(
                f"{type(self.emissions).__name__}.log_likelihoods(syllables, mask) takes no `repeats`: with "
                "repeats='ignore' (sm.fit's default) the emissions must score the next different syllable; add a "
                "`repeats` argument (docs/custom-variants.md) or fit with repeats='model'"
            )
        return self.emissions.log_likelihoods(syllables, mask, repeats=repeats)

    def resample(
        self, key: PRNGKeyArray, states: Int[Array, "N T"], data: SyllableData, mode_search: ModeSearch | None = None
    ) -> tuple["HHMM", ModelInfo]:
        """Every component's parameters drawn given the hidden states: one key and one update each.

        Each component computes its own statistics from `(states, data)` and draws from
        its conditional (`resample(key, statistics, ...)`).

        Args:
            key: a JAX PRNG key (split into one per component).
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T).
            mode_search: optimizer and stopping rule for emission updates that search a
                mode (`LowRankEmissions` needs one); ignored by conjugate ones.

        Returns:
            `(model, info)`: the new `HHMM` and a `ModelInfo` holding every component's update info.
        """
        k_emit, k_trans, k_init = jr.split(key, 3)
        emissions, emission_info = self.emissions.resample(
            k_emit, self.emissions.statistics(states, data), mode_search
        )
        transitions, transition_info = self.transitions.resample(k_trans, self.transitions.statistics(states, data))
        initial, initial_info = self.initial.resample(k_init, self.initial.statistics(states, data))
        return HHMM(emissions, transitions, initial), ModelInfo(initial_info, transition_info, emission_info)

    def with_data_driven_start(self, states: Int[Array, "N T"], data: SyllableData) -> "HHMM":
        """This model with emission parameters set from the statistics of `states`, where the emissions support it.

        Args:
            states: (N, T) int initial hidden states.
            data: `SyllableData` (N, T).

        Returns:
            An `HHMM` (see `AbstractEmissions.with_data_driven_start`).
        """
        emissions = self.emissions.with_data_driven_start(self.emissions.statistics(states, data))
        return eqx.tree_at(lambda m: m.emissions, self, emissions)

    def sample_prior(self, key: PRNGKeyArray) -> "HHMM":
        """A model of the same structure and priors with parameters drawn from the priors.

        Args:
            key: a JAX PRNG key.

        Returns:
            A new `HHMM`.
        """
        k_emit, k_trans, k_init = jr.split(key, 3)
        return HHMM(
            self.emissions.sample_prior(k_emit), self.transitions.sample_prior(k_trans), self.initial.sample_prior(k_init)
        )

    def simulate(
        self, key: PRNGKeyArray, n_sequences: int, n_timesteps: int, groups=None
    ) -> tuple[Int[Array, "N T"], Int[Array, "N T"]]:
        """Draw `(states, syllables)`, each (n_sequences, n_timesteps).

        z_1 ~ `log_init()` and x_1 uniform; then z_t ~ π[z_{t-1}] (each sequence's own
        matrix when the transitions give one per sequence), x_t ~ P_{z_t}[x_{t-1}].

        Args:
            key: a JAX PRNG key.
            n_sequences: N.
            n_timesteps: T (≥ 1).
            groups: optional (N,) int group of each sequence, for transitions with one
                matrix per group (`GroupedTransitions`).

        Returns:
            `(states, syllables)`: two (N, T) int32 arrays.

        Raises:
            TypeError: emissions that are not syllable transition tables (`AbstractTableEmissions`).
        """
        if not isinstance(self.emissions, AbstractTableEmissions):
            raise TypeError(
                f"simulate draws syllables from transition tables; {type(self.emissions).__name__} is not an "
                "AbstractTableEmissions"
            )
        shapes = SyllableData(
            jnp.zeros((n_sequences, n_timesteps), jnp.int32), jnp.ones((n_sequences, n_timesteps)), groups=groups
        )
        log_trans = jnp.log(self.transition_matrices(shapes))
        log_trans = jnp.broadcast_to(log_trans, (n_sequences,) + log_trans.shape[-2:])
        log_init, log_tables = self.log_init(), self.emissions.log_tables()

        def one_sequence(key, log_trans):
            k_z0, k_x0, k_steps = jr.split(key, 3)
            z0 = jr.categorical(k_z0, log_init)
            x0 = jr.randint(k_x0, (), 0, self.n_syllables)

            def step(carry, step_key):
                z, x = carry
                k_z, k_x = jr.split(step_key)
                z = jr.categorical(k_z, log_trans[z])
                x = jr.categorical(k_x, log_tables[z, x])
                return (z, x), (z, x)

            _, (zs, xs) = jax.lax.scan(step, (z0, x0), jr.split(k_steps, n_timesteps - 1))
            return jnp.concatenate([z0[None], zs]), jnp.concatenate([x0[None], xs])

        states, syllables = jax.vmap(one_sequence)(jr.split(key, n_sequences), log_trans)
        return states.astype(jnp.int32), syllables.astype(jnp.int32)


def low_rank_hhmm(
    key: PRNGKeyArray,
    n_states: int,
    n_syllables: int,
    kappa=1e4,
    beta=1.0,
    sigma_base=1.0,
    sigma_bias=1.0,
) -> HHMM:
    """A low-rank HHMM with parameters drawn from the prior.

    Args:
        key: a JAX PRNG key.
        n_states: K.
        n_syllables: S.
        kappa: stickiness κ of the transition prior.
        beta: β of the transition prior.
        sigma_base: σ of the `Normal` prior on `base` (S, S-1).
        sigma_bias: σ of the `Normal` prior on `biases` (K-1, S-1).

    Returns:
        An `HHMM` with `LowRankEmissions` and `StickyTransitions` (K, K).
    """
    k_emit, k_trans = jr.split(key)
    emissions = LowRankEmissions.from_prior(k_emit, n_states, n_syllables, sigma_base, sigma_bias)
    transitions = StickyTransitions(jnp.eye(n_states), beta, kappa).sample_prior(k_trans)
    return HHMM(emissions, transitions)


def full_rank_hhmm(key: PRNGKeyArray, n_states: int, n_syllables: int, kappa=1e4, beta=1.0, emission_beta=1.0) -> HHMM:
    """A full-rank HHMM with parameters drawn from the prior.

    Args:
        key: a JAX PRNG key.
        n_states: K.
        n_syllables: S.
        kappa: stickiness κ of the transition prior.
        beta: β of the transition prior.
        emission_beta: β_e of the symmetric Dirichlet prior on every row of the (K, S, S) tables.

    Returns:
        An `HHMM` with `FullRankEmissions` and `StickyTransitions` (K, K).
    """
    k_emit, k_trans = jr.split(key)
    emissions = FullRankEmissions.from_prior(k_emit, n_states, n_syllables, emission_beta)
    transitions = StickyTransitions(jnp.eye(n_states), beta, kappa).sample_prior(k_trans)
    return HHMM(emissions, transitions)
