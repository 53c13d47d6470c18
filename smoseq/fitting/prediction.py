"""States and likelihoods of (new) recordings under a fitted model."""

import numpy as np

from .._errors import InputError
from .._threads import single_threaded_blas
from ..inference.states import Method, marginal_logliks, smoothed_probs, viterbi_states
from ..io.batching import unbatch
from ..models import HHMM
from .data import Repeats, prepare_data
from .groups import with_groups


PREDICT_METHODS = ("most_probable", "viterbi", "marginals")


def predict_states(
    model: HHMM,
    recordings,
    method: str = "most_probable",
    kernel: Method = "auto",
    seg_length=None,
    repeats: Repeats = "ignore",
    groups=None,
) -> dict:
    """States of recordings under a fitted model.

    Args:
        model: a fitted `HHMM`.
        recordings: recording name -> syllables (T_i,).
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

    Returns:
        recording name -> (T_i,) int states, or (T_i, K) probabilities for `marginals`.

    Raises:
        InputError: a bad method, bad recordings, or missing or unknown groups for a grouped model.
    """
    if method not in PREDICT_METHODS:
        raise InputError(f"method must be one of {', '.join(PREDICT_METHODS)}; got {method!r}")
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


def _predicted_values(model, prepared, method, kernel):
    observed = model.transitions
    if method == "viterbi":
        return np.asarray(observed.observed_states(np.asarray(viterbi_states(model, prepared.data, kernel))))
    marginals = np.asarray(observed.observed_probs(np.asarray(smoothed_probs(model, prepared.data, kernel))))
    return marginals if method == "marginals" else marginals.argmax(axis=-1).astype(np.int32)


def heldout_loglik_per_frame(model, recordings, kernel: Method = "auto", repeats: Repeats | None = None) -> float:
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
    total = float(np.asarray(marginal_logliks(model, prepared.data, kernel)).sum())
    return total / float(np.asarray(prepared.data.mask).sum())
