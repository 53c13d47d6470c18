"""Laplace-approximate conditional draw of the low-rank emission parameters (DESIGN §2).

The conditional `p(base, biases | N)` of the low-rank emissions has no closed form. smoseq
replaces it, like the reference package, by a **Laplace approximation**: find the mode
with an Optax optimizer, then draw from `N(mode, Q⁻¹)` with
`Q = −H + diagonal_boost·I`, H the Hessian of the log posterior at the mode. The draw is
therefore approximate; its knobs are the optimizer, `max_iters`, `tol` and
`diagonal_boost`. With `metropolis=True` the Laplace draw is instead an independence
Metropolis–Hastings proposal, accepted or rejected against the exact conditional
(`metropolis_laplace_draw`), and the update leaves that conditional exactly invariant.

Structure of Q. With `c = raise(biases, axis=0)` (K, S-1), the logits of row i in state k
are `E_S (base_i + c_k)`, so the Hessian couples row i of `base` only with itself and with
the biases. In the flattened `(base, biases)` order of `jax.flatten_util.ravel_pytree`, Q
has S diagonal base blocks `Q_ii` ((S-1)²), cross blocks `Q_iβ` ((S-1) × M) and one bias
block `Q_ββ` (M × M), M = (K-1)(S-1). It is factorised by blocks, `Q = L Lᵀ` with

    L = [[blockdiag(L_i), 0], [Wᵀ, L_s]],   L_i L_iᵀ = Q_ii,   W_i = L_i⁻¹ Q_iβ,
    L_s L_sᵀ = Q_ββ − Σ_i W_iᵀ W_i            (the Schur complement),

and a draw is `mode + L⁻ᵀ z` by block back-substitution. Neither the dense
(S(S-1) + M)² matrix nor the (S, S-1, M) cross blocks are formed: in raised coordinates
every cross block is a sum of diagonal-plus-rank-one matrices `n_ki (diag p_ki − p_ki p_kiᵀ)`,
which gives products with W and the Schur complement in O(K²S³) operations instead of
the O(K²S⁴) of dense blocks.

Performance note: the small Cholesky and triangular kernels run in the LAPACK that jaxlib
borrows from SciPy (OpenBLAS). With OpenBLAS's default threading, on a busy 2-core
machine each 99 × 99 call can take ~10 ms instead of ~0.05 ms: call this module inside
`smoseq._threads.single_threaded_blas()` (the fit loop does) or with
`OPENBLAS_NUM_THREADS=1`.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jax.flatten_util import ravel_pytree
from jax.scipy.linalg import solve_triangular
from jax.scipy.stats import norm
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from smoseq._embedding import center_embedding, lower_dim, raise_dim

__all__ = [
    "LaplaceFactor",
    "LaplaceInfo",
    "LaplacePrecision",
    "ModeResult",
    "cross_blocks",
    "dense_covariance",
    "emission_log_likelihood_ratio",
    "emission_log_posterior",
    "factorize_precision",
    "find_mode",
    "initial_emission_params",
    "laplace_draw",
    "laplace_log_density",
    "laplace_precision",
    "metropolis_laplace_draw",
    "sample_laplace",
    "sample_low_rank_emissions",
    "solve_precision",
    "transition_probs",
]


# ----------------------------------------------------------------------------------------
# Model pieces
# ----------------------------------------------------------------------------------------


def _raised(base, biases):
    """`B = raise(base, 1)` (S, S) and `C = raise(raise(biases, 0), 1)` (K, S)."""
    return raise_dim(base, 1), raise_dim(raise_dim(biases, 0), 1)


def _logits(raised_base, raised_biases) -> Float[Array, "K S S"]:
    """`logits[k, i, :] = B[i, :] + C[k, :]`."""
    return raised_base[None, :, :] + raised_biases[:, None, :]


def transition_probs(
    base: Float[Array, "S S-1"], biases: Float[Array, "K-1 S-1"]
) -> Float[Array, "K S S"]:
    """Syllable transition matrices `P_k[i, :] = softmax(B[i, :] + C[k, :])`.

    Args:
        base: (S, S-1) base logits in the zero-sum basis.
        biases: (K-1, S-1) per-state biases in the zero-sum basis (both axes).

    Returns:
        (K, S, S) float: `[k, i, j]` = p(x_t = j | x_{t-1} = i, z_t = k); rows sum to 1.
    """
    return jax.nn.softmax(_logits(*_raised(base, biases)), axis=-1)


def emission_log_posterior(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    sigma_base: Float[Array, ""],
    sigma_bias: Float[Array, ""],
) -> Float[Array, ""]:
    """Unnormalised log posterior of the low-rank emission parameters given counts.

    `Σ N[k,i,j] log P_k[i,j] + Σ norm.logpdf(B / σ_base) + Σ norm.logpdf(C / σ_bias)`, with
    B (S, S) and C (K, S) the raised parameters and no `−log σ` terms: the same definition
    as the reference package, so losses are comparable with it.

    Args:
        base: (S, S-1) base logits in the zero-sum basis.
        biases: (K-1, S-1) per-state biases in the zero-sum basis (both axes).
        counts: (K, S, S) transition counts `N[k, i, j]`.
        sigma_base: prior standard deviation of `base`.
        sigma_bias: prior standard deviation of `biases`.

    Returns:
        Scalar log posterior (up to a constant independent of the parameters).
    """
    raised_base, raised_biases = _raised(base, biases)
    log_probs = jax.nn.log_softmax(_logits(raised_base, raised_biases), axis=-1)
    log_likelihood = jnp.sum(counts.astype(log_probs.dtype) * log_probs)
    log_prior = jnp.sum(norm.logpdf(raised_base / sigma_base)) + jnp.sum(
        norm.logpdf(raised_biases / sigma_bias)
    )
    return log_likelihood + log_prior


def emission_log_likelihood_ratio(
    new: tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]],
    old: tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]],
    counts: Float[Array, "K S S"],
) -> Float[Array, ""]:
    """`Σ N[k,i,j] (log P_k[i,j](new) − log P_k[i,j](old))`, summed term by term.

    The same number as the difference of the two log-likelihoods, but accurate in
    float32 when the counts are large: two totals of ~10⁶ differ by less than their
    rounding error, the sum of the termwise differences does not.

    Args:
        new: `(base (S, S-1), biases (K-1, S-1))`.
        old: the same structure.
        counts: (K, S, S) transition counts `N[k, i, j]`.

    Returns:
        Scalar log-likelihood ratio.
    """
    log_new = jax.nn.log_softmax(_logits(*_raised(*new)), axis=-1)
    log_old = jax.nn.log_softmax(_logits(*_raised(*old)), axis=-1)
    return jnp.sum(counts.astype(log_new.dtype) * (log_new - log_old))


def initial_emission_params(
    counts: Float[Array, "K S S"],
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]]:
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


# ----------------------------------------------------------------------------------------
# Mode search
# ----------------------------------------------------------------------------------------


class ModeResult(NamedTuple):
    """Outcome of `find_mode`.

    Attributes:
        params: the parameters after the last step taken (same PyTree as the start).
        losses: (max_iters,) loss after each step; NaN after the last step taken.
        n_steps: number of steps taken.
        converged: whether the stopping rule fired (False: hit `max_iters` or the loss
            became non-finite, in which case that step was rejected).
    """

    params: PyTree
    losses: Float[Array, " max_iters"]
    n_steps: Int[Array, ""]
    converged: Bool[Array, ""]


class _SearchState(NamedTuple):
    step: Int[Array, ""]
    params: PyTree
    opt_state: optax.OptState
    loss: Float[Array, ""]
    grad: PyTree
    losses: Float[Array, " max_iters"]
    n_small_changes: Int[Array, ""]
    diverged: Bool[Array, ""]


def _value_and_grad_fn(loss_fn, opt_state):
    """`(params, opt_state) -> (loss, grad)`, reusing a line search's stored value if any."""
    if optax.tree.get(opt_state, "value") is None:
        value_and_grad = jax.value_and_grad(loss_fn)
        return lambda params, state: value_and_grad(params)
    from_state = optax.value_and_grad_from_state(loss_fn)
    return lambda params, state: from_state(params, state=state)


