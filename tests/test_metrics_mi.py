"""Lagged mutual information: worked examples, limits, surrogates, inputs."""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import smoseq as sm
from smoseq.metrics import lagged_mutual_information, markov_surrogates


def lagged_mi(sequences, mask, lags, **kwargs):
    kwargs.setdefault("progress", False)
    return lagged_mutual_information(sequences, mask, lags, **kwargs)


# ---------------------------------------------------------------- worked examples (by hand)


def test_real_mi_worked_example():
    x = np.array([[0, 1, 0, 1, 1, 0]])
    real = lagged_mi(x, None, np.array([0, 1, 2]), pseudo_count=0.0).real[0]
    # lag 0: MI(x, x) = H(x) = log 2 (three 0s, three 1s)
    # lag 1: pairs (x_t, x_{t-1}) = (1,0) (0,1) (1,0) (1,1) (0,1):
    #   p(1,0) = p(0,1) = .4, p(1,1) = .2; later marginal (.4, .6), earlier marginal (.4, .6)
    #   MI = .4 log(.4/(.6·.4)) + .4 log(.4/(.4·.6)) + .2 log(.2/(.6·.6))
    # lag 2: pairs (0,0) (1,1) (1,0) (0,1): all four cells 1/4 -> MI = 0
    expected = [math.log(2), 0.8 * math.log(5 / 3) + 0.2 * math.log(5 / 9), 0.0]
    np.testing.assert_allclose(real, expected, rtol=1e-12, atol=1e-12)


def test_later_frame_mask_only():
    # mask[0] = 0 but the pair (x_1, x_0) still counts: the earlier frame's mask is not checked.
    # pairs (1,0) (1,1) (0,1), each 1/3; later marginal (1/3, 2/3), earlier (1/3, 2/3)
    # MI = 1/3 [log(3/2) + log(3/4) + log(3/2)] = 1/3 log(27/16)
    x = np.array([[0, 1, 1, 0]])
    real = lagged_mi(x, np.array([[0, 1, 1, 1]]), np.array([1]), pseudo_count=0.0).real
    np.testing.assert_allclose(real, [[math.log(27 / 16) / 3]], rtol=1e-12)


def test_masked_frames_and_padding_are_skipped():
    # frames 4, 5 are padding: pairs at t = 1..3 only: (1,0) (0,1) (1,0) -> x_t determines x_{t-1}
    x = np.array([[0, 1, 0, 1, 1, 0]])
    real = lagged_mi(x, np.array([[1, 1, 1, 1, 0, 0]]), np.array([1]), pseudo_count=0.0).real
    entropy = -(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3)
    np.testing.assert_allclose(real, [[entropy]], rtol=1e-12)


def test_shuffle_pairs_previous_sequence_later_frames_with_own_earlier_frames():
    x = np.array([[0, 0, 1, 1, 1], [1, 0, 1, 0, 0]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    shuffle = lagged_mi(x, mask, np.array([1]), pseudo_count=0.0).shuffle
    # row 0: later = x[1][1:5] = 0 1 0 0, earlier = x[0][0:4] = 0 0 1 1, mask of row 0
    #   p(0,0) = p(1,0) = 1/4, p(0,1) = 1/2; later (3/4, 1/4), earlier (1/2, 1/2)
    #   MI = 1/4 log(2/3) + 1/4 log 2 + 1/2 log(4/3) = 3/4 log(4/3)
    # row 1: mask of row 1 keeps t = 1, 2: later = x[0][1:3] = 0 1, earlier = x[1][0:2] = 1 0 -> log 2
    np.testing.assert_allclose(shuffle, [[0.75 * math.log(4 / 3)], [math.log(2)]], rtol=1e-12)


def test_pseudo_count_and_lags_beyond_the_sequence():
    x = np.array([[0, 1, 0, 1, 1, 0]])
    with_pseudo = lagged_mi(x, None, np.array([1, 6, 100])).real[0]  # default 1e-8
    np.testing.assert_allclose(with_pseudo[0], 0.8 * math.log(5 / 3) + 0.2 * math.log(5 / 9), rtol=1e-6)
    assert with_pseudo[1:].tolist() == [0.0, 0.0]  # no pairs: uniform table
    assert np.isnan(lagged_mi(x, None, np.array([6]), pseudo_count=0.0).real).all()


# ---------------------------------------------------------------- brute force on random data


def brute_force_mi(later, earlier, valid, lag, n_categories, pseudo_count):
    """The definition, pair by pair."""
    table = np.full((n_categories, n_categories), pseudo_count)
    for t in range(lag, len(later)):
        if valid[t] and 0 <= later[t] < n_categories and 0 <= earlier[t - lag] < n_categories:
            table[later[t], earlier[t - lag]] += 1
    p = table / table.sum()
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / outer[nonzero])).sum())


