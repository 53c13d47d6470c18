"""Sticky HDP transitions (Fox et al. 2011, weak-limit approximation): a prior that prunes unused states.

Global state weights β ~ Dir(γ/K, …, γ/K) are shared by every row: π_k ~ Dir(α·β + κ·e_k),
and the first state of every sequence is drawn from β. A state the data do not need gets
little global weight, so rows rarely move into it and it empties; `n_states` becomes an
upper bound rather than the number of states.

The Gibbs update given the states is the textbook auxiliary-variable sampler, with π
integrated out for the first two draws:

1. table counts m_jk | n_jk, β (`table_counts`: the Antoniak distribution);
2. sticky override counts w_j | m_jj, β (`override_counts`), m̄ = m − diag(w);
3. β | m̄, first states ~ Dir(γ/K + Σ_j m̄_jk + #{sequences starting in k});
4. π_k | β, counts ~ Dir(α·β + κ·e_k + n_k).
"""

from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.special import digamma, polygamma
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .data import SyllableData
from .priors import DirichletRows, dirichlet_log_prob, floored_dirichlet
from .transitions import AbstractTransitions, transition_counts
from .updates import AbstractUpdate

EXACT_TABLE_TERMS = 1000
"""Table-count terms drawn exactly (one Bernoulli each) before the tail is approximated."""

TERMS_PER_STEP = 50
"""Exact Bernoulli terms drawn per loop step (one (TERMS_PER_STEP, *counts.shape) batch of uniforms)."""

POISSON_TAIL = 0.1
"""The tail is drawn from a Poisson when Σ p_i² ≤ POISSON_TAIL · Σ p_i (small p_i), else from a normal."""

PROBABILITY_FLOOR = 1e-30
"""Smallest weight, probability or concentration the HDP draws (far above float32's smallest normal, 1.2e-38)."""

DEFAULT_GAMMA = 1.0
DEFAULT_ALPHA = 10.0
"""Defaults chosen by measurement (`benchmarks/bench_hdp.py`, K = 20, 60 iterations, semi-Markov data).
On 5 true states (preset usage-K5-S30, 2 seeds), α = 10 kept exactly 5 states (≥ 1 % of frames)
for every γ in {0.1, 1, 10}, α ≤ 1 kept 6 in half the fits at γ ≤ 1. On 6 true states with
multi-frame syllables (kpms-K6-S50-lognormal, 3 seeds), α = 10 kept 7–8 states with
many-to-one accuracy 0.85–0.90 (the sticky prior: 8–14 states, 0.82–0.89), while α = 100
collapsed (accuracy 0.42–0.48); γ = 1 and γ = 10 were alike, and γ = 1 is the textbook choice."""


class HDPStatistics(NamedTuple):
    """What the HDP update needs from the states.

    Attributes:
        counts: (K, K) float transition counts n_jk over real frames.
        first: (K,) float number of sequences whose first (real) frame is in state k.
    """

    counts: Float[Array, "K K"]
    first: Float[Array, " K"]


class HDPInfo(NamedTuple):
    """What one HDP update drew besides the parameters.

    Attributes:
        tables: (K, K) float table counts m̄ after the sticky override (diagonal m_jj − w_j).
    """

    tables: Float[Array, "K K"]