def find_mode(
    loss_fn: Callable[[PyTree], Float[Array, ""]],
    init_params: PyTree,
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    *,
    patience: int = 3,
) -> ModeResult:
    """Minimise `loss_fn` from `init_params` with an Optax optimizer in a `lax.while_loop`.

    Stopping rule: stop after the step at which the loss changed by at most
    `tol · max(|loss|, 1)` on `patience` consecutive steps (so never before `patience`
    steps), or after `max_iters` steps. A step whose loss is non-finite is rejected and
    ends the search unconverged. Each step calls `optimizer.update` with the extra
    arguments `value`, `grad` and `value_fn` (ignored by optimizers that take none), and
    reuses the value and gradient a line search (e.g. `optax.lbfgs()`) stored in its
    state, so both `optax.adam(lr)` and `optax.lbfgs()` work unchanged.

    Jittable and `jax.vmap`-able over a batch of problems (each stops on its own).

    Args:
        loss_fn: scalar loss of the parameters.
        init_params: starting point (warm start), any PyTree of float arrays.
        optimizer: an `optax.GradientTransformation`.
        max_iters: cap on the number of steps (static).
        tol: relative loss-change tolerance of the stopping rule (may be traced).
        patience: consecutive small changes required to stop (static).

    Returns:
        A `ModeResult`; `losses[t]` is the loss after step t + 1.
    """
    optimizer = optax.with_extra_args_support(optimizer)
    opt_state = optimizer.init(init_params)
    value_and_grad = _value_and_grad_fn(loss_fn, opt_state)
    loss, grad = jax.value_and_grad(loss_fn)(init_params)
    start = _SearchState(
        step=jnp.zeros((), jnp.int32),
        params=init_params,
        opt_state=opt_state,
        loss=loss,
        grad=grad,
        losses=jnp.full((max_iters,), jnp.nan, dtype=loss.dtype),
        n_small_changes=jnp.zeros((), jnp.int32),
        diverged=jnp.zeros((), bool),
    )

    def keep_going(state: _SearchState) -> Bool[Array, ""]:
        return (state.step < max_iters) & (state.n_small_changes < patience) & ~state.diverged

    def take_step(state: _SearchState) -> _SearchState:
        updates, opt_state = optimizer.update(
            state.grad, state.opt_state, state.params,
            value=state.loss, grad=state.grad, value_fn=loss_fn,
        )  # fmt: skip
        params = optax.apply_updates(state.params, updates)
        loss, grad = value_and_grad(params, opt_state)
        small = jnp.abs(loss - state.loss) <= tol * jnp.maximum(jnp.abs(loss), 1.0)
        accepted = _SearchState(
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            loss=loss,
            grad=grad,
            losses=state.losses.at[state.step].set(loss),
            n_small_changes=jnp.where(small, state.n_small_changes + 1, 0),
            diverged=state.diverged,
        )
        rejected = state._replace(diverged=jnp.ones((), bool))
        finite = jnp.isfinite(loss)
        return jax.tree.map(lambda a, r: jnp.where(finite, a, r), accepted, rejected)

    final = jax.lax.while_loop(keep_going, take_step, start)
    return ModeResult(
        params=final.params,
        losses=final.losses,
        n_steps=final.step,
        converged=final.n_small_changes >= patience,
    )


