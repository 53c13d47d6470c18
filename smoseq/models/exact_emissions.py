"""An exact Gibbs update of the low-rank emission parameters, in blocks that mix.

Target: the conditional `p(base, biases | N) ∝ Π_{k,i,j} P_k[i, j]^N[k,i,j] · p(base) p(biases)`
with `P_k[i, :] = softmax(B[i, :] + C[k, :])` over the syllables j that `possible[i, j]`
allows (the others have probability 0 and their logits do not enter), `B = raise(base, 1)`,
`C = raise(raise(biases, 0), 1)`.

Given `biases`, the S rows of `base` are conditionally independent, and given `base` the
biases are one block. The update is two Metropolis–Hastings steps, each leaving its
conditional exactly invariant (so the pair leaves the joint conditional invariant):

1. every row `b_i | biases`, all rows at once under `vmap`;
2. `biases | base`.

Each block's proposal is an independence proposal built from the conditioning variables
and the counts only (never from the current value of the block), so the MH ratio is
`p(x') q(x) / (p(x) q(x'))` whatever the proposal is:

    q = (1 − ε) N(centre, Q⁻¹) + ε · prior.

`centre` is up to `newton_steps` damped Newton steps (until one gains under 10⁻³ nats) on
the block's log conditional from a data-driven start; Q is its curvature
`Vᵀ (Σ n·(diag p − p pᵀ) + λ I) V` at the last point the Newton step started from (λ the
prior's curvature at 0; exact for `Normal` priors), handled as a Gaussian on the zero-sum subspace (`subspace_gaussian`): one S × S
Cholesky factor per row, one per state for the biases. The prior component is what makes
the sampler exact *and* uniformly ergodic: the likelihood is a product of probabilities,
so `p(x) ≤ prior(x)` and the importance weight `p / q ≤ 1/ε` everywhere. Without it the
Gaussian alone is lighter-tailed than the conditional in the directions of cells with no
counts (the likelihood flattens there and only the prior is left), the weight is
unbounded, and an independence sampler then under-visits those tails for a long time:
the cause of the miscalibration of the whole-parameter Laplace independence proposal
without the prior (`smoseq.models.laplace.metropolis_laplace_draw` before it mixed the
prior in too, see `tests/test_blocked_emissions.py`).

Each block draws `n_proposals` proposals in turn from the same q (cheap: the Newton
steps and factors are shared). Priors: any object with a *normalised* elementwise
`log_prob(x)` and `sample(key, shape)` (`Normal`, `StudentT`).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._embedding import center_embedding, lower_dim, raise_dim
from . import subspace_gaussian as sg
from .laplace.posterior import emission_log_likelihood

__all__ = ["ExactEmissionInfo", "conditional_log_likelihood", "sample_exact_emissions"]

_STEP_SIZES = tuple(0.5**i for i in range(16))
_MIN_GAIN = 1e-3


class ExactEmissionInfo(NamedTuple):
    """What `sample_exact_emissions` reports.

    Attributes:
        base_accepted: (S,) fraction of each row's proposals accepted.
        base_acceptance_prob: (S,) mean MH acceptance probability of each row's proposals.
        bias_accepted: scalar fraction of the bias block's proposals accepted.
        bias_acceptance_prob: scalar mean MH acceptance probability of the bias proposals.
    """

    base_accepted: Float[Array, " S"]
    base_acceptance_prob: Float[Array, " S"]
    bias_accepted: Float[Array, ""]
    bias_acceptance_prob: Float[Array, ""]


# ----------------------------------------------------------------------------------------
# The target
# ----------------------------------------------------------------------------------------


def _log_probs(logits, possible):
    """Masked log-softmax over the last axis: −inf where not possible."""
    return jax.nn.log_softmax(jnp.where(possible, logits, -jnp.inf), axis=-1)


def _weighted_sum(counts, log_probs, possible):
    return jnp.sum(jnp.where(possible, counts * jnp.where(possible, log_probs, 0.0), 0.0))


def _log_prob_change(logits, delta, possible):
    """`_log_probs(logits + delta) − _log_probs(logits)` where possible (0 elsewhere), accurate for small `delta`.

    `log softmax(x + d)_j − log softmax(x)_j = d_j − log Σ_l p_l e^{d_l} = d_j − log1p(Σ_l p_l expm1(d_l))`:
    its error is relative to the change, not to the log-probabilities themselves. Differencing
    two float32 log-likelihoods of ~10⁹ nats (a 300 M-frame fit) instead leaves errors of many
    nats, which would decide the Metropolis–Hastings steps. Large moves (|Σ p expm1(d)| ≥ ½)
    use the log-sum-exp form.

    Args:
        logits: (..., S) the old logits; delta: (..., S) the change (broadcast); possible: (..., S) bool.
    """
    log_p = _log_probs(logits, possible)
    delta = jnp.where(possible, delta, 0.0)
    change = jnp.sum(jnp.where(possible, jnp.exp(log_p) * jnp.expm1(delta), 0.0), axis=-1, keepdims=True)
    large = jax.nn.logsumexp(jnp.where(possible, log_p + delta, -jnp.inf), axis=-1, keepdims=True)
    small = jnp.log1p(jnp.where(jnp.abs(change) < 0.5, change, 0.0))
    return jnp.where(possible, delta - jnp.where(jnp.abs(change) < 0.5, small, large), 0.0)


def conditional_log_likelihood(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    possible: Bool[Array, "S S"] | None = None,
) -> Float[Array, ""]:
    """`Σ N[k,i,j] log P_k[i,j]` with the masked tables (log p(x | z, params) given the states).

    Args:
        base: (S, S-1).
        biases: (K-1, S-1).
        counts: (K, S, S) counts (zero where not `possible`).
        possible: (S, S) bool, the transitions the tables allow (default all).

    Returns:
        Scalar float.
    """
    return emission_log_likelihood(base, biases, counts, possible)


def _curvature(counts, log_probs, axis, ridge):
    """`Σ_axis n (diag p − p pᵀ) + ridge·I`, one S × S block per index of the other axis.

    Args:
        counts: (K, S, S); log_probs: (K, S, S); axis: 0 (blocks per row i) or 1 (per state k).
    """
    probs = jnp.exp(log_probs)
    weights = counts.sum(-1, keepdims=True) * probs  # n_ki p_ki
    diagonal = weights.sum(axis)
    outer = jnp.einsum("kia,kib->iab" if axis == 0 else "kia,kib->kab", weights, probs)
    size = probs.shape[-1]
    eye = jnp.eye(size, dtype=probs.dtype)
    # + c·11ᵀ per block leaves Vᵀ A V unchanged (V is zero-sum in every block) and keeps the
    # block positive definite along 1, where Σ n (diag p − p pᵀ) cancels to 0 up to float
    # rounding of ε·n: at 10⁷ counts that rounding outweighs the prior's curvature.
    shift = jnp.sqrt(jnp.finfo(probs.dtype).eps) * counts.sum((0, 2) if axis == 0 else (1, 2))
    return diagonal[:, :, None] * eye - outer + ridge * eye + shift[:, None, None]


def _prior_curvature(prior, dtype) -> Float[Array, ""]:
    """`−d²/dx² prior.log_prob` of one element at 0 (1 where not positive and finite)."""
    value = -jax.hessian(lambda t: prior.log_prob(t))(jnp.zeros((1,), dtype))[0, 0]
    return jnp.where(jnp.isfinite(value) & (value > 0), value, jnp.ones((), dtype)).astype(dtype)


def _zero_sum_basis(size: int) -> np.ndarray:
    """`center_embedding(size)` built in numpy (a trace-time constant)."""
    j = np.arange(1, size)
    rows = np.arange(size)[:, None]
    return (np.where(rows < j, -1.0 / j, 0.0) + (rows == j)) / np.sqrt(1.0 + 1.0 / j)


def _orthogonal_complement(*sizes: int):
    """`(V, W)` as numpy arrays: V the Kronecker product of the zero-sum bases of `sizes`, W the rest of
    the orthonormal basis that completes each with the unit constant vector."""
    basis, full, keep = np.ones((1, 1)), np.ones((1, 1)), np.ones((1,), bool)
    for size in sizes:
        embedding = _zero_sum_basis(size)
        square = np.concatenate([embedding, np.full((size, 1), 1.0 / np.sqrt(size))], axis=1)
        full, basis = np.kron(full, square), np.kron(basis, embedding)
        keep = np.kron(keep, np.arange(size) < size - 1).astype(bool)
    return basis, full[:, ~keep]


# ----------------------------------------------------------------------------------------
# One Metropolis–Hastings block
# ----------------------------------------------------------------------------------------


class _Block(NamedTuple):
    """A block's conditional: `log_target(x)`, `log_ratio(x_new, x_old)` (term by term), curvature blocks at x."""

    log_target: object
    log_ratio: object
    curvature: object
    basis: Float[Array, "n d"]
    complement: Float[Array, "n r"]


