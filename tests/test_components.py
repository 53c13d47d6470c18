"""User components through every kernel and the whole fit: same posterior on every method, saved and loaded."""

import itertools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from custom_components import AlternatingTransitions, Beta, CategoricalEmissions, SymmetricStickyTransitions
from scipy.special import logsumexp

import smoseq as sm
from smoseq.inference import native
from smoseq.inference.states import marginal_logliks, sample_states, smoothed_probs, viterbi_states
from smoseq.models import (
    HHMM,
    Dirichlet,
    LowRankEmissions,
    ModeSearch,
    StickyTransitions,
    SyllableData,
    low_rank_hhmm,
    lookup_tables,
)

pytestmark = pytest.mark.skipif(not native.native_available(), reason="numba is not importable")
METHODS = ("native", "serial", "parallel")
K, S = 3, 6


class TemperedLowRankEmissions(LowRankEmissions):
    """The low-rank model with its likelihoods tempered by 1/2: overrides `log_likelihoods`, keeps the tables."""

    def log_likelihoods(self, syllables, mask, repeats="model"):
        return 0.5 * super().log_likelihoods(syllables, mask, repeats)


@pytest.fixture(scope="module")
def simulated():
    truth = low_rank_hhmm(jr.key(0), K, S, kappa=200.0, sigma_bias=2.0)
    _, syllables = truth.simulate(jr.key(1), 3, 300)
    mask = np.ones(syllables.shape)
    mask[2, 250:] = 0.0
    return truth, SyllableData(syllables, mask)


def categorical_model(key=jr.key(2)):
    emissions = CategoricalEmissions(jnp.full((K, S), 1.0 / S), Dirichlet(1.0), 1.0, ("a",)).sample_prior(key)
    transitions = StickyTransitions(jnp.full((K, K), 0.05) + 0.85 * jnp.eye(K), 1.0, 10.0)
    return HHMM(emissions, transitions)


def tempered_model(truth):
    emissions = TemperedLowRankEmissions(truth.emissions.base, truth.emissions.biases)
    return HHMM(emissions, truth.transitions)


@pytest.mark.parametrize("which", ["own likelihood", "overridden table likelihood"])
def test_a_component_with_its_own_likelihood_has_one_posterior_on_every_method(simulated, which):
    truth, data = simulated
    model = categorical_model() if which == "own likelihood" else tempered_model(truth)
    assert lookup_tables(model.emissions) is None  # the native kernel must read the model's log-likelihoods
    marginals = {m: np.asarray(marginal_logliks(model, data, m)) for m in METHODS}
    smoothed = {m: np.asarray(smoothed_probs(model, data, m)) for m in METHODS}
    paths = {m: np.asarray(viterbi_states(model, data, m)) for m in METHODS}
    for method in ("native", "parallel"):
        np.testing.assert_allclose(marginals[method], marginals["serial"], rtol=1e-5)
        np.testing.assert_allclose(smoothed[method], smoothed["serial"], atol=1e-4)
        np.testing.assert_array_equal(paths[method], paths["serial"])
    # the native sampler draws the serial sampler's paths from the same key
    native_states, native_logliks = sample_states(jr.key(3), model, data, "native")
    serial_states, serial_logliks = sample_states(jr.key(3), model, data, "serial")
    assert (np.asarray(native_states) == np.asarray(serial_states)).mean() > 0.999
    np.testing.assert_allclose(native_logliks, serial_logliks, rtol=1e-5)


def test_an_overridden_likelihood_is_not_replaced_by_the_tables(simulated):
    truth, data = simulated
    tempered, plain = tempered_model(truth), HHMM(truth.emissions, truth.transitions)
    for method in METHODS:
        assert not np.allclose(marginal_logliks(tempered, data, method), marginal_logliks(plain, data, method))


def brute_force_marginal(log_init, trans, log_likelihoods):
    """log p(x) of one sequence by enumerating all K**T paths."""
    num_timesteps, num_states = log_likelihoods.shape
    scores = []
    for path in itertools.product(range(num_states), repeat=num_timesteps):
        score = log_init[path[0]] + sum(log_likelihoods[t, path[t]] for t in range(num_timesteps))
        scores.append(score + sum(np.log(trans[path[t - 1], path[t]]) for t in range(1, num_timesteps)))
    return logsumexp(scores), np.array(list(itertools.product(range(num_states), repeat=num_timesteps)))[np.argmax(scores)]


