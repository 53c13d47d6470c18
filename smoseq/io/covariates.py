"""What the experiment says about each recording: a per-recording covariate table and per-frame inputs.

**Covariates** are one row per recording, named columns, numeric or categorical: a CSV
with a `name` column (`recording` or `filename` are accepted too, as in group sheets,
so keypoint-MoSeq's `index.csv` reads as it is), a pandas `DataFrame` (a name column, or
the names as its index), or a dict recording -> {column: value}. Numeric columns (and
booleans, as 0/1) are kept as they are. A column holding any non-numeric value is
categorical and becomes one 0/1 column per level, named `"column=level"`, levels in
sorted order (every level kept: a component picks the ones it needs by name, from
`SyllableData.covariate_names`). A group sheet is the case of one categorical column.
Rows are matched to recordings by exact name or by file stem; rows of other recordings
are ignored, so one sheet serves a fit and predictions on any subset. The levels a fit
saw are recorded (`levels`) and reused for new recordings, so columns keep their meaning.

**Inputs** are per-frame: a dict recording -> (T_i,) or (T_i, D) array, or recording ->
{name: (T_i,)}; every recording has the same D columns and exactly as many frames as
syllables. They are segmented with the syllables (`batch_frames`).
"""

from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._errors import InputError

__all__ = ["CovariateTable", "load_covariates", "frame_inputs"]

_NAME_COLUMNS = ("name", "recording", "filename")


class CovariateTable(NamedTuple):
    """Covariates encoded as numbers, one row per recording.

    Attributes:
        names: the C column names (categorical levels as `"column=level"`).
        rows: recording name -> (C,) float64.
        levels: categorical column -> its levels (sorted), the encoding to reuse.
    """

    names: tuple[str, ...]
    rows: dict[str, np.ndarray]
    levels: dict[str, list[str]]


def load_covariates(table, recordings, levels: Mapping[str, list] | None = None) -> CovariateTable:
    """Read and encode a covariate table for `recordings`.

    Args:
        table: a CSV path (str or `Path`), a `pandas.DataFrame`, or a dict recording ->
            {column: value}.
        recordings: the recording names every row must be found for.
        levels: the categorical encoding of an earlier fit (`CovariateTable.levels`):
            those columns are one-hot over these levels, in this order (a value outside
            them is refused). Default: read from the table.

    Returns:
        A `CovariateTable` with a row for every recording.

    Raises:
        InputError: an unreadable file, no name column, no covariate column, a name listed
            twice, an empty or NaN value, a recording without a row, or a level outside
            `levels` (one line naming the source and the problem).
    """
    source, frame = _read_table(table)
    levels = {} if levels is None else {str(k): [str(v) for v in vs] for k, vs in levels.items()}
    names, columns, used_levels = [], [], {}
    for column in frame.columns:
        values = frame[column]
        if values.isna().any() or (values.astype(str).str.strip() == "").any():
            missing = frame.index[values.isna() | (values.astype(str).str.strip() == "")][0]
            raise InputError(f"{source}: recording {missing!r} has no value in column {column!r}")
        numeric = pd.to_numeric(values, errors="coerce")
        if column not in levels and not numeric.isna().any():
            names.append(str(column))
            columns.append(numeric.to_numpy(dtype=np.float64))
            continue
        labels = values.astype(str).str.strip()
        column_levels = levels.get(column, sorted(set(labels)))
        unknown = sorted(set(labels) - set(column_levels))
        if unknown:
            raise InputError(f"{source}: column {column!r} has level(s) {unknown} the fit did not see {column_levels}")
        used_levels[str(column)] = list(column_levels)
        for level in column_levels:
            names.append(f"{column}={level}")
            columns.append((labels == level).to_numpy(dtype=np.float64))
    matrix = np.stack(columns, axis=1)
    row_of = _match(list(frame.index), list(recordings), source)
    rows = {recording: matrix[row_of[recording]] for recording in recordings}
    return CovariateTable(tuple(names), rows, used_levels)


