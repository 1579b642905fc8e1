"""The documentation follows the code: generated option tables are fresh, every page the nav names exists."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_cli_option_tables_are_fresh():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, text in gen.pages().items():
        path = ROOT / "docs" / "_generated" / name
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python docs/gen_cli.py"


def test_every_option_of_every_model_is_in_the_cli_reference():
    from grokode.models import BUILTIN, get_model

    text = "".join((ROOT / "docs" / "_generated" / f"cli-{name}.md").read_text() for name in BUILTIN)
    for name in BUILTIN:
        for opt in get_model(name).options:
            assert f"`{opt.flag}`" in text


def test_every_cited_math_anchor_exists():
    """Docstrings, notebooks and pages cite ``docs/math.md#anchor``: each anchor must be a heading id of that page."""
    import re

    root = Path(__file__).resolve().parent.parent
    have = set(re.findall(r"\{#([a-z0-9-]+)\}", (root / "docs" / "math.md").read_text()))
    files = [*root.glob("grokode/**/*.py"), *root.glob("notebooks/src/*.py"), *root.glob("docs/**/*.md")]
    cited = {(m, f.relative_to(root).as_posix()) for f in files
             for m in re.findall(r"math\.md#([a-z0-9-]+)", f.read_text(encoding="utf-8"))}
    assert len(cited) > 50  # the citations are there to check
    missing = sorted((anchor, where) for anchor, where in cited if anchor not in have and anchor != "anchor")
    assert not missing, missing
