import jax.numpy as jnp
import numpy as np
import pytest

import smoseq as sm


def test_batch_worked_example():
    recordings = {"b": np.array([5, 6, 7]), "a": np.array([1, 2, 3, 4, 5])}
    data, mask, (keys, bounds) = sm.batch(recordings, seg_length=2, seg_overlap=1)
    # keys sorted; segments start every 2 frames; each holds up to 3 frames, padded by repeating the last
    assert keys.tolist() == ["a", "a", "a", "b", "b"]
    assert bounds.tolist() == [[0, 3], [2, 5], [4, 5], [0, 3], [2, 3]]
    assert data.tolist() == [[1, 2, 3], [3, 4, 5], [5, 5, 5], [5, 6, 7], [7, 7, 7]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 1], [1, 0, 0]]


def test_batch_defaults_one_segment_per_recording_with_overlap_padding():
    recordings = {"x": np.arange(4), "y": np.arange(2)}
    data, mask, (keys, bounds) = sm.batch(recordings)
    assert data.shape == (2, 4 + 30)
    assert mask.sum(1).tolist() == [4, 2]
    assert bounds.tolist() == [[0, 4], [0, 2]]
    assert (data[1, 2:] == 1).all()


@pytest.mark.parametrize("seg_length", [None, 3, 7, 50])
def test_unbatch_inverts_batch(seg_length):
    rng = np.random.default_rng(0)
    recordings = {f"r{i}": rng.integers(0, 9, size=n) for i, n in enumerate([17, 5, 40])}
    data, mask, metadata = sm.batch(recordings, seg_length=seg_length)
    restored = sm.unbatch(data, *metadata)
    assert set(restored) == set(recordings)
    for name, sequence in recordings.items():
        np.testing.assert_array_equal(restored[name], sequence)


def test_batch_accepts_jax_arrays_and_integer_valued_floats():
    data, _, _ = sm.batch({"a": jnp.array([1, 2, 3]), "b": np.array([1.0, 0.0])})
    assert data.dtype.kind in "iu"


@pytest.mark.parametrize(
    "sequence, message",
    [
        (np.array([[1, 2], [3, 4]]), "must be 1-D"),
        (np.array([3]), "at least 2 frames"),
        (np.array([1, -2, 3]), "must be >= 0, frame 1"),
        (np.array([1.0, np.nan, 2.0]), "NaN at frame 1"),
        (np.array([1.0, 2.5]), "must be integers, frame 1"),
        (np.array(["a", "b"]), "must be integers"),
    ],
)
def test_batch_rejects_bad_recordings_naming_them(sequence, message):
    with pytest.raises(ValueError, match=message) as error:
        sm.batch({"good": np.array([0, 1, 2]), "session 7": sequence})
    assert "'session 7'" in str(error.value)
