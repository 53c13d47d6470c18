"""What a fit under a memory limit holds: compact data and states, widened per chunk to what components see."""

import numpy as np
import pytest

import smoseq as sm
from smoseq.fitting import budget
from smoseq.fitting.data import prepare_data
from smoseq.inference import initialization
from smoseq.inference.initialization import kmeans, kmeans_window_states, window_usage
from smoseq.inference.placement import Placement
from smoseq.io.batching import batch
import jax.random as jr

from smoseq.models import SyllableData, compact_data, compact_dtype, compacted, low_rank_hhmm, widened


def _recordings(n=5, seed=0, n_syllables=6, dtype=np.int64):
    rng = np.random.default_rng(seed)
    return {f"r{i}": rng.integers(0, n_syllables, size=int(rng.integers(150, 300))).astype(dtype) for i in range(n)}


def test_compact_dtype():
    assert compact_dtype(2) == np.uint8 and compact_dtype(256) == np.uint8
    assert compact_dtype(257) == np.uint16 and compact_dtype(65536) == np.uint16
    assert compact_dtype(65537) == np.int32


@pytest.mark.parametrize("n_syllables", [6, 300])
def test_compact_batch_holds_the_same_values_in_fewer_bytes(n_syllables):
    recordings = _recordings(n_syllables=n_syllables)
    seqs, mask, (keys, bounds) = batch(recordings, seg_length=100)
    small, flags, (small_keys, small_bounds) = batch(recordings, seg_length=100, compact=True)
    assert small.dtype == (np.uint8 if n_syllables <= 256 else np.uint16) and flags.dtype == bool
    assert seqs.dtype == np.int64 and mask.dtype == float
    np.testing.assert_array_equal(small, seqs)
    np.testing.assert_array_equal(flags, mask)
    np.testing.assert_array_equal(small_keys, keys)
    np.testing.assert_array_equal(small_bounds, bounds)


