"""An `.npz` written one array at a time, renamed into place only when complete.

For outputs too large to hold at once (`smoseq apply` on a folder larger than memory):
each array is written to the archive as soon as it exists, and the file appears under
its name only after `close()`; an error or interruption leaves nothing half-written.
"""

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["NpzWriter"]


class NpzWriter:
    """Write arrays into `path` (an `.npz` that `np.load(..., allow_pickle=False)` reads) one by one.

    Use as a context manager: the archive is renamed into place on a clean exit and
    removed on an exception.
    """

    def __init__(self, path):
        self.path = Path(path)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(descriptor)
        self.temporary = Path(temporary)
        self.archive = zipfile.ZipFile(self.temporary, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def write(self, name: str, array) -> None:
        """Add `array` as entry `name` (object arrays are refused: they would need pickle)."""
        array = np.asarray(array)
        if array.dtype == object:
            raise TypeError(f"refusing to save object array {name!r}: it would need pickle")
        with self.archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array(entry, array, allow_pickle=False)

    def close(self) -> None:
        """Finish the archive and rename it into place."""
        self.archive.close()
        with open(self.temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        """Drop the unfinished archive."""
        self.archive.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()