def _newton_centre(block: _Block, start, steps: int):
    """Damped Newton steps from `start` until none gains (at most `steps`); the centre, the last step's factor.

    Each step tries the Newton direction scaled by 1, ½, …, 2⁻¹⁵ and keeps the best gain
    (`log_ratio`, term by term); it stops once none gains more than `_MIN_GAIN` nats. At
    10⁷–10⁹ counts the start is thousands of nats from the mode and needs the small steps.
    """
    step_sizes = jnp.asarray(_STEP_SIZES, start.dtype)

    def newton_step(x):
        factor = sg.factorize(block.curvature(x), block.basis, block.complement)
        direction = sg.solve(factor, jax.grad(block.log_target)(x))
        candidates = x[None] + step_sizes[:, None] * direction[None]
        gains = jax.vmap(block.log_ratio, in_axes=(0, None))(candidates, x)  # term by term: exact at any count
        gains = jnp.where(jnp.isnan(gains), -jnp.inf, gains)
        best = jnp.argmax(gains)
        return jnp.where(gains[best] > 0, candidates[best], x), factor, gains[best]

    def keep_going(carry):
        _, _, gain, step = carry
        return (step < steps) & (gain > _MIN_GAIN)

    def body(carry):
        x, _, _, step = carry
        new_x, factor, gain = newton_step(x)
        return new_x, factor, gain, step + 1

    x, factor, _ = newton_step(start)
    centre, factor, _, _ = jax.lax.while_loop(keep_going, body, (x, factor, jnp.asarray(jnp.inf, start.dtype), 1))
    return centre, factor


