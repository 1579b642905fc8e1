"""The contract between a flow and the driver :func:`grokode.numeric.integrate.integrate_flow`, written once.

A *flow* is an ODE dy/dv = F(v, y) in a variable v of the driver's choosing (the time t, log t, log(1 + t))
together with the map from its state y to what a run records: the effective weight w (or any fixed-length
vector of observables) and the parameter norm ‖θ‖. The driver steps a scipy ``OdeSolver`` on F, saves w and
‖θ‖ at the requested times from each step's dense output, and keeps everything it finished when it fails or is
stopped. Like scipy's ``OdeSolver`` (whose docstring lists the rules a solver follows) and diffrax's
``AbstractSolver``, the contract is a short list of members, and the base class :class:`FlowBase` supplies the
defaults of the optional ones, so the driver calls every member unconditionally.

The rules:

1. ``start()`` returns (v0, y0), the start of the integration; y0 must be finite.
2. ``rhs(v, y)`` is F(v, y) and counts itself in ``nfev``; ``jac(v, y)`` (if the flow has one: ``jac`` is
   None otherwise) is ∂F/∂y and counts itself in ``njev``. ``jac_diagonal(v, y)``, if not None, is a diagonal
   approximation of it that holds the stiff part (the W-method ``ros2`` needs it).
3. ``to_var(t)`` and ``to_time(v)`` map times to the solver's variable and back (both elementwise on arrays).
4. ``observe(v, y, frame)`` returns (w, ‖θ‖) and ``weight(v, y, frame)`` w alone, of length ``weight_size``,
   for a state y produced in ``frame``.
5. *Frames.* A flow may change the variables of its state between steps (a scale, an anchor of a closed
   form). ``frame()`` returns an opaque token for the current ones; the driver keeps it with each step's
   dense output and hands it back to ``observe``/``weight``. After every accepted step the driver calls
   ``rescale(y, v)``: None, a new state to restart the solver from (in a new frame), or a :class:`Reframe`, a new
   state that is an affine image of y under which the flow keeps its form (the solver may carry its history).
   ``export_frame(frame)`` / ``restore_frame(saved)`` turn a frame into plain values and back, for a run that
   continues from a saved state.
6. ``export_state(v, y)`` is what a run stores as its state (default y itself); ``keep_states`` False keeps
   neither the states nor the past dense pieces (flows with very many unknowns).
7. ``stop_reason()`` (asked after every step) ends the run at a rule of the flow's own, with that message.
8. ``auto_method`` names the solver the driver's ``auto`` method uses (None: the driver's default);
   ``max_step`` bounds the solver's step in v; ``failure_hint`` is appended to the message of a run whose
   state became non-finite (a non-empty hint also says that the exact flow cannot blow up, so the driver's
   ``auto`` method retries such a run with its fallback solver).
9. ``d`` (the model's dimension), ``alpha`` (the initialization scale, ‖θ(0)‖ before a log-time start) and
   the counters ``nfev``, ``njev`` are attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError

#: A Jacobian ∂F/∂y (or its diagonal) at (v, y).
Jacobian = Callable[[float, np.ndarray], np.ndarray]


@runtime_checkable
class Flow(Protocol):
    """What :func:`~grokode.numeric.integrate.integrate_flow` calls (the rules in the module docstring)."""

    d: int
    alpha: float
    nfev: int
    njev: int
    auto_method: str | None
    max_step: float
    keep_states: bool
    failure_hint: str

    @property
    def jac(self) -> Jacobian | None: ...

    @property
    def jac_diagonal(self) -> Jacobian | None: ...

    @property
    def weight_size(self) -> int: ...

    def start(self) -> tuple[float, np.ndarray]: ...

    def rhs(self, var: float, state: np.ndarray) -> np.ndarray: ...

    def weight(self, var: float, state: np.ndarray, frame: Any = None) -> np.ndarray: ...

    def observe(self, var: float, state: np.ndarray, frame: Any = None) -> tuple[np.ndarray, float]: ...

    def to_var(self, t: Any) -> Any: ...

    def to_time(self, var: Any) -> Any: ...

    def rescale(self, state: np.ndarray, var: float) -> np.ndarray | Reframe | None: ...

    def frame(self) -> Any: ...

    def export_frame(self, frame: Any) -> dict | None: ...

    def restore_frame(self, saved: dict | None) -> None: ...

    def export_state(self, var: float, state: np.ndarray) -> np.ndarray: ...

    def stop_reason(self) -> str | None: ...


@dataclass(frozen=True)
class Reframe:
    """What :meth:`Flow.rescale` returns for a change of variables y → y′ = ``scale``·(y − y_now) + g(v)·``vector``
    (g = ``curve``, g(v_now) = 0; no such term when ``vector`` is None) of the same flow: y′ solves the flow's new
    form wherever y solved the old one, so a solver may carry its history across it by the same map instead of
    restarting. ``state`` is y′ at v_now."""

    state: np.ndarray
    scale: float
    vector: np.ndarray | None = None
    curve: Callable[[float], float] | None = None


#: The members a flow written before :class:`FlowBase` (a plug-in's) has to supply; see :func:`as_flow`.
CORE_MEMBERS = ("d", "alpha", "nfev", "njev", "start", "rhs", "weight", "observe", "to_var", "to_time", "rescale")
#: The members :class:`FlowBase` supplies defaults of.
OPTIONAL_MEMBERS = ("jac", "jac_diagonal", "weight_size", "auto_method", "max_step", "keep_states", "failure_hint",
                    "frame", "export_frame", "restore_frame", "export_state", "stop_reason")


class FlowBase:
    """The defaults of a :class:`Flow`'s optional members: a flow in t itself, with one frame, no Jacobian, no
    rescaling, no rule of its own to stop, and its state saved as it is.

    A flow derives from this class and writes ``start``, ``rhs``, ``observe`` and ``weight`` (and sets ``d``,
    ``alpha``); it overrides what it has beyond that: ``jac`` (a method), ``to_var``/``to_time``
    for another time variable, ``frame``/``rescale``/``export_frame``/``restore_frame`` when its state changes
    variables between steps, ``stop_reason``, ``export_state``, ``weight_size``, ``max_step``, ``keep_states``.
    """

    d: int = 0
    alpha: float = 1.0
    nfev: int = 0
    njev: int = 0
    #: ∂F/∂y, a method in a flow that has it (None: the stiff solvers difference F)
    jac: Jacobian | None = None
    #: a diagonal approximation of ∂F/∂y for W-methods (None: the flow has none)
    jac_diagonal: Jacobian | None = None
    #: the solver of the driver's ``auto`` method (None: the driver's default)
    auto_method: str | None = None
    max_step = math.inf
    keep_states = True
    failure_hint = ""

    @property
    def weight_size(self) -> int:
        """Length of w (default ``d``)."""
        return self.d

    def start(self) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def rhs(self, var: float, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def weight(self, var: float, state: np.ndarray, frame: Any = None) -> np.ndarray:
        raise NotImplementedError

    def observe(self, var: float, state: np.ndarray, frame: Any = None) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    @staticmethod
    def to_var(t: Any) -> Any:
        """The solver's variable of the times ``t``: t itself."""
        return np.asarray(t, dtype=np.float64)

    @staticmethod
    def to_time(var: Any) -> Any:
        return var

    def rescale(self, state: np.ndarray, var: float) -> np.ndarray | Reframe | None:
        """A state to restart from after a step, or its :class:`Reframe` (None: continue as is)."""
        return None

    def frame(self) -> Any:
        """The frame of the current state (None: the flow has one frame)."""
        return None

    def export_frame(self, frame: Any) -> dict | None:
        """A frame as plain values for a saved resume point (None: nothing to save)."""
        return None

    def restore_frame(self, saved: dict | None) -> None:
        """Continue in the frame :meth:`export_frame` saved (nothing to do with one frame)."""

    def export_state(self, var: float, state: np.ndarray) -> np.ndarray:
        """The state a run stores (the solver's state itself)."""
        return state

    def stop_reason(self) -> str | None:
        """Why the run ends after this step, or None."""
        return None


