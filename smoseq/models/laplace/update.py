"""The Laplace update of the low-rank emissions, as a kernel object (`LaplaceUpdate`).

The conditional `p(base, biases | N)` of the low-rank emissions has no closed form. The
update replaces it, like the reference package, by a **Laplace approximation**: find the
mode of the log posterior with an Optax optimizer (`ModeSearch`), then draw from
`N(mode, Q⁻¹)`, `Q = −H + prior curvature + diagonal_boost·I`. The draw is therefore
approximate; its knobs are the optimizer, `max_iters`, `tol`, `diagonal_boost` and the
Newton step. With `ModeSearch(..., metropolis=True)` the Laplace draw, mixed with 5% of
the prior (bounded importance weights), is instead an independence Metropolis–Hastings
proposal, accepted or rejected against the exact conditional, and the update leaves that
conditional exactly invariant. (`sm.fit` uses the blocked exact update by default,
`smoseq.models.ExactBlockedUpdate`, which accepts far more often; this update runs with
`exact_emissions=False` or a `mode_search`.)

One code path serves every prior: the log posterior uses the priors' `log_prob`, and the
precision their elementwise `curvature` (`Normal(σ)`: 1/σ²), clipped at 0 where a prior
is not log-concave (Student-t beyond |x| = √ν·scale) so that Q stays positive definite.
"""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..metropolis import MetropolisInfo
from ..priors import Normal, elementwise_curvature
from ..updates import AbstractUpdate
from .factor import factorize_precision
from .mode import ModeSearch
from .posterior import emission_log_likelihood, emission_log_likelihood_ratio, initial_emission_params
from .precision import laplace_precision
from .proposal import LaplaceInfo, laplace_draw, laplace_proposal, metropolis_laplace_draw

__all__ = ["LaplaceUpdate", "low_rank_laplace_step", "sample_low_rank_emissions"]

Params = tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"]]


def low_rank_laplace_step(
    key: PRNGKeyArray,
    counts: Float[Array, "K S S"],
    current: Params,
    base_prior,
    bias_prior,
    mode_search: ModeSearch,
    diagonal_boost: float = 1e-2,
    newton_step: bool = True,
    possible: Bool[Array, "S S"] | None = None,
) -> tuple[Params, LaplaceInfo | MetropolisInfo]:
    """Laplace-approximate draw of `(base, biases)` given counts, or its exact Metropolis–Hastings correction.

    The loss is `−(Σ N log P + base_prior.log_prob(base) + bias_prior.log_prob(biases))`
    (P over the `possible` transitions). Plain (`mode_search.metropolis` False): the mode
    search starts at `current` (a warm start) and the draw is from `N(centre, Q⁻¹)`.
    Metropolis: the search starts from `initial_emission_params(counts)`, a function of
    the counts alone, and the draw is accepted or rejected against the exact conditional.

    Jittable (`mode_search`, `diagonal_boost`, `newton_step` static) and vmappable over a
    batch of models (priors' leaves may be batched).

    Args:
        key: PRNG key.
        counts: (K, S, S) transition counts.
        current: `(base (S, S-1), biases (K-1, S-1))`, the current parameters.
        base_prior, bias_prior: elementwise priors with `log_prob` (and `curvature`, else
            it is found by automatic differentiation).
        mode_search: the optimizer, its stopping rule, and `metropolis`.
        diagonal_boost: added to the diagonal of Q.
        newton_step: whether to Newton-correct the centre before drawing.
        possible: (S, S) bool, which transitions the tables cover (None: all).

    Returns:
        `(params, info)`: a `LaplaceInfo` for the plain draw, a `MetropolisInfo` (its
        `proposal` the `LaplaceInfo`) for the corrected one.
    """
    counts = counts.astype(current[0].dtype)

    def log_prior(params):
        return base_prior.log_prob(params[0]) + bias_prior.log_prob(params[1])

    def loss_fn(params):
        return -(emission_log_likelihood(*params, counts, possible) + log_prior(params))

    def factor_at(params):
        base_curvature = jnp.maximum(elementwise_curvature(base_prior, params[0]), 0.0)
        bias_curvature = jnp.maximum(elementwise_curvature(bias_prior, params[1]), 0.0)
        precision = laplace_precision(*params, counts, base_curvature, bias_curvature, diagonal_boost, possible)
        return factorize_precision(precision)

    if not mode_search.metropolis:
        return laplace_draw(key, laplace_proposal(loss_fn, factor_at, tuple(current), mode_search, newton_step))

    def log_target_ratio(new, old):
        return emission_log_likelihood_ratio(new, old, counts, possible) + (log_prior(new) - log_prior(old))

    proposal = laplace_proposal(loss_fn, factor_at, initial_emission_params(counts), mode_search, newton_step)
    def sample_prior(k):
        k_base, k_bias = jr.split(k)
        return base_prior.sample(k_base, current[0].shape), bias_prior.sample(k_bias, current[1].shape)

    return metropolis_laplace_draw(key, proposal, current, log_target_ratio, log_prior, sample_prior)


