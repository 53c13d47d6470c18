"""The Laplace update for any elementwise prior (smoseq.inference.laplace_priors)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from smoseq.models.laplace import initial_emission_params, sample_low_rank_emissions
from smoseq.models.laplace_priors import prior_curvature, sample_low_rank_emissions_with_priors
from smoseq.models import LowRankEmissions, ModeSearch, Normal, StudentT


def _counts(num_states=3, size=6):
    return jr.poisson(jr.key(0), 5.0, (num_states, size, size)).astype(float)


def test_normal_priors_through_the_generic_path_give_the_specialised_draw():
    counts = _counts()
    base, biases = initial_emission_params(counts)
    specialised = sample_low_rank_emissions(jr.key(1), counts, base, biases, 1.5, 0.7, optax.lbfgs(), 200, 1e-8)
    generic = sample_low_rank_emissions_with_priors(
        jr.key(1), counts, base, biases, Normal(1.5), Normal(0.7), optax.lbfgs(), 200, 1e-8
    )
    np.testing.assert_allclose(generic[0], specialised[0], atol=2e-4)
    np.testing.assert_allclose(generic[1], specialised[1], atol=2e-4)


def test_student_t_curvature_matches_formula_and_is_clipped():
    prior = StudentT(scale=1.0, dof=3.0)
    x = jnp.array([0.0, 0.5, 1.0, 3.0])
    nu = 3.0
    expected = (nu + 1) * (nu - x**2) / (nu + x**2) ** 2
    np.testing.assert_allclose(prior_curvature(prior, x), np.maximum(expected, 0.0), rtol=1e-5)


def test_low_rank_emissions_with_student_t_prior_resample():
    counts = _counts()
    base, biases = initial_emission_params(counts)
    emissions = LowRankEmissions(base, biases, Normal(1.0), StudentT(1.0, 3.0))
    updated, info = jax.jit(lambda key, c: emissions.resample(key, c, ModeSearch(optax.lbfgs(), 100, 1e-6)))(
        jr.key(2), counts
    )
    assert isinstance(updated.bias_prior, StudentT)
    assert updated.biases.shape == biases.shape and bool(jnp.isfinite(updated.biases).all())
    assert int(info.n_steps) > 0
