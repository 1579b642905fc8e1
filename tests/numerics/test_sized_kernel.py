"""How a sized kernel chooses between its serial and parallel builds (grokode/numeric/parallel.py), on a simulated
clock: each build advances it by a set cost per call, so the choices are checked without timing anything real."""

import numba
import pytest

from grokode.numeric import parallel


class Build:
    """A stand-in for a compiled build: costs ``first`` seconds on its first call (loading its machine code), then
    ``cost`` each (changeable), on the simulated clock."""

    def __init__(self, clock, name: str, first: float, cost: float):
        self.clock, self.name, self.first, self.cost, self.calls = clock, name, first, cost, 0

    def __call__(self, *args):
        self.calls += 1
        self.clock[0] += self.first if self.calls == 1 else self.cost
        return self.name


@pytest.fixture
def kernel(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(parallel.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    serial = Build(clock, "serial", first=0.05, cost=2e-3)
    fast = Build(clock, "parallel", first=0.05, cost=1e-3)
    k = parallel.SizedKernel(lambda *args: None, lambda *args: 2 * parallel.PARALLEL_MIN_WORK, serial=serial)
    k._builds[True] = fast
    return k, serial, fast


def test_a_builds_first_call_does_not_count_against_it(kernel):
    """Loading the machine code makes a build's first call 50× slower: timed, it would keep the faster parallel build
    out for dozens of calls."""
    k, serial, fast = kernel
    used = [k() for _ in range(200)]
    assert used.count("parallel") >= 190
    assert used[:2] == ["parallel", "parallel"] and serial.calls >= 2  # the serial build was tried too


def test_a_slower_period_moves_the_choice_and_a_fast_call_brings_it_back(kernel):
    k, serial, fast = kernel
    for _ in range(20):
        k()
    fast.cost = 10e-3  # another process holds a core: the parallel build is now 5× slower than the serial one
    used = [k() for _ in range(40)]
    assert used[-10:] == ["serial"] * 10  # the estimate followed within a few calls
    fast.cost = 1e-3  # the load is gone: the next re-timing of the parallel build is taken at once
    used = [k() for _ in range(2 * parallel.EXPLORE_EVERY)]
    switch = used.index("parallel")
    assert switch <= parallel.EXPLORE_EVERY and used[switch:].count("serial") <= 2


def test_below_the_threshold_the_serial_build_runs_untimed(kernel, monkeypatch):
    k, serial, fast = kernel
    k.work = lambda *args: parallel.PARALLEL_MIN_WORK - 1
    assert [k() for _ in range(5)] == ["serial"] * 5 and fast.calls == 0 and k._rate == {False: None, True: None}
