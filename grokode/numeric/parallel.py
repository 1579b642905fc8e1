"""Kernels compiled twice, serial and parallel, and run in parallel only where it pays.

A numba ``parallel=True`` region costs a thread wake-up and a join per call: ~20 µs on an idle machine,
but milliseconds when the cores are shared (a sweep's other workers, a second job), because every worker
thread must be scheduled before the region ends. The reduced flows call their data products thousands
of times on problems as small as 64 × 200; there the overhead was 4 ms per call against microseconds of
work (a 1271-step run took 18 s instead of 0.3 s). :class:`SizedKernel` runs the serial build below
:data:`PARALLEL_MIN_WORK` inner-loop operations and the parallel one above it. Both builds run the same
loop bodies and our parallel loops write disjoint outputs or fixed-order partial sums, so the two give
bit-identical results.

A kernel that calls other sized kernels from numba code (the GD step loop calls the data products) gets
their serial builds in its serial build and their parallel builds in its parallel build.

Above the threshold the choice is timed, not assumed: on 2 cores the parallel build gains at most 2×, but as soon
as another process holds a core each parallel region waits for its threads and runs several times slower than
the serial build. So a :class:`SizedKernel` times its calls, keeps a running estimate of each
build's time per unit of work, runs the faster one, and re-times the other every :data:`EXPLORE_EVERY` calls
(the machine's load changes during a run). Both builds give bit-identical results, so the choice never changes a
number, only the time.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable

import numba

#: Work (inner-loop operations) from which a parallel region is worth its synchronisation. Set for a
#: shared machine: at load 8 on 2 cores a parallel Xᵀr at n = 256, d = 10⁴ (1.3e6 operations) took 20 ms
#: against < 1 ms serial (the default run: 32–45 s parallel, 6.5 s serial); on an idle machine parallel
#: wins from ~5e5 operations, but by less than 2×.
PARALLEL_MIN_WORK = 1 << 22
#: Above the threshold, the slower build is timed again once every this many calls.
EXPLORE_EVERY = 64
#: Weight of the newest timing in each build's running estimate of seconds per unit of work.
_SMOOTHING = 0.3


class SizedKernel:
    """A numba kernel with a serial and a parallel build, dispatched on ``work(*args)``.

    The builds are made on first use, when the module defining the kernel (and its callees) is complete.
    """

    def __init__(self, fn: Callable, work: Callable[..., float], serial: Callable | None = None):
        self.fn = fn
        self.work = work
        self._serial = serial
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self._builds: dict[bool, Callable] = {}
        self._rate: dict[bool, float | None] = {False: None, True: None}  # seconds per unit of work, smoothed
        self._calls = 0
        self._called: set[bool] = set()  # builds called at least once above the threshold

    def _build(self, parallel: bool) -> Callable:
        if not parallel and self._serial is not None:
            return self._serial
        if parallel not in self._builds:
            fn = self.fn
            globals_ = fn.__globals__
            callees = {name: globals_[name] for name in fn.__code__.co_names
                       if isinstance(globals_.get(name), SizedKernel)}
            suffix = "" if parallel else "_serial"
            if callees or not parallel:
                # numba's on-disk cache is keyed by qualified name and signature, not by compile flags or
                # globals: each build gets its own name so the builds never load each other's machine code.
                env = {**globals_, **{name: k._build(parallel) for name, k in callees.items()}} if callees else globals_
                fn = types.FunctionType(fn.__code__, env, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
                fn.__qualname__ = self.fn.__qualname__ + suffix
                fn.__module__ = self.fn.__module__
            uses_prange = "prange" in self.fn.__code__.co_names
            self._builds[parallel] = numba.njit(parallel=parallel and uses_prange, cache=True)(fn)
        return self._builds[parallel]

    @property
    def serial(self) -> Callable:
        return self._build(False)

    @property
    def parallel(self) -> Callable:
        return self._build(True)

    def __call__(self, *args):
        work = self.work(*args)
        if work < PARALLEL_MIN_WORK or numba.get_num_threads() <= 1:
            return self._build(False)(*args)
        self._calls += 1
        serial, parallel = self._rate[False], self._rate[True]
        if serial is None or parallel is None:
            use = parallel is None  # time each build once, the parallel one first
        else:
            use = parallel < serial
            if self._calls % EXPLORE_EVERY == 0:
                use = not use  # re-time the other build: the load may have changed
        build = self._build(use)
        if use not in self._called:  # a build's first call loads (or compiles) its machine code: not timed
            self._called.add(use)
            return build(*args)
        start = time.perf_counter()
        result = build(*args)
        rate = (time.perf_counter() - start) / work
        old = self._rate[use]
        # a load from elsewhere only ever slows a call down: a faster call is the build's speed now, taken at once,
        # and a slower one moves the estimate gradually (a single preempted call does not decide)
        self._rate[use] = rate if old is None or rate < old else (1.0 - _SMOOTHING) * old + _SMOOTHING * rate
        return result


def sized_kernel(work: Callable[..., float], serial: Callable | None = None) -> Callable[[Callable], SizedKernel]:
    """Decorator: ``@sized_kernel(lambda X, r, ...: X.size)`` over a function written with ``numba.prange``.

    ``serial``, if given, runs in place of the function's serial build (a fused kernel whose serial form is slower
    than the separate kernels it fuses runs those); it must give the same results bit for bit."""
    return lambda fn: SizedKernel(fn, work, serial)
