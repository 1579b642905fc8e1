"""A read-only installation (package directory and HOME not writable, no NUMBA_CACHE_DIR) still runs.

numba's ``cache=True`` used to fail the import ("no locator available"). grokode now falls back to a private
directory under the temporary directory, or to compiling without a cache, with one notice line.

The package is copied to a directory that is made really read-only for the child process: a read-only bind mount
in a private mount namespace (``unshare -rm``: root in CI writes through ``chmod a-w``). Where namespaces are not
available, numba's own locators are made to fail inside the child instead (and, for "nothing writable", the
temporary directory too), which exercises the same fallbacks: nothing is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grokode

PACKAGE = Path(grokode.__file__).parent
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
SMALL_RUN = ["-m", "grokode", "integrate", "--alpha", "10", "--lam", "0.1", "--t-end", "2", "--n", "8", "--d", "6",
             "--no-plot", "--json"]


def _copy_package(root: Path) -> Path:
    site = root / "ro" / "site"
    shutil.copytree(PACKAGE, site / "grokode", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (root / "ro" / "home").mkdir()
    return site


def _namespaces_work(root: Path) -> bool:
    """Whether ``unshare -rm`` can bind-mount ``root`` read-only (and the mount then really refuses writes)."""
    if shutil.which("unshare") is None:
        return False
    probe = f"mount --bind -o ro {root} {root} && ! touch {root}/probe 2>/dev/null"
    res = subprocess.run(["unshare", "-rm", "sh", "-c", probe], capture_output=True, timeout=30)
    return res.returncode == 0 and not (root / "probe").exists()


def _run_read_only(root: Path, read_only: list[Path], args: list[str], env: dict[str, str], cwd: Path):
    mounts = " && ".join(f"mount --bind -o ro {p} {p}" for p in read_only)
    script = f'{mounts} && cd {cwd} && exec "$0" "$@"'
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, sys.executable, *args], capture_output=True,
                          text=True, env=env, timeout=600)


#: Where namespaces are missing, the child makes numba's own locators fail (``nothing``: and every temporary
#: directory unusable), which is what a read-only package and HOME (and /tmp) do to them.
SIMULATE = """
import runpy, sys, tempfile
from numba.core import caching
for name in ("InTreeCacheLocator", "UserWideCacheLocator", "UserProvidedCacheLocator"):
    cls = getattr(caching, name, None)
    if cls is not None:
        cls.from_function = classmethod(lambda cls, f, p: None)
if sys.argv.pop(1) == "nothing":
    def unusable():
        raise FileNotFoundError("no usable temporary directory")
    tempfile.gettempdir = unusable
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    exec(sys.argv[2])
"""


@pytest.fixture
def install(tmp_path):
    site = _copy_package(tmp_path)
    return site, _namespaces_work(tmp_path / "ro")


def _run(install, tmp_path, read_only: list[Path], args: list[str], env: dict[str, str], cwd: Path, nothing: bool):
    site, namespaces = install
    if namespaces:
        return _run_read_only(tmp_path, read_only, args, env, cwd)
    return subprocess.run([sys.executable, "-c", SIMULATE, "nothing" if nothing else "fallback", *args],
                          capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def test_read_only_package_and_home_cache_in_a_temporary_directory(install, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**CHILD_ENV, "PYTHONPATH": str(install[0]), "HOME": str(tmp_path / "ro" / "home"), "TMPDIR": str(work)}
    res = _run(install, tmp_path, [tmp_path / "ro"], [*SMALL_RUN, "--out", str(work / "r.npz")], env, work, False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout)["status"] == "ok" and (work / "r.npz").exists()
    notices = [line for line in res.stderr.splitlines() if "numba cannot cache" in line]
    assert len(notices) == 1 and notices[0].startswith("grokode: warning: "), res.stderr
    assert "caching it in" in notices[0] and str(work) in notices[0]
    cached = [p for d in work.glob("grokode-numba-*") for p in d.rglob("*.nbi")]  # the uid is the namespace's
    assert cached, "the fallback directory holds numba's index files"
    assert not list(install[0].rglob("*.nbi"))  # nothing was written into the package


def test_nothing_writable_compiles_without_a_cache(install, tmp_path):
    """Package, HOME and every temporary directory read-only: compiled in memory, one notice, correct value."""
    work = tmp_path / "ro" / "work"
    work.mkdir()
    env = {**CHILD_ENV, "PYTHONPATH": str(install[0]), "HOME": str(tmp_path / "ro" / "home"), "TMPDIR": str(work)}
    code = ("import math; from grokode.numeric.primitives import softplus; "
            "print(repr(softplus(3.0) - math.log1p(math.exp(3.0))))")
    read_only = [tmp_path / "ro", *[Path(p) for p in ("/tmp", "/var/tmp", "/usr/tmp") if Path(p).is_dir()]]
    res = _run(install, tmp_path, read_only, ["-c", code], env, work, True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert abs(float(res.stdout)) < 1e-15
    notices = [line for line in res.stderr.splitlines() if "numba cannot cache" in line]
    assert len(notices) == 1 and "compiling without a cache" in notices[0], res.stderr


def test_a_failing_locator_falls_back(tmp_path):
    """Without namespaces (and as a second check): numba's own locators fail in the child; grokode's is used."""
    site = _copy_package(tmp_path)
    code = ("from numba.core import caching\n"
            "for name in ('InTreeCacheLocator', 'UserWideCacheLocator', 'UserProvidedCacheLocator'):\n"
            "    cls = getattr(caching, name, None)\n"
            "    if cls is not None: cls.from_function = classmethod(lambda cls, f, p: None)\n"
            "import math\n"
            "from grokode.numeric.primitives import softplus\n"
            "print(repr(softplus(3.0) - math.log1p(math.exp(3.0))))\n")
    env = {**CHILD_ENV, "PYTHONPATH": str(site), "TMPDIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert abs(float(res.stdout)) < 1e-15
    assert "caching it in" in res.stderr and res.stderr.count("numba cannot cache") == 1
    assert list((tmp_path / f"grokode-numba-{os.getuid()}").rglob("*.nbi"))
