"""Atomic file writes and safe names: a crash never leaves a half-written file in place.

Every writer here writes to a temporary name in the destination folder, flushes it to
disk, and renames it into place (an atomic replace on POSIX and Windows).
"""

import io
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_savez(path, **arrays) -> None:
    """`np.savez` to `path` atomically; arrays must not need pickling (object arrays are refused)."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise TypeError(f"refusing to save object array {name!r}: it would need pickle")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path) -> dict[str, np.ndarray]:
    """Every array of an `.npz` file, never unpickling (pickled entries raise `ValueError`)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, fallback: str = "recording") -> str:
    """A file name made from a recording name: no separators, no `..`, nothing hidden."""
    stem = Path(str(name)).name
    cleaned = _UNSAFE.sub("_", stem).strip("._")
    return cleaned or fallback


def unique_safe_filenames(names) -> dict[str, str]:
    """Map each name to a distinct safe file stem (suffixing `-2`, `-3` on collisions)."""
    used, mapping = set(), {}
    for name in names:
        stem = candidate = safe_filename(name)
        counter = 2
        while candidate.lower() in used:
            candidate = f"{stem}-{counter}"
            counter += 1
        used.add(candidate.lower())
        mapping[name] = candidate
    return mapping
