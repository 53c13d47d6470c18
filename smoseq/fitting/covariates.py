"""Per-recording covariates and per-frame inputs laid out with the batched recordings.

`sm.fit(..., covariates=, inputs=)`, `sm.predict_states` and `sm.heldout_loglik_per_frame`
read them (`smoseq.io.covariates`) and hand them to the components in `SyllableData`:
`covariates` (N, C), every segment its recording's row; `inputs` (N, T, D), segmented
exactly like the syllables (same bounds and overlap, padding frames repeat the last real
frame and are masked). Built-in components ignore both; a custom transitions component
reads them in `transition_matrices(data)` and may return one matrix per frame.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from ..io.batching import batch_frames
from ..io.covariates import frame_inputs, load_covariates
from .data import Prepared


def recording_lengths(prepared: Prepared) -> dict[str, int]:
    """recording -> frames, from the segments' bounds (in the order the recordings first appear)."""
    lengths: dict[str, int] = {}
    for key, (_, end) in zip(prepared.keys, prepared.bounds):
        lengths[str(key)] = max(lengths.get(str(key), 0), int(end))
    return lengths


def with_experiment(prepared: Prepared, covariates=None, inputs=None, levels=None) -> tuple[Prepared, dict]:
    """`prepared` whose data carry the covariates and inputs, and what a fit records of them.

    Args:
        prepared: batched recordings (`prepare_data`).
        covariates: a per-recording table (CSV path, DataFrame or dict; `load_covariates`), or None.
        inputs: recording -> (T_i, D) array or {name: (T_i,)} (`frame_inputs`), or None.
        levels: the categorical levels of the fit the model comes from (its record's
            `covariates["levels"]`), so that columns mean what they meant in the fit.

    Returns:
        `(prepared, record)`, `record = {"covariates": {"names", "levels"} or None,
        "inputs": {"names"} or None}`.

    Raises:
        InputError: a bad table or inputs (`load_covariates`, `frame_inputs`).
    """
    data, record = prepared.data, {"covariates": None, "inputs": None}
    lengths = recording_lengths(prepared)
    if covariates is not None:
        table = load_covariates(covariates, list(lengths), levels)
        rows = np.stack([table.rows[str(key)] for key in prepared.keys])
        data = _replace(data, covariates=jnp.asarray(rows, dtype=float), covariate_names=table.names)
        record["covariates"] = {"names": list(table.names), "levels": table.levels}
    if inputs is not None:
        names, arrays = frame_inputs(inputs, lengths)
        values = batch_frames(arrays, prepared.keys, prepared.bounds, data.syllables.shape[1])
        data = _replace(data, inputs=jnp.asarray(values, dtype=float), input_names=names)
        record["inputs"] = {"names": list(names)}
    return Prepared(data, prepared.keys, prepared.bounds, prepared.n_syllables), record


def _replace(data, **fields):
    """`data` with `fields` replaced, every other field kept (through the constructor, which checks shapes)."""
    return dataclasses.replace(data, **fields)
