"""The package's layering is kept: import-linter checks the contracts in pyproject.toml (no upward imports,
including imports inside functions; model files independent of each other)."""

import shutil
import subprocess
import sys
from pathlib import Path


def test_import_contracts_are_kept():
    beside = Path(sys.executable).parent / "lint-imports"  # this environment's, not whichever is first on PATH
    exe = str(beside) if beside.exists() else shutil.which("lint-imports") or "lint-imports"
    res = subprocess.run([exe], capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert ", 0 broken." in res.stdout
    kept = int(res.stdout.split("Contracts: ")[1].split(" kept")[0])
    assert kept >= 2
