"""Recordings read and processed a batch at a time, so that applying a model to a folder larger than memory works.

`recordings_from(source)` reads a folder, CSV or `results.h5` one recording at a time
(`smoseq.io.recordings.iter_recordings`), or walks a dict; `recording_batches` groups
them into batches of at most `chunk_frames` frames (a longer recording is a batch of its
own). `sm.predict_states(model, folder, chunk_frames=...)` and `smoseq apply` hold one
batch of recordings and its kernel arrays at a time, plus the results.
"""

import os
from collections.abc import Iterator

import numpy as np

from .._errors import InputError
from ..io.recordings import iter_recordings

__all__ = ["DEFAULT_CHUNK_FRAMES", "is_source", "recordings_from", "recording_batches"]

DEFAULT_CHUNK_FRAMES = 4_000_000


def is_source(recordings) -> bool:
    """Whether `recordings` names something on disk (a folder, CSV or `results.h5`) rather than holding arrays."""
    return isinstance(recordings, str | os.PathLike)


def recordings_from(source, n_syllables: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """`(name, syllables (T,))` one recording at a time, from a path or a dict.

    Args:
        source: a folder of CSVs, a `.csv`, a `results.h5`, or a dict name -> syllables.
        n_syllables: when given, a recording using a syllable ≥ it is refused (naming its file).

    Raises:
        InputError: unreadable recordings, or a syllable the model does not know.
    """
    if not is_source(source):
        yield from source.items()
        return
    for recordings in iter_recordings(source):
        for name, syllables in recordings.syllables.items():
            if n_syllables is not None and len(syllables) and int(syllables.max()) >= n_syllables:
                raise InputError(
                    f"{recordings.sources[name]}: uses syllable {int(syllables.max())} but the model knows only "
                    f"{n_syllables} syllables (0..{n_syllables - 1})"
                )
            yield name, syllables


def recording_batches(recordings, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> Iterator[dict]:
    """Dicts of consecutive recordings with at most `chunk_frames` frames in all (a longer recording alone).

    Args:
        recordings: an iterable of `(name, syllables)`, e.g. `recordings_from(...)`.
        chunk_frames: frames per batch (positive).

    Raises:
        InputError: `chunk_frames` not positive.
    """
    if not chunk_frames > 0:
        raise InputError(f"chunk_frames must be positive; got {chunk_frames}")
    batch, frames = {}, 0
    for name, syllables in recordings:
        if batch and frames + len(syllables) > chunk_frames:
            yield batch
            batch, frames = {}, 0
        batch[name] = syllables
        frames += len(syllables)
    if batch:
        yield batch
