"""Threads: grokode decides how many threads numba and BLAS use, so no user has to set an environment variable.

numba's parallel kernels and OpenBLAS's threads compete for the same cores, and oversubscribed cores slow both
down several-fold (benchmarks/DESIGN_MEASUREMENTS.md). The parallel work in grokode is in numba; BLAS calls are
many small products. So a run limits BLAS to one thread (:func:`compute_threads`, via threadpoolctl, which
finds every BLAS/OpenMP library loaded in the process), and a sweep's worker process runs everything
single-threaded (its parallelism is across points). threadpoolctl limits only libraries already loaded:
scipy's BLAS, which numba-compiled ``np.dot`` calls, is loaded first, or its threads would escape the limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def compute_threads(*, numba_threads: int | None = None, blas_threads: int = 1) -> Iterator[None]:
    """Within the block BLAS uses ``blas_threads`` threads and numba ``numba_threads`` (default: unchanged)."""
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot calls this BLAS: load it so the limit covers it)
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    if numba_threads is not None:
        numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


#: Environment of a sweep's worker processes: one thread for every numerical library, set before they load.
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}
