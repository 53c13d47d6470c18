"""A fit's states as tidy tables (per frame, per bout) in Parquet or CSV, for pandas and R.

    per frame:  recording, frame, time (s), syllable (when known), state, state_name
    per bout:   recording, state, state_name, start, end, duration (s), start_frame, end_frame, frames

Times are `frame / fps` from the start of each recording; a bout covers `[start, end)`
(`end_frame` exclusive), so `duration = end − start = frames / fps`. `state_name` is the
state's name where the fit has one (`state_names.json` in the fit folder), else its number.
`export_tables(result, "states.parquet")` writes `states_frames.parquet` and
`states_bouts.parquet` beside each other (`.csv` likewise).
"""

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputError
from ..metrics.behaviour import check_fps
from ..metrics.instances import find_runs
from .files import atomic_write_bytes

TABLE_FORMATS = (".parquet", ".csv")


def fit_state_labels(result) -> list[str]:
    """The label of every state of a fit: its name where it has one, else its number as text.

    Args:
        result: a `FitResult` (or anything with `n_states` and optionally `state_labels()` /
            `state_names` {int: str}).

    Returns:
        list of K str.
    """
    labels = getattr(result, "state_labels", None)
    if callable(labels):
        return [str(label) for label in labels()]
    names = getattr(result, "state_names", None) or {}
    return [str(names.get(k, k)) for k in range(int(result.n_states))]


def checked_states(states: Mapping, where: str = "the fit") -> dict[str, np.ndarray]:
    """`states` as 1-D int arrays, refused if there are none or a recording has no frames."""
    if not states:
        raise InputError(f"{where} holds no recordings")
    checked = {}
    for name, array in states.items():
        array = np.asarray(array)
        if array.ndim != 1 or array.size == 0:
            raise InputError(f"{where}: recording {name!r} has no states")
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0:
            raise InputError(f"{where}: recording {name!r} holds states that are not non-negative integers")
        checked[str(name)] = array.astype(np.int64, copy=False)
    return checked


def frame_table(states: Mapping, fps: float, labels: list[str] | None = None, syllables: Mapping | None = None) -> pd.DataFrame:
    """One row per frame: `recording`, `frame`, `time`, [`syllable`], `state`, `state_name`.

    Args:
        states: recording -> (T,) int states.
        fps: frames per second (> 0).
        labels: K state labels (default: the numbers).
        syllables: optional recording -> (T,) int syllables (adds `syllable`).

    Returns:
        A `pandas.DataFrame` of Σ T rows.
    """
    fps, states = check_fps(fps), checked_states(states)
    labels = _labels(labels, states)
    parts = []
    for name, array in states.items():
        columns = {"recording": name, "frame": np.arange(len(array)), "time": np.arange(len(array)) / fps}
        if syllables is not None:
            columns["syllable"] = syllables_of(syllables, name, len(array))
        columns |= {"state": array, "state_name": np.asarray(labels, dtype=object)[array]}
        parts.append(pd.DataFrame(columns))
    return _typed(pd.concat(parts, ignore_index=True))


def bout_table(states: Mapping, fps: float, labels: list[str] | None = None) -> pd.DataFrame:
    """One row per bout: `recording`, `state`, `state_name`, `start`, `end`, `duration` (s),
    `start_frame`, `end_frame` (exclusive), `frames`.

    Args:
        states: recording -> (T,) int states.
        fps: frames per second (> 0).
        labels: K state labels (default: the numbers).

    Returns:
        A `pandas.DataFrame`, bouts in recording and time order.
    """
    fps, states = check_fps(fps), checked_states(states)
    labels = _labels(labels, states)
    parts = []
    for name, array in states.items():
        starts, ends, values = find_runs(array)
        parts.append(pd.DataFrame({
            "recording": name, "state": values, "state_name": np.asarray(labels, dtype=object)[values],
            "start": starts / fps, "end": ends / fps, "duration": (ends - starts) / fps,
            "start_frame": starts, "end_frame": ends, "frames": ends - starts,
        }))  # fmt: skip
    return _typed(pd.concat(parts, ignore_index=True))


def table_paths(path) -> tuple[Path, Path]:
    """`(frames, bouts)` paths for `export_tables(..., path)`: `<stem>_frames<ext>`, `<stem>_bouts<ext>`."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_FORMATS:
        raise InputError(f"{path}: the table must end in .parquet or .csv")
    return path.with_name(f"{path.stem}_frames{path.suffix}"), path.with_name(f"{path.stem}_bouts{path.suffix}")


def export_tables(result, path, fps: float | None = None, syllables: Mapping | None = None, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a fit's per-frame and per-bout tables (module docstring) as Parquet or CSV.

    Args:
        result: a `FitResult` (its `states`, and its state names where it has them).
        path: `NAME.parquet` or `NAME.csv`; writes `NAME_frames.EXT` and `NAME_bouts.EXT`.
        fps: frames per second (default: the fit's `info["fps"]`).
        syllables: optional recording -> (T,) syllables for the per-frame table.
        overwrite: replace existing files.

    Returns:
        `(frames_path, bouts_path)`.

    Raises:
        InputError: another extension, fps ≤ 0 or unknown, a recording without states,
            syllables of another length.
        FileExistsError: a table exists and `overwrite` is False.
    """
    frames_path, bouts_path = table_paths(path)
    fps = fit_fps(result, fps)
    labels = fit_state_labels(result)
    frames = frame_table(result.states, fps, labels, syllables)
    bouts = bout_table(result.states, fps, labels)
    for target in (frames_path, bouts_path):
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: already exists; pass overwrite=True (CLI: --force) to replace it")
    frames_path.parent.mkdir(parents=True, exist_ok=True)
    for table, target in ((frames, frames_path), (bouts, bouts_path)):
        atomic_write_bytes(target, _encoded(table, target.suffix.lower()))
    return frames_path, bouts_path


def fit_fps(result, fps=None) -> float:
    """`fps` if given, else the frame rate the fit recorded (`info["fps"]`), checked > 0."""
    if fps is None:
        fps = getattr(result, "info", {}).get("fps")
        if fps is None:
            raise InputError("the fit records no frame rate: pass fps (CLI: --fps)")
    return check_fps(fps)


def _encoded(table: pd.DataFrame, suffix: str) -> bytes:
    if suffix == ".csv":
        return table.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def _labels(labels, states: dict) -> list[str]:
    largest = max(int(a.max()) for a in states.values())
    if labels is None:
        return [str(k) for k in range(largest + 1)]
    if largest >= len(labels):
        raise InputError(f"states hold the state {largest} but only {len(labels)} state labels are given")
    return [str(label) for label in labels]


def syllables_of(syllables: Mapping, name: str, length: int) -> np.ndarray:
    """The (T,) int syllables of recording `name`, refused if missing or of another length than its states."""
    if name not in syllables:
        raise InputError(f"no syllables for recording {name!r}")
    array = np.asarray(syllables[name])
    if array.shape != (length,):
        raise InputError(f"recording {name!r}: {array.shape[0] if array.ndim else 0} syllables but {length} states")
    return array.astype(np.int64)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas strings (Parquet `string`, R `character`)."""
    for column in ("recording", "state_name"):
        table[column] = table[column].astype("string")
    return table
