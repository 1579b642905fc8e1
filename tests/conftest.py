"""Shared test configuration.

* The tests directory is importable (helpers.py).
* grokode's derivation cache goes to a temporary directory of this test session, not the user's ~/.cache.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ["GROKODE_CACHE_DIR"] = tempfile.mkdtemp(prefix="grokode-test-cache-")