class HDPTransitions(AbstractTransitions):
    """Hidden-state transitions under a sticky HDP prior (weak limit with K components).

    β (`weights`) ~ Dir(γ/K·1); row k of `probs` ~ Dir(α·β + κ·e_k); p(z_1 = k) = β_k. γ sets how
    many states the prior expects (small γ: few), α how freely states switch to one another,
    κ how long states last (as in `StickyTransitions`). γ, α and κ are array leaves, so a
    batch of models that differ in them is one PyTree with a leading axis. The defaults,
    γ = 1 and α = 10, were chosen by measurement (`DEFAULT_ALPHA`, `benchmarks/bench_hdp.py`);
    `sm.fit(..., transitions="hdp")` takes κ from `kappa` (`"auto"`: frames / K, as for the
    sticky prior).

    This component also sets the initial-state distribution (`initial_log_probs`), so the
    `HHMM` holding it takes `InitialFromTransitions` as its initial component (the default
    when `initial` is None), and its update counts the first state of every sequence as a
    draw from β.

    Args:
        probs: (K, K) float transition matrix, rows summing to 1.
        weights: (K,) float global state weights β, summing to 1.
        gamma: γ > 0, concentration of the prior on β.
        alpha: α > 0, concentration of every row around β.
        kappa: κ ≥ 0, extra concentration on the diagonal.

    Raises:
        ValueError: `probs` not square, or `weights` not (K,).
    """

    probs: Float[Array, "K K"]
    weights: Float[Array, " K"]
    gamma: Float[Array, ""]
    alpha: Float[Array, ""]
    kappa: Float[Array, ""]
    sets_initial_state: ClassVar[bool] = True

    def __init__(self, probs, weights, gamma=DEFAULT_GAMMA, alpha=DEFAULT_ALPHA, kappa=0.0):
        self.probs = jnp.asarray(probs, dtype=float)
        self.weights = jnp.asarray(weights, dtype=float)
        self.gamma = jnp.asarray(gamma, dtype=float)
        self.alpha = jnp.asarray(alpha, dtype=float)
        self.kappa = jnp.asarray(kappa, dtype=float)

    def __check_init__(self):
        if self.probs.ndim < 2 or self.probs.shape[-1] != self.probs.shape[-2]:
            raise ValueError(f"HDP transition probs must be square (K, K), got {self.probs.shape}")
        if self.weights.shape[-1:] != self.probs.shape[-1:]:
            raise ValueError(f"HDP weights must be (K,) with K = {self.probs.shape[-1]}, got {self.weights.shape}")

    @classmethod
    def create(cls, n_states: int, gamma=DEFAULT_GAMMA, alpha=DEFAULT_ALPHA, kappa=0.0) -> "HDPTransitions":
        """Uniform placeholder parameters with the given prior (a fit replaces them at its first step).

        Args:
            n_states: K.
            gamma, alpha, kappa: the prior's concentrations (see the class).

        Returns:
            `HDPTransitions` with `probs` 1/K everywhere and `weights` 1/K.
        """
        return cls(jnp.full((n_states, n_states), 1.0 / n_states), jnp.full(n_states, 1.0 / n_states), gamma, alpha, kappa)

    @property
    def n_states(self) -> int:
        return self.probs.shape[-1]

    def concentration(self) -> Float[Array, "K K"]:
        """Prior Dirichlet concentration of every row given β: α·β + κ·I.

        Returns:
            (K, K) float; row k is the concentration of `probs[k]`.
        """
        return self.alpha * self.weights[None, :] + self.kappa * jnp.eye(self.n_states)

    def row_prior(self, weights: Float[Array, " K"] | None = None) -> DirichletRows:
        """The prior of the rows given global weights (default: these), `DirichletRows(α·β + κ·I)`.

        Args:
            weights: (K,) float global weights β, or None for `self.weights`.

        Returns:
            A `DirichletRows` with the HDP's probability floor (`PROBABILITY_FLOOR`).
        """
        weights = self.weights if weights is None else weights
        return DirichletRows(self.alpha * weights[None, :] + self.kappa * jnp.eye(self.n_states), PROBABILITY_FLOOR)

    def update_kernel(self) -> "HDPUpdate":
        """`HDPUpdate()`: the auxiliary-variable update (module docstring)."""
        return HDPUpdate()

    def transition_matrices(self, data: SyllableData) -> Float[Array, "K K"]:
        """The one (K, K) matrix every sequence follows.

        Args:
            data: `SyllableData` (unused: the matrix is shared).

        Returns:
            (K, K) float `probs`.
        """
        return self.probs

    def initial_log_probs(self) -> Float[Array, " K"]:
        """log p(z_1 = k) = log β_k.

        Returns:
            (K,) float.
        """
        return jnp.log(self.weights)

    def statistics(self, states: Int[Array, "N T"], data: SyllableData) -> HDPStatistics:
        """Transition counts over real frames and the first state of every sequence.

        Every sequence's first frame is scored by `initial_log_probs` in the kernels, so
        every sequence counts here, segments of one recording (`seg_length`) included.

        Args:
            states: (N, T) int hidden states.
            data: `SyllableData` (N, T).

        Returns:
            `HDPStatistics` ((K, K) counts, (K,) first-state counts).
        """
        first = jnp.zeros(self.n_states).at[states[:, 0]].add(data.mask[:, 0])
        return HDPStatistics(transition_counts(states, data.mask, self.n_states), first)

    def log_prior(self) -> Float[Array, ""]:
        """log Dir(β | γ/K) + Σ_k log Dir(π_k | α·β + κ·e_k).

        Returns:
            Scalar float.
        """
        weights_prior = dirichlet_log_prob(self.weights, jnp.full(self.n_states, self.gamma / self.n_states))
        return weights_prior + self.row_prior().log_prob(self.probs)

    def sample_prior(self, key: PRNGKeyArray) -> "HDPTransitions":
        """β from Dir(γ/K), then every row from Dir(α·β + κ·e_k).

        Args:
            key: a JAX PRNG key.

        Returns:
            These transitions with new `weights` and `probs`.
        """
        k_weights, k_rows = jr.split(key)
        K = self.n_states
        weights = floored_dirichlet(k_weights, jnp.full(K, self.gamma / K), PROBABILITY_FLOOR)
        rows = self.row_prior(weights).sample(k_rows)
        return eqx.tree_at(lambda t: (t.probs, t.weights), self, (rows, weights))


