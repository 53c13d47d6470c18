"""Syllable recordings in and out of the padded, segmented arrays the sampler runs on.

`batch` and `unbatch` keep the published package's semantics (DESIGN §4) so that
tutorial code runs unchanged: recordings are taken in sorted key order, cut into
segments of `seg_length` frames, each extended by `seg_overlap` frames of real data
where there is some, and padded by repeating the last frame with mask 0.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from .._errors import InputError

__all__ = ["batch", "unbatch", "batch_frames", "validate_syllables", "as_recordings"]


def validate_syllables(name, sequence) -> np.ndarray:
    """Check one recording's syllables and return them as a 1-D int array.

    Args:
        name: the recording's name, used in the error message.
        sequence: array-like of shape (T,), integer-valued and non-negative.

    Returns:
        The syllables as an `int64` (or the input's integer dtype) array of shape (T,).

    Raises:
        InputError (a `ValueError`): naming the recording and the problem.
    """
    array = np.asarray(sequence)
    if array.ndim != 1:
        raise InputError(f"recording {name!r}: syllables must be 1-D, got shape {array.shape}")
    if array.shape[0] < 2:
        raise InputError(f"recording {name!r}: needs at least 2 frames, has {array.shape[0]}")
    if array.dtype.kind in "iu":
        integers = array
    elif array.dtype.kind == "b":
        integers = array.astype(np.int64)
    elif array.dtype.kind == "f":
        if np.isnan(array).any():
            first = int(np.flatnonzero(np.isnan(array))[0])
            raise InputError(f"recording {name!r}: syllable is NaN at frame {first}")
        fractional = array != np.round(array)
        if fractional.any():
            first = int(np.flatnonzero(fractional)[0])
            raise InputError(
                f"recording {name!r}: syllables must be integers, frame {first} is {array[first]}"
            )
        integers = array.astype(np.int64)
    else:
        raise InputError(
            f"recording {name!r}: syllables must be integers, got dtype {array.dtype}"
        )
    if integers.size and integers.min() < 0:
        first = int(np.flatnonzero(integers < 0)[0])
        raise InputError(
            f"recording {name!r}: syllables must be >= 0, frame {first} is {integers[first]}"
        )
    return integers


def as_recordings(recordings) -> dict[str, np.ndarray]:
    """Validated `{name: syllables (T,)}` from a mapping, or a list / 2-D array of sequences."""
    if isinstance(recordings, Mapping):
        items = recordings.items()
    elif isinstance(recordings, Sequence) or hasattr(recordings, "shape"):
        items = ((f"recording{i}", seq) for i, seq in enumerate(recordings))
    else:
        raise InputError(
            f"recordings must be a dict of name -> syllables, got {type(recordings).__name__}"
        )
    validated = {str(name): validate_syllables(name, seq) for name, seq in items}
    if not validated:
        raise InputError("no recordings given")
    return validated


def batch(data_dict, keys=None, seg_length=None, seg_overlap: int = 30, *, compact: bool = False):
    """Stack recordings of different lengths into one padded, masked array.

    Each recording is cut into segments that start every `seg_length` frames; a
    segment holds up to `seg_length + seg_overlap` frames of the recording and is
    padded to that length by repeating its last frame.

    Args:
        data_dict: recording name -> syllables, each of shape (T_i,).
        keys: names to include, in order (default: all, sorted).
        seg_length: frames between segment starts (default: the longest recording).
        seg_overlap: extra frames at the end of each segment (default 30).
        compact: hold the syllables in the smallest unsigned dtype that holds them and the
            mask as bool (1 + 1 bytes per frame, what `sm.fit` holds); default: the
            recordings' integer dtype and a float mask.

    Returns:
        `(data, mask, (keys, bounds))`: data (n_segments, seg_length + seg_overlap),
        mask of the same shape (1.0 real frame, 0.0 padding), keys (n_segments,)
        naming each segment's recording, bounds (n_segments, 2) its [start, end)
        frames in that recording.

    Raises:
        InputError: (a `ValueError`) naming the recording if any recording is not 1-D,
            not integer-valued, negative, NaN or shorter than 2 frames.
    """
    if keys is None:
        keys = sorted(data_dict.keys())
    recordings = {key: validate_syllables(key, data_dict[key]) for key in keys}
    if not recordings:
        raise InputError("no recordings given")
    lengths = [len(recordings[key]) for key in keys]
    if seg_length is None:
        seg_length = int(np.max(lengths))
    if seg_length < 1 or seg_overlap < 0:
        raise InputError(f"seg_length must be >= 1 and seg_overlap >= 0, got {seg_length}, {seg_overlap}")
    width = seg_length + seg_overlap

    segment_keys, bounds = [], []
    for key, length in zip(keys, lengths):
        for start in range(0, length, seg_length):
            segment_keys.append(key)
            bounds.append((start, min(start + width, length)))
    if compact:
        largest = max(int(recordings[key].max()) for key in keys)
        dtype = np.uint8 if largest < 2**8 else np.uint16 if largest < 2**16 else np.int32
    else:
        dtype = np.result_type(*(recordings[key].dtype for key in keys))
    segments = np.empty((len(bounds), width), dtype)
    masks = np.zeros((len(bounds), width), bool if compact else float)
    for row, (key, (start, end)) in enumerate(zip(segment_keys, bounds)):
        segments[row, : end - start] = recordings[key][start:end]
        segments[row, end - start :] = recordings[key][end - 1]
        masks[row, : end - start] = 1
    return segments, masks, (np.array(segment_keys), np.array(bounds))


def batch_frames(per_recording: dict, keys, bounds, width: int) -> np.ndarray:
    """Per-frame values laid out like `batch`'s segments: the same bounds, padded by repeating the last frame.

    Args:
        per_recording: recording name -> (T_i, ...) values per frame (e.g. inputs (T_i, D)).
        keys: (n_segments,) recording of each segment (`batch`'s metadata).
        bounds: (n_segments, 2) [start, end) of each segment in its recording.
        width: frames per segment (`batch`'s data.shape[1]).

    Returns:
        (n_segments, width, ...) array; padding frames repeat the segment's last real
        frame (the mask, from `batch`, marks them).
    """
    rows = []
    for key, (start, end) in zip(np.asarray(keys), np.asarray(bounds)):
        values = np.asarray(per_recording[str(key)])[start:end]
        rows.append(np.concatenate([values, np.repeat(values[-1:], width - len(values), axis=0)]))
    return np.stack(rows)


def unbatch(data, keys, bounds, dtype=None) -> dict:
    """Invert `batch`: reassemble each recording from its segments.

    Args:
        data: (n_segments, seg_length, ...) values per segment frame (e.g. states).
        keys: (n_segments,) recording of each segment.
        bounds: (n_segments, 2) [start, end) of each segment in its recording.
        dtype: the recordings' dtype (default: `data`'s), converted one recording at a time.

    Returns:
        recording name -> array of shape (T_i, ...), T_i the largest segment end.
    """
    data = np.asarray(data)
    keys = np.asarray(keys)
    bounds = np.asarray(bounds)
    result = {}
    for key in dict.fromkeys(keys.tolist()):
        rows = np.flatnonzero(keys == key)
        length = int(bounds[rows, 1].max())
        sequence = np.zeros((length, *data.shape[2:]), dtype=data.dtype if dtype is None else dtype)
        for row in rows:
            start, end = bounds[row]
            sequence[start:end] = data[row, : end - start]
        result[key] = sequence
    return result
