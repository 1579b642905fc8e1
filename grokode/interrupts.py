"""Stopping a run: SIGINT and SIGTERM end the computation at the next step, and never a file being written.

A batch scheduler's walltime, ``kill`` and ``timeout`` send SIGTERM; Ctrl-C sends SIGINT. Inside
:func:`stoppable` neither raises anywhere: the handler only records the signal, and the drivers
(:func:`grokode.numeric.integrate.integrate_flow`, :func:`grokode.numeric.discrete.run_discrete`) look at
:func:`requested` between steps and end with status "interrupted", keeping what they finished. A signal that
arrives later, while the finished part is analysed and written, is recorded too, so a second Ctrl-C cannot
lose the file; the caller reads :func:`received` afterwards to exit with the right code. (Raising
KeyboardInterrupt from the handler, Python's default, can land inside numba's compiler or scipy's solver
state and leave them broken.) Outside the main thread (a Dask worker's task thread) no handler can be
installed and :func:`stoppable` does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def requested() -> bool:
    """True once SIGINT or SIGTERM arrived inside :func:`stoppable` (drivers stop at their next step)."""
    return bool(_received)


def received() -> list[int]:
    """The signals recorded by the current (or last) :func:`stoppable` block, in order."""
    return list(_received)


def _record(signum: int, frame) -> None:
    _received.append(signum)


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM are recorded for the drivers to act on (handlers restored after)."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, _record)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does (outside :func:`stoppable`, which records
    both): a command stopped by ``kill`` or a scheduler's walltime then ends as an interrupted one (exit 130, one
    line), never silently with Python's default 143. Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
