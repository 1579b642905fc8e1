"""Sphinx configuration: MyST pages, the committed notebooks (myst-nb, not re-executed), the API from docstrings.

Build (from the repository root; the output goes to the git-ignored build/):

    python -m sphinx -W --keep-going -b html docs build/html

Why this stack and not MkDocs/Zensical: docs/contributing.md.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's grokode, not an installed copy

project = "grokode"
author = "grokode developers"
copyright = "2026, grokode developers — MIT licence"

extensions = [
    "myst_nb",  # Markdown pages (MyST) and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # NumPy-style docstrings
    "sphinx.ext.mathjax",
]

# docs/notebooks is a link to notebooks/: the pages are the committed, executed notebooks.
exclude_patterns = ["_generated", "notebooks/src", "notebooks/.ipynb_checkpoints", "**/__pycache__"]
nb_execution_mode = "off"
nb_merge_streams = True

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3  # [text](page.md#heading-slug) for headings without an explicit (label)=
myst_dmath_double_inline = True

autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "pydata_sphinx_theme"
html_title = "grokode"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
}
# the left column lists a section's pages: only the sections that have pages (models, notebooks) get one
html_sidebars = {page: [] for page in ("index", "getting-started", "math", "sweeps", "benchmarks", "file-formats",
                                       "cli", "extending", "api", "contributing")}
html_show_sourcelink = False
html_copy_source = False

# The docstrings write |x| for an absolute value or a norm, which reStructuredText reads as a substitution.
# (They are plain text first: the same docstring is read with help().) Grid tables and line blocks, the
# only reStructuredText that starts a line with "| ", "+-" or "+=", are not used in them.


def _literal_bars(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith(("| ", "+-", "+=")):
            lines[i] = line.replace("|", r"\|")


# Docstrings list attributes as "name : what it holds"; napoleon reads the words after the colon as a type
# and a word that names two members ("options") is an ambiguous cross-reference.
suppress_warnings = ["ref.python"]


def setup(app):
    app.connect("autodoc-process-docstring", _literal_bars)
