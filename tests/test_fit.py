"""`sm.fit`: recovery of simulated states, batched models, save/load, checkpoints."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq.inference.gibbs import GibbsState, build_kernel
from smoseq.inference.states import SyllableData
from smoseq.models import ModeSearch, low_rank_hhmm


def _uses_exact(exact_emissions, emissions, mode_search) -> bool:
    return sm.FitSettings(exact_emissions=exact_emissions, emissions=emissions, mode_search=mode_search).uses_exact_emissions


@pytest.fixture(scope="module")
def simulated():
    truth = low_rank_hhmm(jr.key(0), 4, 20, kappa=3000.0)
    states, syllables = truth.simulate(jr.key(1), 6, 3000)
    recordings = {f"r{i}": np.asarray(syllables[i]) for i in range(6)}
    return truth, np.asarray(states), recordings


@pytest.fixture(scope="module")
def fitted(simulated):
    _, _, recordings = simulated
    return sm.fit(recordings, n_states=4, n_iters=25, seed=0, progress=False)


def test_fit_recovers_simulated_states(simulated, fitted):
    _, true_states, recordings = simulated
    predicted = np.concatenate([fitted.states[f"r{i}"] for i in range(6)])
    _, _, accuracy = sm.compare_states(true_states.ravel(), predicted, 4)
    assert accuracy >= 0.9
    assert fitted.log_probs.shape == (25,) and np.isfinite(fitted.log_probs).all()
    assert all(len(fitted.states[k]) == len(recordings[k]) for k in recordings)
    assert fitted.history.shape == (25, 3000)


def test_predict_on_training_data_agrees_with_fitted_states(simulated, fitted):
    _, _, recordings = simulated
    predicted = fitted.predict(recordings)
    agreement = np.mean(np.concatenate([predicted[k] == fitted.states[k] for k in recordings]))
    assert agreement >= 0.95
    marginals = fitted.predict({"r0": recordings["r0"]}, method="marginals")["r0"]
    assert marginals.shape == (3000, 4)
    np.testing.assert_allclose(marginals.sum(1), 1, atol=1e-4)


def test_save_load_round_trip_is_exact(fitted, tmp_path):
    fitted.save(tmp_path / "fit")
    loaded = sm.load_fit(tmp_path / "fit")
    for a, b in zip(jax.tree_util.tree_leaves(fitted.model), jax.tree_util.tree_leaves(loaded.model)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert set(loaded.states) == set(fitted.states)
    for key in fitted.states:
        np.testing.assert_array_equal(loaded.states[key], fitted.states[key])
    np.testing.assert_array_equal(loaded.log_probs, fitted.log_probs)
    assert loaded.hyperparameters == fitted.hyperparameters
    with pytest.raises(FileExistsError):
        fitted.save(tmp_path / "fit")


def test_batched_models_equal_separate_fits(simulated):
    _, _, recordings = simulated
    seqs, mask, _ = sm.batch({k: recordings[k][:600] for k in ("r0", "r1")})
    data = SyllableData(seqs, mask)
    step = build_kernel(ModeSearch(__import__("optax").lbfgs(), 50, 1e-6), method="serial")
    kappas = jnp.array([10.0, 1000.0])
    models = eqx.filter_vmap(lambda k, kappa: low_rank_hhmm(k, 3, 20, kappa=kappa))(jr.split(jr.key(2), 2), kappas)
    states0 = jr.randint(jr.key(3), (2, *seqs.shape), 0, 3)
    keys = jr.split(jr.key(4), 2)
    batched, info = eqx.filter_jit(eqx.filter_vmap(step, in_axes=(0, 0, None)))(keys, GibbsState(models, states0), data)
    for i in range(2):
        model_i = jax.tree_util.tree_map(lambda leaf: leaf[i], models)
        single, single_info = eqx.filter_jit(step)(keys[i], GibbsState(model_i, states0[i]), data)
        np.testing.assert_array_equal(np.asarray(batched.states[i]), np.asarray(single.states))
        np.testing.assert_allclose(info.log_prob[i], single_info.log_prob, rtol=1e-5)


def test_padding_changes_nothing(simulated):
    truth, _, recordings = simulated
    x = recordings["r0"][:500]
    short = SyllableData(x[None], np.ones((1, 500)))
    padded = SyllableData(np.concatenate([x, np.full(40, x[-1])])[None], np.concatenate([np.ones(500), np.zeros(40)])[None])
    from smoseq.inference.states import marginal_logliks

    np.testing.assert_allclose(marginal_logliks(truth, short), marginal_logliks(truth, padded), rtol=1e-6)


def test_resume_from_checkpoint_is_bit_identical(simulated, tmp_path):
    _, _, recordings = simulated
    small = {k: recordings[k][:800] for k in ("r0", "r1")}
    options = dict(n_states=3, seed=7, progress=False, n_init_iters=2)
    full = sm.fit(small, n_iters=6, **options)
    sm.fit(small, n_iters=3, checkpoint_dir=tmp_path, checkpoint_every=1, **options)
    resumed = sm.fit(small, n_iters=6, checkpoint_dir=tmp_path, checkpoint_every=1, resume=True, **options)
    np.testing.assert_array_equal(resumed.log_probs, full.log_probs)
    for a, b in zip(jax.tree_util.tree_leaves(full.model), jax.tree_util.tree_leaves(resumed.model)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for key in small:
        np.testing.assert_array_equal(full.states[key], resumed.states[key])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_states": 1}, "n_states"),
        ({"kappa": -1.0}, "kappa"),
        ({"n_iters": 0}, "n_iters"),
    ],
)
def test_impossible_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sm.fit({"a": np.array([0, 1, 2, 1])}, progress=False, **kwargs)


def test_non_finite_iteration_is_rolled_back_and_retried(simulated, monkeypatch):
    import smoseq.fitting.loop as loop
    from smoseq.inference.gibbs import single_chain_strategy
    from smoseq.inference.states import resolve_method

    _, _, recordings = simulated
    small = {"r0": recordings["r0"][:600]}
    
    method = resolve_method("auto")
    original = loop.compiled_kernel
    default = loop.Sampler.create(None, method, None, _uses_exact(None, "low_rank", None)).mode_search
    real_step = original(default, method, single_chain_strategy(method))
    calls = {"n": 0}

    def flaky_step(key, state, data):
        calls["n"] += 1
        new_state, info = real_step(key, state, data)
        if calls["n"] == 3:  # the first main-loop iteration after 2 initialisation steps
            info = info._replace(log_prob=jnp.array(jnp.nan))
        return new_state, info

    monkeypatch.setattr(
        loop, "compiled_kernel",
        lambda mode_search, method, strategy: flaky_step if mode_search == default else original(mode_search, method, strategy),
    )  # fmt: skip
    result = sm.fit(small, n_states=2, n_iters=3, progress=False, n_init_iters=2, init_states=None)
    faults = result.info["numerical_faults"]
    assert faults and faults[0]["recovered"] and faults[0]["attempt"] == 1
    assert np.isfinite(result.log_probs).all()
