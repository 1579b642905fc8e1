"""The analysis of saved runs behind ``grokode analyze``: the theorem check of one run, or its trend over runs at
several α, and their figure.

A run with reference predictors (the kernel and rich predictors of the diagonal and matrix models) gets the
transition report and theorem check of :func:`grokode.analysis.analyze.analyze` (kernel predictor at
T⁻ = (1 − c)·ln(α)/λ, rich one at T⁺ = (1 + c)·ln(α)/λ; paper Thm 3.4/3.5); several such runs also get the trend
across α (:func:`grokode.analysis.analyze.theorem_trend`). A run without them (e.g. the mlp) is reported by its
own summary, one run at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import InputError


@dataclass
class RunsAnalysis:
    """What ``grokode analyze`` found in its trajectory files.

    Attributes
    ----------
    paths : the files, as given.
    runs : their :class:`~grokode.result.Run` objects.
    reports : one :class:`~grokode.analysis.analyze.Analysis` per run, or None when the (single) run has no
        reference predictors: its own summary is then its report.
    trend : :class:`~grokode.analysis.analyze.TheoremTrend` across the runs (None for a single run).
    c : the theorem window.
    """

    paths: list[str]
    runs: list[Any]
    reports: list[Any] | None
    trend: Any
    c: float

    def plot(self, path: str | os.PathLike, *, force: bool = False) -> None:
        """The figure: one run's story (with its theorem check when it has one), or the trend's deficits."""
        if self.trend is None:
            run = self.runs[0]
            if self.reports is not None:
                run.analysis = self.reports[0]
            run.plot(path, force=force)
            return
        from .analysis.plots import plot_trend, save_figure

        trend = self.trend
        deficits = {"kernel at T⁻": trend.deficits(trend.kernel_at_Tminus),
                    "rich at T⁺": trend.deficits(trend.rich_at_Tplus)}
        ylabel = "1 − cos" if trend.measure == "cos" else "relative distance"
        save_figure(plot_trend(trend.alphas, deficits, title=f"theorem check, c={self.c:g}", ylabel=ylabel), path)

    def as_json(self) -> dict:
        """The object ``grokode analyze --json`` prints (without its ``plot`` entry)."""
        if self.reports is None:
            return {"run": self.paths[0], **self.runs[0].summary}
        runs_json = [{"run": path, **r.as_dict()} for path, r in zip(self.paths, self.reports, strict=True)]
        return runs_json[0] if self.trend is None else {"runs": runs_json, "trend": self.trend.as_dict()}


def analyze_files(paths: list[str], c: float) -> RunsAnalysis:
    """Load the runs in ``paths`` and analyse them: every check before any report (InputError naming the file)."""
    from .analysis.analyze import analyze as analyze_run
    from .analysis.analyze import theorem_trend
    from .result import Run

    loaded = [Run.load(path) for path in paths]
    for path, run in zip(paths, loaded, strict=True):
        if not _has_references(run) and run.observables.alignment is not None:
            try:  # a diagonal or matrix run without its alignment arrays: the error that names them
                analyze_run(run.arrays, run.meta, c=c)
            except InputError as exc:
                raise InputError(f"{path!r}: {exc}") from None
    without = [r for r in loaded if not _has_references(r)]
    if without and len(loaded) > 1:
        raise InputError(f"{str(without[0].path)!r} has no reference predictors (model {without[0].model!r}): the "
                         "theorem trend needs them; analyze such runs one at a time")
    if without:  # e.g. the mlp: no convex reference predictors, the report is the run's own summary
        return RunsAnalysis(list(paths), loaded, None, None, c)
    reports = [analyze_run(r.arrays, r.meta, c=c) for r in loaded]
    trend = theorem_trend(reports) if len(reports) > 1 else None
    return RunsAnalysis(list(paths), loaded, reports, trend, c)


def _has_references(run) -> bool:
    """Whether the run holds the alignment arrays its declaration names (a checkpoint may not yet)."""
    measure = run.observables.alignment
    return measure is not None and f"{measure}_kernel" in run.arrays and f"{measure}_rich" in run.arrays
