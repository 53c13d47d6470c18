"""Repeated syllables carry no evidence by default; the most probable state per frame is the default prediction."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq.fitting.data import prepare_data
from smoseq.fitting.prediction import predict_states
from smoseq.inference.states import SyllableData, marginal_logliks, smoothed_probs, without_repeats
from smoseq.models import HHMM, StickyTransitions, low_rank_hhmm, transition_counts
from smoseq.models import FullRankEmissions
from smoseq.models.priors import Dirichlet


def test_evidence_marks_syllable_changes_of_real_frames():
    syllables = np.array([[3, 3, 1, 1, 1, 2, 0, 0]])
    mask = np.array([[1, 1, 1, 1, 1, 1, 0, 0]], float)  # two frames of padding

    data = without_repeats(SyllableData(syllables, mask))

    np.testing.assert_array_equal(data.evidence, [[1, 0, 1, 0, 0, 1, 0, 0]])
    np.testing.assert_array_equal(data.mask, mask)  # the hidden chain keeps every real frame


def test_single_state_likelihood_scores_only_changes():
    """With K = 1 the marginal log-likelihood is Σ log P[x_{t-1}, x_t] over every frame, and over the frames
    that change syllable Σ log (P[x_{t-1}, x_t] / (1 − P[x_{t-1}, x_{t-1}])): the next different syllable."""
    table = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    model = HHMM(
        FullRankEmissions(jnp.asarray(table[None]), Dirichlet(1.0)),
        StickyTransitions(jnp.ones((1, 1)), 1.0, 0.0),
    )
    syllables = np.array([[0, 0, 1, 1, 1, 2, 2, 0]])
    data = SyllableData(syllables, np.ones_like(syllables, float))

    every_frame = float(marginal_logliks(model, data, "serial").sum())
    changes_only = float(marginal_logliks(model, without_repeats(data), "serial").sum())

    pairs = list(zip(syllables[0, :-1], syllables[0, 1:]))
    np.testing.assert_allclose(every_frame, sum(np.log(table[a, b]) for a, b in pairs), rtol=1e-6)
    next_different = sum(np.log(table[a, b] / (1 - table[a, a])) for a, b in pairs if a != b)
    np.testing.assert_allclose(changes_only, next_different, rtol=1e-6)


def test_transition_counts_keep_the_frames_without_evidence():
    syllables = np.array([[0, 0, 0, 1, 1, 1]])
    data = without_repeats(SyllableData(syllables, np.ones_like(syllables, float)))
    states = jnp.array([[0, 0, 0, 1, 1, 1]])
    counts = transition_counts(states, data.mask, 2)
    np.testing.assert_array_equal(counts, [[2, 1], [0, 2]])


@pytest.fixture(scope="module")
def multi_frame_fit():
    """Simulated syllables, each held for 1-4 frames, fitted with both settings."""
    truth = low_rank_hhmm(jr.key(0), 3, 12, kappa=3000.0)
    _, syllables = truth.simulate(jr.key(1), 4, 1500)
    rng = np.random.default_rng(0)
    recordings = {f"r{i}": np.repeat(np.asarray(row), rng.integers(1, 5, row.shape)) for i, row in enumerate(syllables)}
    return recordings, sm.fit(recordings, n_states=3, n_iters=3, seed=0, progress=False, n_init_iters=2)


def test_fit_records_the_setting_and_predict_uses_it(multi_frame_fit):
    recordings, result = multi_frame_fit
    assert result.hyperparameters["repeats"] == "ignore" and result.repeats == "ignore"
    name = "r0"
    prepared = prepare_data({name: recordings[name]}, seg_overlap=0, n_syllables=result.model.n_syllables, repeats="ignore")
    marginals = np.asarray(smoothed_probs(result.model, prepared.data, "serial"))[0, : len(recordings[name])]

    predicted = result.predict({name: recordings[name]})[name]
    probabilities = result.predict({name: recordings[name]}, method="marginals")[name]

    np.testing.assert_array_equal(predicted, marginals.argmax(-1))
    np.testing.assert_allclose(probabilities, marginals, atol=1e-5)
    scored_as_published = predict_states(result.model, {name: recordings[name]}, method="marginals", repeats="model")
    assert not np.allclose(scored_as_published[name], marginals, atol=1e-3)


def test_unknown_settings_are_refused(multi_frame_fit):
    recordings, result = multi_frame_fit
    with pytest.raises(sm.InputError, match="repeats must be"):
        sm.fit(recordings, n_states=3, n_iters=1, repeats="sometimes", progress=False)
    with pytest.raises(sm.InputError, match="method must be one of"):
        result.predict(recordings, method="best")
