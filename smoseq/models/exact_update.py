"""`ExactBlockedUpdate`: the exact blocked low-rank emission update as an update kernel object.

Wraps `smoseq.models.exact_emissions.sample_exact_emissions` (rows of `base` given the
biases, then the biases given `base`, each an independence Metropolis–Hastings step with a
defensive-mixture proposal) in the `AbstractUpdate` interface, so a `LowRankEmissions`
(or any component with `base`, `biases`, `base_prior` and `bias_prior`) can name it in
`update_kernel(...)`. It needs no mode search and no plain start: its importance weights
are bounded, so it is exact and uniformly ergodic from any start.
"""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .exact_emissions import sample_exact_emissions
from .updates import AbstractUpdate

__all__ = ["ExactBlockedInfo", "ExactBlockedUpdate"]


class ExactBlockedInfo(NamedTuple):
    """What `ExactBlockedUpdate` reports.

    `accepted` and `acceptance_prob` are the fields every exact emission update reports
    (the fit's trace records them per iteration: `emission_accepted`, `emission_acceptance`,
    `FitResult.acceptance_rate`, fit.json `emission_acceptance_rate`).

    Attributes:
        accepted: bool scalar, whether the bias block (one block for all states, the one
            that accepts least) took at least one of its proposals.
        acceptance_prob: float scalar, the mean MH acceptance probability over the S row
            blocks and the bias block (each block weighted equally).
        row_accepted: float scalar, mean over rows of the fraction of proposals accepted.
        row_accepted_min: float scalar, that fraction for the row that accepted least.
        row_acceptance_prob: float scalar, mean over rows of the mean acceptance probability.
        bias_accepted: float scalar, fraction of the bias block's proposals accepted.
        bias_acceptance_prob: float scalar, the bias block's mean acceptance probability.
    """

    accepted: Bool[Array, ""]
    acceptance_prob: Float[Array, ""]
    row_accepted: Float[Array, ""]
    row_accepted_min: Float[Array, ""]
    row_acceptance_prob: Float[Array, ""]
    bias_accepted: Float[Array, ""]
    bias_acceptance_prob: Float[Array, ""]


class ExactBlockedUpdate(AbstractUpdate):
    """Exact blocked draw of the low-rank emissions (`sample_exact_emissions`).

    Needs a component with `base` (S, S-1), `biases` (K-1, S-1), `base_prior` and
    `bias_prior` (priors with a normalised elementwise `log_prob` and `sample`), and
    statistics that are the (K, S, S) counts or a NamedTuple with `counts` and `possible`
    (S, S) bool (`TableStatistics`).

    Attributes:
        newton_steps: most damped Newton steps that place each block's Gaussian (static); they stop
            earlier once a step gains under 10⁻³ nats.
        n_proposals: MH steps per block per update (static).
        prior_weight: ε, the prior's weight in each proposal mixture (static).
    """

    newton_steps: int = eqx.field(static=True, default=20)
    n_proposals: int = eqx.field(static=True, default=4)
    prior_weight: float = eqx.field(static=True, default=0.05)

    def step(self, key: PRNGKeyArray, component, statistics) -> tuple[object, ExactBlockedInfo]:
        """One exact update of `(base, biases)`: every row given the biases, then the biases given the rows.

        Args:
            key: a JAX PRNG key.
            component: `LowRankEmissions` (or any module with those fields).
            statistics: (K, S, S) counts, or a NamedTuple with `counts` and `possible`.

        Returns:
            `(component, ExactBlockedInfo)` with new `base` and `biases`.
        """
        counts = getattr(statistics, "counts", statistics)
        possible = getattr(statistics, "possible", None)
        base, biases, info = sample_exact_emissions(
            key, component.base, component.biases, counts, component.base_prior, component.bias_prior, possible,
            newton_steps=self.newton_steps, n_proposals=self.n_proposals, prior_weight=self.prior_weight,
        )  # fmt: skip
        row_probs = info.base_acceptance_prob
        overall = (row_probs.sum() + info.bias_acceptance_prob) / (row_probs.shape[0] + 1)
        summary = ExactBlockedInfo(
            accepted=info.bias_accepted > 0,
            acceptance_prob=overall,
            row_accepted=jnp.mean(info.base_accepted),
            row_accepted_min=jnp.min(info.base_accepted),
            row_acceptance_prob=jnp.mean(row_probs),
            bias_accepted=info.bias_accepted,
            bias_acceptance_prob=info.bias_acceptance_prob,
        )
        return eqx.tree_at(lambda e: (e.base, e.biases), component, (base, biases)), summary
