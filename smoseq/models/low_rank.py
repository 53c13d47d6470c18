"""Low-rank emission tables `P_k[i, :] = softmax(B[i, :] + C[k, :])` (the reference's "efficient" model)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float

from .._embedding import raise_dim
from .data import possible_transitions
from .emissions import AbstractTableEmissions
from .laplace.mode import ModeSearch
from .laplace.posterior import initial_emission_params, low_rank_log_tables
from .exact_update import ExactBlockedUpdate
from .laplace.update import LaplaceUpdate
from .priors import Normal


class LowRankEmissions(AbstractTableEmissions):
    """Low-rank tables `P_k[i, :] = softmax(B[i, :] + C[k, :])` (the reference's "efficient" model).

    `B = raise_dim(base, 1)` (S, S) is shared by every state; `C = raise_dim(raise_dim(biases, 0), 1)`
    (K, S) is each state's additive bias on the next syllable. Priors are elementwise on
    `base` (S, S-1) and `biases` (K-1, S-1). The conditional update is a Laplace
    approximation (`LaplaceUpdate`, see `smoseq.models.laplace`), not an exact draw, unless the
    `ModeSearch` it is given has `metropolis=True`: then the Laplace draw is a
    Metropolis–Hastings proposal and the update is exact; or `emission_update="exact_blocked"`:
    then the update is the exact blocked one (`ExactBlockedUpdate`).

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
        return low_rank_log_tables(self.base, self.biases)

    def scored_log_tables(self, repeats: str = "model") -> Float[Array, "K S S"]:
        """log P[k, i, j] as scored under `repeats`: with `"ignore"`, a softmax over j ≠ i (−∞ diagonal).

        The same tables as the renormalisation of `log_tables()`, computed as the masked
        softmax the update's log posterior uses.

        Args:
            repeats: `"model"` or `"ignore"`.

        Returns:
            (K, S, S) float.
        """
        if repeats == "model":
            return self.log_tables()
        return low_rank_log_tables(self.base, self.biases, possible_transitions(self.n_syllables, repeats))

    def log_prior(self) -> Float[Array, ""]:
        """`base_prior.log_prob(base) + bias_prior.log_prob(biases)`.

        Returns:
            Scalar float.
        """
        return self.base_prior.log_prob(self.base) + self.bias_prior.log_prob(self.biases)

    def update_kernel(self, mode_search: ModeSearch | None = None) -> LaplaceUpdate | ExactBlockedUpdate:
        """`LaplaceUpdate(mode_search)`: the Laplace-approximate draw, exact with `mode_search.metropolis`.

        The mode search is warm-started from the current values; with
        `mode_search.metropolis` it starts from the counts alone and its Laplace draw is
        accepted or rejected against the exact conditional posterior (the current values
        are kept when rejected; `MetropolisInfo.accepted` says which). Any elementwise
        prior (`Normal`, `StudentT`, yours) runs down the same path. With
        `mode_search.emission_update == "exact_blocked"` it is `ExactBlockedUpdate()` instead
        (exact, no mode search).

        Args:
            mode_search: the optimizer and stopping rule of the mode search (required).

        Returns:
            A `LaplaceUpdate` or an `ExactBlockedUpdate`.

        Raises:
            ValueError: `mode_search` is None, or names an unknown `emission_update`.
        """
        if mode_search is None:
            raise ValueError("LowRankEmissions.resample needs a ModeSearch (an Optax optimizer and its stopping rule)")
        if mode_search.emission_update == "exact_blocked":
            return ExactBlockedUpdate()
        if mode_search.emission_update != "laplace":
            update = mode_search.emission_update
            raise ValueError(f"emission_update must be 'laplace' or 'exact_blocked', got {update!r}")
        return LaplaceUpdate(mode_search)

    def with_data_driven_start(self, statistics) -> "LowRankEmissions":
        """These emissions with (base, biases) set from log(counts + 0.01) (the reference's start).

        Args:
            statistics: a `TableStatistics` (or the (K, S, S) counts themselves).

        Returns:
            `LowRankEmissions` with new `base` (S, S-1) and `biases` (K-1, S-1), same priors.
        """
        base, biases = initial_emission_params(getattr(statistics, "counts", statistics))
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