class _CoreFlow(FlowBase):
    """A flow object that supplies only :data:`CORE_MEMBERS`, driven with :class:`FlowBase`'s defaults."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.d, self.alpha = inner.d, inner.alpha

    @property
    def nfev(self) -> int:
        return self.inner.nfev

    @nfev.setter
    def nfev(self, value: int) -> None:
        self.inner.nfev = value

    @property
    def njev(self) -> int:
        return self.inner.njev

    @njev.setter
    def njev(self, value: int) -> None:
        self.inner.njev = value

    def start(self) -> tuple[float, np.ndarray]:
        return self.inner.start()

    def rhs(self, var: float, state: np.ndarray) -> np.ndarray:
        return self.inner.rhs(var, state)

    def weight(self, var: float, state: np.ndarray, frame: Any = None) -> np.ndarray:
        return self.inner.weight(var, state, frame)

    def observe(self, var: float, state: np.ndarray, frame: Any = None) -> tuple[np.ndarray, float]:
        return self.inner.observe(var, state, frame)

    def to_var(self, t: Any) -> Any:  # type: ignore[override]
        return self.inner.to_var(t)

    def to_time(self, var: Any) -> Any:  # type: ignore[override]
        return self.inner.to_time(var)

    def rescale(self, state: np.ndarray, var: float) -> np.ndarray | Reframe | None:
        return self.inner.rescale(state)


def as_flow(obj: Any) -> Flow:
    """``obj`` as a :class:`Flow`: itself when it is one (a :class:`FlowBase` is), else a wrapper with the base's
    defaults around an object that has :data:`CORE_MEMBERS` (``rescale(y)`` taking the state alone) and none of the
    optional members; InputError for anything else (an optional member it defines would otherwise be ignored)."""
    if isinstance(obj, Flow):
        return obj
    names = set(dir(obj))
    missing = [m for m in CORE_MEMBERS if m not in names]
    optional = [m for m in OPTIONAL_MEMBERS if m in names]
    if missing or optional:
        what = f"lacks {', '.join(missing)}" if missing else f"defines {', '.join(optional)} but not every member"
        raise InputError(f"{type(obj).__name__} is not a flow: it {what} of grokode.numeric.flow.Flow (derive it from "
                         "grokode.numeric.flow.FlowBase, which supplies the optional members)")
    return _CoreFlow(obj)