class HDPUpdate(AbstractUpdate):
    """The sticky HDP's Gibbs update given the states: tables, overrides, β, then the rows.

    Needs an `HDPTransitions` and its `HDPStatistics`; reports an `HDPInfo`.
    """

    def step(self, key: PRNGKeyArray, component: HDPTransitions, statistics: HDPStatistics) -> tuple[HDPTransitions, HDPInfo]:
        """One auxiliary-variable update (module docstring, steps 1–4).

        Args:
            key: a JAX PRNG key (split into one per draw).
            component: the `HDPTransitions` to update.
            statistics: `HDPStatistics` from `component.statistics(states, data)`.

        Returns:
            `(transitions, HDPInfo)`: new `probs` and `weights` (γ, α, κ unchanged), and the
            table counts after the override.
        """
        k_tables, k_override, k_weights, k_rows = jr.split(key, 4)
        K = component.n_states
        tables = table_counts(k_tables, statistics.counts, component.concentration())
        overrides = override_counts(k_override, jnp.diag(tables), component.weights, component.alpha, component.kappa)
        tables = tables - jnp.diag(overrides)
        weights = floored_dirichlet(k_weights, component.gamma / K + tables.sum(0) + statistics.first, PROBABILITY_FLOOR)
        rows = component.row_prior(weights).posterior(statistics.counts).sample(k_rows)
        updated = eqx.tree_at(lambda t: (t.probs, t.weights), component, (rows, weights))
        return updated, HDPInfo(tables)


