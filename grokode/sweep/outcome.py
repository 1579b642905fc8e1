"""What a finished sweep reports: the fitted law λ·t* = slope·ln α + intercept per λ (and per value of the varied
model options), its summary, and its figures.

The figures follow one rule, decided from the grid before anything is computed (:meth:`SweepFigures.for_grid`):

* the grid has at least 2 values of α **and** at least 2 of λ or of a varied model option (``--n 16,24``): the
  figure named by ``--plot`` is the **phase diagram** (:func:`grokode.analysis.phase_diagram.plot_phase_diagram`),
  and the scaling figure (λ·t* against ln α, :func:`grokode.analysis.plots.plot_scaling`) is written beside it,
  ``<stem>-scaling<suffix>``;
* otherwise ``--plot`` is the scaling figure, and there is no phase diagram.

Seeds are replicates, not an axis. The scaling figure is drawn only when some λ has a fitted line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .grid import Point
from .orchestrate import SweepResult

#: What the scaling figure's file name adds to ``--plot``'s stem when ``--plot`` is the phase diagram.
SCALING_BESIDE = "-scaling"


@dataclass(frozen=True)
class SweepFigures:
    """Where a sweep's figures go: ``plot`` is the figure ``--plot`` names (``explicit``) or the default one next to
    the sweep file, ``phase`` the phase diagram's path (None when the grid does not vary two axes), ``scaling`` the
    scaling figure's path."""

    plot: Path
    phase: Path | None
    scaling: Path
    explicit: bool = True

    @classmethod
    def for_grid(cls, plot: str | os.PathLike, points: list[Point], *, explicit: bool = True) -> SweepFigures:
        """The figures of a sweep over ``points`` whose figure is ``plot`` (the module's rule); ``explicit``: the
        user named it with ``--plot``."""
        plot = Path(plot)
        if two_axes(points):
            return cls(plot=plot, phase=plot, scaling=beside(plot), explicit=explicit)
        return cls(plot=plot, phase=None, scaling=plot, explicit=explicit)

    def paths(self) -> dict[str, Path]:
        """What each file is (the phrase that names it in a message) → its path."""
        what = "the phase diagram" if self.phase is not None else "the scaling figure"
        main = f"--plot ({what})" if self.explicit else f"the sweep's figure, {what} (--plot; --no-plot writes none)"
        if self.phase is None:
            return {main: self.plot}
        return {main: self.plot, "the sweep's scaling figure (beside --plot)": self.scaling}

    def check(self, out: str | os.PathLike, *, force: bool) -> None:
        """Refuse, before the sweep, a figure path that cannot be written, that exists without ``force``, or that is
        the sweep file ``out``."""
        from ..files import check_output_path
        from ..outputs import same_file
        from ..result import FIGURE_SUFFIXES

        for what, path in self.paths().items():
            check_output_path(path, FIGURE_SUFFIXES, force=force, what=what)
            if same_file(path, out):
                raise InputError(f"the sweep file and the figure cannot both be {str(out)!r}")

    def draw(self, rows: list[dict], fits: list, *, force: bool) -> dict[str, str]:
        """Draw the figures of ``rows`` (titled from the rows' options): the summary's entries of the files
        written, ``plot`` (the file ``--plot`` names), ``phase_plot`` and ``scaling_plot``."""
        from ..analysis.phase_diagram import plot_phase_diagram
        from ..analysis.plots import plot_scaling, save_figure
        from ..files import check_output_path
        from ..result import FIGURE_SUFFIXES

        written: dict[str, str] = {}
        if self.phase is not None:
            save_figure(plot_phase_diagram(rows), self.phase)
            written["phase_plot"] = str(self.phase)
        if any(f.n_points for f in fits):
            if self.scaling != self.plot:  # a file that appeared beside --plot while the sweep ran is not replaced
                check_output_path(self.scaling, FIGURE_SUFFIXES, force=force,
                                  what="the sweep's scaling figure (beside --plot)")
            save_figure(plot_scaling(rows, fits), self.scaling)
            written["scaling_plot"] = str(self.scaling)
        if str(self.plot) in written.values():
            written = {"plot": str(self.plot), **written}
        return written


def two_axes(points: list[Point]) -> bool:
    """Whether the grid has at least 2 values of α and at least 2 of a second axis, λ or a varied model option (a
    phase diagram's grid)."""
    names = {k for p in points for k, _ in p.varied}
    second = [len({p.lam for p in points}), *(len({dict(p.varied).get(k) for p in points}) for k in names)]
    return len({p.alpha for p in points}) >= 2 and max(second) >= 2


def beside(plot: str | os.PathLike) -> Path:
    """The scaling figure's path when ``plot`` is the phase diagram: ``<stem>-scaling<suffix>``."""
    plot = Path(plot)
    return plot.with_name(f"{plot.stem}{SCALING_BESIDE}{plot.suffix}")


def summarize(result: SweepResult) -> tuple[dict, list]:
    """(the sweep's summary, its fits): the points, what ran, the fitted law per λ
    (:func:`grokode.analysis.scaling.fit_scaling`)."""
    from ..analysis.phase_diagram import varied_axes
    from ..analysis.scaling import fit_scaling

    fits = fit_scaling(result.rows, by=[a for a in varied_axes(result.rows) if a not in ("alpha", "lam")])
    summary = {"out": str(result.path), "points": len(result.rows), "ran": result.ran, "skipped": result.skipped,
               "failed": len(result.failed), "dashboard": result.dashboard, "fits": [f.as_dict() for f in fits]}
    return summary, fits