# ----------------------------------------------------------------------------------------
# Structured precision
# ----------------------------------------------------------------------------------------


class LaplacePrecision(NamedTuple):
    """`Q = −H + diagonal_boost·I` in the flattened `(base, biases)` order, by blocks.

    The diagonal blocks are stored densely; the cross blocks `Q_iβ` are not: in the raised
    coordinates each is a sum of `H_ki = diag(u_ki) − u_ki p_kiᵀ` (u = n·p), so the row
    weights u and probabilities p define them (`cross_blocks` materialises them for small S).

    Attributes:
        base_blocks: (S, S-1, S-1) `Q_ii`, one per row of `base`.
        bias_block: (M, M) `Q_ββ`, M = (K-1)(S-1), rows in row-major order of `biases`.
        row_weights: (K, S, S) `u[k, i] = n_ki p_ki`.
        probs: (K, S, S) `p[k, i] = P_k[i, :]`.
    """

    base_blocks: Float[Array, "S S-1 S-1"]
    bias_block: Float[Array, "M M"]
    row_weights: Float[Array, "K S S"]
    probs: Float[Array, "K S S"]


def _projected_diagonal_parts(weights: Float[Array, "*batch S"]):
    """Pieces of `E_Sᵀ diag(w) E_S`, which costs O(S²) per matrix given the layout of E_S.

    Column a of `E_S` (j = a + 1) is `scale_j·(e_j − (1/j) Σ_{s<j} e_s)`. With
    `below_j = Σ_{s<j} w_s`, entry (a, b) for a < b is `left[a]·right[b]` with
    `left = scale·(below/j − w_j)`, `right = scale/j`, and the diagonal is
    `scale²·(below/j² + w_j)`.

    Returns:
        `(left (*batch, S-1), right (S-1,), diagonal (*batch, S-1))`.
    """
    size = weights.shape[-1]
    j = jnp.arange(1, size, dtype=weights.dtype)
    scale = 1.0 / jnp.sqrt(1.0 + 1.0 / j)
    batch_shape = (1,) * (weights.ndim - 1) + (size - 1,)  # explicit, for rank promotion
    j_batched, scale_batched = j.reshape(batch_shape), scale.reshape(batch_shape)
    below = jnp.cumsum(weights, axis=-1)[..., :-1]
    at = weights[..., 1:]
    left = scale_batched * (below / j_batched - at)
    diagonal = scale_batched**2 * (below / j_batched**2 + at)
    return left, scale / j, diagonal


def _project_diagonal(weights: Float[Array, "*batch S"]) -> Float[Array, "*batch S-1 S-1"]:
    """`E_Sᵀ diag(w) E_S` for each vector w along the last axis."""
    left, right, diagonal = _projected_diagonal_parts(weights)
    upper = jnp.einsum("...a,b->...ab", left, right)
    strict = jnp.triu(upper, 1) + jnp.tril(jnp.swapaxes(upper, -1, -2), -1)
    identity = jnp.eye(right.shape[0], dtype=right.dtype)
    return strict + jnp.einsum("...a,ab->...ab", diagonal, identity)


def _add_to_diagonal(blocks, value):
    """`blocks + value·I` for a (stack of) square matrices."""
    identity = jnp.eye(blocks.shape[-1], dtype=blocks.dtype)
    return blocks + jnp.broadcast_to(value * identity, blocks.shape)


def _embeddings(row_weights):
    """`(E_K (K, K-1), E_S (S, S-1))` for (K, S, S) row weights, in their dtype."""
    num_states, size = row_weights.shape[0], row_weights.shape[-1]
    dtype = row_weights.dtype
    return center_embedding(num_states).astype(dtype), center_embedding(size).astype(dtype)


def laplace_precision(
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    counts: Float[Array, "K S S"],
    sigma_base: Float[Array, ""],
    sigma_bias: Float[Array, ""],
    diagonal_boost: float = 1e-2,
) -> LaplacePrecision:
    """The blocks of `Q = −∇² log_post + diagonal_boost·I`, computed analytically.

    Row i in state k contributes `H_ki = n_ki E_Sᵀ (diag p_ki − p_ki p_kiᵀ) E_S`
    (`n_ki = Σ_j N[k,i,j]`) to `Q_ii`, `F[k,m]·H_ki` to the (i, m) cross block and
    `F[k,m] F[k,m']·H_ki` to the (m, m') bias block, F = `E_K`; the priors add
    `I/σ²` (the embeddings are orthonormal).

    Args:
        base, biases: the point at which to evaluate Q (normally the mode).
        counts: (K, S, S) transition counts.
        sigma_base, sigma_bias: prior standard deviations.
        diagonal_boost: added to the diagonal (the reference's 10⁻²).

    Returns:
        A `LaplacePrecision`.
    """
    probs = transition_probs(base, biases)
    row_counts = counts.astype(base.dtype).sum(axis=-1)
    weighted = row_counts[..., None] * probs  # u = n_ki p_ki
    embed_states, embed_syllables = _embeddings(weighted)
    projected = probs @ embed_syllables  # E_Sᵀ p_ki
    weighted_projected = row_counts[..., None] * projected

    base_blocks = _project_diagonal(weighted.sum(axis=0)) - jnp.einsum(
        "kia,kib->iab", weighted_projected, projected
    )
    base_blocks = _add_to_diagonal(base_blocks, 1.0 / sigma_base**2 + diagonal_boost)
    per_state = _project_diagonal(weighted.sum(axis=1)) - jnp.einsum(
        "kia,kib->kab", weighted_projected, projected
    )
    bias_block = jnp.einsum("km,kn,kab->manb", embed_states, embed_states, per_state)
    bias_dim = (counts.shape[0] - 1) * (counts.shape[-1] - 1)
    bias_block = _add_to_diagonal(
        bias_block.reshape(bias_dim, bias_dim), 1.0 / sigma_bias**2 + diagonal_boost
    )
    return LaplacePrecision(base_blocks, bias_block, weighted, probs)


