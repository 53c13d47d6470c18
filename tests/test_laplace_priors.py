"""One Laplace path for every elementwise prior: curvature from the prior, or by automatic differentiation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from smoseq.models import LowRankEmissions, ModeSearch, Normal, StudentT, elementwise_curvature
from smoseq.models.laplace import initial_emission_params, sample_low_rank_emissions


def _counts(num_states=3, size=6):
    return jr.poisson(jr.key(0), 5.0, (num_states, size, size)).astype(float)


class _PlainNormal(eqx.Module):
    """A user prior with `log_prob` and `sample` only (no `curvature` method)."""

    sigma: jax.Array

    def log_prob(self, x):
        return jnp.sum(-0.5 * (x / self.sigma) ** 2 - jnp.log(self.sigma) - 0.5 * jnp.log(2 * jnp.pi))

    def sample(self, key, shape):
        return self.sigma * jr.normal(key, shape)


def test_a_user_prior_without_curvature_gives_the_normal_priors_draw():
    """Same loss, curvature by autodiff instead of 1/σ²: the same draw from the same key."""
    counts = _counts()
    base, biases = initial_emission_params(counts)
    search = ModeSearch(optax.lbfgs(), 200, 1e-8)
    normal = LowRankEmissions(base, biases, Normal(1.5), Normal(0.7))
    user = LowRankEmissions(base, biases, _PlainNormal(jnp.asarray(1.5)), _PlainNormal(jnp.asarray(0.7)))
    resample = eqx.filter_jit(lambda e: e.resample(jr.key(1), counts, search))
    (drawn_normal, info_normal), (drawn_user, info_user) = resample(normal), resample(user)
    np.testing.assert_allclose(drawn_user.base, drawn_normal.base, atol=2e-4)
    np.testing.assert_allclose(drawn_user.biases, drawn_normal.biases, atol=2e-4)
    assert bool(info_normal.converged) and bool(info_normal.factor_ok)
    wrapped = sample_low_rank_emissions(jr.key(1), counts, base, biases, 1.5, 0.7, optax.lbfgs(), 200, 1e-8)
    np.testing.assert_allclose(wrapped[0], drawn_normal.base, atol=2e-4)


def test_curvatures_match_formulas_and_autodiff():
    x = jnp.array([0.0, 0.5, 1.0, 3.0])
    nu, scale = 3.0, 1.3
    expected = (nu + 1) * (nu * scale**2 - x**2) / (nu * scale**2 + x**2) ** 2
    student = StudentT(scale=scale, dof=nu)
    np.testing.assert_allclose(student.curvature(x), expected, rtol=1e-5)
    np.testing.assert_allclose(elementwise_curvature(_PlainNormal(jnp.asarray(2.0)), x), np.full(4, 0.25), rtol=1e-5)
    np.testing.assert_allclose(Normal(2.0).curvature(x), np.full(4, 0.25), rtol=1e-6)
    autodiff = -jax.vmap(jax.grad(jax.grad(lambda v: student.log_prob(v))))(x)
    np.testing.assert_allclose(student.curvature(x), autodiff, rtol=1e-4)


def test_low_rank_emissions_with_student_t_prior_resample():
    counts = _counts()
    base, biases = initial_emission_params(counts)
    emissions = LowRankEmissions(base, biases, Normal(1.0), StudentT(1.0, 3.0))
    updated, info = jax.jit(lambda key, c: emissions.resample(key, c, ModeSearch(optax.lbfgs(), 100, 1e-6)))(
        jr.key(2), counts
    )
    assert isinstance(updated.bias_prior, StudentT)
    assert updated.biases.shape == biases.shape and bool(jnp.isfinite(updated.biases).all())
    assert int(info.n_steps) > 0 and bool(info.factor_ok)
