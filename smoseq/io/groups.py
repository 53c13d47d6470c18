"""Experimental groups of recordings: keypoint-MoSeq's `index.csv` (`name,group`) or a dict.

One sheet format serves the per-group statistics (`sm.load_groups`) and the grouped
transition model (`sm.fit(..., groups=...)`). Names in the sheet are matched to
recording names exactly, or by file stem (keypoint-MoSeq's sheets name recordings by
video or file path, smoseq names them by stem).
"""

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath

import pandas as pd

from .._errors import InputError

_NAME_COLUMNS = ("name", "recording", "filename")
_GROUP_COLUMN = "group"


def load_groups(groups, recordings: Iterable[str] | None = None) -> dict[str, str]:
    """The group of every recording, from a `name,group` CSV or a dict.

    A CSV needs a `group` column and a `name` column (`recording` or `filename` are
    accepted too); other columns are ignored, so keypoint-MoSeq's `index.csv` reads as it
    is. Group labels are read as strings. With `recordings`, every recording must have a
    group and every name in the sheet must match a recording, by its exact name or by
    its stem (`videos/mouse1.mp4` matches a recording named `mouse1`); the result is
    keyed by the recordings' own names.

    Args:
        groups: a path (str or `Path`) to a CSV, or a mapping recording name -> group.
        recordings: optional recording names to match the sheet against.

    Returns:
        dict recording name -> group label (str), in the order of `recordings` when
        given, else in the sheet's order.

    Raises:
        InputError: a missing or unreadable file, no `group` or name column, an empty
            name or group, a name listed twice with different groups, a recording
            without a group, or a name in the sheet that matches no recording (one line
            naming the file and the names).
    """
    source, sheet = _read_sheet(groups)
    if recordings is None:
        return sheet
    return _match(sheet, list(recordings), source)


def group_names(groups: Mapping[str, str]) -> list[str]:
    """Distinct group labels, sorted (the order figures and tables use).

    Args:
        groups: dict recording name -> group label.

    Returns:
        list of str labels.
    """
    return sorted(set(groups.values()))


def _read_sheet(groups) -> tuple[str, dict[str, str]]:
    if isinstance(groups, Mapping):
        return "groups", _clean_pairs("groups", groups.items())
    path = Path(groups)
    if not path.is_file():
        raise InputError(f"{path}: no such group sheet (a CSV with columns name,group)")
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the group sheet ({str(error).splitlines()[0]})") from None
    columns = {str(column).strip().lower(): column for column in table.columns}
    name_column = next((columns[c] for c in _NAME_COLUMNS if c in columns), None)
    if _GROUP_COLUMN not in columns or name_column is None:
        raise InputError(f"{path}: the group sheet needs columns name,group (found {', '.join(map(str, table.columns))})")
    pairs = zip(table[name_column].tolist(), table[columns[_GROUP_COLUMN]].tolist())
    return str(path), _clean_pairs(str(path), pairs)


def _clean_pairs(source: str, pairs) -> dict[str, str]:
    sheet: dict[str, str] = {}
    for name, group in pairs:
        name = "" if _missing(name) else str(name).strip()
        group = "" if _missing(group) else str(group).strip()
        if not name:
            raise InputError(f"{source}: a row has no recording name")
        if not group:
            raise InputError(f"{source}: recording {name!r} has no group")
        if sheet.get(name, group) != group:
            raise InputError(f"{source}: recording {name!r} is listed in groups {sheet[name]!r} and {group!r}")
        sheet[name] = group
    if not sheet:
        raise InputError(f"{source}: the group sheet lists no recordings")
    return sheet


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _stem(name: str) -> str:
    return PurePath(name.replace("\\", "/")).stem


def _match(sheet: dict[str, str], recordings: list[str], source: str) -> dict[str, str]:
    by_stem: dict[str, list[str]] = {}
    for name in sheet:
        by_stem.setdefault(_stem(name), []).append(name)
    matched, used, missing = {}, set(), []
    for recording in recordings:
        candidates = [recording] if recording in sheet else by_stem.get(_stem(recording), [])
        if len(candidates) > 1:
            raise InputError(f"{source}: recording {recording!r} matches several names: {', '.join(candidates)}")
        if not candidates:
            missing.append(recording)
            continue
        matched[recording] = sheet[candidates[0]]
        used.add(candidates[0])
    if missing:
        raise InputError(f"{source}: no group for recording(s) {_listing(missing)}")
    unmatched = [name for name in sheet if name not in used]
    if unmatched:
        raise InputError(f"{source}: name(s) {_listing(unmatched)} match no recording")
    return matched


def _listing(names: list[str], shown: int = 5) -> str:
    text = ", ".join(repr(name) for name in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")
