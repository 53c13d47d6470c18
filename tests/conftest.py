"""Test-session settings.

- A shared on-disk JAX compilation cache, so programs compiled by one test process (or a
  CLI subprocess, or a documentation page) are reused by the others; small programs too
  (loading one beats compiling it again in every process).
- Each test file's compiled programs are released when the file ends. Every XLA CPU
  executable holds about three memory mappings of its own; a test worker that keeps the
  programs of dozens of files reaches Linux's limit of 65,530 mappings per process
  (`vm.max_map_count`) and crashes inside the next compilation.
- XLA compiles for speed of compilation (inherited by the CLI subprocesses and the
  documentation pages): no LLVM optimisation (`--xla_backend_optimization_level=0`) and
  no fusion emitters (`--xla_cpu_use_fusion_emitters=false`). The tests' data are tiny,
  so optimising costs more than it saves: measured, the first flag takes a quarter off
  the suite's time and the second halves a small fit's compilation again. (With
  optimisation on, as users run, the fusion emitters compile faster and run faster.)
- `make test` hands tests to the two `pytest-xdist` workers with `--dist worksteal`: each
  worker starts on one half of the collection, in order (so a file's fixtures and
  compiled programs are shared by its tests), and an idle worker takes tests from the
  end of the other's queue, so no long file (the documentation pages) bounds the run.
"""

import gc
import os
import tempfile
from pathlib import Path

_QUICK_COMPILATION = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
_GIVEN_FLAGS = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join([_GIVEN_FLAGS, *(f for f in _QUICK_COMPILATION if f not in _GIVEN_FLAGS)]).strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")

_CACHE = Path(os.environ.get("SMOSEQ_TEST_CACHE", Path(tempfile.gettempdir()) / "smoseq-test-jax-cache"))
_CACHE.mkdir(parents=True, exist_ok=True)
os.environ["SMOSEQ_CACHE_DIR"] = str(_CACHE)
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # small programs too


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After each test file: drop its compiled programs (and their memory mappings)."""
    yield
    jax.clear_caches()
    gc.collect()
