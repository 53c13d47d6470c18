"""Prior distributions, as small Equinox modules held by the modules that use them.

A user swaps a prior by constructing an emission or transition module with another
prior object that has the same two methods (`log_prob`, `sample`).
"""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jax.scipy.special import gammaln
from jaxtyping import Array, Float, PRNGKeyArray


class Normal(eqx.Module):
    """Independent zero-mean normals with standard deviation `sigma` (an array leaf).

    Args:
        sigma: standard deviation σ > 0 (scalar, or an array for a batch of priors).
    """

    sigma: Float[Array, ""]

    def __init__(self, sigma=1.0):
        self.sigma = jnp.asarray(sigma, dtype=float)

    def log_prob(self, x: Array) -> Float[Array, ""]:
        """Σ log N(x | 0, σ²) over every element of `x`.

        Args:
            x: float array, any shape.

        Returns:
            Scalar float.
        """
        z = x / self.sigma
        return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi) - jnp.log(self.sigma))

    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
        """Independent N(0, σ²) draws.

        Args:
            key: a JAX PRNG key.
            shape: shape of the draw.

        Returns:
            Float array of `shape`.
        """
        return self.sigma * jr.normal(key, shape)

    def log_prob_unnormalised_by_sigma(self, x: Array) -> Float[Array, ""]:
        """Σ log N(x/σ | 0, 1): the published package's convention (it omits −log σ).

        Args:
            x: float array, any shape.

        Returns:
            Scalar float.
        """
        z = x / self.sigma
        return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi))


class StudentT(eqx.Module):
    """Independent zero-centred Student-t priors: a heavier-tailed alternative to `Normal`.

    Args:
        scale: scale s > 0 of every element.
        dof: degrees of freedom ν > 0.
    """

    scale: Float[Array, ""]
    dof: Float[Array, ""]

    def __init__(self, scale=1.0, dof=3.0):
        self.scale = jnp.asarray(scale, dtype=float)
        self.dof = jnp.asarray(dof, dtype=float)

    def log_prob(self, x: Array) -> Float[Array, ""]:
        """Σ_e [log t_ν(x_e / s) − log s] over every element x_e of `x`.

        Args:
            x: float array, any shape.

        Returns:
            Scalar float.
        """
        nu, z = self.dof, x / self.scale
        per_element = (
            gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * jnp.pi) - jnp.log(self.scale)
            - (nu + 1) / 2 * jnp.log1p(z**2 / nu)
        )
        return jnp.sum(per_element)

    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
        """Independent draws s · t_ν.

        Args:
            key: a JAX PRNG key.
            shape: shape of the draw.

        Returns:
            Float array of `shape`.
        """
        return self.scale * jr.t(key, self.dof, shape)


def dirichlet_log_prob(probs: Float[Array, "... n"], concentration: Float[Array, "... n"]) -> Float[Array, "..."]:
    """log Dir(probs | concentration) over the last axis (zero where a probability is 0 and α = 1)."""
    normaliser = gammaln(concentration.sum(-1)) - gammaln(concentration).sum(-1)
    safe_log = jnp.where(concentration == 1.0, 0.0, (concentration - 1.0) * jnp.log(probs))
    return normaliser + safe_log.sum(-1)


class Dirichlet(eqx.Module):
    """A Dirichlet prior on each row of a probability table, concentration `beta`.

    Args:
        beta: concentration β > 0 of every entry: a scalar (symmetric), or an array that
            broadcasts against the table (e.g. (S,) for one concentration per next syllable).
    """

    beta: Float[Array, ""]

    def __init__(self, beta=1.0):
        self.beta = jnp.asarray(beta, dtype=float)

    def log_prob(self, probs: Float[Array, "... n"]) -> Float[Array, ""]:
        """Σ over rows of log Dir(row | β·1).

        Args:
            probs: (..., n) float; every row along the last axis a probability vector.

        Returns:
            Scalar float.
        """
        concentration = jnp.broadcast_to(self.beta, probs.shape)
        return dirichlet_log_prob(probs, concentration).sum()

    def posterior_concentration(self, counts: Float[Array, "... n"]) -> Float[Array, "... n"]:
        """The concentration of each row's conjugate posterior given its counts: β + counts.

        Args:
            counts: (..., n) float counts, one row per probability vector.

        Returns:
            (..., n) float concentrations.
        """
        return counts + self.beta

    def sample(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
        """Independent Dir(β·1) rows.

        Args:
            key: a JAX PRNG key.
            shape: `(..., n)`, the shape of the draw; rows lie along the last axis.

        Returns:
            Float array of `shape` whose rows along the last axis sum to 1.
        """
        return jr.dirichlet(key, jnp.broadcast_to(self.beta, shape))
