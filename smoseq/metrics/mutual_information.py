"""Lagged mutual information of syllable sequences, of Markov surrogates, and across recordings.

The seed-compatible `lagged_mutual_information` follows the published State-MoSeq
semantics (see its docstring), computed by numba kernels shared over threads: all Markov
surrogates are simulated in one batched call, then every (sequence, curve, lag) table of
a block of sequences is counted in one call — frame by frame, or run by run where
syllables last long enough for that to be cheaper.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import NamedTuple

import numba
import numpy as np
from tqdm.auto import tqdm

from . import _mi_kernels
from .._errors import InputError
from .._numba_cache import call_compiled
from ._inputs import as_integer_array, numpy_rng

BIAS_CORRECTIONS = (None, "miller-madow")
_FRAMES_PER_BLOCK = 1_000_000  # sequences prepared at once: ~40 bytes of scratch per frame


class LaggedMI(NamedTuple):
    """Mutual information (nats), each `(n_sequences, n_lags)`; unpacks as a 3-tuple.

    Attributes:
        real: (n_sequences, n_lags) float64 MI of the real sequences.
        markov: (n_sequences, n_lags) float64 MI of first-order Markov surrogates.
        shuffle: (n_sequences, n_lags) float64 MI of pairs of different sequences (chance level).
    """

    real: np.ndarray
    markov: np.ndarray
    shuffle: np.ndarray


def _as_batch(sequences, mask) -> tuple[np.ndarray, np.ndarray]:
    sequences = as_integer_array(sequences, "sequences")
    if sequences.ndim == 1:
        sequences = sequences[None]
        mask = None if mask is None else np.asarray(mask)[None]
    if sequences.ndim != 2:
        raise InputError(f"sequences must be (n_sequences, n_frames), got shape {sequences.shape}")
    valid = np.ones(sequences.shape, bool) if mask is None else np.asarray(mask) != 0
    if valid.shape != sequences.shape:
        raise InputError(f"mask has shape {valid.shape} but sequences have shape {sequences.shape}")
    if np.any(sequences[valid] < 0):
        raise InputError("sequences hold negative syllables at valid frames; syllables are 0, 1, 2, ...")
    int32 = np.iinfo(np.int32)
    if sequences.size and (sequences.max() > int32.max or sequences.min() < int32.min):
        raise InputError("sequences (padding included) must fit in int32")
    return np.ascontiguousarray(sequences, np.int32), np.ascontiguousarray(valid)


def _cumulative_tables(usage: np.ndarray, transitions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer cumulative counts for the surrogate chains.

    A syllable with no outgoing transition falls back to the sequence's usage; a sequence
    with no valid frame falls back to uniform.
    """
    usage = np.where(usage.sum(-1, keepdims=True) > 0, usage, 1)
    dead_end = transitions.sum(-1, keepdims=True) == 0
    transitions = np.where(dead_end, usage[:, None, :], transitions)
    return np.cumsum(usage, -1), np.ascontiguousarray(np.cumsum(transitions, -1))


def _simulate(run, sequences: np.ndarray, valid: np.ndarray, n_categories: int, rng) -> np.ndarray:
    n_sequences = sequences.shape[0]
    usage = np.zeros((n_sequences, n_categories), np.int64)
    transitions = np.zeros((n_sequences, n_categories, n_categories), np.int64)
    run(_mi_kernels.count_usage_and_transitions, sequences, valid, usage, transitions)
    initial, transition = _cumulative_tables(usage, transitions)
    uniforms = rng.random(sequences.shape)
    surrogates = np.empty(sequences.shape, np.int32)
    run(_mi_kernels.simulate_chains, initial, transition, uniforms, surrogates)
    return surrogates