def _read_table(table) -> tuple[str, pd.DataFrame]:
    """`(source, frame)`: the covariate columns, indexed by recording name (str)."""
    if isinstance(table, pd.DataFrame):
        source, frame = "covariates", table.copy()
    elif isinstance(table, Mapping):
        source = "covariates"
        try:
            frame = pd.DataFrame.from_dict({str(k): dict(v) for k, v in table.items()}, orient="index")
        except (TypeError, ValueError):
            raise InputError("covariates: a dict must map recording -> {column: value}") from None
    else:
        path = Path(table)
        source = str(path)
        if not path.is_file():
            raise InputError(f"{path}: no such covariate table (a CSV with a name column and one column per covariate)")
        try:
            frame = pd.read_csv(path, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read the covariate table ({str(error).splitlines()[0]})") from None
    lowered = {str(column).strip().lower(): column for column in frame.columns}
    name_column = next((lowered[c] for c in _NAME_COLUMNS if c in lowered), None)
    if name_column is not None:
        frame = frame.set_index(name_column)
    elif source != "covariates" or isinstance(frame.index, pd.RangeIndex):
        raise InputError(f"{source}: the covariate table needs a name column (found {', '.join(map(str, frame.columns))})")
    frame.index = [str(name).strip() for name in frame.index]
    frame.columns = [str(column).strip() for column in frame.columns]
    duplicated = frame.index[frame.index.duplicated()]
    if len(duplicated):
        raise InputError(f"{source}: recording {duplicated[0]!r} is listed twice")
    if frame.shape[1] == 0:
        raise InputError(f"{source}: the covariate table has no covariate column")
    return source, frame


def _stem(name: str) -> str:
    return PurePath(name.replace("\\", "/")).stem


def _match(sheet_names: list[str], recordings: list[str], source: str) -> dict[str, int]:
    """recording -> row index, by exact name or by stem; every recording must match exactly one row."""
    by_stem: dict[str, list[int]] = {}
    for index, name in enumerate(sheet_names):
        by_stem.setdefault(_stem(name), []).append(index)
    matched, missing = {}, []
    for recording in recordings:
        candidates = [sheet_names.index(recording)] if recording in sheet_names else by_stem.get(_stem(recording), [])
        if len(candidates) > 1:
            raise InputError(f"{source}: recording {recording!r} matches several rows")
        if not candidates:
            missing.append(recording)
            continue
        matched[recording] = candidates[0]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"{source}: no covariates for recording(s) {shown}")
    return matched


def frame_inputs(inputs: Mapping, lengths: Mapping[str, int]) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Validated per-frame inputs: `(names, recording -> (T_i, D) float64)`.

    Args:
        inputs: recording -> (T_i,) or (T_i, D) array, or recording -> {name: (T_i,)}.
        lengths: recording -> T_i, its number of frames (syllables); every one needs inputs.

    Returns:
        The D column names (`"input0"`, … for arrays) and the arrays.

    Raises:
        InputError: a recording without inputs, a length that differs from its
            syllables', names or widths that differ between recordings, or a non-finite value.
    """
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a dict recording -> (T, D) array or -> {{name: (T,)}}, got {type(inputs).__name__}")
    missing = [name for name in lengths if name not in inputs]
    if missing:
        raise InputError(f"inputs: no inputs for recording(s) {', '.join(map(repr, missing[:5]))}")
    names, arrays = None, {}
    for recording, length in lengths.items():
        value = inputs[recording]
        if isinstance(value, Mapping):
            these = tuple(str(name) for name in value)
            array = np.stack([np.asarray(value[name], dtype=np.float64) for name in value], axis=-1) if value else None
        else:
            array = np.asarray(value, dtype=np.float64)
            array = array[:, None] if array.ndim == 1 else array
            these = tuple(f"input{i}" for i in range(array.shape[-1])) if array.ndim == 2 else ()
        if array is None or array.ndim != 2 or array.shape[0] != length:
            shape = None if array is None else array.shape
            raise InputError(f"inputs: recording {recording!r} needs ({length}, D) inputs, one row per frame; got {shape}")
        if names is not None and these != names:
            raise InputError(f"inputs: recording {recording!r} has columns {list(these)}, others {list(names)}")
        if not np.isfinite(array).all():
            frame = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
            raise InputError(f"inputs: recording {recording!r} has a non-finite input at frame {frame}")
        names, arrays[recording] = these, array
    return names, arrays
