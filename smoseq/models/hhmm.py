"""The hierarchical HMM: a sticky chain of hidden states, each biasing syllable transitions."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .emissions import AbstractEmissions, FullRankEmissions, LowRankEmissions
from .transitions import StickyTransitions


class HHMM(eqx.Module):
    """Hidden states z_t (K) follow `transitions`; syllables x_t follow `emissions`' table of z_t.

    p(z_1) = 1/K; p(z_t | z_{t-1}) = transitions.probs; p(x_t | x_{t-1}, z_t = k) = P_k[x_{t-1}, x_t]
    for t ≥ 2. The first frame and masked frames contribute log-likelihood 0.

    Attributes:
        emissions: an emission module (`LowRankEmissions`, `FullRankEmissions`, or another
            `AbstractEmissions`) with K states and S syllables.
        transitions: `StickyTransitions` with a (K, K) `probs`.

    Raises:
        ValueError: emissions and transitions disagree on K.
    """

    emissions: AbstractEmissions
    transitions: StickyTransitions

    def __check_init__(self):
        emission_states = getattr(self.emissions, "n_states", self.transitions.n_states)
        if emission_states != self.transitions.n_states:
            raise ValueError(
                f"emissions have {emission_states} states but transitions have {self.transitions.n_states}"
            )

    @property
    def n_states(self) -> int:
        return self.transitions.n_states

    @property
    def n_syllables(self) -> int:
        return self.emissions.n_syllables

    def log_init(self) -> Float[Array, " K"]:
        """log p(z_1), uniform.

        Returns:
            (K,) float, every entry −log K.
        """
        return jnp.full(self.n_states, -jnp.log(self.n_states))

    def log_prior(self) -> Float[Array, ""]:
        """log p(params): the emission prior plus the transition prior.

        Returns:
            Scalar float.
        """
        return self.emissions.log_prior() + self.transitions.log_prior()

    def log_likelihoods(self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"]) -> Float[Array, "N T K"]:
        """log p(x_t | x_{t-1}, z_t = k) of every frame (see `AbstractEmissions.log_likelihoods`).

        Args:
            syllables: (N, T) int.
            mask: (N, T) float; frames where it is 0 contribute 0.

        Returns:
            (N, T, K) float; 0 at the first frame of each sequence and at masked frames.
        """
        return self.emissions.log_likelihoods(syllables, mask)

    def sample_prior(self, key: PRNGKeyArray) -> "HHMM":
        """A model of the same structure and priors with parameters drawn from the priors.

        Args:
            key: a JAX PRNG key.

        Returns:
            A new `HHMM`.
        """
        k_emit, k_trans = jr.split(key)
        return HHMM(self.emissions.sample_prior(k_emit), self.transitions.sample_prior(k_trans))

    def simulate(
        self, key: PRNGKeyArray, n_sequences: int, n_timesteps: int
    ) -> tuple[Int[Array, "N T"], Int[Array, "N T"]]:
        """Draw `(states, syllables)`, each (n_sequences, n_timesteps).

        z_1 and x_1 are uniform; then z_t ~ π[z_{t-1}], x_t ~ P_{z_t}[x_{t-1}].

        Args:
            key: a JAX PRNG key.
            n_sequences: N.
            n_timesteps: T (≥ 1).

        Returns:
            `(states, syllables)`: two (N, T) int32 arrays.
        """
        log_trans = jnp.log(self.transitions.probs)
        log_tables = jnp.log(self.emissions.transition_tables())

        def one_sequence(key):
            k_z0, k_x0, k_steps = jr.split(key, 3)
            z0 = jr.randint(k_z0, (), 0, self.n_states)
            x0 = jr.randint(k_x0, (), 0, self.n_syllables)

            def step(carry, step_key):
                z, x = carry
                k_z, k_x = jr.split(step_key)
                z = jr.categorical(k_z, log_trans[z])
                x = jr.categorical(k_x, log_tables[z, x])
                return (z, x), (z, x)

            _, (zs, xs) = jax.lax.scan(step, (z0, x0), jr.split(k_steps, n_timesteps - 1))
            return jnp.concatenate([z0[None], zs]), jnp.concatenate([x0[None], xs])

        states, syllables = jax.vmap(one_sequence)(jr.split(key, n_sequences))
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
