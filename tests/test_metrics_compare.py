"""Hungarian state comparison and adjusted Rand index on worked examples."""

import jax.numpy as jnp
import numpy as np
import pytest

import smoseq as sm
from smoseq.metrics import adjusted_rand_index, compare_states, get_adjusted_rand

TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
PRED = np.array([1, 1, 0, 0, 0, 0, 1, 1, 1])
# counts[true, pred] (the published orientation, [states1, states2]):
#   true 0: [1, 2]   true 1: [2, 0]   true 2: [1, 3]
# best one-to-one matching: pred 0 <-> true 1 (2 frames) + pred 1 <-> true 2 (3 frames); true 0 unmatched


def test_published_orientation_on_a_small_example():
    """Release 0.0.0: confusion[states1, states2], rows over states1; states1 label perm[j] matches states2 label j."""
    confusion, permutation, accuracy = compare_states(np.array([0, 0, 1, 1, 2]), np.array([2, 2, 0, 1, 1]))
    # counts[s1, s2] = [[0, 0, 2], [1, 1, 0], [0, 1, 0]]: s2 0 <-> s1 1, s2 1 <-> s1 2, s2 2 <-> s1 0: 4 of 5 frames
    np.testing.assert_allclose(confusion, [[0, 0, 1], [1 / 2, 1 / 2, 0], [0, 1, 0]])
    assert permutation.tolist() == [1, 2, 0] and accuracy == pytest.approx(4 / 5)
    # permutation[states2] relabels states2 with states1's labels
    assert permutation[np.array([2, 2, 0, 1, 1])].tolist() == [0, 0, 1, 2, 2]


def test_more_true_states_than_predicted():
    result = compare_states(TRUE, PRED)
    assert result.confusion.shape == (3, 2)
    np.testing.assert_allclose(result.confusion, [[1 / 3, 2 / 3], [1, 0], [1 / 4, 3 / 4]])
    assert result.permutation.tolist() == [1, 2]  # pred 0 -> true 1, pred 1 -> true 2
    assert result.accuracy == pytest.approx(5 / 9)


def test_more_predicted_states_than_true():
    confusion, permutation, accuracy = compare_states(PRED, TRUE)
    # counts[pred, true] = [[1, 2, 1], [2, 0, 3]]
    np.testing.assert_allclose(confusion, [[1 / 4, 2 / 4, 1 / 4], [2 / 5, 0, 3 / 5]])
    assert permutation.tolist() == [-1, 0, 1] and accuracy == pytest.approx(5 / 9)  # true 0 left unmatched


def test_dicts_jax_arrays_and_unused_states():
    true = {"a": TRUE[:4], "b": jnp.array(TRUE[4:])}
    pred = {"b": PRED[4:], "a": PRED[:4]}  # matched by key, not by order
    result = compare_states(true, pred, n_states=(4, 3))
    assert result.confusion.shape == (4, 3)
    assert np.all(result.confusion[3] == 0)  # an unused states1 label: a row of zeros, not NaN
    assert result.permutation[:2].tolist() == [1, 2] and result.permutation[2] in (0, 3)  # zero-cost match
    assert result.accuracy == pytest.approx(5 / 9)


def test_masked_arrays_and_bad_pairs():
    true = np.stack([TRUE, TRUE])
    pred = np.stack([PRED, 1 - TRUE.clip(0, 1)])
    mask = np.stack([np.ones(9), np.zeros(9)])
    assert compare_states(true, pred, mask=mask).accuracy == pytest.approx(5 / 9)
    with pytest.raises(sm.InputError, match="same recordings"):
        compare_states({"a": TRUE}, {"b": TRUE})
    with pytest.raises(sm.InputError, match="frames"):
        compare_states({"a": TRUE}, {"a": TRUE[:5]})
    with pytest.raises(sm.InputError, match="both be dicts"):
        compare_states({"a": TRUE}, TRUE)


def test_adjusted_rand_worked_example():
    # contingency [[2, 1, 0], [0, 1, 2]]: Σ C(n_ij, 2) = 2; rows C(3,2)·2 = 6; columns C(2,2)·3 = 3
    # expected = 6·3 / C(6,2) = 1.2, max = (6 + 3) / 2 = 4.5 -> ARI = 0.8 / 3.3 = 8/33
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(8 / 33)
    # [0,0,1,1] vs [0,1,0,1]: index 0, rows 2, columns 2, expected 4/6, max 2 -> -0.5
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index([3, 3, 7, 7, 7], [1, 1, 0, 0, 0]) == 1.0  # renaming does not matter
    assert adjusted_rand_index([0, 0, 0], [4, 4, 4]) == 1.0


def test_get_adjusted_rand_downsamples_each_recording():
    states1 = {"a": np.array([0, 9, 0, 9, 1]), "b": np.array([1, 9, 1])}
    states2 = {"a": np.array([5, 6, 5, 5, 6]), "b": np.array([6, 5, 6])}
    # frames 0, 2, 4 of "a" and 0, 2 of "b": [0 0 1 1 1] vs [5 5 6 6 6] -> identical partitions
    assert get_adjusted_rand(states1, states2, downsample=2) == 1.0
    # (pooling first would take [0 0 1 9] vs [5 5 6 5])
    assert get_adjusted_rand(states1, states2, downsample=1) < 1.0
    with pytest.raises(sm.InputError, match="downsample"):
        get_adjusted_rand(states1, states2, downsample=0)
