"""Per-state syllable enrichment from labelled data and from model tables, by hand."""

import numpy as np
import pytest

from smoseq.metrics import syllable_enrichment, syllable_enrichment_from_model

SYLLABLES = {"r": np.array([0, 0, 1, 1, 0, 1])}
STATES = {"r": np.array([0, 0, 0, 1, 1, 1])}


def test_enrichment_from_data_without_pseudo_counts():
    result = syllable_enrichment(SYLLABLES, STATES, pseudo_count=0.0)
    # state 0 frames: syllables 0 0 1; state 1 frames: 1 0 1
    np.testing.assert_allclose(result.usage, [[2 / 3, 1 / 3], [1 / 3, 2 / 3]])
    np.testing.assert_allclose(result.overall_usage, [0.5, 0.5])
    np.testing.assert_allclose(result.usage_enrichment, np.log2([[4 / 3, 2 / 3], [2 / 3, 4 / 3]]))
    # pairs (x_{t-1}, x_t) labelled by z_t: 0->0, 0->1 in state 0; 1->1, 1->0, 0->1 in state 1
    np.testing.assert_allclose(result.transitions[0], [[1 / 2, 1 / 2], [0, 0]])
    np.testing.assert_allclose(result.transitions[1], [[0, 1 / 3], [1 / 3, 1 / 3]])
    np.testing.assert_allclose(result.overall_transitions, [[1 / 5, 2 / 5], [1 / 5, 1 / 5]])
    assert result.transition_enrichment[0, 0, 0] == pytest.approx(np.log2(2.5))
    assert result.transition_enrichment[0, 1, 0] == -np.inf


def test_enrichment_from_data_with_pseudo_counts_and_table():
    result = syllable_enrichment(SYLLABLES, STATES)  # +1 per cell
    np.testing.assert_allclose(result.usage, [[3 / 5, 2 / 5], [2 / 5, 3 / 5]])
    np.testing.assert_allclose(result.transitions[0], np.array([[2, 2], [1, 1]]) / 6)
    assert np.isfinite(result.transition_enrichment).all()
    table = result.usage_table()
    assert table.columns.tolist() == ["state", "syllable", "usage", "overall_usage", "log2_enrichment"]
    assert table.iloc[0][["state", "syllable"]].tolist() == [0, 0]  # most enriched first
    assert table.iloc[0].log2_enrichment == pytest.approx(np.log2(0.6 / 0.5))


def test_enrichment_from_model_tables():
    trans_probs = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.1, 0.9], [0.5, 0.5]]])
    result = syllable_enrichment_from_model(trans_probs, usage=np.array([0.5, 0.5]))
    # joint_k[i, j] = u[i] P_k[i, j]: state 0 [[.45, .05], [.25, .25]], state 1 [[.05, .45], [.25, .25]]
    np.testing.assert_allclose(result.usage, [[0.7, 0.3], [0.3, 0.7]])
    np.testing.assert_allclose(result.overall_usage, [0.5, 0.5])
    np.testing.assert_allclose(result.usage_enrichment[0], np.log2([1.4, 0.6]))
    np.testing.assert_allclose(result.transition_enrichment[0], np.log2([[1.8, 0.2], [1, 1]]))
    weighted = syllable_enrichment_from_model(trans_probs, np.array([0.5, 0.5]), state_weights=np.array([3, 1]))
    np.testing.assert_allclose(weighted.overall_usage, [0.6, 0.4])
