"""Explicit-duration (semi-Markov) hidden states as an expanded chain of phases.

Each behavioural state k is a chain of r phases with shared emissions. The hidden chain
runs over the K·r phase-states (k, i): a phase stays with probability p_k and advances
with probability 1 − p_k; leaving the last phase moves to the first phase of another
state j with probability π_kj (π_kk = 0). A bout of state k therefore lasts
D = r + NB(r, 1 − p_k) frames (a sum of r geometric phases), a negative binomial instead
of the geometric law of a sticky chain. The kernels run the (K·r, K·r) matrix unchanged,
so the state draw stays exact (forward filtering, backward sampling).

Priors: p_k ~ Beta(a, b); each row of π ~ Dirichlet(α·1) on its K − 1 off-diagonal
entries. Both are conjugate to the counts of phase stays, phase advances and exits, so
the update is an exact Gibbs draw (`SemiMarkovUpdate`).
"""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.scipy.special import gammaln
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .phases import phase_emissions
from .transitions import AbstractTransitions, transition_counts
from .updates import AbstractUpdate

_EDGE = 1e-6  # p_k is kept in [_EDGE, 1 - _EDGE] so that its logarithms stay finite (float32)


class SemiMarkovStatistics(NamedTuple):
    """The counts the semi-Markov update needs, reduced from the phase-state transitions.

    Attributes:
        stays: (K,) float, phase self-transitions within state k (every phase).
        advances: (K,) float, phase advances within state k plus exits from its last phase.
        exits: (K, K) float, exits[k, j]: moves from the last phase of k to the first of j (0 diagonal).
    """

    stays: Float[Array, " K"]
    advances: Float[Array, " K"]
    exits: Float[Array, "K K"]


class SemiMarkovInfo(NamedTuple):
    """What a semi-Markov update reports: the Beta posterior of every p_k it drew from.

    Its mean, `stay_posterior_a / (stay_posterior_a + stay_posterior_b)`, is the
    Rao–Blackwellised estimate of p_k given the states (`sm.duration_distributions` uses
    the last iteration's, recorded in `FitResult.last_updates`).

    Attributes:
        stay_posterior_a: (K,) float, a + stays.
        stay_posterior_b: (K,) float, b + advances.
    """

    stay_posterior_a: Float[Array, " K"]
    stay_posterior_b: Float[Array, " K"]


class SemiMarkovUpdate(AbstractUpdate):
    """Exact conjugate draw: p_k ~ Beta(a + stays_k, b + advances_k), π_k ~ Dir(α + exits_k) off the diagonal."""

    def step(self, key: PRNGKeyArray, component, statistics: SemiMarkovStatistics):
        """One draw of `stay` (K,) and `switch` (K, K) from their conditional posterior.

        Args:
            key: a JAX PRNG key.
            component: a `SemiMarkovTransitions`.
            statistics: its `SemiMarkovStatistics`.

        Returns:
            `(component, SemiMarkovInfo)`: the Beta posteriors drawn from.
        """
        k_stay, k_switch = jr.split(key)
        a, b = stay_posterior(component.stay_a, component.stay_b, statistics)
        stay = jnp.clip(jr.beta(k_stay, a, b), _EDGE, 1.0 - _EDGE)
        switch = off_diagonal_dirichlet(k_switch, component.alpha + statistics.exits)
        return eqx.tree_at(lambda c: (c.stay, c.switch), component, (stay, switch)), SemiMarkovInfo(a, b)


def stay_posterior(stay_a, stay_b, statistics: SemiMarkovStatistics) -> tuple[Array, Array]:
    """The Beta posterior of every p_k: `(a + stays, b + advances)`, each (K,)."""
    return stay_a + statistics.stays, stay_b + statistics.advances


def off_diagonal_dirichlet(key: PRNGKeyArray, concentration: Float[Array, "K K"]) -> Float[Array, "K K"]:
    """Row k drawn from Dirichlet(concentration[k, j], j ≠ k), with 0 on the diagonal.

    Args:
        key: a JAX PRNG key.
        concentration: (K, K) float > 0 (its diagonal is ignored).

    Returns:
        (K, K) float; rows sum to 1, diagonal 0.
    """
    n = concentration.shape[-1]
    off = ~jnp.eye(n, dtype=bool)
    gammas = jnp.where(off, jr.gamma(key, jnp.where(off, concentration, 1.0)), 0.0)
    gammas = jnp.where(off, jnp.maximum(gammas, 1e-300), 0.0)
    return gammas / gammas.sum(-1, keepdims=True)


