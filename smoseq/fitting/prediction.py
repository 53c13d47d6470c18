"""States and likelihoods of (new) recordings under a fitted model."""

import numpy as np

from .._errors import InputError
from .._threads import single_threaded_blas
from ..inference.states import Method, marginal_logliks, smoothed_probs, viterbi_states
from ..io.batching import unbatch
from ..models import HHMM
from .data import Repeats, prepare_data
from .groups import with_groups
from .streaming import DEFAULT_CHUNK_FRAMES, is_source, recording_batches, recordings_from


PREDICT_METHODS = ("most_probable", "viterbi", "marginals")


def predict_states(
    model: HHMM,
    recordings,
    method: str = "most_probable",
    kernel: Method = "auto",
    seg_length=None,
    repeats: Repeats = "ignore",
    groups=None,
    chunk_frames: int | None = None,
) -> dict:
    """States of recordings under a fitted model.

    Args:
        model: a fitted `HHMM`.
        recordings: recording name -> syllables (T_i,); or a folder of CSVs, a CSV or a
            `results.h5`, read one batch of recordings at a time (`smoseq.fitting.streaming`).
        method: `most_probable` (default): the state of highest posterior probability
            at each frame, which maximises the expected number of correctly labelled
            frames; `viterbi`: the single most probable path (it can drop a short bout
            whose boundaries are uncertain); `marginals`: the posterior probabilities
            themselves, (T_i, K) per recording.
        kernel: `auto`, `native`, `serial` or `parallel`.
        seg_length: optional batching of long recordings.
        repeats: as in `sm.fit` (use the fit's: `FitResult.predict` does).
        groups: for a model with one transition matrix per group (`GroupedTransitions`):
            the group of every recording, a dict or a `name,group` CSV; each group must be
            one of the model's.
        chunk_frames: recordings are processed in batches of at most this many frames
            (default for a path: `streaming.DEFAULT_CHUNK_FRAMES`; for a dict: all at once),
            so the kernels' arrays never exceed one batch.

    Returns:
        recording name -> (T_i,) int states, or (T_i, K) probabilities for `marginals`.

    Raises:
        InputError: a bad method, bad recordings, or missing or unknown groups for a grouped model.
    """
    if method not in PREDICT_METHODS:
        raise InputError(f"method must be one of {', '.join(PREDICT_METHODS)}; got {method!r}")
    if is_source(recordings) or chunk_frames is not None:
        return dict(iter_predictions(model, recordings, method, kernel, seg_length, repeats, groups, chunk_frames))
    prepared = prepare_data(
        recordings, seg_length=seg_length, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats
    )
    model_groups = getattr(model.transitions, "group_names", None)
    if model_groups is not None:
        if groups is None:
            raise InputError(f"the model has one transition matrix per group ({', '.join(model_groups)}): pass groups=")
        prepared = with_groups(prepared, groups, model_groups)[0]
    with single_threaded_blas():
        values = _predicted_values(model, prepared, method, kernel)
    return unbatch(values, prepared.keys, prepared.bounds)


def iter_predictions(model: HHMM, recordings, method: str = "most_probable", kernel: Method = "auto", seg_length=None,
                     repeats: Repeats = "ignore", groups=None, chunk_frames: int | None = None):  # fmt: skip
    """`predict_states` one batch of recordings at a time: yields `(name, values)` per recording.

    Args:
        as for `predict_states`; `recordings` may be a path, read lazily.
    """
    batches = recording_batches(recordings_from(recordings, model.n_syllables), chunk_frames or DEFAULT_CHUNK_FRAMES)
    for batch in batches:
        yield from predict_states(model, batch, method, kernel, seg_length, repeats, groups).items()


def _predicted_values(model, prepared, method, kernel):
    if method == "viterbi":
        return np.asarray(viterbi_states(model, prepared.data, kernel))
    marginals = np.asarray(smoothed_probs(model, prepared.data, kernel))
    return marginals if method == "marginals" else marginals.argmax(axis=-1).astype(np.int32)


def heldout_loglik_per_frame(model: HHMM, recordings, kernel: Method = "auto", repeats: Repeats = "ignore") -> float:
    """Marginal log-likelihood per frame of recordings under `model` (states summed out exactly).

    `repeats` must be the fit's (`FitResult.repeats`): the likelihoods of the two
    settings score different evidence and are not comparable with each other.

    Args:
        model: a fitted `HHMM` (K states, S syllables).
        recordings: recording name -> syllables (T_i,) int; also accepts `sm.batch`
            output `(seqs, mask, metadata)` or `{"syllables": (N, T), "mask": (N, T)}`.
            Each recording is one sequence (no segmenting).
        kernel: `auto`, `native`, `serial` or `parallel` filter.
        repeats: `"ignore"` (default) or `"model"`, as in `sm.fit`.

    Returns:
        Σ_n log p(x_n | model) divided by the number of real (unpadded) frames, summed
        over all recordings: a Python float.

    Raises:
        InputError: bad recordings, a syllable ≥ the model's S, or a bad `repeats`.
    """
    prepared = prepare_data(recordings, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats)
    total = float(np.asarray(marginal_logliks(model, prepared.data, kernel)).sum())
    return total / float(np.asarray(prepared.data.mask).sum())
