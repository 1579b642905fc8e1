"""Resource limits: a file-size limit, a full disk, an immutable target, memory limits of the process.

A limit found before computing (memory, an immutable target) is one ``grokode: error:`` line and exit 2; one found
while writing after the computation (ulimit -f, no space) is one line and exit 1, with no temporary or torn file
left and any earlier file untouched.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_bad_inputs import call_main, install_guards

from grokode.errors import OutputError
from grokode.files import _cgroup_headroom, atomic_write

SMALL_RUN = ["integrate", "--alpha", "10", "--lam", "0.1", "--t-end", "2", "--n", "8", "--d", "6", "--no-plot"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


PHASES = ("grokode: integrating", "grokode: analysing", "grokode: writing ", "grokode: drawing ")


def _one_error_line(stderr: str) -> str:
    """The one error line; the progress phases (stderr is not a terminal) and the notice that the initial state
    could not be written (the same limit hit it first) are not errors."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(PHASES)
             and not line.startswith("grokode: warning: could not write the initial state")]
    assert len(lines) == 1 and lines[0].startswith("grokode: error: "), stderr
    return lines[0]


def test_a_file_size_limit_is_one_line_exit_1_and_no_torn_file(tmp_path):
    (tmp_path / "r.npz").write_bytes(b"the previous run")

    def limit():  # pragma: no cover - in the child; SIGXFSZ back to its default, as a shell may leave it
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    res = subprocess.run([sys.executable, "-m", "grokode", *SMALL_RUN, "--out", "r.npz", "--force"],
                         capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=600, preexec_fn=limit)
    assert res.returncode == 1, res.stderr
    line = _one_error_line(res.stderr)
    assert "cannot write 'r.npz'" in line and "ulimit -f" in line and "after the run finished" in line
    assert sorted(os.listdir(tmp_path)) == ["r.npz"] and (tmp_path / "r.npz").read_bytes() == b"the previous run"


def _tmpfs_works(path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    res = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {path}"],
                         capture_output=True, timeout=30)
    return res.returncode == 0


def test_a_full_disk_is_one_line_exit_1_and_no_torn_file(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if _tmpfs_works(disk):  # a real 64 kB file system in a private mount namespace
        script = f'mount -t tmpfs -o size=8k tmpfs {disk} && cd {disk} && "$0" "$@"; echo "left: $(ls -A)" >&2'
        res = subprocess.run(["unshare", "-rm", "sh", "-c", script, sys.executable, "-m", "grokode", *SMALL_RUN,
                              "--out", "r.npz"], capture_output=True, text=True, env=ENV, timeout=600)
        assert res.returncode == 0  # the shell's own status: the left-over listing follows
        *err, left = res.stderr.strip().splitlines()
        # no temporary file; r.npz only if the run's initial state (written at its start) fitted
        assert left in ("left:", "left: r.npz"), res.stderr
        line = _one_error_line("\n".join(err))
    else:  # no namespaces: the write itself fails with ENOSPC, as it would on a full disk
        code = ("import os, sys, errno\n"
                "def fsync(fd): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
                "os.fsync = fsync\n"
                "from grokode.cli import main\n"
                "main(sys.argv[1:])\n")
        res = subprocess.run([sys.executable, "-c", code, *SMALL_RUN, "--out", "r.npz"], capture_output=True,
                             text=True, cwd=disk, env=ENV, timeout=600)
        assert res.returncode == 1 and os.listdir(disk) == [], res.stderr
        line = _one_error_line(res.stderr)
    assert "No space left on device (the disk is full) after the run finished (status ok)" in line


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO])
def test_atomic_write_names_the_file_and_leaves_nothing(code, tmp_path):
    target = tmp_path / "f.npz"
    target.write_bytes(b"old")

    def write(fh):
        fh.write(b"partial")
        raise OSError(code, os.strerror(code))

    with pytest.raises(OutputError) as info:
        atomic_write(target, write)
    assert str(info.value).startswith(f"cannot write {str(target)!r}: {os.strerror(code)}")
    assert info.value.errno_code == code
    assert os.listdir(tmp_path) == ["f.npz"] and target.read_bytes() == b"old"


