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
        return jnp.full(self.n_states, -jnp.log(self.n_states))

    def log_prior(self) -> Float[Array, ""]:
        return self.emissions.log_prior() + self.transitions.log_prior()

    def log_likelihoods(self, syllables: Int[Array, "N T"], mask: Float[Array, "N T"]) -> Float[Array, "N T K"]:
        return self.emissions.log_likelihoods(syllables, mask)

    def sample_prior(self, key: PRNGKeyArray) -> "HHMM":
        k_emit, k_trans = jr.split(key)
        return HHMM(self.emissions.sample_prior(k_emit), self.transitions.sample_prior(k_trans))

    def simulate(
        self, key: PRNGKeyArray, n_sequences: int, n_timesteps: int
    ) -> tuple[Int[Array, "N T"], Int[Array, "N T"]]:
        """Draw `(states, syllables)`, each (n_sequences, n_timesteps).

        z_1 and x_1 are uniform; then z_t ~ π[z_{t-1}], x_t ~ P_{z_t}[x_{t-1}].
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
    """A low-rank HHMM with parameters drawn from the prior."""
    k_emit, k_trans = jr.split(key)
    emissions = LowRankEmissions.from_prior(k_emit, n_states, n_syllables, sigma_base, sigma_bias)
    transitions = StickyTransitions(jnp.eye(n_states), beta, kappa).sample_prior(k_trans)
    return HHMM(emissions, transitions)


def full_rank_hhmm(key: PRNGKeyArray, n_states: int, n_syllables: int, kappa=1e4, beta=1.0, emission_beta=1.0) -> HHMM:
    """A full-rank HHMM with parameters drawn from the prior."""
    k_emit, k_trans = jr.split(key)
    emissions = FullRankEmissions.from_prior(k_emit, n_states, n_syllables, emission_beta)
    transitions = StickyTransitions(jnp.eye(n_states), beta, kappa).sample_prior(k_trans)
    return HHMM(emissions, transitions)
