"""Recordings laid out for the sampler: batching, validation, the evidence mask, initial states."""

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._errors import InputError
from ..io.batching import as_recordings, batch, validate_syllables
from ..models import SyllableData, compact_data, without_repeats


@dataclass
class Prepared:
    """Recordings batched for the sampler."""

    data: SyllableData
    keys: np.ndarray
    bounds: np.ndarray
    n_syllables: int


Repeats = Literal["ignore", "model"]


def check_repeats(repeats) -> None:
    """Raise `InputError` unless `repeats` is `"ignore"` or `"model"`."""
    if repeats not in ("ignore", "model"):
        raise InputError(f"repeats must be 'ignore' or 'model', got {repeats!r}")


def prepare_data(recordings, seg_length=None, seg_overlap=30, n_syllables=None, repeats: Repeats = "model",
                 compact: bool = False) -> Prepared:  # fmt: skip
    """Batch a dict of recordings, or accept `(seqs, mask, (keys, bounds))` / `{"syllables", "mask"}`.

    `repeats="ignore"` gives frames that repeat the previous syllable no emission
    evidence (`smoseq.inference.states.without_repeats`); `"model"` scores every frame.
    `compact=True`: the data as a fit holds it (`smoseq.models.compact_data`: about 3 bytes
    per frame instead of 12); widen it (`smoseq.models.widened`) before giving it to components.
    """
    check_repeats(repeats)
    if isinstance(recordings, tuple) and len(recordings) == 3:
        seqs, mask, (keys, bounds) = recordings
        seqs, mask = np.asarray(seqs), np.asarray(mask)
    elif isinstance(recordings, dict) and set(recordings) == {"syllables", "mask"}:
        seqs, mask = np.asarray(recordings["syllables"]), np.asarray(recordings["mask"])
        keys = np.array([f"segment{i}" for i in range(len(seqs))])
        bounds = np.stack([np.zeros(len(seqs), int), mask.sum(1).astype(int)], axis=1)
    else:
        seqs, mask, (keys, bounds) = batch(as_recordings(recordings), seg_length=seg_length, seg_overlap=seg_overlap,
                                           compact=compact)  # fmt: skip
    if seqs.ndim != 2 or seqs.shape != mask.shape:
        raise InputError(f"batched syllables and mask must both be (N, T), got {seqs.shape} and {mask.shape}")
    for row, name in enumerate(keys):
        validate_syllables(name, seqs[row])
    observed = int(np.max(seqs, where=mask > 0, initial=0)) + 1
    if n_syllables is None:
        n_syllables = max(observed, 2)
    elif observed > n_syllables:
        raise InputError(f"the data use syllable {observed - 1} but the model has only {n_syllables} syllables")
    if compact:
        data = _compact(seqs, mask, repeats)
    else:
        data = SyllableData(seqs, mask)
        data = without_repeats(data) if repeats == "ignore" else data
    return Prepared(data, np.asarray(keys), np.asarray(bounds), n_syllables)


def _compact(seqs: np.ndarray, mask: np.ndarray, repeats: Repeats) -> SyllableData:
    """`compact_data` of the batch, with `without_repeats`'s evidence (mask · 1[x_t ≠ x_{t−1}], frame 0 keeps the mask)."""
    if repeats != "ignore":
        return compact_data(seqs, mask)
    changed = np.ones(seqs.shape, bool)
    np.not_equal(seqs[:, 1:], seqs[:, :-1], out=changed[:, 1:])
    mask = np.asarray(mask)
    evidence = changed & mask if mask.dtype == bool else mask * changed
    return compact_data(seqs, mask, evidence, repeats="ignore")


def user_init_states(init_states, prepared: Prepared) -> np.ndarray:
    """User-given initial states (dict recording -> (T_i,), or (N, T)) laid out like `prepared`: (N, T) int32."""
    if isinstance(init_states, dict):
        per_recording = {k: np.asarray(v) for k, v in init_states.items()}
        rows = []
        width = prepared.data.syllables.shape[1]
        for key, (start, end) in zip(prepared.keys, prepared.bounds):
            segment = per_recording[key][start:end]
            rows.append(np.concatenate([segment, np.repeat(segment[-1:], width - len(segment))]))
        return np.stack(rows).astype(np.int32)
    states = np.asarray(init_states, dtype=np.int32)
    if states.shape != prepared.data.syllables.shape:
        raise InputError(f"init_states must have shape {prepared.data.syllables.shape}, got {states.shape}")
    return states
