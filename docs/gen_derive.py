"""Write the derivations shown on the model pages: docs/_generated/derive-<model>.md.

Run from the repository root after a change to a derivation or to its rendering:

    python docs/gen_derive.py

tests/test_derive_output.py fails when a committed file differs from what this script writes.
"""

import pathlib

from grokode.analytic import derive_model
from grokode.analytic.report import to_markdown

#: The models whose pages show their derivation, with `grokode derive`'s defaults (diagonal: depth 2, logistic).
MODELS = ("diagonal", "matrix", "mlp")
OUT = pathlib.Path(__file__).resolve().parent / "_generated"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for model in MODELS:
        path = OUT / f"derive-{model}.md"
        path.write_text(to_markdown(derive_model(model)), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
