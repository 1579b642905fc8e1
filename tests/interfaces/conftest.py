"""Fixtures of the interface tests: what a sweep's figures draw, read from the matplotlib Figure before it is saved."""

from pathlib import Path

import pytest

import grokode.analysis.plots as plots
from grokode.analysis.phase_diagram import BOUNDARY


@pytest.fixture
def drawn(monkeypatch):
    """File name → what the figure saved there draws."""
    figures = {}
    save = plots.save_figure

    def recording(fig, path):
        figures[Path(path).name] = describe(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", recording)
    return figures


def describe(fig) -> dict:
    maps = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    texts = [t for ax in fig.axes for t in (*ax.texts, ax.xaxis.label, ax.yaxis.label, ax.title,
                                           *ax.get_xticklabels(), *ax.get_yticklabels()) if t.get_text()]
    legend = maps[0].get_legend()
    return {
        "panels": len(maps), "colour_bars": len(fig.axes) - len(maps), "suptitle": fig.get_suptitle(),
        "xlabels": [ax.get_xlabel() for ax in maps], "ylabels": [ax.get_ylabel() for ax in maps],
        "titles": [ax.get_title() for ax in maps],
        "xticks": [[t.get_text() for t in ax.get_xticklabels()] for ax in maps],
        "yticks": [[t.get_text() for t in ax.get_yticklabels()] for ax in maps],
        "cells": [sorted(t.get_text().split("\n")[0] for t in ax.texts) for ax in maps],
        "boundaries": [sorted(_segment(ln) for ln in ax.get_lines() if ln.get_gid() == BOUNDARY) for ax in maps],
        "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
        "smallest_text": min(t.get_fontsize() for t in texts),
    }


def _segment(line) -> tuple:
    (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
    return float(x0), float(x1), float(y0), float(y1)
