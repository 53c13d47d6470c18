"""States and likelihoods of (new) recordings under a fitted model."""

import numpy as np

from .._errors import InputError
from .._threads import single_threaded_blas
from ..inference.states import Method, marginal_logliks, smoothed_probs, viterbi_states
from ..io.batching import unbatch
from ..models import HHMM
from .data import Repeats, prepare_data
from .covariates import with_experiment
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
    covariates=None,
    inputs=None,
    covariate_levels=None,
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
        covariates, inputs: the per-recording table and per-frame inputs the model's
            components read, as in `sm.fit` (`FitResult.predict` checks a fit that used
            them gets them).
        covariate_levels: the categorical levels the fit encoded (its
            `hyperparameters["covariates"]["levels"]`; `FitResult.predict` passes them).
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
        return dict(iter_predictions(
            model, recordings, method, kernel, seg_length, repeats, groups, chunk_frames,
            covariates=covariates, inputs=inputs, covariate_levels=covariate_levels,
        ))  # fmt: skip
    prepared = prepare_data(
        recordings, seg_length=seg_length, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats
    )
    model_groups = getattr(model.transitions, "group_names", None)
    if model_groups is not None:
        if groups is None:
            raise InputError(f"the model has one transition matrix per group ({', '.join(model_groups)}): pass groups=")
        prepared = with_groups(prepared, groups, model_groups)[0]
    prepared = with_experiment(prepared, covariates, inputs, covariate_levels)[0]
    with single_threaded_blas():
        values = _predicted_values(model, prepared, method, kernel)
    return unbatch(values, prepared.keys, prepared.bounds)


def iter_predictions(model: HHMM, recordings, method: str = "most_probable", kernel: Method = "auto", seg_length=None,
                     repeats: Repeats = "ignore", groups=None, chunk_frames: int | None = None, *, covariates=None,
                     inputs=None, covariate_levels=None):  # fmt: skip
    """`predict_states` one batch of recordings at a time: yields `(name, values)` per recording.

    Args:
        as for `predict_states`; `recordings` may be a path, read lazily; `inputs` (a dict
        recording -> per-frame inputs) is handed to each batch for its own recordings.
    """
    batches = recording_batches(recordings_from(recordings, model.n_syllables), chunk_frames or DEFAULT_CHUNK_FRAMES)
    for batch in batches:
        batch_inputs = None if inputs is None else {name: inputs[name] for name in batch}
        yield from predict_states(
            model, batch, method, kernel, seg_length, repeats, groups,
            covariates=covariates, inputs=batch_inputs, covariate_levels=covariate_levels,
        ).items()  # fmt: skip


def _predicted_values(model, prepared, method, kernel):
    observed = model.transitions
    if method == "viterbi":
        return np.asarray(observed.observed_states(np.asarray(viterbi_states(model, prepared.data, kernel))))
    marginals = np.asarray(observed.observed_probs(np.asarray(smoothed_probs(model, prepared.data, kernel))))
    return marginals if method == "marginals" else marginals.argmax(axis=-1).astype(np.int32)


def heldout_loglik_per_frame(
    model, recordings, kernel: Method = "auto", repeats: Repeats | None = None, *, covariates=None, inputs=None,
    covariate_levels=None,
) -> float:  # fmt: skip
    """Marginal log-likelihood per frame of recordings under a fitted model (states summed out exactly).

    The two `repeats` settings score different events (every syllable transition, or the
    next *different* syllable) and are not comparable with each other, so a fit is scored
    under its own setting: pass the `FitResult` itself, or its `repeats`.

    Args:
        model: a `FitResult` (its model, scored under its `repeats`), or an `HHMM` (K states, S syllables).
        recordings: recording name -> syllables (T_i,) int; also accepts `sm.batch`
            output `(seqs, mask, metadata)` or `{"syllables": (N, T), "mask": (N, T)}`.
            Each recording is one sequence (no segmenting).
        kernel: `auto`, `native`, `serial` or `parallel` filter.
        repeats: `"ignore"` or `"model"`, as in `sm.fit`; default: the fit's setting for a
            `FitResult`, `"ignore"` (`sm.fit`'s default) for an `HHMM`.
        covariates, inputs, covariate_levels: as in `predict_states`.

    Returns:
        Σ_n log p(x_n | model) divided by the number of real (unpadded) frames, summed
        over all recordings: a Python float.

    Raises:
        InputError: bad recordings, a syllable ≥ the model's S, or a bad `repeats`.
    """
    if repeats is None:
        repeats = getattr(model, "repeats", "ignore")
    model = getattr(model, "model", model)
    prepared = prepare_data(recordings, seg_overlap=0, n_syllables=model.n_syllables, repeats=repeats)
    prepared = with_experiment(prepared, covariates, inputs, covariate_levels)[0]
    total = float(np.asarray(marginal_logliks(model, prepared.data, kernel)).sum())
    return total / float(np.asarray(prepared.data.mask).sum())
