"""Test helpers: run the CLI on a pseudo-terminal and wait for what it prints (no fixed sleeps)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time


class TerminalRun:
    """``python -m grokode ARGS`` with stderr on a pseudo-terminal, so rich draws its progress bar there."""

    def __init__(self, *args: str, cwd=None, env=None):
        master, slave = os.openpty()
        self.master = master
        self.proc = subprocess.Popen([sys.executable, "-m", "grokode", *args], stdout=subprocess.PIPE,
                                     stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd,
                                     env={**os.environ, "COLUMNS": "120", **(env or {})})
        os.close(slave)
        self.seen = ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.seen += chunk.decode("utf-8", "replace")
        return bool(chunk)

    def wait_for_progress(self, percent: float, timeout: float = 600.0) -> float:
        """Block until the progress bar shows at least ``percent`` %; return the value shown."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"(\d+\.\d)%")
        while time.monotonic() < deadline:
            shown = [float(m) for m in pattern.findall(self.seen)]
            if shown and max(shown) >= percent:
                return max(shown)
            if self.proc.poll() is not None and not self._read(0.1):
                raise AssertionError(f"the run ended before showing {percent}%: {self.seen[-500:]!r}")
            self._read(0.5)
        raise AssertionError(f"no progress ≥ {percent}% within {timeout} s: {self.seen[-500:]!r}")

    def finish(self, timeout: float = 300.0) -> tuple[int, str, str]:
        """(exit code, stdout, everything the terminal showed)."""
        stdout, _ = self.proc.communicate(timeout=timeout)
        while self._read(0.1):
            pass
        os.close(self.master)
        return self.proc.returncode, stdout.decode("utf-8", "replace"), self.seen


def stop_after(monkeypatch, asks: float) -> None:
    """Make the run's stop request come true once the driver has asked more than ``asks`` times (it asks once per
    step or chunk), as a signal arriving then would; ``monkeypatch.undo()`` or a new patch lifts it."""
    import grokode.interrupts as interrupts

    calls = {"n": 0}

    def requested() -> bool:
        calls["n"] += 1
        return calls["n"] > asks

    monkeypatch.setattr(interrupts, "requested", requested)