@pytest.mark.parametrize("run_length", [1, 40])  # 1: dense counting; 40: run-merging
def test_matches_the_definition_on_random_padded_data(run_length):
    rng = np.random.default_rng(run_length)
    n_frames, n_categories = 1200, 6
    x = np.repeat(rng.integers(0, n_categories, (3, n_frames)), run_length, axis=1)[:, :n_frames]
    x = x * (rng.random(x.shape) > 0.05)  # break some runs
    mask = np.ones_like(x)
    mask[1, 900:], mask[2, 300:400] = 0, 0
    x[1, 900:] = 99  # out-of-range padding: never counted (also as sequence 2's shuffle partner)
    lags = np.array([0, 1, 7, 50, 333, 899, 900, 1199])
    result = lagged_mi(x, mask, lags, pseudo_count=1e-3)
    surrogates = markov_surrogates(x, mask)
    for n in range(3):
        for i, lag in enumerate(lags):
            args = (mask[n], lag, n_categories, 1e-3)
            assert result.real[n, i] == pytest.approx(brute_force_mi(x[n], x[n], *args), rel=1e-9, abs=1e-12)
            assert result.shuffle[n, i] == pytest.approx(brute_force_mi(x[n - 1], x[n], *args), rel=1e-9, abs=1e-12)
            expected_markov = brute_force_mi(surrogates[n], surrogates[n], *args)
            assert result.markov[n, i] == pytest.approx(expected_markov, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- limits


def test_mi_with_itself_at_lag_zero_is_the_entropy():
    rng = np.random.default_rng(0)
    x = rng.choice(7, size=(2, 5000), p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05])
    real = lagged_mi(x, None, np.array([0])).real[:, 0]
    for n in range(2):
        p = np.bincount(x[n]) / x.shape[1]
        np.testing.assert_allclose(real[n], -(p * np.log(p)).sum(), rtol=1e-6)


def test_independent_sequences_tend_to_zero_with_bias_correction():
    rng = np.random.default_rng(1)
    n_categories, lags = 20, np.array([1, 5, 50])
    for n_frames in [2_000, 20_000, 200_000]:
        x = rng.integers(0, n_categories, (3, n_frames))
        plug_in = lagged_mi(x, None, lags)
        corrected = lagged_mi(x, None, lags, bias_correction="miller-madow")
        first_order_bias = (n_categories - 1) ** 2 / (2 * n_frames)
        assert plug_in.real.mean() == pytest.approx(first_order_bias, rel=0.35)
        sampling_sd = math.sqrt(2 * (n_categories - 1) ** 2) / (2 * n_frames)
        for curve in (corrected.real, corrected.shuffle):  # (surrogates copy the sampling noise)
            assert np.abs(curve).max() < 5 * sampling_sd
        assert np.abs(corrected.real).mean() < 0.2 * plug_in.real.mean()


def simulate_chain(rng, transition, n_frames):
    cumulative = np.cumsum(transition, 1)
    uniforms = rng.random(n_frames)
    states = np.zeros(n_frames, np.int64)
    for t in range(1, n_frames):
        states[t] = min(np.searchsorted(cumulative[states[t - 1]], uniforms[t], side="right"), len(transition) - 1)
    return states


def test_markov_mi_of_a_first_order_chain_matches_its_real_mi():
    rng = np.random.default_rng(2)
    transition = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.8, 0.2, 0.0], [0.05, 0.0, 0.85, 0.1], [0.3, 0.0, 0.0, 0.7]])
    x = np.stack([simulate_chain(rng, transition, 60_000) for _ in range(2)])
    lags = np.array([1, 2, 4, 8, 16, 32])
    result = lagged_mi(x, None, lags, key=3)
    assert result.real[:, 0].min() > 0.4
    np.testing.assert_allclose(result.markov, result.real, rtol=0.08, atol=4e-3)
    assert (result.shuffle < 5e-3).all()


def test_non_markov_sequences_have_more_long_range_mi_than_their_surrogates():
    rng = np.random.default_rng(3)
    hidden = np.repeat(rng.integers(0, 2, (2, 100)), 500, axis=1)  # slow hidden state
    uniform = rng.integers(0, 4, hidden.shape)
    skewed = rng.choice(4, size=hidden.shape, p=[0.7, 0.1, 0.1, 0.1])
    x = np.where(hidden == 0, uniform, skewed)  # i.i.d. given the state: no first-order structure
    result = lagged_mi(x, None, np.array([100]))
    assert (result.real > 10 * result.markov).all()


