"""`sm.reorder_states`: states, model parameters and a whole fit relabelled together, so the
relabelled model scores the relabelled states exactly as the original scored the original."""

import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq.fitting import FitResult, permute_model
from smoseq.models import SyllableData, full_rank_hhmm, low_rank_hhmm


def test_states_dict_most_used_first():
    states = {"a": np.array([0, 1, 1, 2, 2, 2]), "b": np.array([2, 1, 1, 1, 1])}
    # frames: state 0 -> 1, state 1 -> 6, state 2 -> 4; order [1, 2, 0]
    assert {k: v.tolist() for k, v in sm.reorder_states(states).items()} == {"a": [2, 0, 0, 1, 1, 1], "b": [1, 0, 0, 0, 0]}
    # bouts: state 0 -> 1, state 1 -> 2, state 2 -> 2 (ties keep label order): [1, 2, 0]
    by_bouts = sm.reorder_states({"a": np.array([0, 2, 2, 1, 2, 1])}, by="bouts")
    assert by_bouts["a"].tolist() == [2, 1, 1, 0, 1, 0]
    given = sm.reorder_states(states, by=[2, 0, 1])
    assert given["a"].tolist() == [1, 2, 2, 0, 0, 0]


@pytest.mark.parametrize("by", ["size", [0, 0, 1]])
def test_bad_order_is_refused(by):
    with pytest.raises(sm.InputError, match="permutation"):
        sm.reorder_states({"a": np.array([0, 1, 2])}, by=by)


@pytest.mark.parametrize("make", [low_rank_hhmm, full_rank_hhmm])
def test_permuted_model_scores_relabelled_states_the_same(make):
    K, S = 3, 6
    model = make(jr.key(1), K, S)
    order = np.array([2, 0, 1])
    permuted = permute_model(model, order)
    rng = np.random.default_rng(0)
    data = SyllableData(rng.integers(0, S, (2, 40)), np.ones((2, 40)))
    old = np.asarray(model.log_likelihoods(data.syllables, data.mask))
    new = np.asarray(permuted.log_likelihoods(data.syllables, data.mask))
    np.testing.assert_allclose(new, old[..., order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(permuted.transitions.probs), np.asarray(model.transitions.probs)[order][:, order])
    # per-frame likelihoods and transitions permuted, initial state uniform: every path's
    # probability is kept, so the marginal likelihood is too (not recomputed: compiling the filter is slow)
    assert float(permuted.log_prior()) == pytest.approx(float(model.log_prior()), rel=1e-5)


def test_fit_result_reordered_everywhere():
    model = full_rank_hhmm(jr.key(2), 3, 4)
    states = {"a": np.array([0, 1, 1, 2, 2, 2], np.int32)}
    result = FitResult(model, states, np.zeros(2), np.zeros(0), np.array([[0, 1, 2], [2, 2, 1]], np.int16), {},
                       segment_states=np.array([[0, 1, 1, 2, 2, 2]], np.int32))  # fmt: skip
    new = sm.reorder_states(result)
    assert new.info["state_order"] == [2, 1, 0]
    assert new.states["a"].tolist() == [2, 1, 1, 0, 0, 0] and new.states["a"].dtype == np.int32
    assert new.history.tolist() == [[2, 1, 0], [0, 0, 1]] and new.history.dtype == np.int16
    assert new.segment_states.tolist() == [[2, 1, 1, 0, 0, 0]]
    tables = np.asarray(model.emissions.transition_tables())
    np.testing.assert_allclose(np.asarray(new.model.emissions.transition_tables()), tables[[2, 1, 0]])
    assert result.states["a"].tolist() == [0, 1, 1, 2, 2, 2]  # the input is unchanged


def test_unknown_component_is_refused_by_name():
    import equinox as eqx

    class Odd(eqx.Module):
        n_states: int = 3

    model = full_rank_hhmm(jr.key(0), 3, 4)
    with pytest.raises(sm.InputError, match="cannot reorder the states of a Odd"):
        permute_model(eqx.tree_at(lambda m: m.transitions, model, Odd()), [0, 1, 2])