def _metropolis_block(key, current, start, block: _Block, prior, shape, steps, n_proposals, weight):
    """`n_proposals` independence MH steps for one block; returns `(x, accepted fraction, mean acceptance prob)`."""
    centre, factor = _newton_centre(block, start, steps)
    log_weight, log_rest = jnp.log(weight), jnp.log1p(-weight)

    def log_proposal(x):
        gaussian = log_rest + sg.log_density(x, centre, factor)
        return jnp.logaddexp(gaussian, log_weight + prior.log_prob(x.reshape(shape)))

    def one(x, key):
        k_choice, k_gauss, k_prior, k_accept = jr.split(key, 4)
        from_prior = jr.uniform(k_choice, (), x.dtype) < weight
        proposal = jnp.where(
            from_prior, prior.sample(k_prior, shape).reshape(x.shape).astype(x.dtype), sg.sample(k_gauss, factor, centre)
        )
        log_ratio = block.log_ratio(proposal, x) + log_proposal(x) - log_proposal(proposal)
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        accepted = jnp.log(jr.uniform(k_accept, (), x.dtype)) < log_ratio
        return jnp.where(accepted, proposal, x), (accepted, jnp.exp(jnp.minimum(log_ratio, 0.0)))

    x, (accepted, probs) = jax.lax.scan(one, current, jr.split(key, n_proposals))
    return x, accepted.mean(dtype=x.dtype), probs.mean()


# ----------------------------------------------------------------------------------------
# The two blocks of the low-rank emissions
# ----------------------------------------------------------------------------------------


def _row_block(raised_biases, row_counts, row_possible, embed, ridge, prior) -> _Block:
    """The conditional of one row `b_i` (S-1,) given the (K, S) raised biases."""

    def log_probs(b):
        return _log_probs(embed @ b + raised_biases, row_possible)

    def log_target(b):
        return _weighted_sum(row_counts, log_probs(b), row_possible) + prior.log_prob(b)

    def log_ratio(new, old):
        difference = _log_prob_change(embed @ old + raised_biases, embed @ (new - old), row_possible)
        return jnp.sum(row_counts * difference) + (prior.log_prob(new) - prior.log_prob(old))

    def curvature(b):
        return _curvature(row_counts[:, None], log_probs(b)[:, None], 0, ridge)

    complement = jnp.full((embed.shape[0], 1), 1.0 / jnp.sqrt(embed.shape[0]), embed.dtype)
    return _Block(log_target, log_ratio, curvature, embed, complement)


