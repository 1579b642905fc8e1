"""Bad input keeps its promise: one line ``grokode: error: …`` naming the value, exit code 2, no file.

A corpus of bad inputs as a new user would type them — every command, model and option; wrong types, NaN, inf,
negative, zero, huge and empty values; options of another model, task or method; sizes that cannot fit;
missing, malformed and hostile files; output paths that cannot be written — runs in-process through
:func:`grokode.cli.main` (the installed command's entry point), with the integration, the Dask cluster, the
symbolic derivation and figure writing replaced by a guard that fails the case if reached: every check must
fire before anything is computed. Each case asserts exit code 2, exactly one stderr line that starts with
``grokode: error:`` and contains the case's needle (the offending value or option), nothing on stdout, no
traceback, and no new file in the working directory. A few cases go through a real ``python -m grokode``.

``python tests/interfaces/test_bad_inputs.py`` runs the corpus outside pytest and tallies the outcomes (handled as
promised / traceback / wrong exit code / silently ignored / computation started / bad message).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grokode.result import npz_bytes

# ----------------------------------------------------------------------------------------------------
# Files the corpus refers to as @NAME (written once per session into a directory outside the working one)


def _npy(shape, descr="<f8", data: bytes = b"") -> bytes:
    """The bytes of a .npy file whose header claims ``shape`` and ``descr``, followed by ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + data


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _savez(path: Path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


PM1 = np.array([[1, -1, 1, 1, -1], [-1, -1, 1, -1, 1], [1, 1, -1, -1, -1], [-1, 1, 1, 1, 1],
                [1, -1, -1, 1, 1], [-1, 1, -1, -1, 1]], dtype=np.float64)
Y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def _run_arrays(T: int = 6, d: int = 5) -> dict[str, np.ndarray]:
    """A small synthetic diagonal-net trajectory that ``grokode analyze`` accepts."""
    t = np.linspace(0.0, 1000.0, T)
    s = np.linspace(0.0, 1.0, T)
    w_kernel, w_rich = np.linspace(1.0, 2.0, d), np.eye(d)[0]
    w = (1 - s)[:, None] * w_kernel + s[:, None] * w_rich
    cos = lambda ref: w @ ref / (np.linalg.norm(w, axis=1) * np.linalg.norm(ref))  # noqa: E731
    return {"t": t, "w": w, "param_norm": np.linspace(100.0, 10.0, T), "train_loss": np.linspace(0.7, 0.01, T),
            "train_acc": np.ones(T), "test_acc_population": np.linspace(0.5, 1.0, T), "w_kernel": w_kernel,
            "w_rich": w_rich, "cos_kernel": cos(w_kernel), "cos_rich": cos(w_rich),
            "margin_l2": np.linspace(0.1, 0.2, T), "margin_l1": np.linspace(0.1, 0.3, T)}


def _run_meta(**summary) -> dict:
    return {"options": {"model": "diagonal", "depth": 2, "task": "sparse", "alpha": 100.0, "lam": 0.01},
            "dataset": {"name": "sparse", "kind": "classification"},
            "summary": {"t_theory": 460.517, "t_transition": 450.0, "transition_width": 80.0, "direction": 1,
                        "status": "ok", "message": "", "t_reached": 1000.0, **summary},
            "references": {}}


def _mlp_run(path: Path, alpha: float) -> None:
    T = 5
    arrays = {"t": np.geomspace(1e-2, 1e3, T), "train_loss": np.linspace(3.0, 0.01, T),
              "train_acc": np.linspace(0.0, 1.0, T), "test_loss": np.linspace(3.0, 0.5, T),
              "test_acc": np.linspace(0.0, 0.9, T), "param_norm": np.linspace(10.0, 5.0, T),
              "theta_final": np.zeros(20), "train_pairs": np.zeros((7, 2), dtype=np.int64)}
    meta = {"options": {"model": "mlp", "alpha": alpha, "lam": 2e-3, "p": 5, "width": 4},
            "summary": {"t_theory": 693.1, "t_transition": 500.0, "status": "ok", "test_final": 0.9}}
    path.write_bytes(npz_bytes(arrays, meta))


def _write_raw_run(path: Path, arrays: dict, meta_text) -> None:
    """A run file with ``meta`` exactly as given (text or an array), not produced by json.dumps."""
    meta = meta_text if isinstance(meta_text, np.ndarray) else np.array(meta_text)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays, meta=meta)