def _cross_times_bias(row_weights, probs, bias_part: Float[Array, " M"]) -> Float[Array, "S S-1"]:
    """`Q_iβ x` for every base row i, without forming the cross blocks.

    Raise x to the (K, S) bias logits c, apply `H_ki c_k = u_ki ∘ c_k − u_ki (p_ki·c_k)`,
    sum over k and lower the result back to (S-1) per row.
    """
    embed_states, embed_syllables = _embeddings(row_weights)
    num_states = row_weights.shape[0]
    raised = embed_states @ bias_part.reshape(num_states - 1, -1) @ embed_syllables.T  # (K, S)
    along_probs = jnp.einsum("kia,ka->ki", probs, raised)
    applied = jnp.einsum("kia,ka->ia", row_weights, raised) - jnp.einsum(
        "kia,ki->ia", row_weights, along_probs
    )
    return applied @ embed_syllables


def _cross_transposed_times_base(row_weights, probs, base_part: Float[Array, "S S-1"]) -> Float[Array, " M"]:
    """`Σ_i Q_βi y_i` for a base-shaped y, without forming the cross blocks."""
    embed_states, embed_syllables = _embeddings(row_weights)
    raised = base_part @ embed_syllables.T  # (S, S)
    along_probs = jnp.einsum("kia,ia->ki", probs, raised)
    applied = jnp.einsum("kia,ia->ka", row_weights, raised) - jnp.einsum(
        "kia,ki->ka", row_weights, along_probs
    )
    return (embed_states.T @ applied @ embed_syllables).ravel()


def cross_blocks(precision: LaplacePrecision) -> Float[Array, "S S-1 M"]:
    """The dense cross blocks `Q_iβ` (S, S-1, M). For tests and small S only."""
    size = precision.row_weights.shape[-1]
    bias_dim = precision.bias_block.shape[0]
    identity = jnp.eye(bias_dim, dtype=precision.bias_block.dtype)
    columns = jax.vmap(
        lambda unit: _cross_times_bias(precision.row_weights, precision.probs, unit)
    )(identity)  # (M, S, S-1)
    return jnp.moveaxis(columns, 0, -1).reshape(size, size - 1, bias_dim)


# ----------------------------------------------------------------------------------------
# Block factorisation and what it gives
# ----------------------------------------------------------------------------------------


class LaplaceFactor(NamedTuple):
    """Block Cholesky factor `L` of Q, `Q = L Lᵀ` (see the module docstring).

    `W_i = L_i⁻¹ Q_iβ` is applied from the precision's row weights and probabilities
    rather than stored.

    Attributes:
        base_cholesky: (S, S-1, S-1) lower-triangular `L_i`.
        base_cholesky_inverse: (S, S-1, S-1) `L_i⁻¹`.
        schur_cholesky: (M, M) lower-triangular `L_s`.
        row_weights: (K, S, S) as in `LaplacePrecision`.
        probs: (K, S, S) as in `LaplacePrecision`.
    """

    base_cholesky: Float[Array, "S S-1 S-1"]
    base_cholesky_inverse: Float[Array, "S S-1 S-1"]
    schur_cholesky: Float[Array, "M M"]
    row_weights: Float[Array, "K S S"]
    probs: Float[Array, "K S S"]


def _solve_lower(lower, rhs):
    """`lower⁻¹ rhs` for a stack of lower-triangular matrices and matrix right-hand sides."""
    solve = lambda a, b: jax.lax.linalg.triangular_solve(a, b, left_side=True, lower=True)
    return jax.vmap(solve)(lower, rhs)


def _weighted_inverse_term(row_weights, raised_inverse) -> Float[Array, "K S K S"]:
    """`t[k,a,l,b] = Σ_i u_kia A_iab u_lib`, one (K, S) @ (S, K·S) matmul per a.

    A loop over a (`lax.map`) keeps each right-hand side (S, K·S) small; materialising
    all of them at once, as a plain einsum does, is memory-bound and ~3x slower on CPU.
    """
    num_states, size = row_weights.shape[0], row_weights.shape[1]
    by_row = jnp.transpose(row_weights, (1, 0, 2))  # (i, l, b)

    def for_column(args):
        inverse_column, weights_column = args  # (i, b), (k, i)
        right = (inverse_column[:, None, :] * by_row).reshape(size, num_states * size)
        return weights_column @ right

    columns = (jnp.transpose(raised_inverse, (1, 0, 2)), jnp.transpose(row_weights, (2, 0, 1)))
    out = jax.lax.map(for_column, columns)  # (a, k, l·b)
    return jnp.transpose(out.reshape(size, num_states, num_states, size), (1, 0, 2, 3))


