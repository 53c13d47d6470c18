"""Test-only components: a transitions prior of our own, an emission with its own likelihood, per-sequence matrices."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.stats import beta as beta_distribution

from smoseq.models import AbstractEmissions, AbstractTransitions, Dirichlet, no_optimizer_info, transition_counts


class Beta(eqx.Module):
    """A Beta(a, b) prior on one probability."""

    a: jax.Array
    b: jax.Array

    def __init__(self, a=1.0, b=1.0):
        self.a = jnp.asarray(a, dtype=float)
        self.b = jnp.asarray(b, dtype=float)

    def log_prob(self, x):
        return beta_distribution.logpdf(x, self.a, self.b)

    def sample(self, key):
        return jr.beta(key, self.a, self.b)


class SymmetricStickyTransitions(AbstractTransitions):
    """Stay with probability `stay`, otherwise move to any other state uniformly."""

    stay: jax.Array
    prior: Beta
    n_states: int = eqx.field(static=True)

    def __init__(self, n_states, stay=0.9, prior=None):
        self.n_states = n_states
        self.stay = jnp.asarray(stay, dtype=float)
        self.prior = Beta(9.0, 1.0) if prior is None else prior

    def transition_matrices(self, data):
        eye = jnp.eye(self.n_states)
        return eye * self.stay + (1 - eye) * (1 - self.stay) / (self.n_states - 1)

    def log_prior(self):
        return self.prior.log_prob(self.stay)

    def sample_prior(self, key):
        return eqx.tree_at(lambda t: t.stay, self, self.prior.sample(key))

    def statistics(self, states, data):
        counts = transition_counts(states, data.mask, self.n_states)
        stays = jnp.trace(counts)
        return stays, counts.sum() - stays

    def resample(self, key, statistics):
        stays, switches = statistics
        stay = jr.beta(key, self.prior.a + stays, self.prior.b + switches)
        return eqx.tree_at(lambda t: t.stay, self, stay), None


class CategoricalEmissions(AbstractEmissions):
    """Each state emits the current syllable from its own categorical (the previous one is ignored)."""

    probs: jax.Array
    prior: Dirichlet
    temperature: float
    labels: tuple = eqx.field(static=True)
    n_states: int = eqx.field(static=True)
    n_syllables: int = eqx.field(static=True)

    def __init__(self, probs, prior=None, temperature=1.0, labels=("a", "b")):
        self.probs = jnp.asarray(probs, dtype=float)
        self.prior = Dirichlet(1.0) if prior is None else prior
        self.temperature = temperature
        self.labels = labels
        self.n_states, self.n_syllables = self.probs.shape

    def log_likelihoods(self, syllables, mask, repeats="model"):
        log_probs = jnp.log(self.probs).T  # (S, K)
        per_frame = log_probs[syllables]  # (N, T, K)
        if repeats == "ignore":  # the next *different* syllable: renormalised over x_t != x_{t-1}
            previous = jnp.concatenate([syllables[:, :1], syllables[:, :-1]], axis=1)
            per_frame = per_frame - jnp.log1p(-jnp.exp(log_probs[previous]))
        per_frame = jnp.where(mask[..., None] > 0, per_frame / self.temperature, 0.0)
        return per_frame.at[:, 0].set(0.0)

    def log_prior(self):
        return self.prior.log_prob(self.probs)

    def sample_prior(self, key):
        return eqx.tree_at(lambda e: e.probs, self, self.prior.sample(key, self.probs.shape))

    def statistics(self, states, data):
        """(emitted (K, S), left (K, S) with repeats ignored, else None): counts of x_t, and of x_{t-1} at scored changes."""
        weights = data.emission_mask[:, 1:].astype(float).ravel()
        size = self.n_states * self.n_syllables
        emitted = jnp.zeros(size).at[(states[:, 1:] * self.n_syllables + data.syllables[:, 1:]).ravel()].add(weights)
        if data.repeats == "model":
            return emitted.reshape(self.n_states, self.n_syllables), None
        left = jnp.zeros(size).at[(states[:, 1:] * self.n_syllables + data.syllables[:, :-1]).ravel()].add(weights)
        return emitted.reshape(self.n_states, self.n_syllables), left.reshape(self.n_states, self.n_syllables)

    def resample(self, key, statistics, mode_search=None):
        """Conjugate; with repeats ignored, after drawing the repeats each scored change hides (negative binomial)."""
        emitted, left = statistics
        k_rates, k_hidden, k_probs = jr.split(key, 3)
        if left is not None:
            odds = self.probs / (1.0 - self.probs)
            rates = jr.gamma(k_rates, jnp.maximum(left, 1e-6)) * odds * (left > 0)
            emitted = emitted + jr.poisson(k_hidden, rates).astype(emitted.dtype)
        probs = jr.dirichlet(k_probs, self.prior.posterior_concentration(emitted))
        return eqx.tree_at(lambda e: e.probs, self, probs), no_optimizer_info()


class AlternatingTransitions(AbstractTransitions):
    """Even sequences follow `even`, odd ones `odd` (K, K): one transition matrix per sequence."""

    even: jax.Array
    odd: jax.Array
    n_states: int = eqx.field(static=True)

    def __init__(self, even, odd):
        self.even, self.odd = jnp.asarray(even, dtype=float), jnp.asarray(odd, dtype=float)
        self.n_states = self.even.shape[-1]

    def transition_matrices(self, data):
        is_even = (jnp.arange(data.syllables.shape[0]) % 2 == 0)[:, None, None]
        return jnp.where(is_even, self.even, self.odd)

    def log_prior(self):
        return jnp.zeros(())

    def sample_prior(self, key):
        k_even, k_odd = jr.split(key)
        concentration = jnp.ones((self.n_states, self.n_states)) + 5 * jnp.eye(self.n_states)
        return AlternatingTransitions(jr.dirichlet(k_even, concentration), jr.dirichlet(k_odd, concentration))

    def statistics(self, states, data):
        is_even = jnp.arange(states.shape[0]) % 2 == 0
        even = transition_counts(states, data.mask * is_even[:, None], self.n_states)
        odd = transition_counts(states, data.mask * ~is_even[:, None], self.n_states)
        return even, odd

    def resample(self, key, statistics):
        k_even, k_odd = jr.split(key)
        even, odd = statistics
        return AlternatingTransitions(jr.dirichlet(k_even, even + 1.0), jr.dirichlet(k_odd, odd + 1.0)), None


class InputSwitchTransitions(AbstractTransitions):
    """Per-frame matrices driven by a 0/1 input: stay with probability `stay[u_t]` on the step t-1 -> t.

    `u_t = data.inputs[n, t, 0]`; conjugate Beta updates from the stays and switches
    counted separately under each input value.
    """

    stay: jax.Array  # (2,)
    prior: Beta
    n_states: int = eqx.field(static=True)

    def __init__(self, n_states, stay=(0.9, 0.9), prior=None):
        self.n_states = n_states
        self.stay = jnp.asarray(stay, dtype=float)
        self.prior = Beta(1.0, 1.0) if prior is None else prior

    def transition_matrices(self, data):
        stay = self.stay[data.inputs[..., 0].astype(jnp.int32)][..., None, None]  # (N, T, 1, 1)
        eye = jnp.eye(self.n_states)
        return eye * stay + (1 - eye) * (1 - stay) / (self.n_states - 1)  # (N, T, K, K)

    def log_prior(self):
        return self.prior.log_prob(self.stay).sum()

    def sample_prior(self, key):
        return eqx.tree_at(lambda t: t.stay, self, jax.vmap(self.prior.sample)(jr.split(key, 2)))

    def statistics(self, states, data):
        inputs = data.inputs[:, 1:, 0].astype(jnp.int32)
        same = (states[:, 1:] == states[:, :-1]).astype(float) * data.mask[:, :-1]
        steps = data.mask[:, :-1]
        stays = jnp.stack([jnp.sum(same * (inputs == value)) for value in (0, 1)])
        totals = jnp.stack([jnp.sum(steps * (inputs == value)) for value in (0, 1)])
        return stays, totals - stays

    def resample(self, key, statistics):
        stays, switches = statistics
        stay = jr.beta(key, self.prior.a + stays, self.prior.b + switches)
        return eqx.tree_at(lambda t: t.stay, self, stay), None


class GroupStayTransitions(AbstractTransitions):
    """One stay probability per experimental group, read from `data.groups`: (N, K, K) matrices."""

    stay: jax.Array  # (G,)
    prior: Beta
    n_states: int = eqx.field(static=True)

    def __init__(self, n_states, n_groups, prior=None):
        self.n_states = n_states
        self.stay = jnp.full((n_groups,), 0.9)
        self.prior = Beta(1.0, 1.0) if prior is None else prior

    def transition_matrices(self, data):
        stay = self.stay[data.groups][:, None, None]
        eye = jnp.eye(self.n_states)
        return eye * stay + (1 - eye) * (1 - stay) / (self.n_states - 1)

    def log_prior(self):
        return self.prior.log_prob(self.stay).sum()

    def sample_prior(self, key):
        return eqx.tree_at(lambda t: t.stay, self, jax.vmap(self.prior.sample)(jr.split(key, self.stay.shape[0])))

    def statistics(self, states, data):
        same = (states[:, 1:] == states[:, :-1]).astype(float) * data.mask[:, :-1]
        per_sequence = jnp.stack([same.sum(axis=1), data.mask[:, :-1].sum(axis=1) - same.sum(axis=1)], axis=1)
        return jnp.zeros((self.stay.shape[0], 2)).at[data.groups].add(per_sequence)

    def resample(self, key, statistics):
        stay = jr.beta(key, self.prior.a + statistics[:, 0], self.prior.b + statistics[:, 1])
        return eqx.tree_at(lambda t: t.stay, self, stay), None
