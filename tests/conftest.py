"""Test-session settings: a shared on-disk JAX compilation cache, so programs compiled
by one test process (or a CLI subprocess) are reused by the others."""

import os
import tempfile
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")

_CACHE = Path(os.environ.get("SMOSEQ_TEST_CACHE", Path(tempfile.gettempdir()) / "smoseq-test-jax-cache"))
_CACHE.mkdir(parents=True, exist_ok=True)
os.environ["SMOSEQ_CACHE_DIR"] = str(_CACHE)
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
