"""Kernels compiled twice, serial and parallel, and run in parallel only where it pays.

A numba ``parallel=True`` region costs a thread wake-up and a join per call: ~20 µs on an idle machine,
but milliseconds when the cores are shared (a sweep's other workers, a second job), because every worker
thread must be scheduled before the region ends. The reduced flows call their data products thousands
of times on problems as small as 64 × 200; there the overhead was 4 ms per call against microseconds of
work (a 1271-step run took 18 s instead of 0.3 s). :class:`SizedKernel` runs the serial build below
:data:`PARALLEL_MIN_WORK` inner-loop operations and the parallel one above it. Both builds run the same
loop bodies and our parallel loops write disjoint outputs or fixed-order partial sums, so the two give
bit-identical results.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import numba

#: Work (inner-loop operations) from which a parallel region is worth its synchronisation.
PARALLEL_MIN_WORK = 1 << 19


def _renamed(fn: Callable, suffix: str) -> Callable:
    # numba's on-disk cache is keyed by qualified name and signature, not by compile flags: the serial
    # build needs its own name so the two builds never load each other's machine code.
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


class SizedKernel:
    """A numba kernel with a serial and a parallel build, dispatched on ``work(*args)``."""

    def __init__(self, fn: Callable, work: Callable[..., float]):
        self.parallel = numba.njit(parallel=True, cache=True)(fn)
        self.serial = numba.njit(cache=True)(_renamed(fn, "_serial"))
        self.work = work
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __call__(self, *args):
        if numba.get_num_threads() > 1 and self.work(*args) >= PARALLEL_MIN_WORK:
            return self.parallel(*args)
        return self.serial(*args)


def sized_kernel(work: Callable[..., float]) -> Callable[[Callable], SizedKernel]:
    """Decorator: ``@sized_kernel(lambda X, r, ...: X.size)`` over a function written with ``numba.prange``."""
    return lambda fn: SizedKernel(fn, work)
