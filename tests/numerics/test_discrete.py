"""The shared driver of the discrete methods (grokode.numeric.discrete) and Ctrl-C on a long CLI run."""

import math

import numpy as np
import pytest

from grokode.errors import InputError
from grokode.numeric.discrete import check_t_eval, rise_failure, run_discrete, save_steps, uphill_warning


class Counter:
    """x ← x + 1 per step, clock = step; raises KeyboardInterrupt or fails at a chosen step."""

    def __init__(self, interrupt_at=None, fail_at=None):
        self.k, self.interrupt_at, self.fail_at = 0, interrupt_at, fail_at
        self.asked = []

    def clock(self):
        return self.k

    def advance(self, max_steps, target):
        self.asked.append(max_steps)
        todo = min(max_steps, int(target) - self.k)
        for s in range(todo):
            if self.k == self.interrupt_at:
                raise KeyboardInterrupt
            self.k += 1
            if self.k == self.fail_at:
                return s + 1, 7
        return todo, 0

    def snapshot(self):
        state, weight = np.array([self.k, -self.k], dtype=float), np.array([float(self.k)])
        return state, weight, math.sqrt(self.k), 1.0 / (1 + self.k), 0.5 * self.k

    def fraction_done(self, final_target):
        return self.k / final_target

    def failure(self, code, steps):
        return "diverged", f"code {code} at {steps}", 0.5 * steps, steps

    def warning(self, steps):
        return f"{steps} steps"

    def export(self):
        return {"k": self.k}

    def restore(self, state):
        self.k = int(state["k"])


def run(stepper, targets, **kw):
    return run_discrete(stepper, np.asarray(targets), method="count", lr=0.5, state_size=2, weight_size=1, **kw)


def test_saves_at_each_target_once_and_reports_progress():
    seen = []
    sol = run(Counter(), [0, 3, 3, 10, 1000], progress=seen.append)
    assert sol.status == "ok" and sol.message == "1000 steps" and sol.steps_done == 1000
    assert sol.t.tolist() == [0.0, 1.5, 5.0, 500.0]  # the repeated target 3 is saved once
    assert sol.weights[:, 0].tolist() == [0, 3, 10, 1000] and sol.states[-1].tolist() == [1000, -1000]
    assert sol.param_norm[-1] == pytest.approx(math.sqrt(1000)) and sol.stats.nfev == 1000
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_chunks_grow_toward_the_wall_time_target():
    stepper = Counter()
    run(stepper, [0, 10**6], chunk_seconds=10.0, first_chunk=2)
    assert stepper.asked[0] == 2 and stepper.asked[1] == 8 and max(stepper.asked) > 1000  # ×4 per full chunk


def test_interrupt_keeps_what_was_saved():
    sol = run(Counter(interrupt_at=25), [0, 10, 20, 30, 40])
    assert sol.status == "interrupted" and sol.message == "interrupted by the user"
    assert sol.weights[:, 0].tolist() == [0, 10, 20] and sol.t_fail is None


def test_failure_code_becomes_the_steppers_verdict():
    sol = run(Counter(fail_at=15), [0, 10, 20])
    assert sol.status == "diverged" and sol.message == "code 7 at 15" and sol.t_fail == 7.5
    assert sol.diverged_step == 15 and sol.weights[:, 0].tolist() == [0, 10]


def test_argument_checks_and_messages():
    with pytest.raises(InputError, match="t_eval"):
        check_t_eval([0.0, 2.0, 1.0])
    with pytest.raises(InputError, match="t_eval"):
        check_t_eval([])
    with pytest.raises(InputError, match="chunk_seconds"):
        run(Counter(), [0, 1], chunk_seconds=0.0)
    assert save_steps([0.0, 0.04, 0.06, 1.0], 0.1).tolist() == [0, 1, 10]
    status, message, t_fail, began = rise_failure("GD diverged at lr=1", 2, 9, 9.0, 2.0, 0.25, 4, 5.0)
    assert (status, t_fail, began) == ("diverged", 5.0, 5)
    assert "exceeded 2× its minimum at step 9" in message and "began at step 5" in message
    assert uphill_warning("lr=1", 0, -1, 9) == ""
    assert "at 3 of 9 steps (first at step 2)" in uphill_warning("lr=1", 3, 2, 9)