def _bias_block(raised_base, counts, possible, ridge, prior, shape) -> _Block:
    """The conditional of the biases, flattened ((K-1)(S-1),), given the (S, S) raised base."""
    num_states, size = counts.shape[0], counts.shape[-1]

    def logits(flat):
        return raise_dim(raise_dim(flat.reshape(shape), 0), 1)

    def log_probs(flat):
        return _log_probs(raised_base[None] + logits(flat)[:, None], possible)

    def log_target(flat):
        return _weighted_sum(counts, log_probs(flat), possible) + prior.log_prob(flat.reshape(shape))

    def log_ratio(new, old):
        old_logits = raised_base[None] + logits(old)[:, None]
        difference = _log_prob_change(old_logits, logits(new - old)[:, None], possible)
        log_prior = prior.log_prob(new.reshape(shape)) - prior.log_prob(old.reshape(shape))
        return jnp.sum(counts * difference) + log_prior

    def curvature(flat):
        return _curvature(counts, log_probs(flat), 1, ridge)

    basis, complement = (jnp.asarray(m, counts.dtype) for m in _orthogonal_complement(num_states, size))
    return _Block(log_target, log_ratio, curvature, basis, complement)


def _start_logits(counts, possible):
    return jnp.where(possible, jnp.log(counts + 0.5), 0.0)


def sample_exact_emissions(
    key: PRNGKeyArray,
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    base_prior,
    bias_prior,
    possible: Bool[Array, "S S"] | None = None,
    *,
    newton_steps: int = 20,
    n_proposals: int = 4,
    prior_weight: float = 0.05,
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], ExactEmissionInfo]:
    """One exact update of `(base, biases)` given emission counts: rows of `base` | biases, then biases | base.

    Each block is an independence Metropolis–Hastings step with the proposal
    `(1 − ε) N(Newton centre, curvature⁻¹) + ε·prior` (see the module docstring): exact for
    any number of Newton steps, and with importance weights bounded by 1/ε.

    Jittable (`newton_steps`, `n_proposals` static) and `vmap`-able over problems.

    Args:
        key: PRNG key.
        base: (S, S-1) current base.
        biases: (K-1, S-1) current biases.
        counts: (K, S, S) float counts `N[k, i, j]` (zero where not `possible`).
        base_prior: prior on every entry of `base` (normalised `log_prob`, `sample`).
        bias_prior: prior on every entry of `biases`.
        possible: (S, S) bool, the transitions the tables allow (e.g. False on the
            diagonal when repeats are excluded); default all True.
        newton_steps: most damped Newton steps (each one Cholesky factor per row / state)
            that place each proposal. Rows run under `vmap`, so every row takes as many
            steps as the slowest; fewer than converged leaves the centre off the mode
            (at 10⁸–10⁹ counts, thousands of nats off: no proposal accepted).
        n_proposals: MH steps per block per call, all from the same proposal.
        prior_weight: ε, the weight of the prior in the proposal mixture (0 < ε < 1).

    Returns:
        `(base, biases, info)`: the new parameters and an `ExactEmissionInfo`.
    """
    dtype = base.dtype
    counts = counts.astype(dtype)
    num_states, size = counts.shape[0], counts.shape[-1]
    possible = jnp.ones((size, size), bool) if possible is None else jnp.asarray(possible, bool)
    counts = jnp.where(possible, counts, 0.0)
    k_rows, k_bias = jr.split(key)
    start_logits = _start_logits(counts, possible)
    embed = center_embedding(size).astype(dtype)

    # 1. every row of base given the biases
    raised_biases = raise_dim(raise_dim(biases, 0), 1)
    row_starts = lower_dim((start_logits - raised_biases[:, None]).mean(0), 1)
    base_ridge = _prior_curvature(base_prior, dtype)

    def update_row(key, current, start, row_counts, row_possible):
        block = _row_block(raised_biases, row_counts, row_possible, embed, base_ridge, base_prior)
        return _metropolis_block(key, current, start, block, base_prior, (size - 1,), newton_steps, n_proposals, prior_weight)

    base, row_accepted, row_probs = jax.vmap(update_row)(
        jr.split(k_rows, size), base, row_starts, jnp.swapaxes(counts, 0, 1), possible
    )

    # 2. the biases given the new base
    raised_base = raise_dim(base, 1)
    bias_start = lower_dim(lower_dim((start_logits - raised_base[None]).mean(1), 1), 0).ravel()
    shape = (num_states - 1, size - 1)
    block = _bias_block(raised_base, counts, possible, _prior_curvature(bias_prior, dtype), bias_prior, shape)
    flat, bias_accepted, bias_probs = _metropolis_block(
        k_bias, biases.ravel(), bias_start, block, bias_prior, shape, newton_steps, n_proposals, prior_weight
    )
    return base, flat.reshape(shape), ExactEmissionInfo(row_accepted, row_probs, bias_accepted, bias_probs)
