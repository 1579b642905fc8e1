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
