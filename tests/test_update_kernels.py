"""Updates as kernel objects: every component's info reaches `HHMM.resample`, the Gibbs info and the fit's
records; the generic Metropolis–Hastings step is exact; the shared `DirichletRows` prior draws its posterior."""

import json

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import smoseq as sm
from smoseq.cli.commands import update_warning
from smoseq.fitting.loop import update_fields
from smoseq.inference import gibbs
from smoseq.models import (
    HHMM,
    ConjugateInfo,
    DirichletRows,
    DirichletRowsUpdate,
    HDPInfo,
    HDPTransitions,
    LaplaceInfo,
    LaplaceUpdate,
    MetropolisInfo,
    ModeSearch,
    ModelInfo,
    StickyTransitions,
    SyllableData,
    low_rank_hhmm,
)
from smoseq.models.metropolis import independence_metropolis


@pytest.fixture(scope="module")
def simulated():
    truth = low_rank_hhmm(jr.key(0), 3, 5, kappa=100.0)
    states, syllables = truth.simulate(jr.key(1), 2, 200)
    return truth, states, SyllableData(syllables, np.ones(syllables.shape))


def test_resample_returns_every_components_info(simulated):
    truth, states, data = simulated
    search = ModeSearch(optax.lbfgs(), 50, 1e-6)
    assert isinstance(truth.emissions.update_kernel(search), LaplaceUpdate)
    assert isinstance(truth.transitions.update_kernel(), DirichletRowsUpdate)
    _, info = truth.resample(jr.key(2), states, data, search)
    assert isinstance(info, ModelInfo) and isinstance(info.emissions, LaplaceInfo)
    assert isinstance(info.transitions, ConjugateInfo) and info.initial is None
    assert bool(info.emissions.converged) and bool(info.emissions.factor_ok)

    hdp = HHMM(truth.emissions, HDPTransitions.create(3, kappa=10.0))
    _, info = hdp.resample(jr.key(3), states, data, search._replace(metropolis=True))
    assert isinstance(info.transitions, HDPInfo) and info.transitions.tables.shape == (3, 3)
    assert isinstance(info.emissions, MetropolisInfo) and isinstance(info.emissions.proposal, LaplaceInfo)
    assert len(update_fields(info, "converged")) == 1 and len(update_fields(info, "accepted")) == 1


def test_gibbs_info_carries_the_model_info(simulated):
    truth, states, data = simulated
    step = jax.jit(gibbs.build_kernel(ModeSearch(optax.lbfgs(), 50, 1e-6), method="serial"))
    _, info = step(jr.key(4), gibbs.init(truth, states, data), data)
    assert isinstance(info.updates, ModelInfo) and int(info.updates.emissions.n_steps) > 0


def test_unconverged_searches_are_counted_and_reported(tmp_path, simulated):
    truth, states, data = simulated
    recordings = {f"r{i}": np.asarray(x) for i, x in enumerate(data.syllables)}
    hasty = ModeSearch(optax.adam(1e-4), max_iters=2, tol=1e-12, name="hasty")
    result = sm.fit(recordings, n_states=3, n_iters=3, n_init_iters=1, mode_search=hasty, progress=False)
    assert result.update_converged.shape == (3,) and not result.update_converged.any()
    assert result.update_factor_ok.all()
    assert result.update_diagnostics == {"mode_search_unconverged": 3, "factorisation_failed": 0}
    warning = update_warning(result.update_diagnostics, 3)
    assert warning.startswith("warning: the emission mode search did not converge in 3 of 3 iterations")
    assert update_warning({"mode_search_unconverged": 0, "factorisation_failed": None}, 3) == ""
    assert int(result.last_updates["emissions.n_steps"]) == 2

    result.save(tmp_path / "fit")
    saved = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert saved["update_diagnostics"] == {"mode_search_unconverged": 3, "factorisation_failed": 0}
    loaded = sm.load_fit(tmp_path / "fit")
    np.testing.assert_array_equal(loaded.update_converged, result.update_converged)
    assert set(loaded.last_updates) == set(result.last_updates)


def test_hdp_info_reaches_the_trace(simulated):
    _, _, data = simulated
    recordings = {f"r{i}": np.asarray(x) for i, x in enumerate(data.syllables)}
    result = sm.fit(recordings, n_states=3, n_iters=2, n_init_iters=1, transitions="hdp", progress=False)
    assert result.last_updates["transitions.tables"].shape == (3, 3)


def test_independence_metropolis_targets_its_distribution():
    """Target N(1, 0.5²), proposal N(0, 2²): the chain's mean and variance are the target's."""
    log_target = lambda x: -0.5 * ((x - 1.0) / 0.5) ** 2  # noqa: E731
    log_q = lambda x: -0.5 * (x / 2.0) ** 2  # noqa: E731

    def step(x, key):
        x, info = independence_metropolis(
            key, x, lambda k: 2.0 * jr.normal(k, ()), log_q, lambda new, old: log_target(new) - log_target(old)
        )
        return x, (x, info.accepted)

    _, (chain, accepted) = jax.lax.scan(step, jnp.zeros(()), jr.split(jr.key(5), 40_000))
    chain = np.asarray(chain)[1000:]
    assert 0.2 < float(accepted.mean()) < 0.9
    np.testing.assert_allclose(chain.mean(), 1.0, atol=0.03)
    np.testing.assert_allclose(chain.std(), 0.5, atol=0.03)


def test_dirichlet_rows_posterior_and_the_sticky_draw():
    concentration = jnp.array([[2.0, 1.0, 1.0], [1.0, 5.0, 1.0], [0.5, 0.5, 3.0]])
    counts = jnp.array([[3.0, 0.0, 1.0], [0.0, 2.0, 2.0], [1.0, 1.0, 0.0]])
    posterior = DirichletRows(concentration).posterior(counts)
    draws = jax.vmap(posterior.sample)(jr.split(jr.key(6), 20_000))
    expected = (concentration + counts) / (concentration + counts).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(draws).mean(0), expected, atol=0.01)
    sticky = StickyTransitions(jnp.eye(3), beta=1.0, kappa=4.0)
    drawn, info = sticky.resample(jr.key(7), counts)
    rows = jax.vmap(jr.dirichlet)(jr.split(jr.key(7), 3), counts + 1.0 + 4.0 * jnp.eye(3))  # one key per row
    np.testing.assert_array_equal(drawn.probs, rows)
    assert info == ConjugateInfo()