def _schur_correction(row_weights, probs, base_cholesky_inverse) -> Float[Array, "M M"]:
    """`Σ_i Q_βi Q_ii⁻¹ Q_iβ` from the structure of the cross blocks.

    In raised coordinates `Q_βi Q_ii⁻¹ Q_iβ` has (k, l) block `H_ki A_i H_li` with
    `A_i = E_S Q_ii⁻¹ E_Sᵀ` and `H_ki = diag(u_ki) − u_ki p_kiᵀ`, so entry (k,a; l,b) of
    the sum over i is `Σ_i u_kia u_lib (A_iab − q_lia − q_kib + g_ikl)` with `q = A p`
    and `g_ikl = p_kiᵀ A_i p_li`. That costs O(K²S³) instead of the O(K²S⁴) of stacking
    dense cross blocks; the result is then lowered to the (M, M) embedded coordinates.
    """
    embed_states, embed_syllables = _embeddings(row_weights)
    whitened = base_cholesky_inverse @ embed_syllables.T  # (S, S-1, S): L_i⁻¹ E_Sᵀ
    raised_inverse = jnp.einsum("ica,icb->iab", whitened, whitened)  # A_i (S, S, S)
    applied = jnp.einsum("iab,kib->kia", raised_inverse, probs)  # q
    along = jnp.einsum("kia,lia->ikl", probs, applied)  # g
    correction = _weighted_inverse_term(row_weights, raised_inverse)
    cross_term = jnp.einsum("kia,lia,lib->kalb", row_weights, applied, row_weights)
    correction = correction - cross_term - jnp.transpose(cross_term, (2, 3, 0, 1))
    along_weights = jnp.einsum("ikl,lib->iklb", along, row_weights)
    correction = correction + jnp.einsum("kia,iklb->kalb", row_weights, along_weights)
    lowered = jnp.einsum("kalb,ac,bd->kcld", correction, embed_syllables, embed_syllables)
    lowered = jnp.einsum("kcld,km,ln->mcnd", lowered, embed_states, embed_states)
    bias_dim = lowered.shape[0] * lowered.shape[1]
    return lowered.reshape(bias_dim, bias_dim)


def factorize_precision(precision: LaplacePrecision) -> LaplaceFactor:
    """Block Cholesky factorisation of a structured precision.

    The Schur complement `Q_ββ − Σ_i Q_βi Q_ii⁻¹ Q_iβ` is built from the structure of
    the cross blocks (`_schur_correction`), never from dense cross blocks. A block that
    is not numerically positive definite gives NaNs (`LaplaceInfo.factor_ok`).

    Args:
        precision: the blocks of Q.

    Returns:
        A `LaplaceFactor`.
    """
    base_cholesky = jnp.linalg.cholesky(precision.base_blocks)
    identity = jnp.broadcast_to(
        jnp.eye(base_cholesky.shape[-1], dtype=base_cholesky.dtype), base_cholesky.shape
    )
    # One batched solve for L_i⁻¹, then matmuls everywhere: much faster on CPU than
    # triangular solves with many right-hand sides, and no concurrent LAPACK calls later.
    inverse = _solve_lower(base_cholesky, identity)
    schur = precision.bias_block - _schur_correction(precision.row_weights, precision.probs, inverse)
    return LaplaceFactor(
        base_cholesky, inverse, jnp.linalg.cholesky(schur), precision.row_weights, precision.probs
    )


def _split(flat, size):
    """Flat `(base, biases)` vector -> base part (S, S-1) and bias part (M,)."""
    return flat[: size * (size - 1)].reshape(size, size - 1), flat[size * (size - 1) :]


def _join(base_part, bias_part):
    return jnp.concatenate([base_part.ravel(), bias_part])


def _times_inverse(factor: LaplaceFactor, base_part):
    """`L_i⁻¹ y_i` for every row i."""
    return jnp.einsum("iab,ib->ia", factor.base_cholesky_inverse, base_part)


def _times_inverse_transposed(factor: LaplaceFactor, base_part):
    """`L_i⁻ᵀ y_i` for every row i."""
    return jnp.einsum("iba,ib->ia", factor.base_cholesky_inverse, base_part)


def _solve_forward(factor: LaplaceFactor, rhs_base, rhs_bias):
    """Solve `L u = g` for u, with g split into base (S, S-1) and bias (M,) parts.

    `u_β = L_s⁻¹ (g_β − Σ_i W_iᵀ u_i)` with `W_iᵀ u_i = Q_βi L_i⁻ᵀ L_i⁻¹ g_i`.
    """
    base_part = _times_inverse(factor, rhs_base)
    through = _cross_transposed_times_base(
        factor.row_weights, factor.probs, _times_inverse_transposed(factor, base_part)
    )
    return base_part, solve_triangular(factor.schur_cholesky, rhs_bias - through, lower=True)


def _solve_transposed(factor: LaplaceFactor, rhs_base, rhs_bias):
    """Solve `Lᵀ x = z` for x, with z split into base (S, S-1) and bias (M,) parts."""
    bias_part = solve_triangular(factor.schur_cholesky, rhs_bias, lower=True, trans="T")
    cross = _times_inverse(factor, _cross_times_bias(factor.row_weights, factor.probs, bias_part))
    return _times_inverse_transposed(factor, rhs_base - cross), bias_part


def _multiply_transposed(factor: LaplaceFactor, base_part, bias_part):
    """`Lᵀ x`, with x split into base (S, S-1) and bias (M,) parts."""
    base_out = jnp.einsum("iba,ib->ia", factor.base_cholesky, base_part)
    cross = _times_inverse(factor, _cross_times_bias(factor.row_weights, factor.probs, bias_part))
    return base_out + cross, factor.schur_cholesky.T @ bias_part