def test_per_sequence_transition_matrices_against_brute_force():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        even, odd = rng.dirichlet(np.ones(2), size=2), rng.dirichlet(np.ones(2) * 0.3, size=2)
        transitions = AlternatingTransitions(even, odd)
        categorical = CategoricalEmissions(jr.dirichlet(jr.key(6), jnp.ones((2, 4))), Dirichlet(1.0), 1.0, ("a",))
        for emissions in (low_rank_hhmm(jr.key(4), 2, 4).emissions, categorical):
            model = HHMM(emissions, transitions)
            syllables = rng.integers(0, 4, size=(3, 6))
            data = SyllableData(syllables, np.ones((3, 6)))
            log_likelihoods = np.asarray(model.log_likelihoods(data.syllables, data.emission_mask))
            matrices = np.asarray(model.transition_matrices(data))
            assert matrices.shape == (3, 2, 2)
            expected = [brute_force_marginal(np.log([0.5, 0.5]), matrices[n], log_likelihoods[n]) for n in range(3)]
            for method in METHODS:
                np.testing.assert_allclose(marginal_logliks(model, data, method), [e[0] for e in expected], rtol=1e-9)
                np.testing.assert_array_equal(viterbi_states(model, data, method), np.stack([e[1] for e in expected]))


@pytest.fixture(scope="module")
def recordings(simulated):
    _, data = simulated
    return {f"r{i}": np.asarray(data.syllables[i]) for i in range(2)}


def test_a_transitions_component_of_our_own_is_fitted_saved_and_loaded(recordings, tmp_path):
    result = sm.fit(recordings, n_states=K, n_iters=3, n_init_iters=1, progress=False,
                    transitions=SymmetricStickyTransitions(K, prior=Beta(9.0, 1.0)))  # fmt: skip
    assert type(result.model.transitions) is SymmetricStickyTransitions
    assert np.isfinite(result.log_probs).all() and 0.0 < float(result.model.transitions.stay) < 1.0
    assert result.hyperparameters["components"]["transitions"] == "SymmetricStickyTransitions"
    result.save(tmp_path / "fit")
    with pytest.raises(sm.ModelFileError, match="components=") as refused:
        sm.load_fit(tmp_path / "fit")
    assert "SymmetricStickyTransitions" in str(refused.value)
    loaded = sm.load_fit(tmp_path / "fit", components=[SymmetricStickyTransitions, Beta])
    assert type(loaded.model.transitions) is SymmetricStickyTransitions
    for a, b in zip(jax.tree_util.tree_leaves(loaded.model), jax.tree_util.tree_leaves(result.model)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(sm.InputError, match="kappa"):
        sm.fit(recordings, n_states=K, kappa=10.0, transitions=SymmetricStickyTransitions(K), progress=False)


def test_an_emission_component_of_our_own_is_fitted_alike_on_the_native_and_serial_kernels(recordings):
    start = {name: np.zeros(len(x), int) for name, x in recordings.items()}
    fits = {
        method: sm.fit(recordings, n_states=K, kappa=50.0, n_iters=3, progress=False, init_states=start,
                       emissions=categorical_model().emissions, method=method)
        for method in METHODS
    }  # fmt: skip
    for name in recordings:
        assert (fits["native"].states[name] == fits["serial"].states[name]).mean() > 0.99
    np.testing.assert_allclose(fits["native"].log_probs, fits["serial"].log_probs, rtol=1e-4)
    assert np.isfinite(fits["parallel"].log_probs).all()


def test_fit_models_runs_user_components_in_a_batch(recordings):
    results = sm.fit_models(recordings, K, kappas=[0.0, 0.0], seeds=[0, 1], n_iters=2, progress=False,
                            emissions=categorical_model().emissions, transitions=SymmetricStickyTransitions(K))  # fmt: skip
    assert [type(r.model.transitions) for r in results] == [SymmetricStickyTransitions] * 2
    assert all(np.isfinite(r.log_probs).all() for r in results)


def test_the_retry_optimizer_is_the_callers_and_is_recorded(recordings, monkeypatch, tmp_path):
    import smoseq.fitting.loop as loop

    original, calls = loop.compiled_kernel, {"n": 0}
    main = ModeSearch(optax.lbfgs(), 100, 1e-6, name="lbfgs-100")
    retry = ModeSearch(optax.sgd(1e-3), 50, 1e-6, name="sgd(0.001)")

    def kernel(mode_search, method, strategy):
        step = original(mode_search, method, strategy)
        if mode_search is not main:
            return step

        def flaky(key, state, data):
            calls["n"] += 1
            new_state, info = step(key, state, data)
            return new_state, (info._replace(log_prob=jnp.array(jnp.nan)) if calls["n"] == 2 else info)

        return flaky

    monkeypatch.setattr(loop, "compiled_kernel", kernel)
    start = {name: np.zeros(len(x), int) for name, x in recordings.items()}
    result = sm.fit(recordings, n_states=K, n_iters=3, progress=False, init_states=start, mode_search=main, retry=retry)
    faults = result.info["numerical_faults"]
    assert faults and faults[0]["optimizer"].startswith("sgd(0.001)") and faults[0]["iteration"] == 1
    assert result.hyperparameters["retry"] == {"optimizer": "sgd(0.001)", "optax": None, "settings": None, "max_iters": 50, "tol": 1e-6}
    result.save(tmp_path / "fit")
    assert sm.load_fit(tmp_path / "fit").hyperparameters["retry"]["optimizer"] == "sgd(0.001)"