class SemiMarkovTransitions(AbstractTransitions):
    """Explicit-duration states: K behavioural states, each a chain of `n_phases` phases (K·r hidden states).

    Hidden state z = k·r + i is phase i of behavioural state k; `observed_states(z) = z // r`.
    Pair it with emissions shared across phases (`phase_emissions(inner, r)`, which
    `emissions_for` makes from K-state emissions); `sm.fit(..., transitions="semi_markov")`
    does both.

    Args:
        switch: (K, K) float, π: where a bout of k goes when it ends; zero diagonal, rows sum to 1.
        stay: (K,) float in (0, 1), p_k: the probability that a phase of k lasts one more frame.
        n_phases: r ≥ 1 (static): bouts last r + NB(r, 1 − p_k) frames.
        alpha: α > 0, concentration of the Dirichlet prior on every row of π (off the diagonal).
        stay_a, stay_b: a, b > 0 of the Beta prior on every p_k.

    Raises:
        ValueError: shapes that disagree, K < 2 or r < 1.
    """

    switch: Float[Array, "K K"]
    stay: Float[Array, " K"]
    alpha: Float[Array, ""]
    stay_a: Float[Array, ""]
    stay_b: Float[Array, ""]
    n_phases: int = eqx.field(static=True)

    def __init__(self, switch, stay, n_phases=4, alpha=1.0, stay_a=1.0, stay_b=1.0):
        self.switch = jnp.asarray(switch, dtype=float)
        self.stay = jnp.asarray(stay, dtype=float)
        self.n_phases = int(n_phases)
        self.alpha = jnp.asarray(alpha, dtype=float)
        self.stay_a = jnp.asarray(stay_a, dtype=float)
        self.stay_b = jnp.asarray(stay_b, dtype=float)

    def __check_init__(self):
        k = self.switch.shape[-1]
        if self.switch.ndim < 2 or self.switch.shape[-2] != k or self.stay.shape[-1:] != (k,) or k < 2:
            raise ValueError(f"switch must be (K, K) and stay (K,) with K >= 2, got {self.switch.shape}, {self.stay.shape}")
        if self.n_phases < 1:
            raise ValueError(f"n_phases must be >= 1, got {self.n_phases}")

    @classmethod
    def create(cls, n_states: int, n_phases: int = 4, alpha=1.0, stay_a=1.0, stay_b=1.0) -> "SemiMarkovTransitions":
        """Placeholder parameters (uniform switches, p_k = 1/2) with the given prior; the first Gibbs step replaces them.

        Args:
            n_states: K behavioural states.
            n_phases: r phases per state.
            alpha, stay_a, stay_b: the priors' hyperparameters.

        Returns:
            A `SemiMarkovTransitions` with K·r hidden states.
        """
        switch = (1.0 - np.eye(n_states)) / (n_states - 1)
        return cls(switch, np.full(n_states, 0.5), n_phases, alpha, stay_a, stay_b)

    @property
    def n_observed_states(self) -> int:
        """K, the behavioural states the user sees."""
        return self.switch.shape[-1]

    @property
    def n_states(self) -> int:
        """K·r, the hidden phase-states the kernels run over."""
        return self.n_observed_states * self.n_phases

    def transition_matrices(self, data: SyllableData) -> Float[Array, "Kr Kr"]:
        """The (K·r, K·r) phase-state matrix shared by every sequence; rows sum to 1.

        Args:
            data: `SyllableData` (unused: the matrix is shared).

        Returns:
            (K·r, K·r) float.
        """
        r = self.n_phases
        hidden = jnp.arange(self.n_states)
        state, phase = hidden // r, hidden % r
        stay = self.stay[state]
        advance = jnp.where(phase[:-1] < r - 1, 1.0 - stay[:-1], 0.0)
        within = jnp.diag(stay) + jnp.diag(advance, 1)
        leave = (phase == r - 1)[:, None] * (1.0 - stay)[:, None] * self.switch[state][:, state] * (phase == 0)[None, :]
        return within + leave

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> SemiMarkovStatistics:
        """Phase stays, advances and exits per state, from the phase-state transition counts over real frames.

        Args:
            states: (N, T) int hidden (phase) states.
            data: `SyllableData` (N, T).

        Returns:
            `SemiMarkovStatistics`.
        """
        return reduce_phase_counts(transition_counts(states, data.mask, self.n_states), self.n_phases)

    def update_kernel(self) -> SemiMarkovUpdate:
        """`SemiMarkovUpdate()`: the exact Beta and off-diagonal Dirichlet draws."""
        return SemiMarkovUpdate()

    def log_prior(self) -> Float[Array, ""]:
        """Σ_k log Beta(p_k | a, b) + Σ_k log Dir(π_k, off the diagonal | α).

        Returns:
            Scalar float.
        """
        a, b, p = self.stay_a, self.stay_b, self.stay
        beta = jnp.sum((a - 1) * jnp.log(p) + (b - 1) * jnp.log1p(-p) - (gammaln(a) + gammaln(b) - gammaln(a + b)))
        k = self.n_observed_states
        off = ~jnp.eye(k, dtype=bool)
        log_switch = jnp.where(off, jnp.log(jnp.where(off, self.switch, 1.0)), 0.0)
        dirichlet = k * (gammaln((k - 1) * self.alpha) - (k - 1) * gammaln(self.alpha)) + (self.alpha - 1) * log_switch.sum()
        return beta + dirichlet

    def sample_prior(self, key: PRNGKeyArray) -> "SemiMarkovTransitions":
        """`stay` and `switch` drawn from their priors.

        Args:
            key: a JAX PRNG key.

        Returns:
            These transitions with new parameters.
        """
        k_stay, k_switch = jr.split(key)
        k = self.n_observed_states
        stay = jnp.clip(jr.beta(k_stay, self.stay_a, self.stay_b, (k,)), _EDGE, 1.0 - _EDGE)
        switch = off_diagonal_dirichlet(k_switch, jnp.broadcast_to(self.alpha, (k, k)))
        return eqx.tree_at(lambda c: (c.stay, c.switch), self, (stay, switch))

    def observed_states(self, states):
        """Behavioural states of hidden phase-states: z // r (any int array, NumPy or JAX)."""
        return states // self.n_phases

    def observed_probs(self, probs):
        """(..., K·r) probabilities of phase-states summed to (..., K) behavioural states."""
        return probs.reshape(probs.shape[:-1] + (self.n_observed_states, self.n_phases)).sum(-1)

    def hidden_states(self, states, mask=None) -> np.ndarray:
        """Phase-states for behavioural states (a chain's start): phase ⌊i·r / L⌋ at position i of a run of length L.

        Args:
            states: (N, T) int behavioural states in [0, K).
            mask: unused (runs are cut at the array's ends).

        Returns:
            (N, T) int32 phase-states in [0, K·r).
        """
        states = np.asarray(states)
        r, hidden = self.n_phases, np.empty(states.shape, np.int32)
        for row, out in zip(states.reshape(-1, states.shape[-1]), hidden.reshape(-1, states.shape[-1])):
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            lengths = np.diff(np.r_[starts, row.size])
            position = np.arange(row.size) - np.repeat(starts, lengths)
            out[:] = row * r + (position * r) // np.repeat(lengths, lengths)
        return hidden

    def permute_states(self, order) -> "SemiMarkovTransitions":
        """The same transitions with behavioural state `i` renamed from `order[i]` (`sm.reorder_states`)."""
        order = jnp.asarray(order)
        return eqx.tree_at(lambda c: (c.stay, c.switch), self, (self.stay[order], self.switch[order][:, order]))

    def hidden_order(self, order) -> np.ndarray:
        """A permutation of the K behavioural states as one of the K·r phase-states (phases kept in place)."""
        order = np.asarray(order)
        return (order[:, None] * self.n_phases + np.arange(self.n_phases)).ravel()

    def emissions_for(self, emissions):
        """K-state emissions shared across the phases (`phase_emissions`); K·r-state emissions unchanged."""
        if emissions.n_states == self.n_observed_states:
            return phase_emissions(emissions, self.n_phases)
        return emissions

    def duration_pmf(self, durations: Int[Array, " D"]) -> Float[Array, "K D"]:
        """P(a bout of state k lasts d frames): d − r ~ NB(r, 1 − p_k), i.e. C(d−1, r−1)(1−p_k)^r p_k^(d−r) for d ≥ r.

        Args:
            durations: (D,) int durations in frames.

        Returns:
            (K, D) float probabilities (0 for d < r).
        """
        r = self.n_phases
        d = jnp.asarray(durations, dtype=float)
        extra = jnp.maximum(d - r, 0.0)
        log_choose = gammaln(d) - gammaln(float(r)) - gammaln(jnp.maximum(d - r + 1, 1.0))
        p = self.stay[:, None]
        log_pmf = log_choose + r * jnp.log1p(-p) + extra * jnp.log(p)
        return jnp.where(d >= r, jnp.exp(log_pmf), 0.0)

    def mean_durations(self) -> Float[Array, " K"]:
        """E[D_k] = r / (1 − p_k) frames."""
        return self.n_phases / (1.0 - self.stay)


def reduce_phase_counts(counts: Float[Array, "Kr Kr"], n_phases: int) -> SemiMarkovStatistics:
    """Stays, advances and exits per behavioural state from (K·r, K·r) phase-state transition counts.

    Transitions the structure forbids (e.g. from a state that was set by hand) are ignored.

    Args:
        counts: (K·r, K·r) float counts.
        n_phases: r.

    Returns:
        `SemiMarkovStatistics`.
    """
    r = n_phases
    k = counts.shape[-1] // r
    blocks = counts.reshape(k, r, k, r)
    diagonal = jnp.arange(k)
    within = blocks[diagonal, :, diagonal, :]  # (K, r, r)
    stays = jnp.trace(within, axis1=-2, axis2=-1)
    advances_within = jnp.diagonal(within, offset=1, axis1=-2, axis2=-1).sum(-1)
    exits = jnp.where(jnp.eye(k, dtype=bool), 0.0, blocks[:, r - 1, :, 0])
    return SemiMarkovStatistics(stays, advances_within + exits.sum(-1), exits)
