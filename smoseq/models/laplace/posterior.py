"""The low-rank emission model as functions of its parameters: tables, log-likelihood, log posterior.

The one copy of `P_k[i, :] = softmax(B[i, :] + C[k, :])` (DESIGN §1) that both the
component (`LowRankEmissions.log_tables`) and its updates use. `possible` (S, S) bool says
which syllable transitions i → j are events the tables score: all of them when repeats
are modelled, every j ≠ i when they are ignored (the tables are then the distribution of
the next *different* syllable: a softmax over j ≠ i, so the gradient and Hessian of the
log-likelihood follow from those masked probabilities). It is a plain array argument,
so any update (the Laplace one, an exact one) uses the same definition.
"""

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm
from jaxtyping import Array, Bool, Float

from ..._embedding import lower_dim, raise_dim

__all__ = [
    "emission_log_likelihood",
    "emission_log_likelihood_ratio",
    "emission_log_posterior",
    "initial_emission_params",
    "low_rank_log_tables",
    "raised_parameters",
    "transition_probs",
]

Params = tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]]


def raised_parameters(base: Float[Array, "S S-1"], biases: Float[Array, "K-1 S-1"]):
    """`B = raise(base, 1)` (S, S) and `C = raise(raise(biases, 0), 1)` (K, S)."""
    return raise_dim(base, 1), raise_dim(raise_dim(biases, 0), 1)


def low_rank_log_tables(
    base: Float[Array, "S S-1"], biases: Float[Array, "K-1 S-1"], possible: Bool[Array, "S S"] | None = None
) -> Float[Array, "K S S"]:
    """`log P_k[i, j]`: a log-softmax over the possible j of `B[i, j] + C[k, j]`; −inf where not possible.

    Args:
        base: (S, S-1) base logits in the zero-sum basis.
        biases: (K-1, S-1) per-state biases in the zero-sum basis (both axes).
        possible: (S, S) bool, which transitions i → j the rows cover (None: all).

    Returns:
        (K, S, S) float; every row normalised over its possible entries.
    """
    raised_base, raised_biases = raised_parameters(base, biases)
    logits = raised_base[None, :, :] + raised_biases[:, None, :]
    if possible is not None:
        logits = jnp.where(possible[None], logits, -jnp.inf)
    return jax.nn.log_softmax(logits, axis=-1)


def transition_probs(
    base: Float[Array, "S S-1"], biases: Float[Array, "K-1 S-1"], possible: Bool[Array, "S S"] | None = None
) -> Float[Array, "K S S"]:
    """Syllable transition matrices `P_k[i, :] = softmax(B[i, :] + C[k, :])` (over the possible j).

    Args:
        base: (S, S-1) base logits in the zero-sum basis.
        biases: (K-1, S-1) per-state biases in the zero-sum basis (both axes).
        possible: (S, S) bool, which transitions the rows cover (None: all); 0 elsewhere.

    Returns:
        (K, S, S) float: `[k, i, j]` = p(x_t = j | x_{t-1} = i, z_t = k); rows sum to 1.
    """
    return jnp.exp(low_rank_log_tables(base, biases, possible))


def emission_log_likelihood(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    possible: Bool[Array, "S S"] | None = None,
) -> Float[Array, ""]:
    """`Σ N[k,i,j] log P_k[i,j]` over the possible transitions.

    Args:
        base, biases: the parameters.
        counts: (K, S, S) transition counts `N[k, i, j]` (0 where not possible).
        possible: (S, S) bool, or None for every transition.

    Returns:
        Scalar log-likelihood.
    """
    log_probs = low_rank_log_tables(base, biases, possible)
    if possible is not None:
        log_probs = jnp.where(possible[None], log_probs, 0.0)
    return jnp.sum(counts.astype(log_probs.dtype) * log_probs)


def emission_log_posterior(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    sigma_base: Float[Array, ""],
    sigma_bias: Float[Array, ""],
    possible: Bool[Array, "S S"] | None = None,
) -> Float[Array, ""]:
    """The reference package's log posterior: normal priors on the raised parameters, no `−log σ`.

    `Σ N log P + Σ norm.logpdf(B / σ_base) + Σ norm.logpdf(C / σ_bias)` with B (S, S) and
    C (K, S) the raised parameters: the definition of the published package, so its
    losses can be compared with it (its gradient is that of the `Normal` priors' log posterior).

    Args:
        base, biases: the parameters.
        counts: (K, S, S) transition counts.
        sigma_base, sigma_bias: prior standard deviations (∞: the likelihood alone).
        possible: (S, S) bool, or None for every transition.

    Returns:
        Scalar log posterior (up to a constant independent of the parameters).
    """
    raised_base, raised_biases = raised_parameters(base, biases)
    log_prior = jnp.sum(norm.logpdf(raised_base / sigma_base)) + jnp.sum(norm.logpdf(raised_biases / sigma_bias))
    return emission_log_likelihood(base, biases, counts, possible) + log_prior


def emission_log_likelihood_ratio(
    new: Params, old: Params, counts: Float[Array, "K S S"], possible: Bool[Array, "S S"] | None = None
) -> Float[Array, ""]:
    """`Σ N[k,i,j] (log P_k[i,j](new) − log P_k[i,j](old))`, summed term by term.

    The same number as the difference of the two log-likelihoods, but accurate in
    float32 when the counts are large: two totals of ~10⁶ differ by less than their
    rounding error, the sum of the termwise differences does not.

    Args:
        new: `(base (S, S-1), biases (K-1, S-1))`.
        old: the same structure.
        counts: (K, S, S) transition counts `N[k, i, j]`.
        possible: (S, S) bool, or None for every transition.

    Returns:
        Scalar log-likelihood ratio.
    """
    difference = low_rank_log_tables(*new, possible) - low_rank_log_tables(*old, possible)
    if possible is not None:
        difference = jnp.where(possible[None], difference, 0.0)
    return jnp.sum(counts.astype(difference.dtype) * difference)


def initial_emission_params(counts: Float[Array, "K S S"]) -> Params:
    """Data-driven start for the mode search when no previous parameters exist.

    `logits = log(N + 0.01)`; `base = lower(mean_k logits, axis=1)`;
    `biases = lower(lower(mean_i(logits − mean_k logits), axis=1), axis=0)`.

    Args:
        counts: (K, S, S) transition counts.

    Returns:
        `(base (S, S-1), biases (K-1, S-1))`.
    """
    counts = jnp.asarray(counts)
    dtype = counts.dtype if jnp.issubdtype(counts.dtype, jnp.floating) else jnp.result_type(float)
    logits = jnp.log(counts.astype(dtype) + 0.01)
    mean_over_states = logits.mean(axis=0, keepdims=True)
    base = lower_dim(mean_over_states[0], 1)
    state_offsets = (logits - mean_over_states).mean(axis=1)
    biases = lower_dim(lower_dim(state_offsets, 1), 0)
    return base, biases