def table_counts(
    key: PRNGKeyArray, counts: Float[Array, "..."], concentration: Float[Array, "..."], exact_terms: int = EXACT_TABLE_TERMS
) -> Float[Array, "..."]:
    """Table counts m given customer counts n: m = Σ_{i<n} Bernoulli(c / (c + i)), elementwise.

    This is the Antoniak distribution, p(m | n, c) = s(n, m)·c^m·Γ(c)/Γ(c + n) with s the
    unsigned Stirling numbers of the first kind. The first `exact_terms` Bernoulli terms
    are drawn exactly, `TERMS_PER_STEP` terms per loop step, in a loop that stops at the
    largest count (no array of size n per entry). The remaining terms of a
    larger count (i = L … n−1, L = `exact_terms`) are independent with known sums:
    mean μ = c·(ψ(c+n) − ψ(c+L)) and Σ p_i² = c²·(ψ'(c+L) − ψ'(c+n)). They are drawn from
    a Poisson(μ) when the p_i are small (Σ p_i² ≤ `POISSON_TAIL`·μ: the Barbour–Hall
    bound, total variation ≤ (1 − e^(−μ))/μ · Σ p_i², puts its error below
    `POISSON_TAIL`), else from a normal with the exact mean and variance μ − Σ p_i²,
    rounded; either is clipped to [0, n − L]. Counts of at most L are
    therefore exact, and the approximation only touches terms whose probabilities are
    below c/(c+L).

    Args:
        key: a JAX PRNG key.
        counts: float array of non-negative integer counts n (any shape).
        concentration: float array c > 0 of the same shape (α·β_k + κ·[j = k] for the HDP).
        exact_terms: L, terms drawn exactly.

    Returns:
        Float array of table counts, the shape of `counts`, 0 ≤ m ≤ n (m ≥ 1 where n ≥ 1).
    """
    k_exact, k_tail = jr.split(key)
    counts = jnp.round(counts)
    exact_counts = jnp.minimum(counts, exact_terms)
    terms_shape = (TERMS_PER_STEP,) + (1,) * counts.ndim

    def one_step(step, tables):
        i = (step * TERMS_PER_STEP + jnp.arange(TERMS_PER_STEP)).reshape(terms_shape)
        uniforms = jr.uniform(jr.fold_in(k_exact, step), (TERMS_PER_STEP,) + counts.shape)
        return tables + ((i < exact_counts) & (uniforms * (concentration + i) < concentration)).sum(0)

    n_steps = -(-jnp.max(exact_counts).astype(jnp.int32) // TERMS_PER_STEP)
    tables = jax.lax.fori_loop(0, n_steps, one_step, jnp.zeros(counts.shape))
    return tables + _table_tail(k_tail, counts, concentration, exact_terms)


def _table_tail(key: PRNGKeyArray, counts: Array, concentration: Array, start: int) -> Array:
    """Σ_{start ≤ i < n} Bernoulli(c/(c+i)) by a Poisson or normal approximation (`table_counts`)."""
    k_poisson, k_normal = jr.split(key)
    n_tail = jnp.maximum(counts - start, 0.0)
    has_tail = n_tail > 0
    c = jnp.maximum(concentration, jnp.finfo(jnp.result_type(float)).tiny)
    end = jnp.where(has_tail, c + counts, c + start)
    mean = jnp.where(has_tail, c * (digamma(end) - digamma(c + start)), 0.0)
    sum_squares = jnp.where(has_tail, c**2 * (polygamma(1, c + start) - polygamma(1, end)), 0.0)
    variance = jnp.maximum(mean - sum_squares, 0.0)
    poisson = jr.poisson(k_poisson, mean, counts.shape).astype(mean.dtype)
    normal = jnp.round(mean + jnp.sqrt(variance) * jr.normal(k_normal, counts.shape))
    tail = jnp.where(sum_squares <= POISSON_TAIL * mean, poisson, normal)
    return jnp.clip(tail, 0.0, n_tail)


def override_counts(
    key: PRNGKeyArray, diagonal_tables: Float[Array, " K"], weights: Float[Array, " K"], alpha, kappa
) -> Float[Array, " K"]:
    """Sticky override counts w_j ~ Binomial(m_jj, ρ / (ρ + β_j·(1 − ρ))), ρ = κ/(α + κ).

    Of the m_jj tables serving a self-transition, w_j were opened by the sticky extra mass
    κ rather than by the global weight β_j; they are removed before β is updated.

    Args:
        key: a JAX PRNG key.
        diagonal_tables: (K,) float table counts m_jj.
        weights: (K,) float β.
        alpha: α; kappa: κ (scalars).

    Returns:
        (K,) float override counts, 0 ≤ w_j ≤ m_jj.
    """
    rho = kappa / (alpha + kappa)
    probability = rho / (rho + weights * (1.0 - rho))
    return jr.binomial(key, diagonal_tables, probability).astype(diagonal_tables.dtype)
