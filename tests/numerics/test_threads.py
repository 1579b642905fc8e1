"""grokode controls BLAS threads itself: inside a run every BLAS in the process (numpy's and scipy's, which
numba-compiled np.dot calls) uses one thread, whatever the environment says, and the count is restored after."""

import json
import os
import subprocess
import sys

PROBE = """
import json
from threadpoolctl import threadpool_info
from grokode.threads import compute_threads
def blas():
    return sorted((i['filepath'].rsplit('/', 1)[-1], i['num_threads']) for i in threadpool_info()
                  if i['user_api'] == 'blas')
with compute_threads():
    inside = blas()
print(json.dumps({'inside': inside, 'after': blas()}))
"""


def test_every_blas_runs_one_thread_inside_a_run():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # a fresh install's environment
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    libraries = [name for name, _ in out["inside"]]
    assert any("scipy_openblas" in name and "64" not in name for name in libraries), libraries  # scipy's own BLAS
    assert all(n == 1 for _, n in out["inside"]), out["inside"]
    if (os.cpu_count() or 1) > 1:
        assert any(n > 1 for _, n in out["after"]), out["after"]  # restored
