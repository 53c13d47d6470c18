"""Reading recordings from disk: a folder of CSVs, keypoint-MoSeq's CSV export, or its `results.h5`.

Every problem is reported as an `InputError` whose one-line message names the file
and what is wrong with it.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputError
from .batching import validate_syllables

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
_CENTROID_COLUMNS = (("x", "y"), ("centroid x", "centroid y"), ("centroid_x", "centroid_y"))
_HEADING_COLUMNS = ("heading", "Heading")


@dataclass
class Recordings:
    """Syllables (and, where available, centroids, headings and videos) per recording.

    Attributes:
        syllables: name -> (T,) int syllables.
        centroids: name -> (T, 2) float, or empty if the source has none.
        headings: name -> (T,) float radians, or empty.
        videos: name -> video path found beside the source, or empty.
        sources: name -> the file the recording came from.
    """

    syllables: dict
    centroids: dict = field(default_factory=dict)
    headings: dict = field(default_factory=dict)
    videos: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)


def load_recordings(path) -> Recordings:
    """Recordings from a folder of per-recording CSVs, one CSV, or a keypoint-MoSeq `results.h5`.

    A CSV needs a `syllable` column; the recording is named after the file's stem. A
    group sheet `index.csv` (columns name,group) in the folder is not a recording and is
    skipped.
    Centroids come from `x`/`y` (or `centroid x`/`centroid y`, `centroid_x`/`centroid_y`)
    columns and headings from a `heading` column when present. In `results.h5`, each
    top-level group is a recording with a `syllable` dataset and optionally `centroid`
    (T, 2) and `heading` (T,). A folder without CSVs but with exactly one `.h5` file is
    read as that file. A video named like the recording (`.mp4`, `.avi`, `.mov`,
    `.mkv`, `.webm`) beside the source is recorded in `videos`.

    Args:
        path: a folder of `*.csv` files, a `.csv` file, or a `.h5`/`.hdf5` file (str or `Path`).

    Returns:
        `Recordings`: `syllables` name -> (T_i,) int array; `centroids` name -> (T_i, 2)
        float; `headings` name -> (T_i,) float; `videos` name -> `Path`; `sources`
        name -> `Path` of the file read.

    Raises:
        InputError: a missing or unreadable path, no `syllable` column or dataset, a
            non-integer or negative syllable, a duplicate recording name, or a centroid
            dataset of the wrong shape (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_csv_folder(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _load_results_h5(path)
    if path.suffix.lower() == ".csv":
        recordings = Recordings({})
        _add_csv(recordings, path)
        return recordings
    raise InputError(f"{path}: expected a folder of CSVs, a .csv file or a keypoint-MoSeq results.h5")


def _is_group_sheet(path: Path) -> bool:
    """keypoint-MoSeq's `index.csv` (columns name,group, no syllables) kept among the recordings."""
    if path.name.lower() != "index.csv":
        return False
    try:
        columns = {str(c).strip().lower() for c in pd.read_csv(path, nrows=0).columns}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return False
    return "group" in columns and "syllable" not in columns


def _load_csv_folder(folder: Path) -> Recordings:
    csvs = sorted(
        p for p in folder.glob("*.csv") if p.is_file() and not p.name.startswith(".") and not _is_group_sheet(p)
    )
    if not csvs:
        h5s = sorted(folder.glob("*.h5"))
        if len(h5s) == 1:
            return _load_results_h5(h5s[0])
        raise InputError(f"{folder}: no recording CSVs (*.csv) found")
    recordings = Recordings({})
    for csv in csvs:
        _add_csv(recordings, csv)
    return recordings


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None


def _syllables_from_column(path: Path, column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    text_rows = np.flatnonzero(values.isna() & column.notna())
    if len(text_rows):
        row = int(text_rows[0])
        raise InputError(f"{path}: syllable at row {row} is not a number ({column.iloc[row]!r})")
    try:
        return validate_syllables(path.name, values.to_numpy(dtype=float))
    except InputError as error:
        raise InputError(f"{path}: {str(error).split(': ', 1)[1]}") from None


def _add_csv(recordings: Recordings, path: Path) -> None:
    table = _read_csv(path)
    table.columns = [str(c).strip() for c in table.columns]
    if "syllable" not in table.columns:
        listed = ", ".join(table.columns[:8]) or "none"
        raise InputError(f"{path}: no 'syllable' column (columns: {listed})")
    name = path.stem
    if name in recordings.syllables:
        raise InputError(f"{path}: recording name {name!r} appears twice")
    syllables = _syllables_from_column(path, table["syllable"])
    recordings.syllables[name] = syllables
    recordings.sources[name] = path
    for x_column, y_column in _CENTROID_COLUMNS:
        if x_column in table.columns and y_column in table.columns:
            centroid = table[[x_column, y_column]].to_numpy(dtype=float)
            recordings.centroids[name] = centroid
            break
    for heading_column in _HEADING_COLUMNS:
        if heading_column in table.columns:
            recordings.headings[name] = table[heading_column].to_numpy(dtype=float)
            break
    video = find_video(path.parent, name)
    if video is not None:
        recordings.videos[name] = video


def find_video(folder: Path, stem: str) -> Path | None:
    for suffix in VIDEO_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _load_results_h5(path: Path) -> Recordings:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise InputError(f"{path}: not a readable HDF5 file") from None
    recordings = Recordings({})
    with handle:
        names = [name for name in handle.keys() if isinstance(handle[name], h5py.Group)]
        if not names:
            raise InputError(f"{path}: no recording groups found")
        for name in sorted(names):
            group = handle[name]
            if "syllable" not in group:
                raise InputError(f"{path}: group {name!r} has no 'syllable' dataset")
            syllables = np.asarray(group["syllable"][()])
            try:
                recordings.syllables[name] = validate_syllables(name, syllables)
            except InputError as error:
                raise InputError(f"{path}: {error}") from None
            recordings.sources[name] = path
            if "centroid" in group:
                centroid = np.asarray(group["centroid"][()], dtype=float)
                if centroid.shape != (len(syllables), 2):
                    raise InputError(
                        f"{path}: recording {name!r} has centroid shape {centroid.shape}, "
                        f"expected ({len(syllables)}, 2)"
                    )
                recordings.centroids[name] = centroid
            if "heading" in group:
                recordings.headings[name] = np.asarray(group["heading"][()], dtype=float)
            video = find_video(path.parent, name)
            if video is not None:
                recordings.videos[name] = video
    return recordings


def check_centroids(recordings: Recordings) -> None:
    """Every recording with a centroid track has one frame of centroid per syllable."""
    for name, centroid in recordings.centroids.items():
        n_frames = len(recordings.syllables[name])
        if len(centroid) != n_frames:
            raise InputError(
                f"{recordings.sources.get(name, name)}: centroid track has {len(centroid)} frames "
                f"but there are {n_frames} syllables"
            )


def iter_recordings(path):
    """The recordings of `path` one at a time, as `load_recordings` reads them, without holding the others.

    Args:
        path: a folder of `*.csv` files, a `.csv` file, or a `.h5`/`.hdf5` file.

    Yields:
        `Recordings` holding one recording each (its syllables, centroids, heading, video, source).

    Raises:
        InputError: as `load_recordings`, for the recording being read.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        csvs = sorted(p for p in path.glob("*.csv") if p.is_file() and not p.name.startswith(".") and not _is_group_sheet(p))
        if not csvs:
            h5s = sorted(path.glob("*.h5"))
            if len(h5s) != 1:
                raise InputError(f"{path}: no recording CSVs (*.csv) found")
            yield from _iter_results_h5(h5s[0])
            return
        for csv in csvs:
            recordings = Recordings({})
            _add_csv(recordings, csv)
            yield recordings
    elif path.suffix.lower() in (".h5", ".hdf5"):
        yield from _iter_results_h5(path)
    else:
        yield load_recordings(path)


def _iter_results_h5(path: Path):
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            names = sorted(name for name in handle.keys() if isinstance(handle[name], h5py.Group))
    except OSError:
        raise InputError(f"{path}: not a readable HDF5 file") from None
    if not names:
        raise InputError(f"{path}: no recording groups found")
    for name in names:
        with h5py.File(path, "r") as handle:
            group = handle[name]
            if "syllable" not in group:
                raise InputError(f"{path}: group {name!r} has no 'syllable' dataset")
            try:
                syllables = validate_syllables(name, np.asarray(group["syllable"][()]))
            except InputError as error:
                raise InputError(f"{path}: {error}") from None
        yield Recordings({name: syllables}, sources={name: path})
