"""A broken model plug-in never breaks the built-ins or ``--help``: one warning line naming it, the rest works.

Each plug-in is a fake installed package (a module and a ``.dist-info`` with an ``entry_points.txt`` in a
directory on PYTHONPATH), as pip would leave it; the command runs in a subprocess that sees it.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = '''
from grokode.models.base import Model
from grokode.options import Option
from grokode.models.diagonal import DiagonalModel


class Strings(DiagonalModel):
    name = "strings"
    options = ("alpha", "lam")


class Twice(DiagonalModel):
    name = "twice"
    options = DiagonalModel.options + (Option("alpha", "float", "again"),)


class Reserved(DiagonalModel):
    name = "reserved"
    options = DiagonalModel.options + (Option("plot", "str", "a figure of my own"),)


class JsonFlag(DiagonalModel):
    name = "jsonflag"
    options = DiagonalModel.options + (Option("json", "bool", "clashes with --json"),)


class BadName(DiagonalModel):
    name = "badname"
    options = DiagonalModel.options + (Option("my-opt", "int", "a dash"),)


class FlagClash(DiagonalModel):
    name = "flagclash"
    options = tuple(o for o in DiagonalModel.options if o.name != "seed") + (Option("seed", "bool", "a flag"),)


class BadHelp(DiagonalModel):
    name = "badhelp"
    options = DiagonalModel.options + (Option("extra", "int", 42),)


class BadBound(DiagonalModel):
    name = "badbound"
    options = DiagonalModel.options + (Option("extra", "float", "x", low="zero"),)


class BadDerive(DiagonalModel):
    name = "badderive"
    derive_options = [None]


class NoTitle(DiagonalModel):
    name = "notitle"
    title = None


class NotAModel:
    options = ()


raise_on_import = None
'''

ENTRY_POINTS = {
    "strings": "badplug:Strings", "twice": "badplug:Twice", "reserved": "badplug:Reserved",
    "jsonflag": "badplug:JsonFlag", "badname": "badplug:BadName", "flagclash": "badplug:FlagClash",
    "badhelp": "badplug:BadHelp", "badbound": "badplug:BadBound", "badderive": "badplug:BadDerive",
    "notitle": "badplug:NoTitle", "notamodel": "badplug:NotAModel", "missing": "badplug:Missing",
    "broken": "brokenplug:Model",
}


def _site(root: Path, entry_points: dict[str, str], raw: str | None = None) -> dict[str, str]:
    root.mkdir()
    (root / "badplug.py").write_text(MODULE)
    (root / "brokenplug.py").write_text("raise RuntimeError('this plug-in cannot be imported')\n")
    info = root / "badplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    text = raw if raw is not None else "[grokode.models]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(text)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path]), "COLUMNS": "200"}


def _grokode(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return _site(tmp_path_factory.mktemp("plugins") / "site", ENTRY_POINTS)


def _warnings(stderr: str) -> dict[str, str]:
    lines = [line for line in stderr.splitlines() if line.startswith("grokode: warning: model plug-in")]
    return {line.split("'")[1]: line for line in lines}


def test_every_broken_plugin_is_one_warning_and_help_works(env, tmp_path):
    res = _grokode(env, "integrate", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "--alpha" in res.stdout and "Traceback" not in res.stderr, res.stderr
    warned = _warnings(res.stderr)
    assert sorted(warned) == sorted(ENTRY_POINTS), res.stderr
    assert len(res.stderr.strip().splitlines()) == len(ENTRY_POINTS)
    assert "has a name the command line uses itself (--plot)" in warned["reserved"]
    assert "declared twice" in warned["twice"] and "a flag here but takes a value" in warned["flagclash"]
    assert "this plug-in cannot be imported" in warned["broken"] and "failed to load" in warned["missing"]
    top = _grokode(env, "--help", cwd=tmp_path)
    assert top.returncode == 0 and "integrate" in top.stdout


def test_the_built_ins_still_run(env, tmp_path):
    res = _grokode(env, "integrate", "--alpha", "10", "--lam", "0.1", "--t-end", "2", "--n", "8", "--d", "6",
                   "--no-plot", "--out", "r.npz", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "ok" and (tmp_path / "r.npz").exists()
    assert sorted(_warnings(res.stderr)) == sorted(ENTRY_POINTS)
    derived = _grokode(env, "derive", "diagonal", "--format", "json", cwd=tmp_path)
    assert derived.returncode == 0 and json.loads(derived.stdout)["homogeneity"] == 2
    refused = _grokode(env, "integrate", "--model", "strings", cwd=tmp_path)
    assert refused.returncode == 2 and "grokode: error: unknown model 'strings'" in refused.stderr


def test_an_unreadable_entry_points_file_leaves_the_built_ins(tmp_path):
    env = _site(tmp_path / "site", {}, raw="[grokode.models]\nthis line has no equals sign\n")
    res = _grokode(env, "integrate", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "--alpha" in res.stdout, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 1


def test_the_reserved_names_cover_the_commands_own_parameters():
    from grokode import cli
    from grokode.models import RESERVED_OPTION_NAMES, check_declarations, get_model, model_names

    for command, skip in ((cli.integrate, ()), (cli.sweep, ("alpha", "lam", "seeds")), (cli.derive, ())):
        own = [p for p in inspect.signature(command).parameters.values() if p.kind is not p.VAR_KEYWORD]
        for p in own:
            if p.name in skip:
                continue
            assert p.name in RESERVED_OPTION_NAMES, (command.__name__, p.name)
    for name in model_names():  # the built-ins pass the checks a plug-in must pass
        check_declarations(get_model(name))
