"""A wall-clock limit for a block of Python code, by SIGALRM (for optional symbolic attempts)."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`TimeoutError` in the block after ``seconds`` (SIGALRM; main thread only).

    Yields whether the limit is armed. A previously armed timer is restored (minus the time spent).
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield False
        return

    def _raise(signum, frame):
        raise TimeoutError("symbolic attempt took too long")

    start = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, _raise)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler if old_handler is not None else signal.SIG_DFL)
        if old_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 1e-3), old_interval)


__all__ = ["time_limit"]