def solve_precision(factor: LaplaceFactor, rhs: PyTree) -> PyTree:
    """`Q⁻¹ g` by block forward and back substitution.

    Args:
        factor: block factor of Q.
        rhs: g, a `(base (S, S-1), biases (K-1, S-1))` PyTree.

    Returns:
        `Q⁻¹ g` with the structure of `rhs`.
    """
    flat, unravel = ravel_pytree(rhs)
    size = factor.base_cholesky.shape[0]
    forward = _solve_forward(factor, *_split(flat, size))
    return unravel(_join(*_solve_transposed(factor, *forward)))


def sample_laplace(key: PRNGKeyArray, mode: PyTree, factor: LaplaceFactor) -> PyTree:
    """Draw `mode + L⁻ᵀ z`, i.e. from `N(mode, Q⁻¹)`.

    `z = jr.normal(key, (D,))` in the flattened order of `mode`, so a test can reproduce
    the draw from a dense factor.

    Args:
        key: PRNG key.
        mode: `(base (S, S-1), biases (K-1, S-1))`.
        factor: block factor of Q.

    Returns:
        A draw with the structure of `mode`.
    """
    flat_mode, unravel = ravel_pytree(mode)
    noise = jr.normal(key, flat_mode.shape, flat_mode.dtype)
    # The barrier makes the noise solve wait for `mode` (e.g. a Newton step's own
    # triangular solves): two LAPACK trsm calls running at once can deadlock jaxlib
    # 0.10's 2-thread CPU pool (observed on a 2-core machine, stack in the issue note).
    flat_mode, noise = jax.lax.optimization_barrier((flat_mode, noise))
    size = factor.base_cholesky.shape[0]
    return unravel(flat_mode + _join(*_solve_transposed(factor, *_split(noise, size))))


def laplace_log_density(x: PyTree, mode: PyTree, factor: LaplaceFactor) -> Float[Array, ""]:
    """Normalised log density of `N(mode, Q⁻¹)` at x (e.g. for a Metropolis correction).

    Args:
        x: a `(base, biases)` PyTree.
        mode: the mean, same structure.
        factor: block factor of Q.

    Returns:
        Scalar `log N(x; mode, Q⁻¹)`.
    """
    offset = ravel_pytree(x)[0] - ravel_pytree(mode)[0]
    size = factor.base_cholesky.shape[0]
    whitened_base, whitened_bias = _multiply_transposed(factor, *_split(offset, size))
    squared_norm = jnp.sum(whitened_base**2) + jnp.sum(whitened_bias**2)
    log_det_cholesky = jnp.sum(
        jnp.log(jnp.diagonal(factor.base_cholesky, axis1=-2, axis2=-1))
    ) + jnp.sum(jnp.log(jnp.diagonal(factor.schur_cholesky)))
    log_two_pi = jnp.log(2 * jnp.pi).astype(offset.dtype)
    return -0.5 * squared_norm + log_det_cholesky - 0.5 * offset.shape[0] * log_two_pi


def dense_covariance(factor: LaplaceFactor) -> Float[Array, "D D"]:
    """The dense covariance `Q⁻¹ = L⁻ᵀ L⁻¹` rebuilt from the block factor.

    For tests and small S only: it materialises a D × D matrix, D = S(S-1) + M.

    Args:
        factor: a `LaplaceFactor` (`factorize_precision`).

    Returns:
        (D, D) float covariance, coordinates ordered as `base.ravel()` (S(S-1)) then the
        M = (K-1)(S-1) bias coordinates.
    """
    size = factor.base_cholesky.shape[0]
    bias_dim = factor.schur_cholesky.shape[0]
    identity = jnp.eye(size * (size - 1) + bias_dim, dtype=factor.schur_cholesky.dtype)

    def column(unit):
        return _join(*_solve_transposed(factor, *_split(unit, size)))

    inverse_transposed = jax.vmap(column, out_axes=1)(identity)  # L⁻ᵀ
    return inverse_transposed @ inverse_transposed.T


# ----------------------------------------------------------------------------------------
# The Gibbs update
# ----------------------------------------------------------------------------------------


class LaplaceInfo(NamedTuple):
    """What `sample_low_rank_emissions` reports besides the draw.

    Attributes:
        mode: `(base, biases)`, the centre of the Laplace approximation (the optimizer's
            result, Newton-corrected if enabled); the natural warm start next time.
        mode_loss: `−emission_log_posterior` at `mode`.
        losses: (max_iters,) optimizer loss per step, NaN after the last step taken.
        n_steps: optimizer steps taken.
        converged: whether the optimizer's stopping rule fired.
        factor_ok: whether the block Cholesky factor is finite (Q numerically positive
            definite); if False the draw contains NaNs (and a Metropolis–Hastings update
            rejects it).
        accepted: bool, whether the returned parameters are the Laplace draw (always True
            for the plain draw; the Metropolis–Hastings decision with `metropolis=True`).
        acceptance_prob: the Metropolis–Hastings acceptance probability
            `min(1, p(x')q(x) / (p(x)q(x')))` of the draw x' (1 for the plain draw).
    """

    mode: tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]]
    mode_loss: Float[Array, ""]
    losses: Float[Array, " max_iters"]
    n_steps: Int[Array, ""]
    converged: Bool[Array, ""]
    factor_ok: Bool[Array, ""]
    accepted: Bool[Array, ""]
    acceptance_prob: Float[Array, ""]


_NEWTON_STEP_SIZES = tuple(0.5**halvings for halvings in range(8))


