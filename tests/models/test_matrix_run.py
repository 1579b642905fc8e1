"""Matrix derivation vs docs/math.md#matrix, the matrix run (groks, arrays complete, kernel regime), and the CLI."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from grokode.analytic import derive_model, render
from grokode.analytic.matrix import MATRIX_LOCALS
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.matrix import MatrixFlow
from grokode.pipeline import integrate
from grokode.result import load_run
from grokode.tasks.matrix import make_matrix_task


def cli_in_process(argv, capsys):
    from grokode.cli import main
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def grokode(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "grokode", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.fixture(scope="module")
def derivation():
    return derive_model("matrix")


@pytest.fixture(scope="module")
def derivation_json(derivation):
    return json.loads(render(derivation, "json"))


def _numeric(text, values):
    """Evaluate a parsed matrix expression with explicit numeric matrices."""
    expr = sp.sympify(text, locals=MATRIX_LOCALS)
    subs = {MATRIX_LOCALS[k]: sp.Matrix(v) if isinstance(v, np.ndarray) else v for k, v in values.items()}
    return np.array(sp.Matrix(expr.subs(subs).doit()), dtype=float)


def test_derivation_matches_math_md(derivation_json):
    obj = derivation_json
    assert set(obj) >= {"model", "homogeneity", "output", "flow", "lifted_flow", "ntk_feature", "kernel",
                        "kernel_predictor"}
    assert obj["model"] == "matrix" and obj["homogeneity"] == 2
    rng = np.random.default_rng(0)
    n = 4
    Um, Vm, Em = (rng.standard_normal((n, n)) for _ in range(3))
    Pm, Qm = Um @ Um.T, Vm @ Vm.T
    lam, N = 0.37, 7
    Rm = 2.0 / N * (Em + Em.T)  # MATH.md: R = (2/N)(E + Eᵀ)
    vals = {"U": Um, "V": Vm, "E": Em, "P": Pm, "Q": Qm, "lam": lam, "N": N, "d": n}
    np.testing.assert_allclose(_numeric(obj["output"], vals), Um @ Um.T - Vm @ Vm.T, atol=1e-12)
    np.testing.assert_allclose(_numeric(obj["flow"]["R"], vals), Rm, atol=1e-12)
    vals["R"] = Rm
    np.testing.assert_allclose(_numeric(obj["flow"]["U"], vals), -Rm @ Um - lam * Um, atol=1e-12)
    np.testing.assert_allclose(_numeric(obj["flow"]["V"], vals), Rm @ Vm - lam * Vm, atol=1e-12)
    np.testing.assert_allclose(_numeric(obj["lifted_flow"]["P"], vals), -(Rm @ Pm + Pm @ Rm) - 2 * lam * Pm,
                               atol=1e-10)
    np.testing.assert_allclose(_numeric(obj["lifted_flow"]["Q"], vals), (Rm @ Qm + Qm @ Rm) - 2 * lam * Qm,
                               atol=1e-10)
    # NTK feature at (I, I): φ(i,j) = (E_ij + E_ji, −(E_ij + E_ji)); kernel = ⟨φ(i,j), φ(k,l)⟩
    phi_u, phi_v, kern = (sp.sympify(obj[key][sub] if sub else obj[key]) for key, sub in (
        ("ntk_feature", "U"), ("ntk_feature", "V"), ("kernel", None)))
    i, j, k, l, a, b = sp.symbols("i j k l a b")  # sympify makes plain symbols

    def unit(p, q):
        m = np.zeros((n, n))
        m[p, q] += 1
        m[q, p] += 1
        return m

    for p, q in [(0, 1), (2, 2), (3, 0)]:
        fu = np.array([[float(phi_u.subs({i: p, j: q, a: x, b: y})) for y in range(n)] for x in range(n)])
        fv = np.array([[float(phi_v.subs({i: p, j: q, a: x, b: y})) for y in range(n)] for x in range(n)])
        np.testing.assert_array_equal(fu, unit(p, q))
        np.testing.assert_array_equal(fv, -unit(p, q))
        for r, s in [(0, 1), (1, 0), (2, 2), (3, 1)]:
            want = 2 * np.sum(unit(p, q) * unit(r, s))
            assert float(kern.subs({i: p, j: q, k: r, l: s})) == want
    assert sp.sympify(obj["kernel_predictor"]["neither observed"]) == 0
    assert obj["kernel_predictor"]["(i,j) or (j,i) observed"] == "M[i, j]"  # also where only (j, i) is observed


def test_kernel_predictor_is_w_at_t_minus():
    # Kernel regime: W((1 − c) ln α / λ) → kernel predictor as α grows (Thm 3.9, Cor. 3.11); c = 1/2.
    task = make_matrix_task("multiplication", d=8, frac=0.4, seed=2)
    from grokode.analysis.nuclear import kernel_completion
    K = kernel_completion(task.M, task.train_mask)
    lam, dists = 1e-2, []
    for alpha in (10.0, 100.0, 1000.0):
        t_minus = 0.5 * math.log(alpha) / lam
        flow = MatrixFlow(task.M, task.train_mask, alpha=alpha, lam=lam)
        sol = integrate_flow(flow, np.array([t_minus]), method="rkc", rtol=1e-8, atol=1e-11)
        W = sol.weights.reshape(8, 8)
        dists.append(np.linalg.norm(W - K) / np.linalg.norm(K))
    assert dists[-1] < 1e-2, dists
    assert dists[0] > dists[1] > dists[2], dists


def test_small_run_groks_and_is_complete(tmp_path):
    run = integrate(model="matrix", d=14, frac=0.4, alpha=100.0, lam=1e-2)
    a, s = run.arrays, run.summary
    T, d = a["t"].size, 14
    assert a["W"].shape == (T, d, d)
    for key in ("train_loss", "test_loss", "param_norm", "nuclear_norm", "dist_kernel", "dist_rich"):
        assert a[key].shape == (T,) and np.all(np.isfinite(a[key])), key
    assert s["status"] == "ok" and s["transition_metric"] == "log10_test_loss"
    assert s["test_plateau"] / s["test_final"] >= 10
    assert 0.5 * s["t_theory"] < s["t_transition"] < 2.5 * s["t_theory"]
    # test_loss is the MSE over the unobserved entries, computed independently here
    W = a["W"][-1]
    assert a["test_loss"][-1] == pytest.approx(np.mean((W - a["M"])[~a["train_mask"]] ** 2), rel=1e-12)
    # near the kernel predictor before the transition, near the nuclear-norm completion after it
    early = np.searchsorted(a["t"], 0.5 * s["t_theory"])
    assert a["dist_kernel"][early] < 0.1 and a["dist_rich"][-1] < 0.2 < a["dist_rich"][early]
    assert a["param_norm"][0] == pytest.approx(100.0 * math.sqrt(2 * d), rel=1e-3)
    path = run.save(tmp_path / "m.npz")
    loaded = load_run(path)
    arrays, meta = loaded.arrays, loaded.meta
    assert arrays["W"].shape == (T, d, d) and meta["options"]["model"] == "matrix"


def test_cli_matrix_json_and_data(tmp_path):
    task = make_matrix_task("lowrank", d=10, frac=0.5, rank=1, seed=0)
    np.savez(tmp_path / "mine.npz", M=task.M, train_mask=task.train_mask)
    res = grokode("integrate", "--model", "matrix", "--data", "mine.npz", "--lam", "0.01", "--json", "--no-plot",
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "ok" and summary["test_final"] < summary["test_plateau"]
    assert (tmp_path / summary["out"]).is_file()


@pytest.mark.parametrize("case,needle", [
    ("nonsquare", "square"), ("asym", "symmetric"), ("mismatch", "shape"), ("empty", "empty"), ("nan", "nan"),
])
def test_cli_bad_matrix_data(tmp_path, case, needle, capsys):
    M = np.outer(np.arange(5.0), np.arange(5.0))
    mask = np.eye(5, dtype=bool)
    if case == "nonsquare":
        M = np.ones((5, 4))
    elif case == "asym":
        M[0, 3] += 1
    elif case == "mismatch":
        mask = np.ones((4, 4), bool)
    elif case == "empty":
        mask[:] = False
    elif case == "nan":
        M[1, 1] = np.nan
    np.savez(tmp_path / "bad.npz", M=M, train_mask=mask)
    code, _, err = cli_in_process(["integrate", "--model", "matrix", "--data", str(tmp_path / "bad.npz")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


@pytest.mark.parametrize("args,needle", [
    (["--task", "sparse"], "sparse"), (["--frac", "1.5"], "1.5"), (["--d", "1"], "d"),
    (["--task", "lowrank", "--rank", "40"], "rank"),
])
def test_cli_bad_matrix_options(args, needle, capsys):
    code, _, err = cli_in_process(["integrate", "--model", "matrix", *args], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_cli_bad_input_subprocess(tmp_path):
    # one end-to-end check through a real process (the others call main() in-process to stay fast)
    np.savez(tmp_path / "bad.npz", M=np.ones((3, 4)), train_mask=np.ones((3, 4), bool))
    res = grokode("integrate", "--model", "matrix", "--data", "bad.npz", cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "square" in res.stderr


def test_derive_matrix_formats(derivation, capsys):
    assert "Lifted flow" in render(derivation, "text") and "U U^{T}" in render(derivation, "latex")
    code, out, err = cli_in_process(["derive", "matrix", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["homogeneity"] == 2, err