class LaplaceUpdate(AbstractUpdate):
    """The low-rank emissions' update: Laplace draw around the posterior mode (or its MH correction).

    Needs a component with `base` (S, S-1), `biases` (K-1, S-1), `base_prior` and
    `bias_prior` (`LowRankEmissions`), and statistics that are the (K, S, S) counts or a
    NamedTuple with `counts` and `possible` (S, S) (`TableStatistics`).

    Attributes:
        mode_search: the optimizer and its stopping rule (static), and whether the draw is
            Metropolis–Hastings-corrected.
        diagonal_boost: added to the diagonal of the precision (static; the reference's 10⁻²).
        newton_step: whether to Newton-correct the centre (static).
    """

    mode_search: ModeSearch = eqx.field(static=True)
    diagonal_boost: float = eqx.field(static=True, default=1e-2)
    newton_step: bool = eqx.field(static=True, default=True)

    def step(self, key: PRNGKeyArray, component, statistics):
        """One update of `(base, biases)`; see `low_rank_laplace_step`.

        Args:
            key: a JAX PRNG key.
            component: `LowRankEmissions` (or any module with those fields).
            statistics: (K, S, S) counts, or a NamedTuple with `counts` and `possible`.

        Returns:
            `(component, info)`: `LaplaceInfo`, or `MetropolisInfo` with `metropolis=True`.
        """
        counts = getattr(statistics, "counts", statistics)
        possible = getattr(statistics, "possible", None)
        params, info = low_rank_laplace_step(
            key, counts, (component.base, component.biases), component.base_prior, component.bias_prior,
            self.mode_search, self.diagonal_boost, self.newton_step, possible,
        )  # fmt: skip
        return eqx.tree_at(lambda e: (e.base, e.biases), component, tuple(params)), info


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
) -> tuple[Float[Array, "S S-1"], Float[Array, "K-1 S-1"], LaplaceInfo | MetropolisInfo]:
    """`low_rank_laplace_step` with `Normal(σ_base)` and `Normal(σ_bias)` priors, as arrays in and out.

    Args:
        key: PRNG key for the draw (and, with `metropolis`, the decision).
        counts: (K, S, S) transition counts.
        base, biases: the warm start, or the current parameters with `metropolis`.
        sigma_base, sigma_bias: the priors' standard deviations (may be traced).
        optimizer, max_iters, tol: the mode search (`find_mode`).
        diagonal_boost: added to the diagonal of Q.
        newton_step: whether to Newton-correct the centre before drawing.
        metropolis: whether to correct the draw by an independence Metropolis–Hastings step.

    Returns:
        `(base, biases, info)`.
    """
    mode_search = ModeSearch(optimizer, max_iters, tol, metropolis=metropolis)
    params, info = low_rank_laplace_step(
        key, counts, (base, biases), Normal(sigma_base), Normal(sigma_bias), mode_search, diagonal_boost, newton_step
    )
    return params[0], params[1], info