def test_the_api_returns_the_finished_run_with_the_write_failure(tmp_path, monkeypatch):
    import grokode
    import grokode.files

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(grokode.files.os, "fsync", full)
    with pytest.raises(OutputError, match="the disk is full") as info:
        grokode.integrate(alpha=10.0, lam=0.1, t_end=2.0, n=8, d=6, out=tmp_path / "r.npz")
    monkeypatch.undo()
    run = info.value.run
    assert run is not None and str(run.status) == "ok" and not (tmp_path / "r.npz").exists()
    assert grokode.load_run(run.save(tmp_path / "elsewhere.npz")).arrays["t"][-1] == 2.0


def _chattr(path: Path, flag: str) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=30).returncode == 0


@pytest.mark.parametrize("flag", ["+i", "+a"])
def test_an_immutable_target_is_refused_before_computing_even_with_force(flag, tmp_path, monkeypatch, capsys):
    target = tmp_path / "r.npz"
    target.write_bytes(b"keep")
    real = _chattr(target, flag)
    if not real:  # a file system without attributes: the kernel's answer to opening such a file, simulated
        opener = os.open

        def refusing(path, flags, *args, **kwargs):
            if Path(path) == target and flags & (os.O_WRONLY | os.O_RDWR):
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
            return opener(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing)
    try:
        monkeypatch.chdir(tmp_path)
        install_guards(monkeypatch)
        code, escaped = call_main([*SMALL_RUN, "--out", "r.npz", "--force"])
    finally:
        if real:
            _chattr(target, flag.replace("+", "-"))
    line = _one_error_line(capsys.readouterr().err)
    assert (code, escaped) == (2, None)
    assert "output file 'r.npz' cannot be replaced: it is immutable or append-only" in line
    assert target.read_bytes() == b"keep"


def test_a_read_only_mode_target_is_still_replaced_with_force(tmp_path):
    """Permission bits are not immutability: replacing needs the directory's permission only."""
    import grokode

    target = tmp_path / "r.npz"
    target.write_bytes(b"old")
    target.chmod(0o444)
    run = grokode.integrate(alpha=10.0, lam=0.1, t_end=2.0, n=8, d=6, out=target, force=True)
    assert grokode.load_run(target).arrays["t"].shape == run.arrays["t"].shape


MEMORY_CHILD = """
import resource, sys
import grokode.pipeline
from grokode.files import _proc_status

def guard(*args, **kwargs):
    raise SystemExit("computation started")

grokode.pipeline.run_model = guard
status = _proc_status()
limit, used = {"as": (resource.RLIMIT_AS, "VmSize"), "data": (resource.RLIMIT_DATA, "VmData")}[sys.argv[1]]
resource.setrlimit(limit, (status[used] + (300 << 20),) * 2)
from grokode.cli import main
main(["integrate", "--n", "2000", "--d", "100000", "--no-plot"])
"""


@pytest.mark.parametrize("kind, needle", [("as", "ulimit -v"), ("data", "ulimit -d")])
def test_a_process_memory_limit_below_the_estimate_is_refused(kind, needle, tmp_path):
    """The run needs about 0.8 GB; the machine has more, the process's limit leaves 300 MB."""
    res = subprocess.run([sys.executable, "-c", MEMORY_CHILD, kind], capture_output=True, text=True, cwd=tmp_path,
                         env=ENV, timeout=300)
    assert res.returncode == 2, res.stderr
    line = _one_error_line(res.stderr)
    assert "needs about 804 MB of memory, more than the" in line and needle in line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_cgroup_limit_is_read(version, tmp_path):
    proc = tmp_path / "cgroup"
    group = tmp_path / "sys" / ("memory" if version == "v1" else "") / "job42"
    group.mkdir(parents=True)
    if version == "v1":
        proc.write_text("5:cpu:/\n4:memory:/job42\n0::/\n")
        (group / "memory.limit_in_bytes").write_text("1073741824\n")
        (group / "memory.usage_in_bytes").write_text("73741824\n")
    else:
        proc.write_text("0::/job42\n")
        (group / "memory.max").write_text("1073741824\n")
        (group / "memory.current").write_text("73741824\n")
    assert _cgroup_headroom(str(proc), str(tmp_path / "sys")) == 1_000_000_000
    (group / ("memory.limit_in_bytes" if version == "v1" else "memory.max")).write_text(
        "9223372036854771712\n" if version == "v1" else "max\n")
    assert _cgroup_headroom(str(proc), str(tmp_path / "sys")) is None
