"""Test-session settings.

No persistent JAX compilation cache in the test run (`SMOSEQ_CACHE_DIR` empty turns off the one
the `smoseq` command keeps, in the test processes and the CLI subprocesses they start): writing
executables to it from the long-lived test workers crashed twice in full runs (a segfault inside
XLA's executable serialisation), never when a file ran alone. `tests/test_cli.py` checks the
cache itself in a subprocess of its own.
"""

import os

import matplotlib

matplotlib.use("Agg")

os.environ["SMOSEQ_CACHE_DIR"] = ""