def _lagged_mi_blocks(run, sequences, surrogates, valid, lags, n_categories, pseudo_count, on_block):
    """`(mi, bias)`, each `(3, n_sequences, n_lags)`, a few sequences at a time."""
    n_sequences, n_frames = sequences.shape
    mi = np.zeros((3, n_sequences, len(lags)))
    bias = np.zeros_like(mi)
    block = max(1, min(-(-n_sequences // 10), _FRAMES_PER_BLOCK // max(n_frames, 1)))
    dense = np.empty((block, 5, n_frames), np.int16)
    run_ends = np.empty((block, 5, n_frames), np.int32)
    run_labels = np.empty((block, 5, n_frames), np.int16)
    n_runs = np.empty((block, 5), np.int64)
    for start in range(0, n_sequences, block):
        stop = min(start + block, n_sequences)
        prepared = dense[: stop - start], run_ends[: stop - start], run_labels[: stop - start], n_runs[: stop - start]
        run(_mi_kernels.prepare_block, sequences, surrogates, valid, n_categories, start, *prepared)
        outputs = mi[:, start:stop], bias[:, start:stop]
        run(_mi_kernels.lagged_mi_block, *prepared, lags, n_categories, pseudo_count, *outputs)
        on_block(stop - start)
    return mi, bias


@contextmanager
def _threads():
    """A runner `run(kernel, *args)` that splits a kernel call over numba's thread count."""
    n_threads = max(1, int(numba.config.NUMBA_NUM_THREADS))
    with ThreadPoolExecutor(n_threads) as pool:
        yield partial(_mi_kernels.in_threads, pool, n_threads)


def markov_surrogates(sequences, mask=None, *, key=None) -> np.ndarray:
    """First-order Markov chains with each sequence's own transition probabilities.

    Transitions are counted over consecutive frames that are both valid; the first frame is
    drawn from the sequence's syllable usage (valid frames); a syllable with no outgoing
    transition continues from the usage (never NaN). Every chain runs the full `n_frames`.
    (The published code also counts the step from the last valid frame into the padding,
    draws the first frame uniformly, and gives NaN rows for dead ends.)

    Args:
        sequences: `(n_sequences, n_frames)` (or `(n_frames,)`) non-negative ints, numpy or jax.
        mask: same shape, nonzero where valid; `None` means all valid.
        key: `None` (seed 0), an int seed, a jax PRNG key, or a numpy Generator.

    Returns:
        `(n_sequences, n_frames)` int32 simulated syllables.
    """
    sequences, valid = _as_batch(sequences, mask)
    n_categories = int(np.max(sequences, where=valid, initial=-1)) + 1
    with _threads() as run:
        return _simulate(run, sequences, valid, max(n_categories, 1), numpy_rng(key))


def _check_lags(lags) -> np.ndarray:
    lags = np.asarray(lags)
    if lags.ndim != 1 or lags.dtype.kind not in "iu":
        raise InputError(f"lags must be a 1-D integer array, got dtype {lags.dtype}, shape {lags.shape}")
    if np.any(lags < 0):
        raise InputError(f"lags must be non-negative, got {lags.min()}")
    return np.ascontiguousarray(lags, np.int64)


def lagged_mutual_information(
    sequences,
    mask,
    lags,
    pseudo_count: float = 1e-8,
    *,
    key=None,
    bias_correction: str | None = None,
    progress: bool = True,
) -> LaggedMI:
    """Mutual information between `x_t` and `x_{t−lag}` for real, Markov and shuffled data.

    For each sequence `n` and lag `ℓ`, pairs `(x_t, y_{t−ℓ})` with `t ≥ ℓ` and `mask[n, t]`
    (the earlier frame's mask is not checked, as in State-MoSeq) are counted in an
    `S × S` table, `S = max(valid syllables) + 1`; `pseudo_count` is added to every cell and
    MI = Σ p log(p / (p_row p_col)) in nats. The three curves:

    - `real`: `x = y = sequences[n]`;
    - `markov`: `x = y =` a first-order chain simulated with sequence `n`'s own transition
      probabilities (see `markov_surrogates`), full length, same mask;
    - `shuffle`: `x = sequences[n − 1]` (cyclic: row 0 uses the last sequence), `y =
      sequences[n]`, mask of sequence `n` — the published pairing, a chance baseline.

    Pairs that hold a value outside `0..S-1` (padding of another sequence) are skipped.
    A lag with no pairs gives 0 (or NaN if `pseudo_count` is 0).

    Args:
        sequences: `(n_sequences, n_frames)` non-negative int syllables, numpy or jax.
        mask: same shape, nonzero where valid (e.g. from `batch`); `None`: all valid.
        lags: 1-D non-negative ints, in frames.
        pseudo_count: added to every cell of each count table.
        key: randomness of the Markov surrogates: `None` (seed 0), an int, a jax PRNG key or
            a numpy Generator.
        bias_correction: `None` (plug-in estimate, as published) or `"miller-madow"`, which
            subtracts `(m_xy − m_x − m_y + 1) / (2n)` (m: occupied cells, rows, columns;
            n: pairs) from every curve. The plug-in estimate of independent sequences is
            about `(S−1)² / (2n)`, far from 0 for many syllables and short sequences; the
            corrected one is near 0 (and may be slightly negative). Autocorrelated pairs
            make the effective n smaller, so some bias remains at short lags.
        progress: show a progress bar.

    Returns:
        `LaggedMI(real, markov, shuffle)`, each a float64 `(n_sequences, n_lags)` array.
    """
    if bias_correction not in BIAS_CORRECTIONS:
        raise InputError(f"bias_correction must be one of {BIAS_CORRECTIONS}, got {bias_correction!r}")
    if not pseudo_count >= 0:
        raise InputError(f"pseudo_count must be >= 0, got {pseudo_count}")
    sequences, valid = _as_batch(sequences, mask)
    lags = _check_lags(lags)
    if not valid.any():
        raise InputError("mask has no valid frame")
    n_sequences = sequences.shape[0]
    n_categories = int(np.max(sequences, where=valid, initial=-1)) + 1
    if n_categories >= np.iinfo(np.int16).max:
        raise InputError(f"at most {np.iinfo(np.int16).max - 1} syllables are supported, got {n_categories}")

    with _threads() as run, tqdm(total=n_sequences + 1, desc="Lagged MI", unit="seq", disable=not progress) as bar:
        surrogates = _simulate(run, sequences, valid, n_categories, numpy_rng(key))
        bar.update(1)
        mi, bias = _lagged_mi_blocks(
            run, sequences, surrogates, valid, lags, n_categories, float(pseudo_count), bar.update
        )
    if bias_correction == "miller-madow":
        mi -= bias
    return LaggedMI(*mi)


def cross_sequence_mutual_information(sequence1, sequence2, mask, n_categories: int, pseudo_count: float = 1e-8) -> float:
    """Mutual information (nats) between two aligned label sequences, as the published function.

    The joint table counts `(sequence1[t], sequence2[t])` over frames where `mask` is
    nonzero, `pseudo_count` is added to every cell, and the plug-in MI of that table is
    returned.

    Args:
        sequence1: (T,) int labels in [0, n_categories).
        sequence2: (T,) int labels in [0, n_categories).
        mask: (T,) frames to count (nonzero = count).
        n_categories: S, the number of labels.
        pseudo_count: added to every cell of the (S, S) table.

    Returns:
        The mutual information, a Python float ≥ 0.
    """
    first, second = as_integer_array(sequence1, "sequence1").ravel(), as_integer_array(sequence2, "sequence2").ravel()
    valid = np.asarray(mask).ravel() != 0
    if first.shape != second.shape or valid.shape != first.shape:
        raise InputError(f"sequence1, sequence2 and mask must have one shape, got {first.shape}, {second.shape}, {valid.shape}")
    if valid.any() and max(first[valid].max(), second[valid].max()) >= n_categories:
        raise InputError(f"labels must lie in [0, {n_categories})")
    table = np.bincount(first[valid] * n_categories + second[valid], minlength=n_categories**2)
    mi, _ = call_compiled(
        _mi_kernels.mutual_information_from_counts, table.reshape(n_categories, n_categories), n_categories, float(pseudo_count)
    )
    return float(mi)
