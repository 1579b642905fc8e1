"""BLAS's threads or one thread for a sequence of large products, whichever is faster on the machine as it is.

On a 2-core machine that nothing else uses, OpenBLAS's two threads make a large product (such as the test-set outputs
of 302 saved w, a 302 × 10⁵ × 1000 product) ~1.5× faster than one. As soon as another process holds
a core, its threads wait for each other and the same product takes about twice as long as with one thread. A
:class:`BlasThreadChoice` runs a sequence of products of similar size (the column blocks of one product), times
its first calls with each thread count, uses the faster, and times the other again now and then (the load
changes). OpenBLAS splits a product among its threads by blocks of the output, so every output entry is the same
sum in the same order whatever the thread count: the choice changes the time, never a number (tested).

By default the choice never uses more threads than the library has when the sequence starts: inside a one-thread
limit everything runs on one thread, as before. A caller inside the dynamics' one-thread limit (the Newton Gram
product of a Jacobian) names its thread count instead: numba's, which a sweep's worker sets to one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: After the first timings, the slower thread count is timed again after this many calls; each time it is still
#: the slower, the interval doubles (up to :data:`RETIME_MAX`): on a machine that stays busy, timing the many-thread
#: count costs several times a one-thread call.
RETIME_EVERY = 8
RETIME_MAX = 64
#: Weight of the newest timing in each thread count's running estimate of seconds per unit of work.
_SMOOTHING = 0.5


class BlasThreadChoice:
    """Calls ``fn(*args, **kwargs)`` with one BLAS thread or with ``threads`` (default: the library's current count),
    whichever has been faster per unit of work (``work``, e.g. the number of columns of a block)."""

    def __init__(self, threads: int | None = None) -> None:
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController().select(user_api="blas")
        current = max((int(info["num_threads"]) for info in self.controller.info()), default=1)
        self.threads = current if threads is None else max(1, int(threads))
        self.rate: dict[int, float | None] = {1: None, self.threads: None}
        self.calls = 0
        self.interval = RETIME_EVERY
        self.next_retime = RETIME_EVERY
        self.used: list[int] = []  # the thread count of every call (read by tests and benchmarks)

    def best(self) -> int:
        many, one = self.rate[self.threads], self.rate[1]
        return self.threads if many is None or one is None or many <= one else 1

    def __call__(self, fn: Callable[..., Any], *args: Any, work: float = 1.0, **kwargs: Any) -> Any:
        if self.threads <= 1:
            self.used.append(1)
            return fn(*args, **kwargs)
        retime = False
        if self.rate[self.threads] is None:
            use = self.threads
        elif self.rate[1] is None:
            use = 1
        else:
            use = self.best()
            if self.calls >= self.next_retime:
                use, retime, before = (1 if use == self.threads else self.threads), True, use
        self.calls += 1
        self.used.append(use)
        start = time.perf_counter()
        with self.controller.limit(limits=use):
            result = fn(*args, **kwargs)
        rate = (time.perf_counter() - start) / max(work, 1e-300)
        old = self.rate[use]
        self.rate[use] = rate if old is None else (1.0 - _SMOOTHING) * old + _SMOOTHING * rate
        if retime:
            self.interval = min(RETIME_MAX, 2 * self.interval) if self.best() == before else RETIME_EVERY
            self.next_retime = self.calls + self.interval
        return result
