"""Faulty files and environments: one ``grokode: error:`` line and exit 2 before computing, never a traceback.

Damaged archives (a flipped byte inside a compressed member, two members of one name), extreme data values,
an ASCII-only stdout, file names JSON cannot carry, broken plug-ins, a damaged derivation cache.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import PM1, Y, _run_arrays, _run_meta, call_main, install_guards

from grokode.result import npz_bytes

# ----------------------------------------------------------------------------------------------------
# Damaged archives


def _member_data(raw: bytes, name: str) -> tuple[int, int]:
    """(offset, length) of the stored (compressed) bytes of member ``name`` in the zip ``raw``."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        info = zf.getinfo(name)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def _flipped(raw: bytes, name: str, where: float) -> bytes:
    start, size = _member_data(raw, name)
    out = bytearray(raw)
    out[start + int(where * (size - 1))] ^= 0x5A
    return bytes(out)


def _data_npz() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez_compressed(buf, X=np.sign(rng.standard_normal((40, 30))), y=np.sign(rng.standard_normal(40)))
    return buf.getvalue()


def _run_npz() -> bytes:
    buf = io.BytesIO()
    arrays = _run_arrays(T=200, d=50)
    np.savez_compressed(buf, **arrays, meta=np.array(json.dumps(_run_meta())))
    return buf.getvalue()


