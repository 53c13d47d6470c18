"""Instances of high-level states: the runs of each state, and a reproducible sample of them.

An *instance* (or bout) is a maximal run of one state in one recording, written
`(recording, start, end)` with `end` exclusive, so `states[recording][start:end]` is constant
and the frames on either side (if any) hold other states.
"""

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

Instance = tuple[Hashable, int, int]


def find_runs(sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maximal constant runs of a 1-D sequence.

    Args:
        sequence: integer labels, shape (T,).

    Returns:
        `(starts, ends, values)`, each of shape (n_runs,): run `i` covers
        `sequence[starts[i]:ends[i]]` (end exclusive) and holds `values[i]`.

    Example:
        >>> find_runs([3, 3, 1, 1, 1, 3])
        (array([0, 2, 5]), array([2, 5, 6]), array([3, 1, 3]))
    """
    sequence = np.asarray(sequence)
    if sequence.ndim != 1:
        raise ValueError(f"find_runs expects a 1-D sequence, got shape {sequence.shape}")
    if sequence.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, sequence[:0]
    changes = np.flatnonzero(sequence[1:] != sequence[:-1]) + 1
    starts = np.concatenate([[0], changes]).astype(np.int64)
    ends = np.concatenate([changes, [sequence.size]]).astype(np.int64)
    return starts, ends, sequence[starts]


def sample_instances(
    states_dict: Mapping[Hashable, Any],
    num_instances: int,
    seed: Any = 0,
    min_duration: int = 1,
) -> dict[int, list[Instance]]:
    """A random subset of the instances (runs) of every state, reproducible from `seed`.

    Every maximal run of each state in each recording is an instance `(recording, start, end)`
    (end exclusive). Runs shorter than `min_duration` frames are dropped, then up to
    `num_instances` of the remaining runs of each state are drawn without replacement.
    Negative labels mean "no state" and are never sampled.

    The draw for a state depends only on `seed`, that state and its runs, so changing one
    state's runs leaves the samples of the other states unchanged. Recordings are visited in
    sorted key order, so the result does not depend on the dict's insertion order.

    Args:
        states_dict: recording name -> state sequence, shape (T,) of ints.
        num_instances: how many instances to keep per state (fewer if a state has fewer runs).
        seed: an int, or a JAX PRNG key (typed or raw uint32).
        min_duration: minimum run length in frames.

    Returns:
        state -> list of `(recording, start, end)`, for every state with at least one kept run,
        in increasing state order. Each list is **sorted** by recording (sorted key order) then
        start frame; grid movies place tiles in this order, row-major.

    Example:
        >>> states = {"a": np.array([0, 0, 1, 1, 1, 0]), "b": np.array([1, 1])}
        >>> sample_instances(states, 5)
        {0: [('a', 0, 2), ('a', 5, 6)], 1: [('a', 2, 5), ('b', 0, 2)]}
    """
    if num_instances < 0:
        raise ValueError(f"num_instances must be >= 0, got {num_instances}")
    if min_duration < 1:
        raise ValueError(f"min_duration must be >= 1, got {min_duration}")
    entropy = _seed_entropy(seed)

    runs_by_state: dict[int, list[Instance]] = {}
    for recording in _sorted_keys(states_dict):
        starts, ends, values = find_runs(np.asarray(states_dict[recording]))
        keep = (ends - starts >= min_duration) & (values >= 0)
        for start, end, state in zip(starts[keep], ends[keep], values[keep]):
            runs_by_state.setdefault(int(state), []).append((recording, int(start), int(end)))

    sampled = {}
    for state in sorted(runs_by_state):
        runs = runs_by_state[state]
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(state,)))
        chosen = rng.choice(len(runs), size=min(num_instances, len(runs)), replace=False)
        if chosen.size:
            sampled[state] = [runs[i] for i in np.sort(chosen)]
    return sampled


def _sorted_keys(mapping: Mapping) -> list:
    try:
        return sorted(mapping)
    except TypeError:  # keys of mixed, unorderable types
        return sorted(mapping, key=repr)


def _seed_entropy(seed: Any) -> list[int]:
    """Non-negative integers for `np.random.SeedSequence` from an int or a JAX key."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed) % 2**64]
    import jax  # only JAX keys need it

    if jax.dtypes.issubdtype(getattr(seed, "dtype", None), jax.dtypes.prng_key):
        seed = jax.random.key_data(seed)
    words = np.asarray(seed)
    if words.dtype.kind not in "ui":
        raise TypeError(f"seed must be an int or a JAX PRNG key, got {type(seed).__name__}")
    return [int(w) for w in words.astype(np.uint32).ravel()]
