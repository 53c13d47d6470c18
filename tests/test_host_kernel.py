"""The native Gibbs step with the state sampler called from the host, against the fully jitted step."""

import equinox as eqx
import jax
import jax.random as jr
import numpy as np
import optax
import pytest

import smoseq as sm
from smoseq.inference import native
from smoseq.inference.gibbs import GibbsState, _parameter_half, build_kernel
from smoseq.inference.kernels import posterior_uniforms
from smoseq.inference.states import SyllableData, without_repeats
from smoseq.models import ModeSearch, low_rank_hhmm

pytestmark = pytest.mark.skipif(not native.native_available(), reason="numba is not importable")

MODE_SEARCH = ModeSearch(optax.lbfgs(), 50, 1e-6)


@pytest.fixture(scope="module")
def problem():
    """Two recordings of a 3-state model, a repeats-ignoring evidence mask, random start states."""
    truth = low_rank_hhmm(jr.key(0), 3, 12, kappa=300.0)
    _, syllables = truth.simulate(jr.key(1), 2, 400)
    seqs, mask, _ = sm.batch({"a": np.asarray(syllables[0]), "b": np.asarray(syllables[1])[:300]})
    data = without_repeats(SyllableData(seqs, mask))
    start = GibbsState(low_rank_hhmm(jr.key(2), 3, 12, kappa=100.0), jr.randint(jr.key(3), seqs.shape, 0, 3))
    return data, start


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def test_host_step_equals_the_jitted_native_step(problem):
    data, state = problem
    host, jitted = build_kernel(MODE_SEARCH, "native", "host"), eqx.filter_jit(build_kernel(MODE_SEARCH, "native"))
    for iteration in range(3):
        key = jr.fold_in(jr.key(4), iteration)
        (host_state, host_info), (jit_state, jit_info) = host(key, state, data), jitted(key, state, data)
        np.testing.assert_array_equal(np.asarray(host_state.states), np.asarray(jit_state.states))
        for a, b in zip(_leaves(host_state.model), _leaves(jit_state.model)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for field in ("log_prob", "marginal_loglik", "log_prior"):
            np.testing.assert_allclose(getattr(host_info, field), getattr(jit_info, field), rtol=1e-5)
        assert int(host_info.updates.emissions.n_steps) == int(jit_info.updates.emissions.n_steps)
        state = host_state


def test_host_sampler_equals_the_callback_sampler_for_one_model_and_a_batch(problem):
    data, state = problem
    key = jr.key(5)
    model = state.model
    params = (model.log_init(), model.transitions.probs, model.emissions.transition_tables())
    expected_states, expected_logliks = native.sample_states_native(key, *params, data.syllables, data.emission_mask)
    num_sequences, num_timesteps = data.syllables.shape
    uniforms = jax.vmap(lambda k: posterior_uniforms(k, num_timesteps, params[0].dtype))(jr.split(key, num_sequences))
    states, logliks = native.sample_states_host(*params, data.syllables, data.emission_mask, uniforms)
    np.testing.assert_array_equal(states, expected_states)
    np.testing.assert_allclose(logliks, expected_logliks, rtol=1e-6)

    # Two models at once (a leading model axis on the parameters and uniforms).
    other = low_rank_hhmm(jr.key(6), 3, 12, kappa=10.0)
    other_params = (other.log_init(), other.transitions.probs, other.emissions.transition_tables())
    stacked = [np.stack([np.asarray(a), np.asarray(b)]) for a, b in zip(params, other_params)]
    other_uniforms = 1.0 - jr.uniform(jr.key(7), uniforms.shape)
    both_states, both_logliks = native.sample_states_host(
        *stacked, data.syllables, data.emission_mask, np.stack([uniforms, other_uniforms])
    )
    assert both_states.shape == (2, num_sequences, num_timesteps) and both_logliks.shape == (2, num_sequences)
    np.testing.assert_array_equal(both_states[0], expected_states)
    alone, _ = native.sample_states_host(*other_params, data.syllables, data.emission_mask, other_uniforms)
    np.testing.assert_array_equal(both_states[1], alone)


def test_parameter_program_holds_no_host_callback(problem):
    """What makes it storable in JAX's persistent compilation cache (the fused step is not)."""
    data, state = problem
    key = jr.key(8)
    half = eqx.filter_jit(_parameter_half(MODE_SEARCH)).lower(key, state, data).as_text()
    fused = eqx.filter_jit(build_kernel(MODE_SEARCH, "native")).lower(key, state, data).as_text()
    assert "callback" in fused
    assert "callback" not in half
