"""Shared test configuration.

* The tests directory and its concept folders are importable (helpers.py; the bad-input corpus
  of interfaces/test_bad_inputs.py, which the fault tests reuse).
* grokode's derivation cache goes to a temporary directory of this test session, not the user's ~/.cache.
"""

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
for folder in (HERE, *sorted(p for p in HERE.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))):
    sys.path.insert(0, str(folder))
os.environ["GROKODE_CACHE_DIR"] = tempfile.mkdtemp(prefix="grokode-test-cache-")
