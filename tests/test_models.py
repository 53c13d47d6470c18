import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from smoseq._embedding import center_embedding, lower_dim, raise_dim
from smoseq.models import (
    HHMM,
    FullRankEmissions,
    LowRankEmissions,
    Normal,
    StickyTransitions,
    StudentT,
    emission_counts,
    low_rank_hhmm,
    transition_counts,
)


def test_embedding_is_the_reference_layout():
    # column j (rows from 0) is e_j - mean(e_0..e_{j-1}), normalised
    E = np.asarray(center_embedding(4))
    expected_col2 = np.array([-0.5, -0.5, 1.0, 0.0]) / np.sqrt(1.5)
    np.testing.assert_allclose(E[:, 1], expected_col2, atol=1e-6)
    np.testing.assert_allclose(E.T @ E, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(E.sum(0), 0, atol=1e-6)
    a = np.random.default_rng(0).normal(size=(3, 5, 2))
    np.testing.assert_allclose(lower_dim(raise_dim(a, 1), 1), a, atol=1e-5)


def test_low_rank_tables_are_softmax_of_base_plus_bias():
    rng = np.random.default_rng(1)
    base, biases = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))
    tables = np.asarray(LowRankEmissions(base, biases).transition_tables())
    B = base @ np.asarray(center_embedding(4)).T
    C = np.asarray(center_embedding(3)) @ biases @ np.asarray(center_embedding(4)).T
    for k in range(3):
        logits = B + C[k]
        expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        np.testing.assert_allclose(tables[k], expected, rtol=1e-5)


def test_log_likelihoods_zero_at_first_and_masked_frames():
    model = low_rank_hhmm(jr.key(0), 3, 5)
    syllables = jnp.array([[0, 1, 2, 3, 4]])
    mask = jnp.array([[1.0, 1.0, 0.0, 1.0, 0.0]])
    ll = np.asarray(model.log_likelihoods(syllables, mask))
    tables = np.asarray(model.emissions.transition_tables())
    assert ll.shape == (1, 5, 3)
    np.testing.assert_allclose(ll[0, 0], 0)
    np.testing.assert_allclose(ll[0, 2], 0)
    np.testing.assert_allclose(ll[0, 4], 0)
    np.testing.assert_allclose(ll[0, 1], np.log(tables[:, 0, 1]), rtol=1e-5)
    np.testing.assert_allclose(ll[0, 3], np.log(tables[:, 2, 3]), rtol=1e-5)


def test_counts_by_hand():
    syllables = jnp.array([[0, 1, 1, 0]])
    states = jnp.array([[1, 1, 0, 0]])
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])
    counts = np.asarray(emission_counts(syllables, mask, states, 2, 2))
    expected = np.zeros((2, 2, 2))
    expected[1, 0, 1] = 1  # t=1: z=1, 0->1
    expected[0, 1, 1] = 1  # t=2: z=0, 1->1; t=3 masked
    np.testing.assert_array_equal(counts, expected)
    trans = np.asarray(transition_counts(states, mask, 2))
    # pairs (t-1, t) weighted by mask[t-1]: (1,1) (1,0) (0,0)
    np.testing.assert_array_equal(trans, [[1, 0], [1, 1]])


def test_sticky_log_prior_matches_scipy_dirichlet():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    transitions = StickyTransitions(probs, beta=1.5, kappa=4.0)
    expected = sum(stats.dirichlet.logpdf(probs[k], 1.5 + 4.0 * np.eye(3)[k]) for k in range(3))
    np.testing.assert_allclose(transitions.log_prior(), expected, rtol=1e-5)


def test_sticky_resample_is_dirichlet_posterior():
    transitions = StickyTransitions(jnp.eye(2), beta=1.0, kappa=3.0)
    counts = jnp.array([[5.0, 1.0], [2.0, 0.0]])
    draws = jax.vmap(lambda k: transitions.resample(k, counts)[0].probs)(jr.split(jr.key(0), 20000))
    # row 0 ~ Dir(1+3+5, 1+1), row 1 ~ Dir(1+2, 1+3): means 9/11 and 3/7
    np.testing.assert_allclose(draws[:, 0, 0].mean(), 9 / 11, atol=0.005)
    np.testing.assert_allclose(draws[:, 1, 0].mean(), 3 / 7, atol=0.005)


def test_normal_and_student_priors():
    x = jnp.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(Normal(2.0).log_prob(x), stats.norm.logpdf(np.asarray(x), scale=2.0).sum(), rtol=1e-5)
    np.testing.assert_allclose(
        StudentT(1.5, 4.0).log_prob(x), stats.t.logpdf(np.asarray(x), df=4.0, scale=1.5).sum(), rtol=1e-5
    )


def test_full_rank_resample_is_conjugate():
    emissions = FullRankEmissions.from_prior(jr.key(0), 2, 3, beta=0.5)
    counts = jnp.zeros((2, 3, 3)).at[1, 2, 0].set(30.0)
    draws = jax.vmap(lambda k: emissions.resample(k, counts)[0].tables)(jr.split(jr.key(1), 5000))
    np.testing.assert_allclose(draws[:, 1, 2, 0].mean(), 30.5 / 31.5, atol=0.01)
    np.testing.assert_allclose(draws[:, 0, 0, 0].mean(), 1 / 3, atol=0.02)


def test_simulate_follows_the_model():
    model = low_rank_hhmm(jr.key(3), 2, 4, kappa=50.0)
    states, syllables = model.simulate(jr.key(4), 4, 5000)
    assert states.shape == syllables.shape == (4, 5000)
    counts = np.asarray(transition_counts(states, jnp.ones(states.shape), 2))
    empirical = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(empirical, model.transitions.probs, atol=0.02)
    emission = np.asarray(emission_counts(syllables, jnp.ones(states.shape), states, 2, 4))
    empirical_tables = emission / emission.sum(-1, keepdims=True)
    np.testing.assert_allclose(empirical_tables, model.emissions.transition_tables(), atol=0.05)


def test_models_are_vmappable_pytrees_with_kappa_leaves():
    models = eqx.filter_vmap(lambda k, kappa: low_rank_hhmm(k, 3, 5, kappa=kappa))(
        jr.split(jr.key(0), 4), jnp.array([1.0, 10.0, 100.0, 1000.0])
    )
    assert models.transitions.kappa.shape == (4,)
    log_priors = eqx.filter_vmap(lambda m: m.log_prior())(models)
    assert log_priors.shape == (4,)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="base must be"):
        LowRankEmissions(jnp.zeros((4, 2)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="states"):
        HHMM(LowRankEmissions(jnp.zeros((4, 3)), jnp.zeros((2, 3))), StickyTransitions(jnp.eye(4)))
