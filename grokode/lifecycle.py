"""A run's life cycle as the drivers see it: where a resumed run starts, and when a partial solution is handed out.

The drivers (:func:`grokode.numeric.integrate.integrate_flow`, :func:`grokode.numeric.discrete.run_discrete`) read
the :class:`Lifecycle` the pipeline made current (:func:`active`); without one they run as always.

* ``start``: a *resume point*, the solver state at the last saved time of an earlier run (written into its file by
  the pipeline). The driver starts there instead of at t = 0 and saves only the times after it.
* ``write``: called with a partial solution (status "interrupted", what was finished so far): once before the
  first step when ``initial`` is set (the file then holds the initial state from the start), then every ``every``
  seconds of wall time (``--checkpoint-every``).

A context variable, so that a Dask worker's threads never see another run's life cycle.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lifecycle:
    """What the pipeline asks of the driver of one run (see the module docstring)."""

    start: dict[str, Any] | None = None
    write: Callable[[Any], None] | None = None
    initial: bool = False
    every: float | None = None
    last: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        """Whether a checkpoint is due now."""
        return self.write is not None and self.every is not None and time.monotonic() - self.last >= self.every

    def checkpoint(self, solution: Any) -> None:
        """Hand ``solution`` (a partial one) to the writer and restart the clock."""
        self.initial = False
        if self.write is not None:
            self.write(solution)
        self.last = time.monotonic()


_current: contextvars.ContextVar[Lifecycle | None] = contextvars.ContextVar("grokode_lifecycle", default=None)


def current() -> Lifecycle | None:
    """The life cycle of the run in progress, or None."""
    return _current.get()


@contextlib.contextmanager
def active(lifecycle: Lifecycle | None) -> Iterator[Lifecycle | None]:
    """Make ``lifecycle`` current inside the block."""
    token = _current.set(lifecycle)
    try:
        yield lifecycle
    finally:
        _current.reset(token)


def start_of(kind: str) -> dict[str, Any] | None:
    """The current resume point if there is one; an InputError when it was written by another kind of driver."""
    from .errors import InputError

    lc = current()
    if lc is None or lc.start is None:
        return None
    if lc.start.get("kind") != kind:
        raise InputError(f"the run was saved by a {lc.start.get('kind')} method ({lc.start.get('method')}) and cannot "
                         f"be continued by a {kind} method: resume with the same kind of --method")
    return lc.start
