"""A fit's record never contradicts its model: priors from the components, optimizer settings, refusals."""

import json

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import smoseq as sm
from smoseq.models import LowRankEmissions, Normal, StudentT

RECORDINGS = {"a": np.arange(200) % 4, "b": (np.arange(200) // 3) % 4}


def low_rank(bias_prior, base_prior=None):
    return LowRankEmissions(jnp.zeros((4, 3)), jnp.zeros((1, 3)), base_prior or Normal(1.0), bias_prior)


def test_builtin_keywords_next_to_a_component_are_refused():
    with pytest.raises(sm.InputError, match="sigma_base, sigma_bias and emission_beta set the built-in"):
        sm.fit(RECORDINGS, n_states=2, n_iters=1, emissions=low_rank(Normal(0.05)), sigma_bias=3.0, progress=False)
    with pytest.raises(sm.InputError, match="emission_beta sets the full-rank"):
        sm.fit(RECORDINGS, n_states=2, n_iters=1, emission_beta=2.0, progress=False)
    with pytest.raises(sm.InputError, match="sigma_base and sigma_bias set the low-rank"):
        sm.fit(RECORDINGS, n_states=2, n_iters=1, emissions="full_rank", sigma_base=2.0, progress=False)
    search = sm.ModeSearch(sm.optimizer("adam", learning_rate=1e-2), name="adam")
    with pytest.raises(sm.InputError, match="without a mode search"):
        sm.fit(RECORDINGS, n_states=2, n_iters=1, emissions="full_rank", mode_search=search, progress=False)
    with pytest.raises(sm.InputError, match="without a mode search"):
        sm.fit_models(RECORDINGS, 2, [1.0], [0], 1, emissions="full_rank", exact_emissions=True, progress=False)


def test_priors_and_optimizer_are_recorded_from_what_the_fit_used(tmp_path):
    search = sm.ModeSearch(sm.optimizer("adam", learning_rate=5e-3), max_iters=50, name="adam")
    fit = sm.fit(
        RECORDINGS, n_states=2, n_iters=2, n_init_iters=1, emissions=low_rank(Normal(0.05), StudentT(2.0, 3.0)),
        mode_search=search, progress=False,
    )  # fmt: skip
    recorded = fit.hyperparameters
    assert recorded["sigma_bias"] == pytest.approx(0.05)  # the component's prior, not the keyword's default
    assert recorded["sigma_base"] is None  # a Student-t prior has no σ of a Normal; its values are under components
    assert recorded["emission_beta"] is None and recorded["beta"] == 1.0
    values = recorded["components"]["values"]
    assert values["emissions.bias_prior.sigma"] == pytest.approx(0.05)
    assert recorded["mode_search"] == {"optimizer": "adam", "optax": "adam", "settings": {"learning_rate": 0.005},
                                       "max_iters": 50, "tol": 1e-6}  # fmt: skip
    assert recorded["retry"]["optax"] == "adam" and recorded["retry"]["settings"] == {"learning_rate": 0.01}
    fit.save(tmp_path / "fit")
    on_disk = json.loads((tmp_path / "fit" / "fit.json").read_text())
    text = json.dumps(on_disk)
    assert '"learning_rate": 0.005' in text and '"sigma_bias": 0.05' in text


def test_optimizer_settings_unknown_when_built_outside_and_none_for_conjugate_emissions():
    from smoseq.fitting.loop import describe_mode_search

    described = describe_mode_search(sm.ModeSearch(optax.adam(1e-3), name="mine"))
    assert described["optimizer"] == "mine" and described["settings"] is None and described["optax"] is None
    assert describe_mode_search(sm.ModeSearch(sm.optimizer("lbfgs")))["settings"] == {}
    fit = sm.fit(RECORDINGS, n_states=2, n_iters=1, n_init_iters=1, emissions="full_rank", emission_beta=0.5, progress=False)
    assert fit.hyperparameters["mode_search"] is None and fit.hyperparameters["retry"] is None
    assert fit.hyperparameters["emission_beta"] == 0.5
    assert fit.hyperparameters["sigma_base"] is None and fit.hyperparameters["sigma_bias"] is None


def test_optimizer_refuses_unknown_names():
    with pytest.raises(sm.InputError, match="no optimizer named 'adamm'"):
        sm.optimizer("adamm")
    with pytest.raises(sm.InputError, match="refuses these settings"):
        sm.optimizer("adam", learning_rat=1e-3)
