"""Input normalisation shared by the metrics: state/syllable collections and random keys.

A *collection* of sequences is any of: a mapping recording → 1-D integer array; a list or
tuple of 1-D integer arrays (recordings named 0, 1, ...); a 2-D integer array (rows named
0, 1, ...), optionally with a `mask` of the same shape (frames with mask 0 are dropped and
each contiguous valid stretch becomes its own segment, so runs never join across padding);
or a single 1-D array (one recording named 0). numpy and jax arrays are both accepted.
"""

from collections.abc import Hashable, Mapping
from typing import NamedTuple

import numpy as np

from .._errors import InputError


class Segments(NamedTuple):
    """Contiguous pieces of recordings: `names[i]` is the recording `arrays[i]` came from.

    A recording appears once, or (array input with a mask that has gaps) several times.
    """

    names: list[Hashable]
    arrays: list[np.ndarray]


def as_integer_array(values, what: str) -> np.ndarray:
    """`values` as a numpy integer array (floats holding whole numbers are converted)."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        return array.astype(np.int64)
    if array.dtype == np.bool_ or array.dtype.kind not in "iu":
        raise InputError(
            f"{what} must hold integers (got dtype {array.dtype}). Convert with "
            "`.astype(int)`; if it holds NaN for missing frames, pass a mask instead."
        )
    return array


def _check_non_negative(array: np.ndarray, what: str) -> None:
    if array.size and array.min() < 0:
        raise InputError(
            f"{what} holds the negative value {array.min()}; states and syllables are labelled "
            "0, 1, 2, ... Mark missing frames with a mask instead of a negative label."
        )


def _valid_stretches(row: np.ndarray, valid: np.ndarray) -> list[np.ndarray]:
    edges = np.diff(np.concatenate([[False], valid, [False]]).astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [row[a:b] for a, b in zip(starts, stops)]


def as_segments(collection, mask=None, what: str = "states") -> Segments:
    """Normalise a collection of integer sequences (see the module docstring)."""
    if isinstance(collection, Mapping):
        if mask is not None:
            raise InputError(f"a mask applies to 2-D array {what} only, not to a dict of recordings")
        names = list(collection.keys())
        arrays = [as_integer_array(collection[k], f"{what}[{k!r}]") for k in names]
    elif isinstance(collection, (list, tuple)):
        if mask is not None:
            raise InputError(f"a mask applies to 2-D array {what} only, not to a list of recordings")
        names = list(range(len(collection)))
        arrays = [as_integer_array(a, f"{what}[{i}]") for i, a in enumerate(collection)]
    else:
        array = as_integer_array(collection, what)
        if array.ndim == 1:
            array = array[None]
            mask = None if mask is None else np.asarray(mask)[None]
        if array.ndim != 2:
            raise InputError(f"{what} must be 1-D or 2-D (recordings × frames), got shape {array.shape}")
        if mask is None:
            names, arrays = list(range(len(array))), list(array)
        else:
            valid = np.asarray(mask) != 0
            if valid.shape != array.shape:
                raise InputError(f"mask has shape {valid.shape} but {what} has shape {array.shape}")
            names, arrays = [], []
            for i, (row, row_valid) in enumerate(zip(array, valid)):
                pieces = _valid_stretches(row, row_valid)
                names += [i] * len(pieces)
                arrays += pieces
    for name, array in zip(names, arrays):
        if array.ndim != 1:
            raise InputError(f"{what}[{name!r}] must be 1-D, got shape {array.shape}")
        _check_non_negative(array, f"{what}[{name!r}]")
    return Segments(names, [array.astype(np.int64, copy=False) for array in arrays])


def paired_arrays(first, second, mask, what: tuple[str, str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two aligned collections as lists of equally long 1-D arrays (dicts matched by key)."""
    if isinstance(first, Mapping) != isinstance(second, Mapping):
        raise InputError(f"{what[0]} and {what[1]} must both be dicts of recordings, or both arrays/lists")
    if isinstance(first, Mapping):
        missing = set(first) ^ set(second)
        if missing:
            only_in_one = sorted(map(str, missing))
            raise InputError(f"{what[0]} and {what[1]} must hold the same recordings; only in one: {only_in_one}")
        second = {key: second[key] for key in first}
    segments1 = as_segments(first, mask, what[0])
    segments2 = as_segments(second, mask, what[1])
    if len(segments1.arrays) != len(segments2.arrays):
        raise InputError(f"{what[0]} has {len(segments1.arrays)} recordings, {what[1]} has {len(segments2.arrays)}")
    for name, a, b in zip(segments1.names, segments1.arrays, segments2.arrays):
        if a.shape != b.shape:
            raise InputError(f"recording {name!r}: {what[0]} has {a.size} frames, {what[1]} has {b.size}")
    return segments1.arrays, segments2.arrays


def count_categories(segments: Segments, given: int | None, what: str) -> int:
    """`given`, checked against the data, or the largest label + 1 (at least 1)."""
    largest = max((int(a.max()) for a in segments.arrays if a.size), default=-1)
    if given is None:
        return max(largest + 1, 1)
    if largest >= given:
        raise InputError(f"{what} holds the label {largest} but the number given is {given}")
    return int(given)


def numpy_rng(key) -> np.random.Generator:
    """A numpy Generator from `None` (seed 0), an int seed, a jax PRNG key (raw uint32 or
    typed), or an existing Generator (used as is)."""
    if key is None:
        return np.random.default_rng(0)
    if isinstance(key, np.random.Generator):
        return key
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))
    import jax

    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = np.asarray(key)
    if words.dtype.kind not in "iu":
        raise InputError(f"key must be None, an int seed, a jax PRNG key or a numpy Generator, got {type(key)}")
    return np.random.default_rng([int(w) for w in words.astype(np.uint32).ravel()])
