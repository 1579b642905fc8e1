"""A quick exit for a process that has used numba: no cyclic collection of its objects at shutdown.

At interpreter shutdown Python collects cyclic garbage over every object still alive. After numba has loaded
compiled kernels, that is hundreds of thousands of objects (type registries, dispatchers, LLVM wrappers) that
are about to be released with the process anyway, and the traversal takes a noticeable part of a short run's
wall time. :func:`freeze_at_exit` registers :func:`gc.freeze` to run at exit: the objects alive then move to the
permanent generation, which the shutdown collection skips. Nothing of a run depends on it: files are written
and closed by the code that writes them, the standard streams are flushed by the interpreter either way, and
objects freed by reference counting are freed as before.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def freeze_at_exit() -> None:
    """Register :func:`gc.freeze` to run when the interpreter exits (once per process)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