def make_files(root: Path) -> None:  # noqa: PLR0915 - one place that lists every bad file
    """Every file the corpus names: good ones (each bad one differs from a good one in one respect) and bad ones."""
    # --- diagonal data
    _savez(root / "good.npz", X=PM1, y=Y)
    _savez(root / "goodreg.npz", X=PM1 * 0.5, y=np.linspace(-1, 1, 6))
    (root / "empty.npz").write_bytes(b"")
    (root / "text.npz").write_text("X,y\n1,2\n")
    good = (root / "good.npz").read_bytes()
    (root / "trunc.npz").write_bytes(good[: len(good) // 2])
    (root / "trunc_tail.npz").write_bytes(good[:-30])
    with open(root / "npy.npz", "wb") as fh:
        np.save(fh, PM1)
    with open(root / "pickle.npz", "wb") as fh:
        np.savez(fh, X=np.array([{"a": 1}, None], dtype=object), y=Y[:2])
    (root / "pickled_obj.npz").write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.")  # pickle of {}
    _savez(root / "nox.npz", y=Y)
    _savez(root / "noy.npz", X=PM1)
    _savez(root / "nothing.npz", Z=np.ones(3))
    _savez(root / "x1d.npz", X=Y, y=Y)
    _savez(root / "x3d.npz", X=np.ones((6, 5, 2)), y=Y)
    _savez(root / "y2d.npz", X=PM1, y=Y[:, None])
    _savez(root / "ylen.npz", X=PM1, y=Y[:4])
    _savez(root / "xtest_only.npz", X=PM1, y=Y, X_test=PM1)
    _savez(root / "ytest_only.npz", X=PM1, y=Y, y_test=Y)
    _savez(root / "xtest_cols.npz", X=PM1, y=Y, X_test=PM1[:, :3], y_test=Y)
    _savez(root / "ytest_len.npz", X=PM1, y=Y, X_test=PM1, y_test=Y[:3])
    X = PM1.copy()
    X[2, 3] = np.nan
    _savez(root / "nan_x.npz", X=X, y=Y)
    _savez(root / "inf_y.npz", X=PM1, y=np.where(np.arange(6) == 4, np.inf, Y))
    _savez(root / "nan_xtest.npz", X=PM1, y=Y, X_test=X, y_test=Y)
    _savez(root / "labels01.npz", X=PM1, y=(Y + 1) / 2)
    _savez(root / "labels2.npz", X=PM1, y=np.where(np.arange(6) == 5, 2.0, Y))
    _savez(root / "labels_test.npz", X=PM1, y=Y, X_test=PM1, y_test=np.where(np.arange(6) == 1, 0.5, Y))
    _zip(root / "huge.npz", {"X.npy": _npy((10**9, 10**9)), "y.npy": _npy((6,), data=Y.tobytes())})
    _zip(root / "huge_y.npz", {"X.npy": _npy((6, 5), data=PM1.tobytes()), "y.npy": _npy((10**12,))})
    _zip(root / "negshape.npz", {"X.npy": _npy((-6, 5)), "y.npy": _npy((6,), data=Y.tobytes())})
    _zip(root / "short.npz", {"X.npy": _npy((6, 5), data=PM1.tobytes()[:40]), "y.npy": _npy((6,), data=Y.tobytes())})
    _zip(root / "badheader.npz", {"X.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': 3}    \n", "y.npy": b""})
    crc = bytearray(good)
    at = crc.index(b"\x93NUMPY") + 200
    crc[at] ^= 0xFF
    (root / "crc.npz").write_bytes(bytes(crc))
    _savez(root / "strx.npz", X=np.array([["a", "b"], ["c", "d"]]), y=Y[:2])
    _savez(root / "complexx.npz", X=PM1 + 1j, y=Y)
    _savez(root / "datex.npz", X=np.array(["2020-01-01"] * 6, dtype="datetime64[D]").reshape(6, 1), y=Y)
    _savez(root / "stry.npz", X=PM1, y=np.array(["1", "-1", "1", "-1", "1", "-1"]))
    _savez(root / "emptyx.npz", X=np.zeros((0, 5)), y=np.zeros(0))
    _savez(root / "nocols.npz", X=np.zeros((6, 0)), y=Y)
    (root / "dir.npz").mkdir()
    os.mkfifo(root / "fifo.npz")
    (root / "zero.npz").symlink_to("/dev/zero")
    (root / "loop.npz").symlink_to(root / "loop.npz")
    # --- matrix data
    M = np.outer(np.arange(4.0), np.arange(4.0)) / 16
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :] = True
    _savez(root / "mgood.npz", M=M, train_mask=mask)
    _savez(root / "m_nonsquare.npz", M=np.ones((3, 4)), train_mask=np.ones((3, 4), dtype=bool))
    Ma = M.copy()
    Ma[0, 3] = 5.0
    _savez(root / "m_nosym.npz", M=Ma, train_mask=mask)
    _savez(root / "m_noobs.npz", M=M, train_mask=np.zeros((4, 4), dtype=bool))
    _savez(root / "m_allobs.npz", M=M, train_mask=np.ones((4, 4), dtype=bool))
    Mn = M.copy()
    Mn[1, 1] = np.nan
    _savez(root / "m_nan.npz", M=Mn, train_mask=mask)
    _savez(root / "m_noM.npz", train_mask=mask)
    _savez(root / "m_nomask.npz", M=M)
    _savez(root / "m_maskshape.npz", M=M, train_mask=mask[:3, :3])
    _savez(root / "m_mask2.npz", M=M, train_mask=mask.astype(int) * 2)
    _savez(root / "m_d1.npz", M=np.ones((1, 1)), train_mask=np.ones((1, 1), dtype=bool))
    _savez(root / "m_str.npz", M=np.array([["a", "b"], ["b", "a"]]), train_mask=np.eye(2, dtype=bool))
    _savez(root / "m_3d.npz", M=np.ones((2, 2, 2)), train_mask=mask)
    _savez(root / "m_testempty.npz", M=M, train_mask=mask, test_mask=np.zeros((4, 4), dtype=bool))
    _zip(root / "m_huge.npz", {"M.npy": _npy((10**9, 10**9)), "train_mask.npy": _npy((10**9, 10**9), "|b1")})
    # --- trajectories for analyze
    arrays, meta = _run_arrays(), _run_meta()
    (root / "run.npz").write_bytes(npz_bytes(arrays, meta))
    (root / "run_a1000.npz").write_bytes(npz_bytes(arrays, {**meta, "options": {**meta["options"], "alpha": 1e3}}))
    _mlp_run(root / "mlp1.npz", 4.0)
    _mlp_run(root / "mlp2.npz", 8.0)
    run = (root / "run.npz").read_bytes()
    (root / "a_trunc.npz").write_bytes(run[: len(run) // 3])
    (root / "a_empty.npz").write_bytes(b"")
    (root / "a_text.npz").write_text("not a trajectory\n")
    (root / "a_dir.npz").mkdir()
    with open(root / "a_npy.npz", "wb") as fh:
        np.save(fh, arrays["t"])
    _savez(root / "a_nometa.npz", **arrays)
    _write_raw_run(root / "a_metanotjson.npz", arrays, "{options: 1")
    _write_raw_run(root / "a_metalist.npz", arrays, "[1, 2, 3]")
    _write_raw_run(root / "a_metanum.npz", arrays, np.array(5.0))
    _write_raw_run(root / "a_metabytes.npz", arrays, np.array(b"{}"))
    _write_raw_run(root / "a_meta2.npz", arrays, np.array(["{}", "{}"]))
    _write_raw_run(root / "a_noopts.npz", arrays, json.dumps({"summary": {}}))
    _write_raw_run(root / "a_nosummary.npz", arrays, json.dumps({"options": meta["options"]}))
    _write_raw_run(root / "a_optslist.npz", arrays, json.dumps({"options": [1], "summary": {}}))
    _write_raw_run(root / "a_summarylist.npz", arrays, json.dumps({"options": meta["options"], "summary": [1]}))
    for name, change in (("alpha_nan", {"alpha": float("nan")}), ("alpha_str", {"alpha": "big"}),
                         ("alpha_neg", {"alpha": -5.0}), ("alpha_zero", {"alpha": 0.0}), ("lam_neg", {"lam": -0.01}),
                         ("noalpha", {"alpha": None})):
        m = {**meta, "options": {**meta["options"], **change}}
        _write_raw_run(root / f"a_{name}.npz", arrays, json.dumps(m))  # json writes NaN for nan
    for name, change in (("ttrans_str", {"t_transition": "soon"}), ("ttheory_str", {"t_theory": "x"}),
                         ("ttheory_neg", {"t_theory": -5.0}), ("treached_str", {"t_reached": [1]}),
                         ("ttrans_inf", {"t_transition": float("inf")})):
        m = {**meta, "summary": {**meta["summary"], **change}}
        _write_raw_run(root / f"a_{name}.npz", arrays, json.dumps(m))
    bad = {"not": {k: v for k, v in arrays.items() if k != "t"}, "t2d": {**arrays, "t": arrays["t"][:, None]},
           "tnan": {**arrays, "t": np.where(np.arange(6) == 2, np.nan, arrays["t"])},
           "tdecr": {**arrays, "t": arrays["t"][::-1].copy()}, "tstr": {**arrays, "t": np.array(["0"] * 6)},
           "wrows": {**arrays, "w": arrays["w"][:4]}, "w1d": {**arrays, "w": arrays["w"][:, 0].copy()},
           "coslen": {**arrays, "cos_kernel": arrays["cos_kernel"][:3]},
           "cos2d": {**arrays, "cos_rich": arrays["cos_rich"][:, None]},
           "wklen": {**arrays, "w_kernel": arrays["w_kernel"][:2]},
           "acclen": {**arrays, "test_acc_population": np.ones(9)},
           "normstr": {**arrays, "param_norm": np.array(["x"] * 6)},
           "nocos": {k: v for k, v in arrays.items() if k not in ("cos_kernel", "cos_rich")}}
    for name, arrs in bad.items():
        (root / f"a_{name}.npz").write_bytes(npz_bytes(arrs, meta))
    with open(root / "a_pickle.npz", "wb") as fh:
        np.savez(fh, **arrays, meta=np.array(json.dumps(meta)), extra=np.array([None, {}], dtype=object))
    members = {f"{k}.npy": _npy(v.shape, v.dtype.str, v.tobytes()) for k, v in arrays.items() if k != "w"}
    members["w.npy"] = _npy((10**9, 10**9))
    members["meta.npy"] = _npy((), "<U2", "{}".encode("utf-32-le"))
    _zip(root / "a_huge.npz", members)
    # a matrix run with mismatched shapes
    Wt = np.repeat(M[None], 6, axis=0)
    marr = {"t": arrays["t"], "W": Wt, "train_loss": np.ones(6), "test_loss": np.ones(6), "param_norm": np.ones(6),
            "nuclear_norm": np.ones(6), "dist_kernel": np.ones(6), "dist_rich": np.ones(6), "M": M,
            "train_mask": mask, "test_mask": ~mask, "W_kernel": M, "W_rich": M}
    mmeta = {**meta, "options": {**meta["options"], "model": "matrix"}}
    (root / "a_mdist.npz").write_bytes(npz_bytes({**marr, "dist_rich": np.ones(2)}, mmeta))
    (root / "a_mW.npz").write_bytes(npz_bytes({**marr, "W": Wt[:, :3, :]}, mmeta))
    (root / "a_mM.npz").write_bytes(npz_bytes({**marr, "M": np.ones((3, 3))}, mmeta))
    # other files
    (root / "notes.txt").write_text("hello\n")
    (root / "other.csv").write_text("a,b\n1,2\n")


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-input-files")
    make_files(root)
    return root


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------
# The corpus: (args, needle[, setup]). @NAME is a file of make_files, @PORT a closed port. setup creates files in
# the working directory first: "file:NAME" (empty), "dir:NAME", "csv:NAME" (a CSV that is not a sweep), "fifo:NAME"


def _values(flag: str, bad: list[str], before: tuple[str, ...] = ()) -> list[tuple]:
    """One case per bad value of ``flag``; the needle is the value as the user typed it (or '' for empty)."""
    return [([*before, flag, v], v if v.strip() else repr(v)) for v in bad]


NUMBER = ["abc", "nan", "inf", "-inf", "", "1e400", "1,2", "0x1A"]

DIAGONAL = [
    *_values("--n", ["abc", "nan", "inf", "", "-1", "0", "2.5", "1e400", "9e18", "3 4"]),
    *_values("--d", ["abc", "nan", "", "-5", "0", "3.5", "inf"]),
    *_values("--k", ["abc", "0", "-3", "2.5", "nan"]),
    (["--k", "2"], "2"), (["--k", "4", "--task", "sparse-regression"], "4"), (["--k", "20001"], "20001"),
    (["--k", "11", "--d", "10"], "11"),
    *_values("--gamma", ["abc", "-1", "nan", "inf", ""], ("--task", "margin")),
    *_values("--n-test", ["-1", "abc", "1.5", "nan", "inf"]),
    *_values("--seed", ["-1", "abc", "1.5", "1e30", "nan", ""]),
    *_values("--depth", ["1", "0", "7", "100", "2.5", "abc", "nan", ""]),
    *_values("--alpha", ["0", "-3", *NUMBER]),
    *_values("--lam", ["-1", "-1e-300", *NUMBER]),
    *_values("--t-end", ["0", "-1", "abc", "nan", "inf", "", "1e400"]),
    *_values("--rtol", ["0", "1", "-1e-6", "2", "nan", "abc"]),
    *_values("--atol", ["0", "-1", "nan", "inf", "abc"]),
    *_values("--lr", ["0", "-0.1", "nan", "inf", "abc", ""], ("--method", "gd")),
    *_values("--noise", ["-0.5", "nan", "inf", "abc"], ("--method", "label-noise-sgd", "--task", "sparse-regression")),
    *_values("--batch", ["0", "-1", "2.5", "abc", "1000"], ("--method", "label-noise-sgd", "--task",
                                                           "sparse-regression")),
    *_values("--noise-seed", ["-1", "abc", "1.5"], ("--method", "label-noise-sgd", "--task", "sparse-regression")),
    # unknown names
    (["--task", "nope"], "nope"), (["--task", ""], "''"), (["--task", "Sparse"], "Sparse"),
    (["--task", "multiplication"], "multiplication"), (["--task", "modadd"], "modadd"),
    (["--loss", "hinge"], "hinge"), (["--loss", ""], "''"), (["--loss", "Logistic"], "Logistic"),
    (["--loss", "cross_entropy"], "cross_entropy"),
    (["--method", "Euler"], "Euler"), (["--method", ""], "''"), (["--method", "lsoda"], "lsoda"),
    (["--method", "ros2"], "ros2"), (["--formulation", "weird"], "weird"), (["--formulation", ""], "''"),
    (["--formulation", "lifted"], "lifted"),
    (["--model", "nope"], "nope"), (["--model", ""], "''"), (["--model", "Diagonal"], "Diagonal"),
    (["--bogus", "1"], "--bogus"), (["--alhpa", "10"], "--alhpa"), (["--n"], "--n"), (["stray"], "stray"),
    # options of another model
    (["--p", "31"], "--p"), (["--width", "8"], "--width"), (["--frac", "0.5"], "--frac"), (["--rank", "2"], "--rank"),
    (["--p", "abc"], "--p"),
    # options of another task
    (["--gamma", "5"], "--gamma"), (["--gamma", "5", "--task", "sparse-regression"], "--gamma"),
    (["--k", "3", "--task", "margin"], "--k"), (["--loss", "logistic", "--task", "sparse-regression"], "logistic"),
    (["--loss", "exponential", "--task", "sparse-regression"], "exponential"),
    (["--method", "label-noise-sgd"], "label-noise"), (["--method", "label-noise-sgd", "--task", "margin"],
                                                       "label-noise"),
    (["--lam", "0", "--task", "sparse-regression", "--formulation", "full"], "lam"),
    (["--lam", "0", "--loss", "squared", "--method", "gd", "--normalized-lr"], "lam"),
    # options of another method
    (["--lr", "0.1"], "--lr"), (["--lr", "0.1", "--method", "LSODA"], "--lr"), (["--lr", "0.1", "--method", "rkc"],
                                                                                  "--lr"),
    (["--noise", "0.5"], "--noise"), (["--batch", "4"], "--batch"), (["--noise-seed", "3"], "--noise-seed"),
    (["--noise", "0.5", "--method", "gd"], "--noise"), (["--rtol", "1e-3", "--method", "gd"], "--rtol"),
    (["--atol", "1e-6", "--method", "gd"], "--atol"),
    (["--rtol", "1e-3", "--method", "label-noise-sgd", "--task", "sparse-regression"], "--rtol"),
    (["--normalized-lr", "--method", "LSODA"], "--normalized-lr"), (["--normalized-lr"], "--normalized-lr"),
    (["--normalized-lr", "--method", "label-noise-sgd", "--task", "sparse-regression"], "--normalized-lr"),
    (["--formulation", "full", "--method", "gd"], "--formulation"),
    (["--formulation", "reduced", "--method", "label-noise-sgd", "--task", "sparse-regression"], "--formulation"),
    (["--lam", "0", "--method", "gd"], "lam"),
    (["--lam", "0", "--method", "label-noise-sgd", "--task", "sparse-regression", "--noise", "0"], "lam"),
    (["--lam", "0", "--method", "label-noise-sgd", "--task", "sparse-regression", "--depth", "3"], "lam"),
    (["--method", "gd", "--lr", "1e6"], "lr"), (["--method", "gd", "--lr", "50", "--t-end", "10"], "lr"),
    (["--method", "gd", "--lr", "5", "--t-eval", "1,2,3"], "lr"), (["--method", "gd", "--t-end", "1e300"], "1e+300"),
    (["--method", "label-noise-sgd", "--task", "sparse-regression", "--t-end", "1e300"], "1e+300"),
    (["--method", "label-noise-sgd", "--task", "sparse-regression", "--lr", "1", "--t-end", "0.5"], "lr=1"),
    # horizons and save times
    (["--t-end", "1", "--t-eval", "1,2"], "after the horizon"), (["--lam", "1e300"], "lam=1e+300"),
    (["--t-end", "1e-13"], "1e-13"),
    (["--t-eval", "1e-20,1e-15"], "1e-15"),
    *_values("--t-eval", ["", "1,x", "3,2,1", "1,1", "-1,2", "nan", "1,inf", "0", "0,0", "1,,2", "1;2", ",", "1e400",
                          " ", "abc", "[1,2]"]),
    # overflow and sizes that cannot fit
    (["--method", "gd", "--alpha", "1e200"], "1e+200"),
    (["--method", "label-noise-sgd", "--task", "sparse-regression", "--alpha", "1e200"], "1e+200"),
    (["--d", "1e10"], "d=10000000000"), (["--n", "1e12"], "n=1000000000000"), (["--n-test", "1e12"], "memory"),
    (["--task", "margin", "--d", "1e9"], "d=1000000000"), (["--n", "1e6", "--d", "1e6"], "memory"),
    (["--d", "4611686018427387904"], "memory"), (["--formulation", "full", "--d", "5000"], "d=5000"),
    (["--formulation", "full", "--method", "RK45", "--d", "1e9"], "memory"),
    (["--n", "1e7", "--n-test", "0"], "memory"),
    (["--t-eval", ",".join(str(i) for i in range(1, 200001)), "--d", "1e6", "--n", "10"], "memory"),
]

OUTPUTS = [
    (["--out", "r.txt"], "r.txt"), (["--out", "r"], "'r'"), (["--out", ""], "--out"), (["--out", " "], "' '"),
    (["--out", "r.npz"], "r.npz", "file:r.npz"), (["--out", "r.npz"], "r.png", "file:r.png"),
    (["--out", "r.npz", "--json"], "r.npz", "file:r.npz"), (["--out", "d.npz"], "d.npz", "dir:d.npz"),
    (["--out", "f/r.npz"], "'f'", "file:f"), (["--out", "f/sub/r.npz"], "'f'", "file:f"),
    (["--out", "/proc/grokode-bad-input.npz"], "/proc"), (["--out", "/proc/grokode-bad-input/r.npz"], "/proc"),
    (["--out", "/sys/grokode-bad-input.npz"], "/sys"),
    (["--out", "a" * 300 + ".npz"], "aaaa"), (["--out", "r\0.npz"], "r\\x00.npz"),
    (["--out", "r.npz", "--plot", "r.npz"], "r.npz"),
    (["--plot", "p.txt"], "p.txt"), (["--plot", "p.npz"], "p.npz"), (["--plot", "p"], "'p'"),
    (["--plot", ""], "--plot"),
    (["--plot", "p.png", "--no-plot"], "--no-plot"), (["--plot", "p.png"], "p.png", "file:p.png"),
    (["--plot", "p.png"], "p.png", "dir:p.png"), (["--plot", "f/p.png"], "'f'", "file:f"),
    (["--out", "r.npz", "--plot", "r.png"], "r.png", "file:r.png"), (["--force"], "--force"),
    (["--force", "--no-plot"], "--force"),
]

DATA = [
    (["--data", "@missing.npz"], "missing.npz"), (["--data", "@dir.npz"], "dir.npz"), (["--data", "@empty.npz"],
                                                                                          "empty.npz"),
    (["--data", "@text.npz"], "text.npz"), (["--data", "@trunc.npz"], "trunc.npz"),
    (["--data", "@trunc_tail.npz"], "trunc_tail.npz"), (["--data", "@npy.npz"], "npy.npz"),
    (["--data", "@pickle.npz"], "pickle.npz"), (["--data", "@pickled_obj.npz"], "pickled_obj.npz"),
    (["--data", "@nox.npz"], "'X'"), (["--data", "@noy.npz"], "'y'"), (["--data", "@nothing.npz"], "'X'"),
    (["--data", "@x1d.npz"], "x1d.npz"), (["--data", "@x3d.npz"], "x3d.npz"), (["--data", "@y2d.npz"], "y2d.npz"),
    (["--data", "@ylen.npz"], "ylen.npz"), (["--data", "@xtest_only.npz"], "y_test"),
    (["--data", "@ytest_only.npz"], "X_test"), (["--data", "@xtest_cols.npz"], "xtest_cols.npz"),
    (["--data", "@ytest_len.npz"], "ytest_len.npz"), (["--data", "@nan_x.npz"], "nan_x.npz"),
    (["--data", "@inf_y.npz", "--loss", "squared"], "inf_y.npz"), (["--data", "@nan_xtest.npz"], "nan_xtest.npz"),
    (["--data", "@labels01.npz"], "y[1] = 0.0"), (["--data", "@labels2.npz", "--loss", "exponential"], "y[5] = 2.0"),
    (["--data", "@labels_test.npz"], "y_test[1] = 0.5"), (["--data", "@huge.npz"], "huge.npz"),
    (["--data", "@huge_y.npz"], "huge_y.npz"), (["--data", "@negshape.npz"], "negshape.npz"),
    (["--data", "@short.npz"], "short.npz"), (["--data", "@badheader.npz"], "badheader.npz"),
    (["--data", "@crc.npz"], "crc.npz"), (["--data", "@strx.npz"], "strx.npz"),
    (["--data", "@complexx.npz"], "complexx.npz"), (["--data", "@datex.npz"], "datex.npz"),
    (["--data", "@stry.npz"], "stry.npz"), (["--data", "@emptyx.npz"], "emptyx.npz"),
    (["--data", "@nocols.npz"], "nocols.npz"), (["--data", "@fifo.npz"], "fifo.npz"), (["--data", "@zero.npz"],
                                                                                     "zero.npz"),
    (["--data", "@loop.npz"], "loop.npz"), (["--data", ""], "''"), (["--data", "@notes.txt"], "notes.txt"),
    (["--data", "@mgood.npz"], "'X'"),
    (["--data", "@good.npz", "--n", "5"], "--n"), (["--data", "@good.npz", "--d", "5"], "--d"),
    (["--data", "@good.npz", "--task", "sparse"], "--task"), (["--data", "@good.npz", "--k", "3"], "--k"),
    (["--data", "@good.npz", "--seed", "1"], "--seed"), (["--data", "@good.npz", "--gamma", "1"], "--gamma"),
    (["--data", "@good.npz", "--n-test", "10"], "--n-test"),
    (["--data", "@goodreg.npz"], "y[1] = -0.6"),
    (["--data", "@goodreg.npz", "--loss", "squared", "--method", "label-noise-sgd", "--batch", "7"], "batch"),
]

MATRIX = [(["--model", "matrix", *args], needle, *rest) for args, needle, *rest in [
    *_values("--d", ["1", "0", "-4", "2.5", "abc", "nan", ""]),
    *_values("--frac", ["0", "1", "1.5", "-0.2", "nan", "abc", ""]),
    (["--frac", "1e-9"], "1e-09"), (["--frac", "0.9999"], "0.9999"),
    *_values("--rank", ["0", "-1", "abc", "1.5"], ("--task", "lowrank")),
    (["--rank", "50", "--task", "lowrank"], "50"), (["--rank", "2"], "--rank"),
    *_values("--lam", ["0", "-1", "nan", "inf", "abc"]),
    *_values("--alpha", ["0", "-1", "nan", "abc"]), (["--alpha", "1e200"], "1e+200"),
    (["--task", "sparse"], "sparse"), (["--task", "modadd"], "modadd"), (["--method", "gd"], "gd"),
    (["--method", "label-noise-sgd"], "label-noise-sgd"),
    (["--k", "3"], "--k"), (["--n", "10"], "--n"), (["--gamma", "1"], "--gamma"), (["--loss", "squared"], "--loss"),
    (["--depth", "3"], "--depth"), (["--formulation", "full"], "--formulation"), (["--lr", "0.1"], "--lr"),
    (["--normalized-lr"], "--normalized-lr"), (["--noise", "0.1"], "--noise"), (["--batch", "2"], "--batch"),
    (["--p", "7"], "--p"), (["--width", "8"], "--width"), (["--n-test", "5"], "--n-test"),
    (["--t-end", "0"], "'0'"), (["--t-end", "1", "--t-eval", "1,2"], "after the horizon"), (["--t-eval", "2,1"], "2,1"),
    (["--rtol", "2"], "'2'"), (["--atol", "0"], "'0'"), (["--lam", "1e300"], "lam=1e+300"),
    (["--t-end", "1e-14"], "1e-14"),
    (["--d", "1e6"], "d=1000000"), (["--method", "BDF", "--d", "200"], "memory"),
    (["--data", "@missing.npz"], "missing.npz"), (["--data", "@m_nonsquare.npz"], "m_nonsquare.npz"),
    (["--data", "@m_nosym.npz"], "symmetric"), (["--data", "@m_noobs.npz"], "train_mask"),
    (["--data", "@m_allobs.npz"], "test_mask"), (["--data", "@m_testempty.npz"], "test_mask"),
    (["--data", "@m_nan.npz"], "m_nan.npz"), (["--data", "@m_noM.npz"], "'M'"),
    (["--data", "@m_nomask.npz"], "'train_mask'"), (["--data", "@m_maskshape.npz"], "m_maskshape.npz"),
    (["--data", "@m_mask2.npz"], "m_mask2.npz"), (["--data", "@m_d1.npz"], "m_d1.npz"),
    (["--data", "@m_str.npz"], "m_str.npz"), (["--data", "@m_3d.npz"], "m_3d.npz"),
    (["--data", "@m_huge.npz"], "m_huge.npz"), (["--data", "@good.npz"], "'M'"), (["--data", "@text.npz"], "text.npz"),
    (["--data", "@fifo.npz"], "fifo.npz"),
    (["--data", "@mgood.npz", "--d", "4"], "--d"), (["--data", "@mgood.npz", "--task", "lowrank"], "--task"),
    (["--data", "@mgood.npz", "--frac", "0.5"], "--frac"), (["--data", "@mgood.npz", "--seed", "2"], "--seed"),
]]

MLP = [(["--model", "mlp", *args], needle, *rest) for args, needle, *rest in [
    *_values("--p", ["1", "0", "-7", "2.5", "abc", "nan", ""]),
    *_values("--width", ["0", "-3", "1.5", "abc", "inf"]),
    *_values("--frac", ["0", "1", "2", "nan", "abc"]), (["--frac", "0.0001"], "0.0001"), (["--frac", "0.9999"],
                                                                                         "0.9999"),
    *_values("--lam", ["-1", "nan", "abc"]), *_values("--alpha", ["0", "-4", "inf", "abc"]),
    *_values("--seed", ["-1", "2.5"]), *_values("--lr", ["0", "-0.1", "nan"], ("--method", "gd")),
    (["--task", "sparse"], "sparse"), (["--task", "multiplication"], "multiplication"),
    (["--method", "label-noise-sgd"], "label-noise-sgd"), (["--method", "ros2"], "ros2"),
    (["--method", "Euler"], "Euler"),
    (["--data", "@good.npz"], "--data"), (["--d", "10"], "--d"), (["--n", "5"], "--n"), (["--k", "3"], "--k"),
    (["--loss", "logistic"], "--loss"), (["--depth", "3"], "--depth"), (["--formulation", "full"], "--formulation"),
    (["--noise", "0.1"], "--noise"), (["--batch", "2"], "--batch"), (["--rank", "2"], "--rank"),
    (["--gamma", "1"], "--gamma"), (["--n-test", "10"], "--n-test"),
    (["--method", "rkc", "--lr", "0.1"], "--lr"), (["--method", "RK45", "--normalized-lr"], "--normalized-lr"),
    (["--method", "gd", "--rtol", "1e-3"], "--rtol"), (["--atol", "1e-6"], "--atol"), (["--rtol", "1e-4"], "--rtol"),
    (["--lam", "0", "--method", "gd"], "lam"), (["--t-end", "1", "--t-eval", "1,2"], "after the horizon"),
    (["--t-end", "-5"], "-5"), (["--t-eval", "5,4"], "5,4"), (["--method", "gd", "--lr", "1e5"], "lr"),
    (["--t-end", "1e300"], "1e+300"), (["--method", "gd", "--lr", "1e-300"], "1e-300"),
    (["--lam", "1e300", "--method", "RK45"], "lam=1e+300"), (["--alpha", "1e160"], "alpha=1e+160"),
    (["--alpha", "1e300", "--method", "RK45"], "alpha=1e+300"),
    (["--p", "1e6"], "p=1000000"), (["--width", "1e9"], "width=1000000000"), (["--p", "1000", "--width", "1e5"],
                                                                              "memory"),
]]

DERIVE = [
    (["derive", "banana"], "banana"), (["derive", ""], "''"), (["derive", "Diagonal"], "Diagonal"),
    (["derive"], "'model'"),
    *[(["derive", "diagonal", "--depth", v], v if v else "''") for v in ("1", "0", "7", "abc", "nan", "2.5", "", "-2")],
    (["derive", "diagonal", "--loss", "hinge"], "hinge"), (["derive", "diagonal", "--loss", ""], "''"),
    (["derive", "diagonal", "--format", "html"], "html"), (["derive", "diagonal", "--format", ""], "''"),
    (["derive", "matrix", "--depth", "3"], "--depth"), (["derive", "matrix", "--loss", "logistic"], "--loss"),
    (["derive", "mlp", "--loss", "squared"], "--loss"), (["derive", "mlp", "--depth", "2"], "--depth"),
    (["derive", "diagonal", "--alpha", "3"], "--alpha"), (["derive", "diagonal", "--p", "3"], "--p"),
    (["derive", "diagonal", "extra"], "extra"), (["derive", "banana", "--depth", "3"], "banana"),
]

ANALYZE = [
    *[(["analyze", f"@{name}.npz"], f"{name}.npz") for name in (
        "missing", "a_dir", "a_empty", "a_text", "a_trunc", "a_npy", "a_nometa", "a_metanotjson", "a_metalist",
        "a_metanum", "a_metabytes", "a_meta2", "a_noopts", "a_nosummary", "a_optslist", "a_summarylist", "a_alpha_nan",
        "a_alpha_str", "a_alpha_neg", "a_alpha_zero", "a_lam_neg", "a_noalpha", "a_ttrans_str", "a_ttheory_str",
        "a_ttheory_neg", "a_treached_str", "a_ttrans_inf", "a_not", "a_t2d", "a_tnan", "a_tdecr", "a_tstr", "a_wrows",
        "a_w1d", "a_coslen", "a_cos2d", "a_wklen", "a_acclen", "a_normstr", "a_nocos", "a_pickle", "a_huge", "a_mdist",
        "a_mW", "a_mM", "fifo", "zero", "loop", "trunc", "good")],
    (["analyze", "@a_tnan.npz", "--json"], "a_tnan.npz"), (["analyze", "@run.npz", "@a_wrows.npz"], "a_wrows.npz"),
    (["analyze"], "'runs'"), (["analyze", ""], "''"),
    *[(["analyze", "@run.npz", "--c", v], v if v else "--c") for v in ("0", "1", "-0.5", "1.5", "nan", "inf", "abc",
                                                                          "")],
    (["analyze", "@run.npz", "--plot", "p.txt"], "p.txt"), (["analyze", "@run.npz", "--plot", "p"], "'p'"),
    (["analyze", "@run.npz", "--plot", ""], "--plot"), (["analyze", "@run.npz", "--plot", "p.png"], "p.png",
                                                        "file:p.png"),
    (["analyze", "@run.npz", "--plot", "p.png"], "p.png", "dir:p.png"),
    (["analyze", "@run.npz", "--plot", "f/p.png"], "'f'", "file:f"),
    (["analyze", "@run.npz", "--plot", "/proc/grokode-bad-input.png"], "/proc"),
    (["analyze", "@mlp1.npz", "@mlp2.npz"], "mlp1.npz"), (["analyze", "@run.npz", "@mlp1.npz"], "mlp1.npz"),
    (["analyze", "@run.npz", "@run.npz"], "α"), (["analyze", "@run.npz", "@a_mdist.npz"], "a_mdist.npz"),
    (["analyze", "@run.npz", "--bogus"], "--bogus"), (["analyze", "@run.npz", "--force"], "--force"),
]

SWEEP = [(["sweep", *args], needle, *rest) for args, needle, *rest in [
    (["--alpha", "1e2:1e8"], "1e2:1e8"), (["--alpha", "1e2:x:3"], "1e2:x:3"), (["--alpha", "0:1e3:3"], "0:1e3:3"),
    (["--alpha", "1e2:1e3:0"], "1e2:1e3:0"), (["--alpha", "1e2:1e3:-3"], "1e2:1e3:-3"),
    (["--alpha", "1e2:1e3:3.5"], "1e2:1e3:3.5"), (["--alpha", "nan:1e3:3"], "nan:1e3:3"),
    (["--alpha", "1e400:1e500:2"], "1e400"), (["--alpha", "1:10:1000000000"], "1000000000"),
    (["--alpha", ""], "--alpha"), (["--alpha", "abc"], "abc"), (["--alpha", "1e3,1e3"], "twice"),
    (["--alpha", "10:10:2"], "twice"), (["--alpha", "1e3,,1e4"], "1e3,,1e4"), (["--alpha", "1e3;1e4"], "1e3;1e4"),
    (["--alpha", "1:2:3:4"], "1:2:3:4"), (["--alpha", "inf"], "inf"),
    (["--lam", "x"], "'x'"), (["--lam", ""], "--lam"), (["--lam", "1e-3,nan"], "nan"), (["--lam", "0.001,1e-3"],
                                                                                       "twice"),
    (["--lam", "1e-3:1e-4"], "1e-3:1e-4"),
    (["--seeds", "-2"], "-2"), (["--seeds", "a"], "'a'"), (["--seeds", ""], "--seeds"), (["--seeds", "1,1"], "twice"),
    (["--seeds", "3:1"], "3:1"), (["--seeds", "1.5"], "1.5"), (["--seeds", "0:x"], "0:x"),
    (["--seeds", " , "], "--seeds"),
    (["--seeds", "0:100000000"], "0:100000000"), (["--seeds", "0:1:2"], "0:1:2"),
    (["--seeds", "0,1", "--data", "@good.npz"], "--seeds"), (["--seed", "3"], "--seed"),
    (["--alpha", "1:1000:1000", "--lam", "1:1000:1000", "--seeds", "0:999"], "points"),
    (["--workers", "0"], "workers"), (["--workers", "-1"], "workers"), (["--workers", "abc"], "abc"),
    (["--workers", "1000000"], "1000000"), (["--workers", "2", "--scheduler", "tcp://127.0.0.1:@PORT"], "--workers"),
    (["--scheduler", "tcp://127.0.0.1:@PORT"], "127.0.0.1"), (["--scheduler", "nonsense"], "nonsense"),
    (["--scheduler", ""], "--scheduler"), (["--scheduler", "tcp://127.0.0.1:notaport"], "notaport"),
    (["--scheduler", "tcp://127.0.0.1:99999"], "99999"),
    (["--retries", "-1"], "retries"), (["--retries", "abc"], "abc"),
    (["--out", "s.txt"], "s.txt"), (["--out", ""], "''"), (["--out", "s.csv"], "s.csv", "dir:s.csv"),
    (["--out", "f/s.csv"], "'f'", "file:f"), (["--out", "other.csv"], "other.csv", "csv:other.csv"),
    (["--out", "/proc/grokode-bad-input.csv"], "/proc"), (["--out", "s.npz"], "s.npz"),
    (["--out", "s.csv"], "s.csv", "fifo:s.csv"), (["--out", "s.parquet"], "s.parquet", "csv:s.parquet"),
    (["--keep-runs", "kr"], "kr", "file:kr"), (["--keep-runs", ""], "--keep-runs"),
    (["--keep-runs", "f/sub"], "'f'", "file:f"), (["--keep-runs", "/proc/grokode-bad-input"], "/proc"),
    (["--plot", "p.txt"], "p.txt"), (["--plot", "p.png", "--no-plot"], "--no-plot"), (["--plot", ""], "--plot"),
    (["--plot", "p.png"], "p.png", "dir:p.png"), (["--plot", "f/p.png"], "'f'", "file:f"),
    (["--method", "Euler"], "Euler"), (["--task", "nope"], "nope"), (["--model", "nope"], "nope"),
    (["--d", "0"], "'0'"), (["--n", "abc"], "abc"), (["--model", "matrix", "--k", "3"], "--k"),
    (["--model", "mlp", "--data", "@good.npz"], "--data"), (["--model", "mlp", "--loss", "logistic"], "--loss"),
    (["--model", "matrix", "--lr", "0.1"], "--lr"), (["--lr", "0.1"], "--lr"), (["--gamma", "5"], "--gamma"),
    (["--t-end", "1", "--t-eval", "1,2"], "after the horizon"), (["--force", "--no-plot"], "--force"),
    (["--d", "1e10"], "d=10000000000"), (["--model", "mlp", "--width", "1e9"], "width=1000000000"),
    (["--model", "matrix", "--d", "1e6"], "d=1000000"),
    (["--data", "@missing.npz"], "missing.npz"), (["--data", "@nan_x.npz"], "nan_x.npz"),
    (["--data", "@labels01.npz"], "y[1] = 0.0"), (["--data", "@fifo.npz"], "fifo.npz"),
    (["--json", "--alpha", "x"], "'x'"),
]]

CORPUS = ([(["integrate", *args], needle, *rest) for args, needle, *rest in DIAGONAL + OUTPUTS + DATA + MATRIX + MLP]
          + DERIVE + ANALYZE + SWEEP)


def _id(case) -> str:
    text = " ".join(a if len(a) < 40 else a[:20] + "…" for a in case[0]) + (f" [{case[2]}]" if len(case) > 2 else "")
    return text.replace("\0", "\\0") or "''"


# ----------------------------------------------------------------------------------------------------
# Running one case


class ComputationStarted(BaseException):  # noqa: N818 - not an error of the code under test: a guard
    """Raised by a guard: the command got past its checks into the computation."""


GUARDS = {
    "grokode.pipeline.run_model": "integration",
    "grokode.sweep.orchestrate._client": "Dask cluster",
    "grokode.analytic.derive_model": "derivation",
    "grokode.analysis.plots.save_figure": "figure",
}


def install_guards(monkeypatch) -> None:
    for target, what in GUARDS.items():
        def guard(*args, _what=what, **kwargs):
            raise ComputationStarted(_what, args, kwargs)

        monkeypatch.setattr(target, guard)


def expand(args: list[str], files: Path, port: int) -> list[str]:
    return [str(files / a[1:].replace("@PORT", str(port))) if a.startswith("@")
            else a.replace("@PORT", str(port)) for a in args]


def setup_cwd(cwd: Path, spec: str | None, files: Path) -> None:
    if spec is None:
        return
    kind, _, name = spec.partition(":")
    target = cwd / name
    if kind == "file":
        target.write_bytes(b"")
    elif kind == "dir":
        target.mkdir()
    elif kind == "csv":
        target.write_text((files / "other.csv").read_text())
    elif kind == "fifo":
        os.mkfifo(target)
    else:  # pragma: no cover - a typo in the table
        raise ValueError(spec)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def changes(before: dict, after: dict) -> list[str]:
    """Files created, replaced or modified (an overwritten output counts as much as a new one)."""
    return sorted(k for k in after if before.get(k) != after[k])


def call_main(args: list[str]) -> tuple[object, BaseException | None]:
    """(exit code, None) or (None, the exception that escaped main)."""
    from grokode.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code, None
    except BaseException as exc:  # noqa: BLE001 - a traceback is what the corpus looks for
        return None, exc
    return 0, None


def verdict(code, escaped: BaseException | None, out: str, err: str, needle: str, created: list[str]) -> str:
    """"handled" when the promise is kept, else what went wrong."""
    if isinstance(escaped, ComputationStarted):
        return "computation started"
    if escaped is not None or "Traceback" in err:
        return "traceback"
    if code in (0, None):
        return "silently ignored"
    if code != 2:
        return "wrong exit code"
    lines = err.strip("\n").splitlines()
    if (len(lines) != 1 or not lines[0].startswith("grokode: error: ") or needle not in lines[0] or out.strip()
            or created):
        return "bad message"
    return "handled"


@pytest.mark.parametrize("case", CORPUS, ids=[_id(c) for c in CORPUS])
def test_bad_input_is_one_line_exit_2_before_any_computation(case, files, tmp_path, monkeypatch, capsys):
    args, needle, *rest = case
    monkeypatch.chdir(tmp_path)
    setup_cwd(tmp_path, rest[0] if rest else None, files)
    install_guards(monkeypatch)
    before = snapshot(tmp_path)
    code, escaped = call_main(expand(args, files, closed_port()))
    captured = capsys.readouterr()
    created = changes(before, snapshot(tmp_path))
    outcome = verdict(code, escaped, captured.out, captured.err, needle, created)
    assert outcome == "handled", (f"{outcome}: exit {code}, escaped {escaped!r}, stderr {captured.err!r}, "
                                  f"stdout {captured.out[:200]!r}, new or changed files {created}")


# ----------------------------------------------------------------------------------------------------
# The good twins: each bad file differs from an accepted one, so a case fails for its own reason


def test_the_good_files_are_accepted(files, tmp_path, monkeypatch, capsys):
    from grokode import pipeline

    diag = pipeline.build("diagonal", data=str(files / "good.npz"))
    assert diag.config["loss"] == "logistic" and diag._data_shape() == (6, 5)
    assert pipeline.build("diagonal", data=str(files / "goodreg.npz"), loss="squared")._data_shape() == (6, 5)
    assert pipeline.build("matrix", data=str(files / "mgood.npz")).config["d"] == 4
    monkeypatch.chdir(tmp_path)
    code, escaped = call_main(["analyze", str(files / "run.npz"), "--json"])
    out = capsys.readouterr().out
    assert (code, escaped) == (0, None)
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert report["alpha"] == 100.0 and report["t_transition"] == 450.0
    code, escaped = call_main(["analyze", str(files / "mlp1.npz"), "--json"])
    assert (code, escaped) == (0, None) and json.loads(capsys.readouterr().out)["test_final"] == 0.9


def test_analyze_json_is_strict_when_the_run_has_nan(files, tmp_path, monkeypatch, capsys):
    """Non-separable data give NaN cosines: ``--json`` writes them as null, never as bare NaN."""
    arrays = _run_arrays()
    arrays["cos_rich"] = np.full(6, np.nan)
    (tmp_path / "nan.npz").write_bytes(npz_bytes(arrays, _run_meta(t_transition=None)))
    monkeypatch.chdir(tmp_path)
    assert call_main(["analyze", "nan.npz", "--json"]) == (0, None)
    report = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert report["cos_rich_at_Tplus"] is None and report["cos_kernel_at_Tminus"] is not None


# ----------------------------------------------------------------------------------------------------
# Unwritable directories: root writes anywhere the file system allows, a normal user does not


def test_an_unwritable_directory_is_refused_for_a_normal_user(tmp_path_factory, monkeypatch, capsys):
    """A directory without write permission is refused before anything runs; root (who may write there) is not
    refused, and is checked as the user ``nobody`` (effective uid 65534, the id the kernel checks on create)."""
    from grokode.files import check_output_path

    base = tmp_path_factory.mktemp("unwritable")
    base.chmod(0o755)  # traversable by nobody
    ro = base / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.chdir(base)
    install_guards(monkeypatch)
    root = os.geteuid() == 0
    if root:
        assert check_output_path(ro / "r.npz", (".npz",), force=False, what="output file") == ro / "r.npz"
        os.seteuid(65534)
    try:
        code, escaped = call_main(["integrate", "--out", "ro/r.npz", "--no-plot"])
    finally:
        if root:
            os.seteuid(0)
    err = capsys.readouterr().err
    assert (code, escaped) == (2, None) and "directory 'ro' is not writable" in err and len(err.splitlines()) == 1
    assert list(ro.iterdir()) == []


# ----------------------------------------------------------------------------------------------------
# The installed entry point behaves the same


SUBPROCESS_CASES = [
    (["integrate", "--alpha", "nan"], "nan"), (["integrate", "--model", "mlp", "--loss", "logistic"], "--loss"),
    (["integrate", "--data", "@nan_x.npz"], "nan_x.npz"), (["integrate", "--out", "r.txt"], "r.txt"),
    (["analyze", "@a_metanotjson.npz", "--json"], "a_metanotjson.npz"), (["derive", "diagonal", "--depth", "9"], "9"),
    (["sweep", "--seeds", "1,1"], "twice"), (["integrate", "--data", "@fifo.npz"], "fifo.npz"),
]


@pytest.mark.parametrize("args,needle", SUBPROCESS_CASES, ids=[" ".join(a) for a, _ in SUBPROCESS_CASES])
def test_the_installed_command_behaves_the_same(args, needle, files, tmp_path):
    res = subprocess.run([sys.executable, "-m", "grokode", *expand(args, files, 0)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and res.stdout == "", res.stderr
    assert len(lines) == 1 and lines[0].startswith("grokode: error: ") and needle in lines[0], res.stderr
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------------
# Tally (outside pytest): python tests/interfaces/test_bad_inputs.py


def _late_or_ignored(escaped: ComputationStarted) -> str:
    """For an integrate case that reached the integration: would the run have failed later (a check that fires
    late: "computation started") or gone on with the bad input ("silently ignored")? Decided in a forked child
    (memory-limited) that runs the model's prepare(), where late checks live."""
    what, args, _ = escaped.args
    if what != "integration":
        return "computation started"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        import resource

        from grokode.errors import InputError

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        try:
            args[0].prepare()
            os._exit(0)
        except InputError:
            os._exit(3)
        except BaseException:  # noqa: BLE001
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    return "silently ignored" if os.waitstatus_to_exitcode(status) == 0 else "computation started"


def tally() -> dict[str, list[str]]:  # pragma: no cover - a report, not a test
    import resource
    import signal
    import tempfile

    class Hang(BaseException):  # noqa: N818
        pass

    def alarm(*_):
        raise Hang("no answer within 30 s")

    signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    outcomes: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        make_files(files)
        for k, case in enumerate(CORPUS):
            args, needle, *rest = case
            cwd = Path(tmp) / f"case{k}"
            cwd.mkdir()
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(cwd)
                setup_cwd(cwd, rest[0] if rest else None, files)
                install_guards(mp)
                before = snapshot(cwd)
                out, err = io.StringIO(), io.StringIO()
                signal.alarm(30)
                try:
                    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                        code, escaped = call_main(expand(args, files, closed_port()))
                finally:
                    signal.alarm(0)
                created = changes(before, snapshot(cwd))
                outcome = verdict(code, escaped, out.getvalue(), err.getvalue(), needle, created)
                if outcome == "computation started":
                    outcome = _late_or_ignored(escaped)
                if isinstance(escaped, Hang):
                    outcome = "traceback"
            detail = f"{_id(case)}  →  exit {code}, {escaped!r:.80}, {err.getvalue().strip()[:160]!r}"
            outcomes.setdefault(outcome, []).append(detail)
    return outcomes


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    result = tally()
    by_command = {cmd: sum(1 for args, *_ in CORPUS if args[0] == cmd) for cmd in ("integrate", "derive", "analyze",
                                                                                  "sweep")}
    print(f"corpus: {len(CORPUS)} cases {by_command}")
    for outcome in ("handled", "traceback", "wrong exit code", "silently ignored", "computation started",
                    "bad message"):
        print(f"{outcome:>20}: {len(result.get(outcome, []))}")
    verbose = "-v" in sys.argv
    for outcome, details in result.items():
        if outcome != "handled" or verbose:
            print(f"\n== {outcome} ==")
            print("\n".join(details))