# ---------------------------------------------------------------- surrogates


def test_surrogates_follow_the_observed_transitions():
    x = np.tile([0, 1, 2], 40)[None]
    chain = markov_surrogates(x, None, key=5)[0]
    assert (np.diff(chain) % 3 == 1).all()  # deterministic cycle 0 -> 1 -> 2 -> 0


def test_dead_end_syllable_falls_back_to_usage_without_nan():
    x = np.array([[0, 1, 0, 1, 0, 1, 0, 2, 2, 2]])
    mask = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 0, 0]])  # syllable 2 only at the last valid frame
    chain = markov_surrogates(np.repeat(x, 50, axis=0), np.repeat(mask, 50, axis=0), key=0)
    assert chain.min() >= 0 and chain.max() <= 2
    after_dead_end = chain[:, 1:][chain[:, :-1] == 2]
    assert after_dead_end.size > 0 and np.isin(after_dead_end, [0, 1, 2]).all()
    result = lagged_mi(x, mask, np.array([0, 1, 2, 3]))
    assert all(np.isfinite(curve).all() for curve in result)


def test_key_reproducibility_and_accepted_key_types():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, (2, 500))
    first = markov_surrogates(x, None, key=7)
    np.testing.assert_array_equal(first, markov_surrogates(x, None, key=7))
    assert (first != markov_surrogates(x, None, key=8)).any()
    from_raw_key = markov_surrogates(x, None, key=jr.PRNGKey(1))
    np.testing.assert_array_equal(from_raw_key, markov_surrogates(x, None, key=jr.PRNGKey(1)))
    np.testing.assert_array_equal(from_raw_key, markov_surrogates(x, None, key=jr.key(1)))  # typed key
    np.testing.assert_array_equal(markov_surrogates(x, None), markov_surrogates(x, None, key=0))


# ---------------------------------------------------------------- inputs and interface


def test_numpy_and_jax_inputs_agree_and_tutorial_call_works():
    rng = np.random.default_rng(5)
    recordings = {f"r{i}": rng.integers(0, 6, n) for i, n in enumerate([700, 500, 650])}
    seqs, mask, _ = sm.batch(recordings)
    lags = jnp.logspace(jnp.log10(2), jnp.log10(200), 5).astype(int)
    real_mis, markov_mis, shuff_mis = lagged_mi(jnp.array(seqs), jnp.array(mask), lags)
    from_numpy = lagged_mi(np.asarray(seqs), np.asarray(mask), np.asarray(lags))
    np.testing.assert_array_equal(real_mis, from_numpy.real)
    np.testing.assert_array_equal(markov_mis, from_numpy.markov)
    np.testing.assert_array_equal(shuff_mis, from_numpy.shuffle)
    assert real_mis.shape == (3, 5) and real_mis.dtype == np.float64


def test_progress_bar_can_be_disabled(capsys):
    x = np.zeros((2, 50), int)
    lagged_mutual_information(x, None, np.array([1]), progress=False)
    assert capsys.readouterr().err == ""
    lagged_mutual_information(x, None, np.array([1]), progress=True)
    assert "Lagged MI" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sequences", "mask", "lags", "kwargs", "message"),
    [
        (np.full((2, 5), 0.5), None, [1], {}, "must hold integers"),
        (np.zeros((2, 5), int), np.ones((2, 4)), [1], {}, "mask has shape"),
        (np.zeros((2, 5), int), None, [-1], {}, "non-negative"),
        (np.zeros((2, 5), int), None, [1.5], {}, "integer"),
        (np.zeros((2, 5), int), np.zeros((2, 5)), [1], {}, "no valid frame"),
        (-np.ones((2, 5), int), None, [1], {}, "negative"),
        (np.zeros((2, 5), int), None, [1], {"bias_correction": "jackknife"}, "bias_correction"),
    ],
)
def test_bad_input_is_named(sequences, mask, lags, kwargs, message):
    with pytest.raises(sm.InputError, match=message):
        lagged_mi(sequences, mask, np.asarray(lags), **kwargs)


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    import numba

    rng = np.random.default_rng(6)
    x = np.repeat(rng.integers(0, 8, (5, 300)), rng.integers(1, 9, 300), axis=1)[:, :1500]
    lags = np.array([0, 3, 30, 300])
    results = []
    for n_threads in [1, 3]:
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", n_threads)
        results.append(lagged_mi(x, None, lags, key=1))
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)
