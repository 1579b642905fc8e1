"""The documentation follows the code: generated option tables are fresh, cited anchors exist and are stable."""

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


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


def _targets(text: str) -> set[str]:
    """The explicit MyST targets ``(label)=`` of a page."""
    return set(re.findall(r"^\(([a-z0-9-]+)\)=$", text, flags=re.M))


def test_every_cited_math_anchor_exists():
    """Docstrings, notebooks and pages cite ``docs/math.md#anchor``: each anchor must be a target of that page."""
    have = _targets((ROOT / "docs" / "math.md").read_text(encoding="utf-8"))
    files = [*ROOT.glob("grokode/**/*.py"), *ROOT.glob("notebooks/src/*.py"), *ROOT.glob("docs/**/*.md")]
    cited = {(m, f.relative_to(ROOT).as_posix()) for f in files
             for m in re.findall(r"math\.md#([a-z0-9-]+)", f.read_text(encoding="utf-8"))}
    assert len(cited) > 50  # the citations are there to check
    missing = sorted((anchor, where) for anchor, where in cited if anchor not in have and anchor != "anchor")
    assert not missing, missing


def test_the_math_page_keeps_its_listed_anchors():
    listed = {line.split()[0] for line in (ROOT / "docs" / "math-anchors.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")}
    assert len(listed) >= 29
    assert listed == _targets((ROOT / "docs" / "math.md").read_text(encoding="utf-8"))


def _markdown_sources():
    """(where, text) of every documentation page and every notebook markdown cell."""
    for page in sorted((ROOT / "docs").glob("**/*.md")):
        if "_generated" not in page.parts and "notebooks" not in page.relative_to(ROOT / "docs").parts[:-1]:
            yield page.relative_to(ROOT).as_posix(), page.read_text(encoding="utf-8")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"{nb.relative_to(ROOT).as_posix()} cell {i}", "".join(cell["source"])


def test_headings_beyond_ascii_have_explicit_labels():
    """A heading with α, λ or ℓ1 gets a different automatic anchor from each site generator (kept, dropped or
    transliterated): it carries an explicit ``(label)=`` target so that its address does not depend on one."""
    unlabelled = []
    for where, text in _markdown_sources():
        lines, fenced = text.splitlines(), False
        for i, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            if not fenced and re.match(r"#{2,6} ", line) and not line.isascii():
                if i == 0 or not re.fullmatch(r"\([a-z0-9-]+\)=", lines[i - 1]):
                    unlabelled.append(f"{where}: {line}")
    assert not unlabelled, unlabelled


def test_explicit_labels_are_unique_across_the_site():
    """Sphinx's labels are global: a label used twice is a warning, and the strict build fails on it."""
    seen: dict[str, str] = {}
    duplicates = []
    for where, text in _markdown_sources():
        for label in _targets(text):
            if label in seen:
                duplicates.append((label, seen[label], where))
            seen.setdefault(label, where)
    assert len(seen) > 60
    assert not duplicates, duplicates


def test_every_notebook_is_a_page_of_the_site():
    """docs/notebooks links to notebooks/ and the notebooks page lists it by a glob, so a new notebook is in."""
    link = ROOT / "docs" / "notebooks"
    assert link.is_symlink() and link.resolve() == (ROOT / "notebooks").resolve()
    assert "notebooks/[0-9]*" in (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    assert len(list(link.glob("[0-9]*.ipynb"))) >= 6


def test_the_pages_are_myst_and_the_notebooks_are_not_re_executed():
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert '"_generated"' in conf and 'nb_execution_mode = "off"' in conf
    assert not (ROOT / "mkdocs.yml").exists()
    for where, text in _markdown_sources():
        assert "--8<--" not in text and not re.search(r"^!!! ", text, flags=re.M), where
        # MyST would print "{#id}" as part of the title and give the section no such anchor
        assert not re.search(r"^#+ .*\{#[\w-]+\}\s*$", text, flags=re.M), where


def test_pages_have_no_control_characters():
    # a Python string that meant "\to" or "\frac" gives a tab or a form feed, and the formula renders wrong
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            assert not any(ord(ch) < 32 for ch in line), f"{page.relative_to(ROOT)}:{number} has a control character"
