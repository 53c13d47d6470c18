"""One BLAS thread while smoseq's JAX programs run.

XLA on CPU calls LAPACK/BLAS (Cholesky, triangular solves) from the OpenBLAS that
SciPy ships. OpenBLAS's own thread pool, competing with XLA's and numba's threads for
the same cores, makes a small Cholesky take ~0.5 s instead of ~1 ms on a 2-core
machine (measured). Our LAPACK calls are many and small, so inference runs with
OpenBLAS limited to one thread, restored afterwards.
"""

from contextlib import contextmanager
from functools import lru_cache, wraps


@lru_cache(maxsize=1)
def _controller():
    import jax
    from threadpoolctl import ThreadpoolController

    jax.devices()  # the CPU backend loads its LAPACK on start-up; find it too
    return ThreadpoolController()


@contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS library to one thread inside the block."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


def with_single_threaded_blas(function):
    """Decorator: run `function` inside `single_threaded_blas()`."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        with single_threaded_blas():
            return function(*args, **kwargs)

    return wrapper
