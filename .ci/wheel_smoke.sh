#!/usr/bin/env bash
# The built package: `python -m build` makes a wheel and an sdist (the wheel built from the sdist), `twine check`
# passes, and the wheel installed (not editable) in a new environment works from a directory outside the clone,
# where the source tree cannot be imported: derive, integrate, analyze and one notebook's quick run.
#
#   bash .ci/wheel_smoke.sh [PYTHON]     # PYTHON: an environment with build and twine (default .venv/bin/python)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$py" -m build --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
"$py" -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/grokode-*.whl)
version=$("$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); from grokode._version import __version__; print(__version__)' "$repo")
case "$wheel" in *"grokode-$version-"*) ;; *) echo "the wheel $wheel is not version $version"; exit 1;; esac
# what the installed package needs at run time besides its modules: the generated kernels and the typing marker
"$py" - "$wheel" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = {"grokode/numeric/generated.py", "grokode/py.typed", "grokode/analytic/codegen.py", "grokode/cli.py"}
missing = sorted(needed - names)
assert not missing, f"missing from the wheel: {missing}"
assert not any(n.startswith(("tests/", "docs/", "notebooks/", "benchmarks/")) for n in names), "stray files in the wheel"
print(f"wheel: {len(names)} files, package data present")
EOF

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel" nbclient nbformat ipykernel
mkdir "$work/use" && cd "$work/use"
env="$work/venv/bin"
"$env/python" -c 'import grokode, sys; assert grokode.__file__.startswith(sys.argv[1]), grokode.__file__' "$work/venv"
test "$("$env/grokode" --version)" = "grokode $version"
"$env/grokode" derive diagonal --format json > derive.json
"$env/python" -c 'import json; d = json.load(open("derive.json")); assert d, d'
"$env/grokode" integrate --n 64 --d 200 --alpha 100 --lam 0.01 --out run.npz --plot run.png
"$env/grokode" analyze run.npz --json > analysis.json
"$env/python" -c 'import json; a = json.load(open("analysis.json")); assert a["t_transition"] > 0, a'
test -s run.npz && test -s run.png
# one repository notebook, quick mode, its kernel started outside the clone (it imports the installed grokode)
cp -r "$repo/notebooks" "$work/notebooks"
"$env/python" "$work/notebooks/build.py" 01 --quick
echo "wheel smoke test: $(basename "$wheel") and the sdist built, twine check passed, installed package works"