def _expect_one_line(code, escaped, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert (code, escaped) == (2, None), (code, escaped, err)
    assert len(lines) == 1 and lines[0].startswith("grokode: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.mark.parametrize("member", ["X.npy", "y.npy"])
@pytest.mark.parametrize("where", [0.0, 0.3, 0.6, 0.9])  # the last byte may be padding
def test_a_damaged_data_file_is_named_with_its_member(member, where, tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.npz"
    path.write_bytes(_flipped(_data_npz(), member, where))
    monkeypatch.chdir(tmp_path)
    install_guards(monkeypatch)
    code, escaped = call_main(["integrate", "--data", str(path), "--no-plot"])
    _expect_one_line(code, escaped, capsys.readouterr().err, "data.npz", "damaged", member)


@pytest.mark.parametrize("member", ["w.npy", "meta.npy", "t.npy", "cos_rich.npy"])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_damaged_trajectory_is_named_with_its_member(member, where, tmp_path, monkeypatch, capsys):
    path = tmp_path / "run.npz"
    path.write_bytes(_flipped(_run_npz(), member, where))
    monkeypatch.chdir(tmp_path)
    code, escaped = call_main(["analyze", str(path), "--json"])
    captured = capsys.readouterr()
    _expect_one_line(code, escaped, captured.err, "run.npz", "damaged", member)
    assert captured.out == ""


def test_the_undamaged_twins_are_accepted(tmp_path, monkeypatch, capsys):
    from grokode import pipeline

    (tmp_path / "data.npz").write_bytes(_data_npz())
    (tmp_path / "run.npz").write_bytes(_run_npz())
    assert pipeline.build("diagonal", data=str(tmp_path / "data.npz")).config["loss"] == "logistic"
    monkeypatch.chdir(tmp_path)
    assert call_main(["analyze", "run.npz", "--json"]) == (0, None)
    assert json.loads(capsys.readouterr().out)["alpha"] == 100.0


@pytest.mark.parametrize("kind", ["data", "trajectory"])
@pytest.mark.parametrize("order", ["same", "different"])
def test_two_members_of_one_name_are_refused(kind, order, tmp_path, monkeypatch, capsys):
    def npy(a) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    path = tmp_path / "dup.npz"
    if kind == "data":
        members = [("X.npy", npy(PM1)), ("y.npy", npy(Y)), ("y.npy", npy(Y if order == "same" else -Y))]
        args = ["integrate", "--data", str(path), "--no-plot"]
    else:
        arrays = _run_arrays()
        members = [(f"{k}.npy", npy(v)) for k, v in arrays.items()] + [
            ("meta.npy", npy(np.array(json.dumps(_run_meta())))),
            ("t.npy", npy(arrays["t"] * (1 if order == "same" else 2)))]
        args = ["analyze", str(path)]
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    monkeypatch.chdir(tmp_path)
    install_guards(monkeypatch)
    code, escaped = call_main(args)
    name = "y.npy" if kind == "data" else "t.npy"
    _expect_one_line(code, escaped, capsys.readouterr().err, "dup.npz", f"two members named {name!r}")


# ----------------------------------------------------------------------------------------------------
# Extreme data values


def _data(path: Path, X: np.ndarray, y: np.ndarray, **more) -> str:
    with open(path, "wb") as fh:
        np.savez(fh, X=X, y=y, **more)
    return str(path)


EXTREME = [  # (name, X, y, loss, needle)
    ("huge_x", PM1 * 1e300, Y, "logistic", "row 0 has norm"),
    ("large_x", PM1 * 1e200, Y, "logistic", "too large"),
    ("huge_x_squared", PM1 * 1e300, np.linspace(-1, 1, 6), "squared", "too large"),
    ("huge_y", PM1, Y * 1e200, "squared", "y[0] = 1e+200"),
    ("one_huge_entry", np.where(np.arange(30).reshape(6, 5) == 17, 1e155, PM1), Y, "logistic", "row 3 has norm"),
    ("tiny_x", PM1 * 1e-300, Y, "logistic", "too small"),
    ("zero_x", PM1 * 0.0, Y, "logistic", "too small"),
    ("max_float", np.full((6, 5), np.finfo(np.float64).max), Y, "logistic", "too large"),
    ("nan_y", PM1, np.where(np.arange(6) == 2, np.nan, Y), "squared", "nan at index 2"),
    ("inf_x", np.where(np.arange(30).reshape(6, 5) == 7, -np.inf, PM1), Y, "logistic", "-inf at index (1, 2)"),
    ("labels_0_1", PM1, (Y + 1) / 2, "logistic", "is not ±1"),
    ("labels_exp", PM1, Y * 2, "exponential", "is not ±1"),
    ("labels_test", PM1, Y, "logistic", "y_test[0]"),
]


@pytest.mark.parametrize("name, X, y, loss, needle", EXTREME, ids=[e[0] for e in EXTREME])
def test_extreme_data_are_an_input_error_naming_the_file(name, X, y, loss, needle, tmp_path, monkeypatch, capsys):
    more = {"X_test": PM1, "y_test": Y * 0.5} if name == "labels_test" else {}
    path = _data(tmp_path / f"{name}.npz", X, y, **more)
    monkeypatch.chdir(tmp_path)
    install_guards(monkeypatch)
    code, escaped = call_main(["integrate", "--data", path, "--loss", loss, "--no-plot"])
    _expect_one_line(code, escaped, capsys.readouterr().err, f"{name}.npz", needle)


def test_data_within_the_bound_are_accepted(tmp_path):
    from grokode import pipeline

    for scale in (1e-100, 1e100):
        model = pipeline.build("diagonal", data=_data(tmp_path / "ok.npz", PM1 * scale, Y))
        assert np.max(np.abs(model.prepare().data.X)) == pytest.approx(scale)


@pytest.mark.parametrize("scale, needle", [(1e300, "M[0, 0] = 1e+300"), (1e200, "too large")])
def test_extreme_completion_data_are_an_input_error(scale, needle, tmp_path, monkeypatch, capsys):
    M = np.outer(np.arange(1, 5.0), np.arange(1, 5.0)) * scale
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :] = True
    with open(tmp_path / "m.npz", "wb") as fh:
        np.savez(fh, M=M, train_mask=mask)
    monkeypatch.chdir(tmp_path)
    install_guards(monkeypatch)
    code, escaped = call_main(["integrate", "--model", "matrix", "--data", str(tmp_path / "m.npz"), "--no-plot"])
    _expect_one_line(code, escaped, capsys.readouterr().err, "m.npz", needle)


def test_a_flow_with_a_non_finite_start_is_an_input_error():
    from grokode.errors import InputError
    from grokode.numeric.flow import FlowBase
    from grokode.numeric.integrate import integrate_flow

    class Overflowing(FlowBase):
        def start(self):
            return 0.0, np.array([1.0, np.inf])

    with pytest.raises(InputError, match="initial state of Overflowing is not finite"):
        integrate_flow(Overflowing(), np.array([1.0]), method="LSODA")


# ----------------------------------------------------------------------------------------------------
# Output encodings


def _grokode(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, cwd=cwd, timeout=300,
                          env=environ)


def test_an_ascii_only_stdout_gets_escapes_not_a_traceback(tmp_path):
    (tmp_path / "run.npz").write_bytes(npz_bytes(_run_arrays(), _run_meta()))
    runs = {
        "integrate": _grokode(["integrate", "--alpha", "10", "--lam", "0.1", "--t-end", "2", "--n", "8", "--d", "6",
                               "--no-plot", "--out", "r.npz"], tmp_path, PYTHONIOENCODING="ascii"),
        "analyze": _grokode(["analyze", "run.npz"], tmp_path, PYTHONIOENCODING="ascii"),
        "analyze --json": _grokode(["analyze", "run.npz", "--json"], tmp_path, PYTHONIOENCODING="ascii"),
        "help": _grokode(["integrate", "--help"], tmp_path, PYTHONIOENCODING="ascii"),
        "error": _grokode(["integrate", "--alpha", "−1"], tmp_path, PYTHONIOENCODING="ascii"),
    }
    for name, res in runs.items():
        assert b"Traceback" not in res.stderr, (name, res.stderr.decode("ascii", "replace"))
        res.stdout.decode("ascii")  # every byte is ASCII
        assert res.returncode == (2 if name == "error" else 0), (name, res.stderr)
    assert b"\\u03b1" in runs["analyze"].stdout  # α, escaped
    assert runs["error"].stderr.startswith(b"grokode: error: alpha must be") and b"\\u22121" in runs["error"].stderr
    report = json.loads(runs["analyze --json"].stdout)
    assert report["alpha"] == 100.0 and report["t_transition"] == 450.0
    assert grokode_load(tmp_path / "r.npz").arrays["t"][-1] == 2.0


def grokode_load(path):
    from grokode import load_run

    return load_run(path)


def test_the_escapes_are_json_escapes_beyond_the_bmp(capsys):
    from grokode.cli import _escape_unencodable

    text = 'α "😀"'
    escaped = text.encode("ascii", errors="backslashreplace")  # what Python itself would write
    assert b"\\U0001f600" in escaped  # not a JSON escape
    import codecs

    codecs.register_error("test-grokode-escape", _escape_unencodable)
    ours = text.encode("ascii", errors="test-grokode-escape").decode("ascii")
    assert ours == '\\u03b1 "\\ud83d\\ude00"' and json.loads(f'"{ours[:6]}"') == "α"
    assert json.loads(ours[7:]) == "😀"


NOT_UTF8 = os.fsdecode(b"r\xff\xfe.npz")


@pytest.mark.parametrize("args", [
    ["integrate", "--json", "--out", NOT_UTF8, "--no-plot"],
    ["integrate", "--json", "--plot", os.fsdecode(b"p\xff.png")],
    ["integrate", "--json", "--data", NOT_UTF8],
    ["analyze", NOT_UTF8, "--json"],
    ["sweep", "--json", "--out", os.fsdecode(b"s\xff.csv")],
    ["sweep", "--json", "--keep-runs", os.fsdecode(b"k\xff")],
], ids=["integrate-out", "integrate-plot", "integrate-data", "analyze", "sweep-out", "sweep-keep-runs"])
def test_json_refuses_a_file_name_that_is_not_utf8(args, tmp_path, monkeypatch, capsys):
    (tmp_path / NOT_UTF8).write_bytes(npz_bytes(_run_arrays(), _run_meta()))
    monkeypatch.chdir(tmp_path)
    install_guards(monkeypatch)
    before = sorted(os.listdir(tmp_path))
    code, escaped = call_main(args)
    captured = capsys.readouterr()
    _expect_one_line(code, escaped, captured.err, "is not valid UTF-8", "--json")
    assert captured.out == "" and sorted(os.listdir(tmp_path)) == before


def test_without_json_such_a_name_is_used(tmp_path, monkeypatch, capsys):
    (tmp_path / NOT_UTF8).write_bytes(npz_bytes(_run_arrays(), _run_meta()))
    monkeypatch.chdir(tmp_path)
    assert call_main(["analyze", NOT_UTF8]) == (0, None)
    assert "450" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------
# The derivation cache


def test_a_damaged_derive_cache_entry_is_recomputed_not_printed(tmp_path, monkeypatch, capsys):
    """Through the command: an empty and a garbage entry (both were printed as the answer, exit 0)."""
    monkeypatch.setenv("GROKODE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    def derive() -> str:
        assert call_main(["derive", "diagonal", "--format", "json"]) == (0, None)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return captured.out

    truth = derive()
    assert json.loads(truth)["homogeneity"] == 2
    (entry,) = (tmp_path / "cache" / "derive").iterdir()
    good = entry.read_bytes()
    for damage in (b"", b"garbage\n"):
        entry.write_bytes(damage)
        assert derive() == truth
        assert entry.read_bytes() == good  # repaired


def test_every_kind_of_damaged_cache_entry_is_recomputed(tmp_path, monkeypatch):
    from grokode.files import cached_text

    monkeypatch.setenv("GROKODE_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def compute() -> str:
        calls.append(1)
        return "φ(θ) = θ₁θ₂\nline two\n"

    truth = cached_text("ns", "key", compute)
    assert cached_text("ns", "key", compute) == truth and len(calls) == 1  # a hit
    (entry,) = (tmp_path / "cache" / "ns").iterdir()
    good = entry.read_bytes()
    header, _, body = good.partition(b"\n")
    damages = {
        "empty": b"", "garbage": b"not a derivation\n", "binary": bytes(range(256)),
        "headerless": truth.encode(), "truncated": good[: len(good) - 3],
        "edited": header + b"\n" + body.replace(b"two", b"2wo"),
        "other key": header.replace(header.split(b" ")[1], b"0" * 64) + b"\n" + body,
        "header only": header + b"\n", "not utf-8": header + b"\n" + b"\xff\xfe",
    }
    for name, damage in damages.items():
        entry.write_bytes(damage)
        assert cached_text("ns", "key", compute) == truth, name
        assert entry.read_bytes() == good, name  # repaired
    assert len(calls) == 1 + len(damages)
    entry.unlink()
    entry.mkdir()  # an entry that cannot be read or replaced: computed every time
    assert cached_text("ns", "key", compute) == truth and len(calls) == 2 + len(damages)
