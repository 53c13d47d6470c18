"""The seed-compatible modules run the published tutorials' flows and keep their semantics."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

import smoseq as sm
from smoseq import hhmm_efficient as eff
from smoseq import hhmm_standard as std
from smoseq._embedding import raise_dim

EFFICIENT_HYPPARAMS = {
    "n_states": 3,
    "emission_base_sigma": 1,
    "emission_biases_sigma": 1,
    "trans_beta": 1,
    "trans_kappa": 100,
    "n_syllables": 12,
    "emission_gd_iters": 300,
    "emission_gd_lr": 1e-2,
}
STANDARD_HYPPARAMS = {"n_states": 3, "emissions_beta": 1, "trans_beta": 1, "trans_kappa": 100, "n_syllables": 12}


def _simulated(module, hypparams, n_sequences=40, n_timesteps=400):
    true_params = module.random_params(jr.PRNGKey(0), hypparams)
    true_states, syllables = module.simulate(jr.PRNGKey(2), true_params, n_timesteps, n_sequences)
    data = {"syllables": syllables, "mask": jnp.ones_like(syllables)}
    return true_params, true_states, data


@pytest.mark.parametrize("module, hypparams", [(eff, EFFICIENT_HYPPARAMS), (std, STANDARD_HYPPARAMS)])
def test_pedagogical_tutorial_flow_recovers_states(module, hypparams):
    _, true_states, data = _simulated(module, hypparams)
    init_params = module.initialize_params(data, hypparams, seed=jr.PRNGKey(3))
    params, states, log_joints = module.fit_gibbs(data, hypparams, init_params, num_iters=30)
    assert log_joints.shape == (30,) and np.isfinite(log_joints).all()
    _, _, accuracy = sm.compare_states(states, true_states, hypparams["n_states"])
    predicted = module.predicted_states(data, params)
    _, _, viterbi_accuracy = sm.compare_states(predicted, true_states, hypparams["n_states"])
    smoothed = module.smoothed_states(data, params)
    assert smoothed.shape == (*true_states.shape, hypparams["n_states"])
    np.testing.assert_allclose(smoothed.sum(-1), 1, atol=1e-4)
    assert accuracy.item() >= 0.9 and viterbi_accuracy.item() >= 0.9


def test_efficient_resample_params_both_argument_orders_and_losses():
    hypparams = EFFICIENT_HYPPARAMS
    params, true_states, data = _simulated(eff, hypparams, 10, 300)
    new_params, losses = eff.resample_params(jr.PRNGKey(0), data, params, true_states, hypparams)
    assert set(new_params) == {"emission_base", "emission_biases", "trans_probs"}
    assert new_params["emission_base"].shape == (12, 11) and new_params["emission_biases"].shape == (2, 11)
    assert 1 <= len(losses) <= hypparams["emission_gd_iters"] and np.isfinite(losses).all()
    same_params, same_losses = eff.resample_params(jr.PRNGKey(0), data, true_states, hypparams, params)
    np.testing.assert_array_equal(losses, same_losses)
    cold_params, cold_losses = eff.resample_params(jr.PRNGKey(0), data, true_states, hypparams)
    assert cold_losses[-1] <= cold_losses[0]


def test_tutorial_loop_through_the_facade():
    hypparams = dict(EFFICIENT_HYPPARAMS, n_states=4)
    _, _, data = _simulated(eff, hypparams, 6, 500)
    seed = jr.PRNGKey(0)
    states = jr.randint(seed, data["syllables"].shape, 0, hypparams["n_states"])
    params, log_probs = None, []
    for _ in range(3):
        seed, subseed = jr.split(seed)
        params, losses = eff.resample_params(subseed, data, states, hypparams, params)
        states, marginal_loglik = eff.resample_states(seed, data, params, False)
        log_probs.append(eff.log_params_prob(params, hypparams).item() + marginal_loglik.item())
    assert np.isfinite(log_probs).all() and len(losses) >= 1


def test_log_params_prob_is_the_published_formula():
    params = eff.random_params(jr.PRNGKey(5), dict(EFFICIENT_HYPPARAMS, emission_base_sigma=2.0, trans_kappa=7.0))
    hyp = dict(EFFICIENT_HYPPARAMS, emission_base_sigma=2.0, trans_kappa=7.0)
    base, biases, trans = (np.asarray(params[k], float) for k in ("emission_base", "emission_biases", "trans_probs"))
    expected = stats.norm.logpdf(base / 2.0).sum() + stats.norm.logpdf(biases).sum()
    simplex = trans / trans.sum(1, keepdims=True)  # scipy insists on sums of 1 to 1e-10
    expected += sum(stats.dirichlet.logpdf(simplex[k], 1 + 7.0 * np.eye(3)[k]) for k in range(3))
    np.testing.assert_allclose(eff.log_params_prob(params, hyp), expected, rtol=1e-5)


def test_marginal_loglik_equals_brute_force_enumeration():
    hypparams = dict(EFFICIENT_HYPPARAMS, n_states=2, n_syllables=3, trans_kappa=1.0)
    params = eff.random_params(jr.PRNGKey(1), hypparams)
    syllables = jnp.array([[0, 2, 1, 1, 0], [2, 2, 0, 1, 1]])
    mask = jnp.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    tables = np.asarray(eff.get_syllable_trans_probs(params["emission_base"], params["emission_biases"]), float)
    trans = np.asarray(params["trans_probs"], float)
    total = 0.0
    for x, m in zip(np.asarray(syllables), np.asarray(mask)):
        likelihood = 0.0
        for path in np.ndindex(*(2,) * 5):
            p = 0.5
            for t in range(1, 5):
                p *= trans[path[t - 1], path[t]]
                if m[t]:
                    p *= tables[path[t], x[t - 1], x[t]]
            likelihood += p
        total += np.log(likelihood)
    np.testing.assert_allclose(eff.marginal_loglik({"syllables": syllables, "mask": mask}, params), total, rtol=1e-5)


def test_syllable_trans_probs_layout():
    params = eff.random_params(jr.PRNGKey(2), EFFICIENT_HYPPARAMS)
    tables = np.asarray(eff.get_syllable_trans_probs(params["emission_base"], params["emission_biases"]))
    B = np.asarray(raise_dim(params["emission_base"], 1))
    C = np.asarray(raise_dim(raise_dim(params["emission_biases"], 0), 1))
    logits = B[None] + C[:, None]
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(tables, expected, rtol=1e-4)
