"""Test-session settings.

- A shared on-disk JAX compilation cache, so programs compiled by one test process (or a
  CLI subprocess) are reused by the others.
- Each test file's compiled programs are released when the file ends. Every XLA CPU
  executable holds about three memory mappings of its own; a test worker that keeps the
  programs of dozens of files reaches Linux's limit of 65,530 mappings per process
  (`vm.max_map_count`) and crashes inside the next compilation.
"""

import gc
import os
import tempfile
from pathlib import Path

import jax
import matplotlib
import pytest

matplotlib.use("Agg")

_CACHE = Path(os.environ.get("SMOSEQ_TEST_CACHE", Path(tempfile.gettempdir()) / "smoseq-test-jax-cache"))
_CACHE.mkdir(parents=True, exist_ok=True)
os.environ["SMOSEQ_CACHE_DIR"] = str(_CACHE)
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After each test file: drop its compiled programs (and their memory mappings)."""
    yield
    jax.clear_caches()
    gc.collect()
