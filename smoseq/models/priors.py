"""Prior distributions, as small Equinox modules held by the modules that use them.

A prior exposes what the updates need: `log_prob` and `sample` always; an elementwise
prior on unconstrained parameters (`Normal`, `StudentT`) also `curvature(x)`, the
elementwise `−∂² log p / ∂x²` a Laplace update adds to its precision
(`elementwise_curvature` differentiates `log_prob` for a prior without one), so one
update serves every prior. `DirichletRows` is the prior on the rows of a probability
table that the transition components share (its conjugate draw included).
A user swaps a prior by constructing a component with another prior object that has the
same methods.
"""

import equinox as eqx
import jax
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

    def curvature(self, x: Array) -> Array:
        """`−∂² log p / ∂x²` of every element: 1/σ² (shape of `x`).

        Args:
            x: float array, any shape.

        Returns:
            Float array of `x`'s shape.
        """
        return jnp.broadcast_to(1.0 / self.sigma**2, x.shape).astype(x.dtype)

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

    def curvature(self, x: Array) -> Array:
        """`−∂² log p / ∂x²` of every element: (ν+1)(νs² − x²)/(νs² + x²)², negative beyond |x| = √ν·s.

        Args:
            x: float array, any shape.

        Returns:
            Float array of `x`'s shape.
        """
        spread = self.dof * self.scale**2
        return (self.dof + 1.0) * (spread - x**2) / (spread + x**2) ** 2


def elementwise_curvature(prior, x: Array) -> Array:
    """`prior.curvature(x)`, or for a prior without that method the same by automatic differentiation.

    The prior's `log_prob` must sum independent elementwise terms (as `Normal` and
    `StudentT` do); the curvature of element e is then `−∂² log p / ∂x_e²`.

    Args:
        prior: an object with `log_prob(x)` and optionally `curvature(x)`.
        x: the point, float array of any shape.

    Returns:
        Float array of `x`'s shape (not clipped: it may be negative where the prior is not log-concave).
    """
    if callable(getattr(prior, "curvature", None)):
        return prior.curvature(x)
    second = jax.grad(jax.grad(lambda value: prior.log_prob(value)))
    return -jax.vmap(second)(x.ravel()).reshape(x.shape)


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


class DirichletRows(eqx.Module):
    """Independent Dirichlet priors on the rows of a probability table (the last axis is a row).

    The prior the transition components share: the sticky rows `Dir(β·1 + κ·e_k)`, one
    such table per group, or the HDP rows `Dir(α·β + κ·e_k)` are each one `DirichletRows`
    built from the component's hyperparameter leaves. Its conjugate update is
    `posterior(counts).sample(key)`.

    Args:
        concentration: (..., n) float concentration of every row (broadcast over leading axes).
        floor: smallest probability or concentration a draw uses (static; 0 = a plain
            Dirichlet draw). The HDP needs one: concentrations as small as α·β_k of an
            unused state make entries underflow to 0, whose logarithm would make the log prior infinite.
    """

    concentration: Float[Array, "... n"]
    floor: float = eqx.field(static=True, default=0.0)

    def log_prob(self, probs: Float[Array, "... n"]) -> Float[Array, ""]:
        """Σ over rows of log Dir(row | concentration).

        Args:
            probs: (..., n) float, rows along the last axis.

        Returns:
            Scalar float.
        """
        concentration = jnp.broadcast_to(self.concentration, probs.shape)
        return dirichlet_log_prob(probs, concentration).sum()

    def posterior(self, counts: Float[Array, "... n"]) -> "DirichletRows":
        """The conjugate posterior given counts of each row's outcomes: concentration + counts.

        Args:
            counts: (..., n) float counts.

        Returns:
            A `DirichletRows` of the counts' shape, same floor.
        """
        return DirichletRows(counts + self.concentration, self.floor)

    def sample(self, key: PRNGKeyArray) -> Float[Array, "... n"]:
        """One draw of every row, each row with its own key (`jr.split(key, n_rows)`).

        Args:
            key: a JAX PRNG key.

        Returns:
            (..., n) float, rows summing to 1 (every entry ≥ `floor` when it is set).
        """
        concentration = self.concentration
        rows = concentration.reshape(-1, concentration.shape[-1])
        if self.floor > 0:
            draw = jax.vmap(lambda k, c: floored_dirichlet(k, c, self.floor))(jr.split(key, rows.shape[0]), rows)
        else:
            draw = jax.vmap(jr.dirichlet)(jr.split(key, rows.shape[0]), rows)
        return draw.reshape(concentration.shape)


def floored_dirichlet(key: PRNGKeyArray, concentration: Float[Array, " n"], floor: float) -> Float[Array, " n"]:
    """A Dirichlet draw with every concentration and entry at least `floor` (renormalised before flooring)."""
    draw = jr.dirichlet(key, jnp.maximum(concentration, floor))
    return jnp.maximum(draw / draw.sum(), floor)
