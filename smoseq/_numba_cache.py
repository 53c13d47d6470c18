"""Numba kernels cached on disk, compiled one process at a time.

numba's on-disk cache (`cache=True`) is not safe when several processes compile the same
function at once: each reads the cache index, picks a file name, and writes the index and
the machine code separately, so an index can end up naming another signature's code (numba
issues 4807 and 10128). The process that later loads it runs the wrong machine code on its
arrays and corrupts memory, which crashes much later, anywhere. It happens whenever parallel
processes start on a fresh install, after an upgrade, or on a new CPU: test workers, the
jobs of a scan on a cluster sharing one installation.

`call_compiled(kernel, *args)` takes an exclusive file lock beside the kernel's cache for
the first call of each argument signature in a process, so loading and saving the cache
never interleave between processes; later calls go straight to the kernel.
"""

import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: numba's own in-process lock only
    fcntl = None

__all__ = ["call_compiled", "ensure_compiled"]

_LOCK_NAME = "smoseq-numba-compile.lock"
_in_process = threading.Lock()


def _lock_folder(kernel) -> Path:
    """numba's cache folder for `kernel` when it is writable, else the temporary folder."""
    folder = getattr(getattr(kernel, "_cache", None), "_cache_path", None)
    if folder and os.access(folder, os.W_OK):
        return Path(folder)
    return Path(tempfile.gettempdir())


@contextmanager
def _exclusive(folder: Path):
    """Held by one thread of one process at a time (per folder, across processes)."""
    with _in_process:
        if fcntl is None:
            yield
            return
        with open(folder / _LOCK_NAME, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_compiled(kernel, *args) -> None:
    """Compile (or load from the disk cache) `kernel`'s overload for `args`' types, under the lock.

    Args:
        kernel: a numba dispatcher (`numba.njit(cache=True, ...)`).
        args: the arguments of the coming call (only their numba types are used).
    """
    signature = tuple(kernel.typeof_pyval(arg) for arg in args)
    if signature in kernel.overloads:
        return
    with _exclusive(_lock_folder(kernel)):
        if signature not in kernel.overloads:
            kernel.compile(signature)


def call_compiled(kernel, *args):
    """`kernel(*args)`, its first call per signature compiled under the inter-process lock."""
    ensure_compiled(kernel, *args)
    return kernel(*args)
