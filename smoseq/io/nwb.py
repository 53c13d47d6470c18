"""A fit's states in an NWB file: bouts as labelled time intervals (ndx-ethogram), states per frame.

The file's `behavior` processing module holds:

- `smoseq_states` — an `ndx_ethogram.Ethogram` catalogue: one row per state (`behavior`: its
  label — name, or number as text —, `definition`, `native_code`: the state number);
- per recording, `bouts_<recording>` — an `ndx_ethogram.EthogramBouts` table (a
  `TimeIntervals`): one row per bout, `start_time`, `stop_time` (s, from the recording's
  start; a bout covers `[start, stop)`), `label` (the state's label), `state` (its number);
  `labeling_method="automated"`, `source_software="smoseq <version>"`, `parameters`: the
  model (components, K, S) and the fit's hyperparameters as JSON, and a link to the catalogue;
- per recording, `states_<recording>` — a `TimeSeries` of the state of every frame
  (`rate` = fps, `starting_time` 0) and, with syllables, `syllables_<recording>`.

Recording names become object names with `/` replaced by `_`. Every recording of the fit
goes in one file unless `recordings` picks some (one file per session:
`export_nwb(result, f"{name}.nwb", recordings=[name])`). Read back with
`pynwb.NWBHDF5IO(path, "r")` after `import ndx_ethogram`.
"""

import json
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._errors import InputError
from .._version import __version__
from .state_tables import bout_table, checked_states, fit_fps, fit_state_labels, syllables_of

MODULE_NAME = "behavior"
CATALOGUE_NAME = "smoseq_states"


def model_description(result) -> dict:
    """What the fit is, as JSON-able values: package, version, components, K, S, hyperparameters."""
    model = result.model
    return {
        "package": "smoseq",
        "version": __version__,
        "model": f"HHMM({type(model.emissions).__name__}, {type(model.transitions).__name__})",
        "n_states": int(model.n_states),
        "n_syllables": int(getattr(model, "n_syllables", 0)),
        "hyperparameters": json.loads(json.dumps(result.hyperparameters, default=str)),
    }


def object_name(recording: str) -> str:
    """A recording name usable in an NWB object name (no `/`)."""
    return str(recording).replace("/", "_")


def export_nwb(
    result,
    path,
    fps: float | None = None,
    *,
    syllables: Mapping | None = None,
    recordings: Sequence[str] | None = None,
    session_start_time: datetime | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the states of a fit to an NWB file (module docstring).

    Args:
        result: a `FitResult`.
        path: the `.nwb` file to write (written to a temporary name, then renamed).
        fps: frames per second (default: the fit's `info["fps"]`).
        syllables: optional recording -> (T,) int syllables, stored per frame too.
        recordings: which recordings (default: all of the fit's).
        session_start_time: the file's session start (default: now, UTC); times in the
            file count from each recording's first frame.
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        InputError: fps ≤ 0 or unknown, a recording without states or not in the fit,
            syllables of another length.
        FileExistsError: `path` exists and `overwrite` is False.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    fps = fit_fps(result, fps)
    states = checked_states(result.states)
    if recordings is not None:
        unknown = [r for r in recordings if r not in states]
        if unknown:
            raise InputError(f"the fit has no recording {unknown[0]!r}")
        states = {r: states[r] for r in recordings}
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True (CLI: --force) to replace it")
    nwbfile = build_nwbfile(result, states, fps, syllables, session_start_time)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.nwb", dir=path.parent)
    os.close(descriptor)
    try:
        with NWBHDF5IO(temporary, "w") as io:
            io.write(nwbfile)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def build_nwbfile(result, states: dict, fps: float, syllables: Mapping | None = None, session_start_time=None):
    """The in-memory `pynwb.NWBFile` that `export_nwb` writes."""
    from ndx_ethogram import Ethogram
    from pynwb import NWBFile

    labels = fit_state_labels(result)
    description = model_description(result)
    nwbfile = NWBFile(
        session_description=f"behavioural states of {len(states)} recordings found by smoseq",
        identifier=str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.now(timezone.utc),
        notes=json.dumps(description),
    )
    module = nwbfile.create_processing_module(MODULE_NAME, "hidden behavioural states (smoseq)")
    catalogue = Ethogram(name=CATALOGUE_NAME, description="the states of the smoseq model", exclusive=True)
    for k, label in enumerate(labels):
        catalogue.add_row(behavior=label, definition=f"smoseq hidden state {k}", native_code=k)
    module.add(catalogue)
    bouts = bout_table(states, fps, labels)
    for name, array in states.items():
        module.add(_bouts(name, bouts[bouts["recording"] == name], catalogue, description))
        module.add(_series(f"states_{object_name(name)}", array, fps, f"hidden state of every frame of {name}"))
        if syllables is not None:
            values = syllables_of(syllables, name, len(array))
            module.add(_series(f"syllables_{object_name(name)}", values, fps, f"syllable of every frame of {name}"))
    return nwbfile


def _bouts(name: str, rows, catalogue, description: dict):
    """The `EthogramBouts` table of one recording, its columns built whole (not row by row)."""
    from hdmf.common import VectorData
    from ndx_ethogram import EthogramBouts

    columns = [
        VectorData(name="start_time", description="start of the bout (s)", data=rows["start"].to_numpy(float)),
        VectorData(name="stop_time", description="end of the bout (s, exclusive)", data=rows["end"].to_numpy(float)),
        VectorData(name="label", description="the state's label", data=rows["state_name"].astype(str).tolist()),
        VectorData(name="state", description="the state's number (0..K-1)", data=rows["state"].to_numpy(np.int64)),
    ]
    return EthogramBouts(
        name=f"bouts_{object_name(name)}",
        description=f"bouts of the smoseq states in recording {name}",
        columns=columns,
        labeling_method="automated",
        source_software=f"smoseq {__version__}",
        parameters=json.dumps(description),
        ethogram=catalogue,
    )


def _series(name: str, values: np.ndarray, fps: float, description: str):
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import TimeSeries

    data = H5DataIO(np.asarray(values, dtype=np.int64), compression="gzip")  # runs of one value: compress well
    return TimeSeries(name=name, data=data, unit="n/a", rate=float(fps), starting_time=0.0, description=description)