@pytest.mark.parametrize("repeats", ["ignore", "model"])
def test_compact_data_widens_to_exactly_the_plain_data(repeats):
    recordings = _recordings()
    plain = prepare_data(recordings, seg_length=120, repeats=repeats).data
    held = prepare_data(recordings, seg_length=120, repeats=repeats, compact=True).data
    assert held.syllables.dtype == np.uint8 and held.mask.dtype == bool and held.repeats == plain.repeats
    bytes_per_frame = sum(a.nbytes for a in (held.syllables, held.mask, held.evidence) if a is not None) / held.mask.size
    assert bytes_per_frame == (3 if repeats == "ignore" else 2)
    wide = widened(held)
    for name in ("syllables", "mask", "evidence"):
        a, b = getattr(plain, name), getattr(wide, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_compacting_keeps_a_weighted_mask_and_other_fields():
    mask = np.array([[1.0, 0.5, 0.0]])
    held = compact_data(np.array([[3, 1, 1]]), mask)
    assert held.mask.dtype == np.float32
    np.testing.assert_array_equal(held.mask, mask)
    grouped = SyllableData(np.array([[3, 1, 1]]), np.array([[1, 1, 0]]), groups=np.array([1]))
    again = compacted(grouped)
    assert again.syllables.dtype == np.uint8 and again.mask.dtype == bool
    np.testing.assert_array_equal(np.asarray(again.groups), [1])


def _kmeans_window_states_whole(syllables, mask, n_states, n_syllables, window, seed):
    """The whole-array algorithm (every window's usage at once), the reference for the blockwise one."""
    usage, valid = window_usage(syllables, mask, n_syllables, window)
    features = np.sqrt((usage / np.maximum(usage.sum(-1, keepdims=True), 1.0))[valid])
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = None, np.inf
    for _ in range(4):
        labels, inertia = kmeans(features, n_states, rng)
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    window_states = np.zeros(valid.shape, dtype=np.int32)
    window_states[valid] = best_labels
    return np.repeat(window_states, window, axis=1)[:, : syllables.shape[1]]


def test_blockwise_kmeans_start_equals_the_whole_array_one(monkeypatch):
    data = prepare_data(_recordings(n=9, seed=3), seg_length=90, compact=True).data
    syllables, mask = np.asarray(data.syllables), np.asarray(data.mask)
    expected = _kmeans_window_states_whole(syllables.astype(np.int64), mask.astype(float), 3, 6, 12, 4)
    monkeypatch.setattr(initialization, "BLOCK_FRAMES", 250)  # two sequences per block
    states = kmeans_window_states(syllables, mask, 3, 6, 12, 4, dtype=np.uint8)
    assert states.dtype == np.uint8
    np.testing.assert_array_equal(states, expected)


def test_subsampled_kmeans_start_finds_the_regimes(monkeypatch):
    """Two syllable regimes in alternating blocks of 60 frames: k-means on 40 of the ~100 windows finds both."""
    rng = np.random.default_rng(0)
    regime = np.repeat(np.arange(100) % 2, 60)[None].repeat(10, 0)[:, :600]  # (10, 600)
    syllables = np.where(regime == 0, rng.integers(0, 3, regime.shape), rng.integers(3, 6, regime.shape)).astype(np.uint8)
    mask = np.ones(syllables.shape, bool)
    monkeypatch.setattr(initialization, "BLOCK_FRAMES", 1200)
    states = kmeans_window_states(syllables, mask, 2, 6, 60, 1, dtype=np.uint8, max_windows=40)
    again = kmeans_window_states(syllables, mask, 2, 6, 60, 1, dtype=np.uint8, max_windows=40)
    np.testing.assert_array_equal(states, again)
    agreement = (states == regime).mean()
    assert max(agreement, 1 - agreement) == 1.0
    # with room for every window, the subsampling path is not taken: the same start as unlimited
    np.testing.assert_array_equal(
        kmeans_window_states(syllables, mask, 2, 6, 60, 1, max_windows=100),
        kmeans_window_states(syllables, mask, 2, 6, 60, 1),
    )


def test_held_states_dtype_follows_the_number_of_states():
    chunked, whole = Placement(chunk_size=2), Placement()
    states = np.arange(12).reshape(3, 4) % 3
    assert chunked.held_states(low_rank_hhmm(jr.key(0), 3, 4), states, 4).dtype == np.uint8
    assert chunked.held_states(low_rank_hhmm(jr.key(0), 300, 4), states, 4).dtype == np.uint16
    held = whole.held_states(low_rank_hhmm(jr.key(0), 3, 4), states, 4)
    assert held.dtype == np.int32 and held.shape == (4, 4) and not held[3].any()


def _limit_for_chunks(recordings, n_states, n_syllables, chunk_size, repeats="ignore", method="native"):
    n_sequences, n_timesteps = prepare_data(recordings, repeats=repeats).data.syllables.shape
    input_bytes = sum(np.asarray(r).nbytes for r in recordings.values())
    return budget.fit_peak_bytes(n_sequences, n_timesteps, n_states, n_syllables, 3, method, chunk_size=chunk_size,
                                 input_bytes=input_bytes)  # fmt: skip


def test_a_chunked_fit_holds_uint8_states_and_returns_the_plain_fit():
    recordings = _recordings(n=7, seed=5, dtype=np.uint8)
    options = dict(n_states=3, n_iters=3, seed=1, n_init_iters=1, progress=False)
    plain = sm.fit(recordings, **options)
    limited = sm.fit(recordings, memory_limit=_limit_for_chunks(recordings, 3, 6, 3), **options)
    assert limited.info["memory"]["chunk_size"] == 3
    assert limited.segment_states.dtype == np.uint8 and plain.segment_states.dtype == np.int32
    np.testing.assert_array_equal(limited.segment_states, plain.segment_states)
    for name in recordings:
        assert limited.states[name].dtype == plain.states[name].dtype == np.int32
        np.testing.assert_array_equal(limited.states[name], plain.states[name])
    np.testing.assert_allclose(limited.log_probs, plain.log_probs, rtol=1e-6)
    np.testing.assert_array_equal(limited.history, plain.history)


def test_custom_components_see_widened_chunks():
    """A custom emission and transition component (arithmetic on states and syllables) fits the same in chunks."""
    import jax.numpy as jnp
    from custom_components import Beta, CategoricalEmissions, SymmetricStickyTransitions

    from smoseq.models import Dirichlet

    recordings = _recordings(n=6, seed=2, n_syllables=5)
    emissions = CategoricalEmissions(jnp.full((3, 5), 0.2), Dirichlet(2.0), 1.0, ("a", "b", "c"))
    transitions = SymmetricStickyTransitions(3, prior=Beta(5.0, 2.0))
    options = dict(n_states=3, n_iters=3, seed=0, n_init_iters=1, progress=False, emissions=emissions,
                   transitions=transitions, method="serial")  # fmt: skip
    plain = sm.fit(recordings, **options)
    limited = sm.fit(recordings, memory_limit=_limit_for_chunks(recordings, 3, 5, 2, method="serial"), **options)
    assert limited.info["memory"]["chunk_size"] == 2
    for name in recordings:
        np.testing.assert_array_equal(limited.states[name], plain.states[name])
    np.testing.assert_allclose(limited.log_probs, plain.log_probs, rtol=1e-5)


def test_a_chunked_fit_resumes_from_its_uint8_checkpoint(tmp_path):
    recordings = _recordings(n=5, seed=7, dtype=np.uint8)
    limit = _limit_for_chunks(recordings, 3, 6, 2)
    options = dict(n_states=3, seed=4, n_init_iters=1, progress=False, memory_limit=limit, checkpoint_every=1)
    straight = sm.fit(recordings, n_iters=3, **options)
    sm.fit(recordings, n_iters=2, checkpoint_dir=tmp_path, **options)
    resumed = sm.fit(recordings, n_iters=3, checkpoint_dir=tmp_path, resume=True, **options)
    assert resumed.info["memory"]["chunk_size"] == 2
    for name in recordings:
        np.testing.assert_array_equal(resumed.states[name], straight.states[name])
    np.testing.assert_allclose(resumed.log_probs, straight.log_probs, rtol=1e-6)