def _newton_corrected(loss_fn, params, loss, factor: LaplaceFactor):
    """Move `params` along the Newton direction `Q⁻¹ ∇log_post`, damped if need be.

    Tries step sizes 1, 1/2, …, 1/128 (in one batch) and keeps the lowest loss, or
    `params` itself if no step lowers the loss.
    """
    direction = solve_precision(factor, jax.grad(loss_fn)(params))
    step_sizes = jnp.asarray(_NEWTON_STEP_SIZES, dtype=loss.dtype)

    def moved(step_size):
        return jax.tree.map(lambda p, d: p - step_size * d, params, direction)

    candidate_losses = jax.vmap(lambda t: loss_fn(moved(t)))(step_sizes)
    candidate_losses = jnp.where(jnp.isnan(candidate_losses), jnp.inf, candidate_losses)
    best = jnp.argmin(candidate_losses)
    better = candidate_losses[best] < loss
    step_size = jnp.where(better, step_sizes[best], jnp.zeros((), loss.dtype))
    return moved(step_size), jnp.where(better, candidate_losses[best], loss)


def sample_low_rank_emissions(
    key: PRNGKeyArray,
    counts: Float[Array, "K S S"],
    base: Float[Array, "S S-1"],
    biases: Float[Array, "K-1 S-1"],
    sigma_base: Float[Array, ""],
    sigma_bias: Float[Array, ""],
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    diagonal_boost: float = 1e-2,
    newton_step: bool = True,
    metropolis: bool = False,
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], LaplaceInfo]:
    """Laplace-approximate draw of `(base, biases)` given emission counts, or an exact MH update.

    By default this is a Laplace approximation, not an exact conditional draw. It finds the mode of
    `emission_log_posterior` with `optimizer` (warm-started at `(base, biases)`, at most
    `max_iters` steps, `find_mode`'s relative loss-change rule with `tol`), builds
    `Q = −H + diagonal_boost·I` there (H the Hessian, by blocks), and draws from
    `N(mode, Q⁻¹)`. With `newton_step` the centre is first moved by one Newton step
    `Q⁻¹ ∇log_post` (damped by halving if the full step does not lower the loss; not
    taken if no step does), which reuses the factorisation and makes the centre far
    more accurate than the optimizer's stopping point at little cost. An unconverged
    search still yields a draw: check `info.converged`.

    With `metropolis=True`, `(base, biases)` are the chain's current parameters, the mode
    search starts from `initial_emission_params(counts)` instead (a function of the
    counts alone), and the Laplace draw is an independence Metropolis–Hastings proposal
    for the exact conditional `p(base, biases | counts)` (`metropolis_laplace_draw`): the
    update then leaves that conditional exactly invariant.

    Jittable (`optimizer`, `max_iters`, `newton_step`, `metropolis` static) and `jax.vmap`-able
    over a batch of models; `sigma_base`, `sigma_bias` and `tol` may be traced.

    Args:
        key: PRNG key for the draw (and, with `metropolis`, the accept/reject decision).
        counts: (K, S, S) transition counts `N[k, i, j]`.
        base: (S, S-1) warm start (the previous mode (`info.mode`), previous parameters,
            or `initial_emission_params(counts)[0]`); with `metropolis`, the current parameters.
        biases: (K-1, S-1) warm start, or the current parameters with `metropolis`.
        sigma_base: prior standard deviation of `base`.
        sigma_bias: prior standard deviation of `biases`.
        optimizer: Optax optimizer for the mode search, e.g. `optax.lbfgs()`.
        max_iters: cap on optimizer steps.
        tol: relative loss-change tolerance of the stopping rule.
        diagonal_boost: added to the diagonal of the negative Hessian.
        newton_step: whether to Newton-correct the centre before drawing.
        metropolis: whether to correct the draw by an independence Metropolis–Hastings step.

    Returns:
        `(base, biases, info)`: the draw (or, when rejected, the current parameters) and a `LaplaceInfo`.
    """
    counts = counts.astype(base.dtype)

    def loss_fn(params):
        return -emission_log_posterior(*params, counts, sigma_base, sigma_bias)

    def factor_at(params):
        return factorize_precision(laplace_precision(*params, counts, sigma_base, sigma_bias, diagonal_boost))

    if not metropolis:
        return laplace_draw(key, loss_fn, factor_at, (base, biases), optimizer, max_iters, tol, newton_step)

    def log_target_ratio(new, old):
        log_prior_ratio = emission_log_posterior(*new, jnp.zeros_like(counts), sigma_base, sigma_bias) - (
            emission_log_posterior(*old, jnp.zeros_like(counts), sigma_base, sigma_bias)
        )
        return emission_log_likelihood_ratio(new, old, counts) + log_prior_ratio

    start = initial_emission_params(counts)
    return metropolis_laplace_draw(
        key, loss_fn, factor_at, (base, biases), start, optimizer, max_iters, tol, newton_step, log_target_ratio
    )


class _Proposal(NamedTuple):
    search: ModeResult
    centre: PyTree
    centre_loss: Float[Array, ""]
    factor: LaplaceFactor


def _laplace_proposal(loss_fn, factor_at, start, optimizer, max_iters, tol, newton_step) -> _Proposal:
    """Mode search from `start`, block factor at the mode, optional damped Newton step: `N(centre, Q⁻¹)`."""
    search = find_mode(loss_fn, start, optimizer, max_iters, tol)
    centre = search.params
    factor = factor_at(centre)
    centre_loss = loss_fn(centre)
    if newton_step:
        centre, centre_loss = _newton_corrected(loss_fn, centre, centre_loss, factor)
    return _Proposal(search, centre, centre_loss, factor)


