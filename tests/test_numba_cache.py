"""The first call of a cached numba kernel compiles under an inter-process file lock."""

import fcntl
import importlib.util
import sys
import threading
import time

import numpy as np

from smoseq._numba_cache import _LOCK_NAME, _lock_folder, call_compiled

KERNEL_SOURCE = '''
import numba


@numba.njit(cache=True, nogil=True)
def weighted_sum(values, weight):
    total = 0.0
    for value in values:
        total += weight * value
    return total
'''


def _fresh_kernel(folder):
    """A kernel in a module of its own under `folder`, so its disk cache starts empty."""
    path = folder / "fresh_kernels.py"
    path.write_text(KERNEL_SOURCE)
    spec = importlib.util.spec_from_file_location("fresh_kernels", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("fresh_kernels", None)
    spec.loader.exec_module(module)
    return module.weighted_sum


def test_first_call_waits_for_the_lock_and_later_calls_do_not(tmp_path):
    kernel = _fresh_kernel(tmp_path)
    folder = _lock_folder(kernel)
    assert folder == tmp_path / "__pycache__"  # beside numba's cache of that module
    results = []
    with open(folder / _LOCK_NAME, "a") as other_process:  # flock is per open file: this blocks the call too
        fcntl.flock(other_process, fcntl.LOCK_EX)
        caller = threading.Thread(target=lambda: results.append(call_compiled(kernel, np.arange(4.0), 0.5)))
        caller.start()
        time.sleep(1.0)
        assert caller.is_alive() and not results and not kernel.overloads  # waiting, nothing compiled
        fcntl.flock(other_process, fcntl.LOCK_UN)
        caller.join(timeout=120)
    assert results == [3.0] and len(kernel.overloads) == 1
    assert sorted(p.suffix for p in folder.iterdir() if p.suffix in (".nbi", ".nbc")) == [".nbc", ".nbi"]

    with open(folder / _LOCK_NAME, "a") as other_process:  # compiled: no lock taken any more
        fcntl.flock(other_process, fcntl.LOCK_EX)
        assert call_compiled(kernel, np.arange(3.0), 2.0) == 6.0
        fcntl.flock(other_process, fcntl.LOCK_UN)
