"""Shared test configuration: the tests directory is importable (helpers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