def _laplace_info(proposal: _Proposal, accepted, acceptance_prob) -> LaplaceInfo:
    factor = proposal.factor
    factor_ok = jnp.all(jnp.isfinite(factor.schur_cholesky)) & jnp.all(jnp.isfinite(factor.base_cholesky))
    search = proposal.search
    return LaplaceInfo(
        proposal.centre, proposal.centre_loss, search.losses, search.n_steps, search.converged, factor_ok,
        jnp.asarray(accepted, bool), jnp.asarray(acceptance_prob, proposal.centre_loss.dtype),
    )  # fmt: skip


def laplace_draw(
    key: PRNGKeyArray,
    loss_fn: Callable[[PyTree], Float[Array, ""]],
    factor_at: Callable[[PyTree], LaplaceFactor],
    start: PyTree,
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    newton_step: bool = True,
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], LaplaceInfo]:
    """Mode search, block factor at the mode, optional damped Newton step, draw.

    The steps of `sample_low_rank_emissions`, for any negative log posterior `loss_fn`
    of `(base, biases)` and any `factor_at(params)` giving the block factor of its
    precision there (e.g. `laplace_priors` for non-normal priors).

    Args:
        key: PRNG key for the draw.
        loss_fn: negative log posterior of `(base (S, S-1), biases (K-1, S-1))`.
        factor_at: `params -> LaplaceFactor` of the precision at `params`.
        start: `(base, biases)` warm start of the mode search.
        optimizer, max_iters, tol: the mode search (see `find_mode`).
        newton_step: whether to Newton-correct the centre before drawing.

    Returns:
        `(base, biases, info)`: the draw and a `LaplaceInfo` (`accepted` True, `acceptance_prob` 1).
    """
    proposal = _laplace_proposal(loss_fn, factor_at, start, optimizer, max_iters, tol, newton_step)
    draw_base, draw_biases = sample_laplace(key, proposal.centre, proposal.factor)
    return draw_base, draw_biases, _laplace_info(proposal, True, 1.0)


def metropolis_laplace_draw(
    key: PRNGKeyArray,
    loss_fn: Callable[[PyTree], Float[Array, ""]],
    factor_at: Callable[[PyTree], LaplaceFactor],
    current: PyTree,
    start: PyTree,
    optimizer: optax.GradientTransformation,
    max_iters: int,
    tol: float,
    newton_step: bool = True,
    log_target_ratio: Callable[[PyTree, PyTree], Float[Array, ""]] | None = None,
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], LaplaceInfo]:
    """An independence Metropolis–Hastings update of `current` with the Laplace draw as proposal.

    The proposal `q = N(centre, Q⁻¹)` is `laplace_draw`'s, built from `start`; a draw x'
    replaces the current x with probability `min(1, p(x') q(x) / (p(x) q(x')))`, p the
    unnormalised target `exp(−loss_fn)` and q the normalised Gaussian density
    (`laplace_log_density`: the quadratic form and the log-determinant of the block factor).

    What it guarantees: if `start` (like `loss_fn` and `factor_at`) depends only on what
    the target is conditioned on — not on `current` — then q is one fixed distribution
    for this target, whatever the optimizer does (converged or not, any `max_iters`,
    `tol` or Newton step), and the update leaves p exactly invariant (detailed balance of
    independence Metropolis–Hastings). It is then a valid Gibbs block: the chain targets
    the exact posterior, up to floating-point rounding. A proposal whose factor is not
    finite is rejected. How often draws are accepted depends on how close q is to p, never
    on whether the chain is correct. A warm start from `current` would make q depend on x,
    and this ratio would no longer be the Metropolis–Hastings ratio of the move.

    Args:
        key: PRNG key (split into the draw's and the decision's).
        loss_fn: negative unnormalised log target `−log p` of `(base (S, S-1), biases (K-1, S-1))`.
        factor_at: `params -> LaplaceFactor` of the proposal's precision at `params`.
        current: `(base, biases)`, the chain's current parameters.
        start: `(base, biases)` where the mode search starts; a function of the data only.
        optimizer, max_iters, tol: the mode search (see `find_mode`).
        newton_step: whether to Newton-correct the proposal's centre.
        log_target_ratio: `(new, old) -> log p(new) − log p(old)` (default
            `loss_fn(old) − loss_fn(new)`; give one that sums term by term when the losses
            are too large for the dtype to resolve their difference).

    Returns:
        `(base, biases, info)`: the draw if accepted, else `current`; `info.accepted` and
        `info.acceptance_prob` say which and how likely.
    """
    if log_target_ratio is None:

        def log_target_ratio(new, old):
            return loss_fn(old) - loss_fn(new)

    k_draw, k_accept = jr.split(key)
    proposal = _laplace_proposal(loss_fn, factor_at, start, optimizer, max_iters, tol, newton_step)
    draw = sample_laplace(k_draw, proposal.centre, proposal.factor)
    log_ratio = log_target_ratio(draw, current) + (
        laplace_log_density(current, proposal.centre, proposal.factor)
        - laplace_log_density(draw, proposal.centre, proposal.factor)
    )
    log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    accepted = jnp.log(jr.uniform(k_accept, (), log_ratio.dtype)) < log_ratio
    new_base, new_biases = jax.tree.map(lambda d, c: jnp.where(accepted, d, c), tuple(draw), tuple(current))
    return new_base, new_biases, _laplace_info(proposal, accepted, jnp.exp(jnp.minimum(log_ratio, 0.0)))
