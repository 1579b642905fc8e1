"""The separable model f(θ; x) = Σ_j φ(θ_j) x_j from one formula (docs/math.md#separable).

The accuracy reference is written here with numpy and scipy's ``solve_ivp`` (LSODA, rtol 1e-11), not with grokode's
flows or generated kernels: the full kd-dimensional flow dθ_j/dt = −g_j ∇φ(θ_j) − λθ_j, g = Xᵀr/n, with φ and ∇φ
written by hand per formula, in the variables ϑ_j = e^{λt}θ_j/c − θ̂ (c = α/√d), scaled by σ = max(1, c^L‖∇φ(θ̂)‖):

    dϑ_j/dt = −c^{L−2} e^{−(L−2)λt} g_j ∇φ(θ̂ + ϑ_j),   w_j = c^L e^{−Lλt} φ(θ̂ + ϑ_j),

with φ(θ̂ + ϑ) in a factored form that does not cancel while ϑ is tiny (φ(θ̂) = 0). Tolerance: ‖Δw‖/‖w‖ ≤ 1e-4 at
every saved time, from the kernel phase through the transition to the default horizon (2 ln α + 5)/λ, with grokode
at its default tolerances (rtol 1e-6, atol 1e-9).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import grokode
from grokode.analytic.separable import SeparableModel as Symbolic
from grokode.numeric.integrate import integrate_flow
from grokode.numeric.separable import FullSeparableFlow, ReducedSeparableFlow
from grokode.tasks import make_task

TOL = 1e-4
S2, S3 = math.sqrt(2.0), math.sqrt(3.0)


# -- hand-written formulas: (φ(θ̂ + ϑ) without cancellation, ∇φ(θ̂ + ϑ)), ϑ of shape (d, k) ------------------------


def _uv(e):
    u, v = 1.0 + e[:, 0], e[:, 1]  # θ̂ = (1, 0)
    return u * v, np.stack([v, u], axis=1)


def _abc(e):
    a, b, c = 1 / S2 + e[:, 0], 1 / S2 + e[:, 1], e[:, 2]  # θ̂ = (1, 1, 0)/√2
    return a * b * c, np.stack([b * c, a * c, a * b], axis=1)


def _quartic(e):
    u, v = 1 / S2 + e[:, 0], 1 / S2 + e[:, 1]  # θ̂ = (1, 1)/√2: u⁴ − v⁴ = (u² + v²)(u + v)(u − v)
    return (u * u + v * v) * (u + v) * (e[:, 0] - e[:, 1]), np.stack([4 * u**3, -4 * v**3], axis=1)


def _a2b_c2b(e):
    a, b, c = 1 / S3 + e[:, 0], 1 / S3 + e[:, 1], 1 / S3 + e[:, 2]  # θ̂ = (1, 1, 1)/√3: b(a − c)(a + c)
    return b * (e[:, 0] - e[:, 2]) * (a + c), np.stack([2 * a * b, a * a - c * c, -2 * c * b], axis=1)


FORMULAS = {
    "u*v": ("u=1, v=0", 2, _uv),
    "a*b*c": ("a=1, b=1, c=0", 3, _abc),
    "u**4 - v**4": ("u=1, v=1", 4, _quartic),
    "a**2*b - c**2*b": ("a=1, b=1, c=1", 3, _a2b_c2b),
}


def reference_weights(X, y, *, phi, alpha, lam, times, rtol=1e-11):
    """w at ``times`` from the full kd flow (see the module docstring; independent of grokode's numerics)."""
    _, L, fn = FORMULAS[phi]
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    c = alpha / math.sqrt(d)
    k = fn(np.zeros((1, 8)))[1].shape[1]
    sig = max(1.0, c**L * float(np.linalg.norm(fn(np.zeros((1, k)))[1][0])))

    def weights(t, s):
        return c**L * math.exp(-L * lam * t) * fn(s.reshape(d, k) / sig)[0]

    def rhs(t, s):
        e = s.reshape(d, k) / sig
        val, grad = fn(e)
        f = X @ (c**L * math.exp(-L * lam * t) * val)
        r = -y / (1.0 + np.exp(y * f))  # logistic
        g = X.T @ r / n
        return (-sig * c ** (L - 2) * math.exp(-(L - 2) * lam * t) * g[:, None] * grad).ravel()

    sol = solve_ivp(rhs, (0.0, times[-1]), np.zeros(d * k), method="LSODA", t_eval=times, rtol=rtol,
                    atol=rtol * 1e-2)
    assert sol.status == 0, sol.message
    return np.array([weights(t, s) for t, s in zip(sol.t, sol.y.T, strict=True)]), sol.nfev


def horizon_times(alpha: float, lam: float, early: int = 8, late: int = 13) -> np.ndarray:
    """Log-spaced through the kernel phase, then linear through the transition to (2 ln α + 5)/λ."""
    T = (2.0 * math.log(alpha) + 5.0) / lam
    return np.concatenate([np.geomspace(1e-7 * T, 0.2 * T, early, endpoint=False), np.linspace(0.2 * T, T, late)])


def relative_errors(W, ref):
    return np.linalg.norm(W - ref, axis=1) / np.linalg.norm(ref, axis=1)


# -- accuracy of the reduction against the independent full flow ------------------------------------------------


@pytest.mark.parametrize("phi", list(FORMULAS))
def test_reduced_flow_matches_independent_full_flow(phi):
    init, L, _ = FORMULAS[phi]
    alpha, lam = 100.0, 1e-2
    ds = make_task("sparse", n=16, d=30, n_test=0, seed=0)
    times = horizon_times(alpha, lam)
    ref, _ = reference_weights(ds.X, ds.y, phi=phi, alpha=alpha, lam=lam, times=times)
    model = Symbolic(phi, init)
    assert model.degree == L
    flow = ReducedSeparableFlow(ds.X, ds.y, model=model, alpha=alpha, lam=lam)
    sol = integrate_flow(flow, times)  # default tolerances
    assert sol.status == "ok", sol.message
    err = relative_errors(sol.weights, ref)
    assert np.all(err <= TOL), (err.max(), int(err.argmax()))
    # the run went through the transition: the direction of w changed (kernel → rich predictor)
    early, late = ref[len(times) // 3], ref[-1]
    assert early @ late / (np.linalg.norm(early) * np.linalg.norm(late)) < 0.95
    if L > 2:
        assert flow.anchors >= 1  # the late phase was re-anchored
    # the full formulation (grokode's own θ flow) agrees too
    full = FullSeparableFlow(ds.X, ds.y, model=model, alpha=alpha, lam=lam)
    sol_full = integrate_flow(full, times)
    assert sol_full.status == "ok", sol_full.message
    assert np.all(relative_errors(sol_full.weights, ref) <= TOL)


# -- the built-in diagonal net is the separable model φ = u^L − v^L ---------------------------------------------


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_diagonal_net_through_the_separable_model(depth):
    """Same data, same α, λ: the diagonal net and φ = u^L − v^L with θ̂ = (1, 1) give the same w (to the
    integrators' tolerance) and the same summary keys."""
    opts = dict(task="sparse", n=16, d=30, n_test=50, alpha=100.0, lam=1e-2, seed=1)
    diag = grokode.integrate(model="diagonal", depth=depth, **opts)
    sep = grokode.integrate(model="separable", phi=f"u**{depth} - v**{depth}", init="u=1, v=1", **opts)
    assert diag.summary["status"] == sep.summary["status"] == "ok"
    assert set(diag.summary) == set(sep.summary)
    np.testing.assert_array_equal(diag.arrays["t"], sep.arrays["t"])
    Wd, Ws = diag.arrays["w"], sep.arrays["w"]
    assert Ws.shape == Wd.shape == (diag.arrays["t"].size, 30)
    assert np.all(relative_errors(Ws[1:], Wd[1:]) <= TOL)
    np.testing.assert_allclose(sep.arrays["param_norm"], diag.arrays["param_norm"], rtol=TOL)
    assert sep.summary["t_transition"] == pytest.approx(diag.summary["t_transition"], rel=1e-4)


# -- α = 1e100 -----------------------------------------------------------------------------------------------


def _finite_jsonable(summary: dict) -> None:
    text = json.dumps(summary, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text) == summary


HUGE = [("u*v", "sparse"), ("a*b*c", "sparse-regression")]
HUGE_SLOW = [("a*b*c", "sparse"), ("u**4 - v**4", "sparse"), ("u**4 - v**4", "sparse-regression"),
             ("a**2*b - c**2*b", "sparse"), ("u*v", "sparse-regression")]


def _huge(phi, task):
    alpha, lam = 1e100, 1e-2
    run = grokode.integrate(model="separable", phi=phi, init=FORMULAS[phi][0], task=task, n=16, d=30, n_test=50,
                            alpha=alpha, lam=lam)
    s = run.summary
    assert s["status"] == "ok", s["message"]
    _finite_jsonable({k: v for k, v in s.items() if k != "wall_seconds"})
    assert np.all(np.isfinite(run.arrays["w"])) and np.all(np.isfinite(run.arrays["param_norm"]))
    t, norm = run.arrays["t"], run.arrays["param_norm"]
    assert norm[0] == pytest.approx(alpha * math.exp(-lam * t[0]), rel=1e-6)  # ‖θ(0)‖ = α
    if task == "sparse-regression":
        assert s["train_final"] < 1e-3
    else:
        assert s["train_final"] == 1.0


@pytest.mark.parametrize("phi,task", HUGE)
def test_alpha_1e100(phi, task):
    _huge(phi, task)


@pytest.mark.slow
@pytest.mark.parametrize("phi,task", HUGE_SLOW)
def test_alpha_1e100_slow(phi, task):
    _huge(phi, task)


# -- the command line ----------------------------------------------------------------------------------------


def call_main(args: list[str]) -> int:
    from grokode.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code
    return 0


class ComputationStarted(Exception):
    pass


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    """Nothing may be tabulated or integrated (a bad option is refused before any computation)."""
    import grokode.numeric.integrate as integrate
    import grokode.numeric.separable_profile as profile

    def guard(*args, **kwargs):
        raise ComputationStarted

    monkeypatch.setattr(profile, "build_profile", guard)
    monkeypatch.setattr(integrate, "integrate_flow", guard)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fmt", ["text", "json", "latex"])
def test_cli_derive(fmt, capsys):
    assert call_main(["derive", "separable", "--phi", "a*b*c", "--init", "a=1, b=1, c=0", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        doc = json.loads(out)
        assert doc["model"] == "separable" and doc["homogeneity"] == 3
        assert doc["flow"] == {"a": "-a*lam - b*c*g", "b": "-a*c*g - b*lam", "c": "-a*b*g - c*lam"}
        assert doc["kernel"]["c_K"] == "c0**4/4"  # ‖∇φ(θ̄)‖² = (c0²/2)²
    elif fmt == "latex":
        assert r"\begin{align}" in out and "Traceback" not in out
    else:
        assert "Homogeneity degree: 3" in out


def test_cli_integrate_separable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = call_main(["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=0", "--n", "16", "--d",
                      "20", "--alpha", "100", "--lam", "1e-2", "--no-plot", "--out", "r.npz", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ok" and summary["train_final"] == 1.0
    run = grokode.load_run("r.npz")
    W = run.arrays["w"]
    assert W.shape == (run.arrays["t"].size, 20) and np.all(np.isfinite(W))
    assert call_main(["analyze", "r.npz", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["alpha"] == 100.0 and report["cos_kernel_at_Tminus"] > 0.9


HOSTILE_PHI = [
    ("__import__('os').system('touch pwned')", "is not allowed"),
    ("a.__class__*b", "attribute access"),
    ("a*b; import os", "not a formula"),
    ("a**10**10", "too large"),
    ("a**b", "exponents must be numbers"),
    ("exp(a)*b", "calling 'exp'"),
    ("a*b\nimport os", "character"),
    ("a*b" + "+a*b" * 200, "too long"),
    ("a*b + a", "homogeneous"),
    ("a + b", "degree 1"),
    ("b*a + b", "not homogeneous"),
]


@pytest.mark.parametrize("phi,needle", HOSTILE_PHI)
def test_cli_hostile_phi_is_one_line_exit_2_before_any_computation(phi, needle, guarded, capsys):
    code = call_main(["integrate", "--model", "separable", "--phi", phi, "--init", "a=1, b=0", "--no-plot"])
    captured = capsys.readouterr()
    lines = captured.err.strip("\n").splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("grokode: error: "), captured.err
    assert needle in lines[0] and not captured.out.strip()
    assert not list(guarded.iterdir())  # nothing written


@pytest.mark.parametrize("args,needle", [
    (["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=1"], "is not 0"),
    (["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1"], "misses parameter 'v'"),
    (["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=0, w=2"], "w"),
    (["integrate", "--model", "separable", "--phi", "u*v"], "needs --init"),
    (["integrate", "--model", "separable", "--init", "u=1, v=0"], "needs --phi"),
    (["integrate", "--model", "diagonal", "--phi", "u*v"], "does not take --phi"),
    (["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=0", "--depth", "3"], "--depth"),
    (["integrate", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=0", "--method", "gd"], "gd"),
    (["derive", "separable", "--phi", "a*b*c"], "needs --init"),
    (["derive", "separable", "--phi", "open('x')", "--init", "a=1"], "calling 'open'"),
])
def test_cli_bad_options_are_one_line_exit_2(args, needle, guarded, capsys):
    code = call_main([*args, "--no-plot"] if args[0] == "integrate" else args)
    captured = capsys.readouterr()
    lines = captured.err.strip("\n").splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("grokode: error: "), captured.err
    assert needle in lines[0] and not captured.out.strip()
    assert not list(guarded.iterdir())


# -- performance (benchmarks/bench_separable.py has the measurement) --------------------------------------------


@pytest.mark.slow
def test_separable_costs_about_the_diagonal_net():
    """n = 256, d = 10⁴, α = 1e3, λ = 1e-3, default horizon: φ = u² − v² through the separable model costs about
    the built-in diagonal net (goal ≤ 2× in wall time; docs/models/separable.md has the measurement).
    Load-robust form: RHS counts within 20 %, wall ratio ≤ 3 (best of two each, alternating)."""
    import time

    opts = dict(task="sparse", n=256, d=10_000, n_test=0, alpha=1e3, lam=1e-3, seed=0)
    walls = {"diagonal": [], "separable": []}
    runs = {}
    for _ in range(2):
        for name, extra in (("diagonal", {"model": "diagonal"}),
                            ("separable", {"model": "separable", "phi": "u**2 - v**2", "init": "u=1, v=1"})):
            t0 = time.perf_counter()
            runs[name] = grokode.integrate(**extra, **opts)
            walls[name].append(time.perf_counter() - t0)
            assert runs[name].summary["status"] == "ok"
    rd, rs = runs["diagonal"].summary["rhs_evals"], runs["separable"].summary["rhs_evals"]
    assert abs(rs - rd) <= 0.2 * rd, (rd, rs)
    assert np.all(relative_errors(runs["separable"].arrays["w"][1:], runs["diagonal"].arrays["w"][1:]) <= TOL)
    assert min(walls["separable"]) <= 3.0 * min(walls["diagonal"]), walls


# -- the rich reference for L = 2 with c₊ ≠ c₋: the sign-weighted ℓ1 LP ----------------------------------------


@pytest.mark.parametrize("task,cp,cm", [("sparse", 1.0, 0.5), ("margin", 2.0, 3.0), ("sparse-regression", 1.0, 0.5),
                                        ("sparse", 1.0, 1.0)])
def test_weighted_l1_against_one_full_linprog(task, cp, cm):
    """Column generation on interior-point duals vs one HiGHS solve of the whole LP (all 2d columns)."""
    from scipy.optimize import linprog

    from grokode.analysis.predictors import max_l1_margin, weighted_l1_interpolant, weighted_l1_margin

    ds = make_task(task, n=40, d=400, n_test=0, seed=2)
    X, y = np.asarray(ds.X, dtype=np.float64), ds.y
    cost = np.concatenate([np.full(X.shape[1], cp), np.full(X.shape[1], cm)])
    if task == "sparse-regression":
        p = weighted_l1_interpolant(ds.X, y, cp, cm)
        ref = linprog(cost, A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
        np.testing.assert_allclose(X @ p.w, y, rtol=0, atol=1e-8 * np.max(np.abs(y)))
    else:
        p = weighted_l1_margin(ds.X, y, cp, cm)
        Z = y[:, None] * X
        ref = linprog(cost, A_ub=-np.hstack([Z, -Z]), b_ub=-np.ones(len(y)), bounds=(0, None), method="highs")
        assert np.min(y * (X @ p.w)) == pytest.approx(1.0, rel=1e-9)
    assert ref.status == 0
    assert p.feasible and p.gap <= 1e-8 and "interior point" in p.message
    assert p.norm == pytest.approx(ref.fun, rel=1e-9)
    assert cp * np.sum(np.clip(p.w, 0, None)) + cm * np.sum(np.clip(-p.w, 0, None)) == pytest.approx(ref.fun, rel=1e-9)
    if task != "sparse-regression" and cp == cm:  # c₊ = c₋: the max ℓ1-margin classifier, scaled
        assert p.norm == pytest.approx(cp * np.abs(max_l1_margin(ds.X, y).w).sum(), rel=1e-9)


@pytest.mark.parametrize("task", ["sparse", "sparse-regression"])
def test_weighted_l1_highs_fallback_gives_the_same_answer(task, monkeypatch):
    """When the interior point fails, column generation on HiGHS' dual simplex solves the same LP."""
    from grokode.analysis import predictors
    from grokode.analysis.predictors import lp

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("forced")

    ds = make_task(task, n=30, d=200, n_test=0, seed=4)
    solve = predictors.weighted_l1_interpolant if task == "sparse-regression" else predictors.weighted_l1_margin
    fast = solve(ds.X, ds.y, 1.0, 0.5)
    monkeypatch.setattr(lp, "_ipm_l1_game", broken)
    slow = solve(ds.X, ds.y, 1.0, 0.5)
    assert "interior point" in fast.message and "dual simplex" in slow.message
    assert slow.feasible and slow.gap <= 1e-8
    assert slow.norm == pytest.approx(fast.norm, rel=1e-8)


def test_python_api_with_a_mapping_init_and_the_full_formulation():
    """grokode.integrate(model="separable", phi=…, init={…}): the same run as with text; the full formulation
    (grokode's θ flow) agrees with the reduced one; meta records the model."""
    opts = dict(model="separable", phi="2*a*b", task="sparse", n=16, d=20, n_test=0, alpha=100.0, lam=1e-2)
    a = grokode.integrate(init={"a": 1, "b": 0}, **opts)
    b = grokode.integrate(init="a=1, b=0", formulation="full", **opts)
    assert a.summary["status"] == b.summary["status"] == "ok"
    assert np.all(relative_errors(a.arrays["w"][1:], b.arrays["w"][1:]) <= TOL)
    meta = a.meta["separable"]
    assert meta["degree"] == 2 and meta["init"] == "a=1, b=0" and meta["c_plus"] == meta["c_minus"] == 1.0
    assert meta["kernel_constant_unit"] == 4.0 and meta["rich_reference"] == "l1"


@pytest.mark.parametrize("phi", ["u*v", "a*b*c", "u**2 - 2*v**2"])
def test_fast_weight_path_equals_the_log_path(phi):
    """The weights' fast path (no anchor, Γ₁ on a central table: one exp per coordinate) gives the log path's
    values (the log path is forced by an unrepresentable-scale flag, gscale = 0, at the same shift)."""
    from grokode.numeric.separable import _weights
    from grokode.numeric.separable_profile import M_GSW

    init = {"u*v": "u=1, v=0", "a*b*c": "a=1, b=1, c=0", "u**2 - 2*v**2": "u=2**(1/2), v=1"}[phi]
    ds = make_task("sparse", n=8, d=4000, n_test=0, seed=0)
    flow = ReducedSeparableFlow(ds.X, ds.y, model=Symbolic(phi, init), alpha=100.0, lam=1e-2)
    p = flow.profile
    rng = np.random.default_rng(0)
    gsw = min(p.meta[0, M_GSW], p.meta[1, M_GSW])  # the central tables' ends
    B = rng.uniform(-1.0, 1.0, 4000) * gsw
    B[:10] = 0.0
    B[10:20] = np.geomspace(1e-290, 1e-3, 10)
    shift, log_wscale = 0.0, 3.0
    fast, slow = np.empty_like(B), np.empty_like(B)
    none = np.zeros(B.size, dtype=np.int64)
    _weights(B, p.central, p.singular, p.meta, 1.0, shift, False, none, np.zeros(B.size), log_wscale, fast)
    _weights(B, p.central, p.singular, p.meta, 0.0, shift, False, none, np.zeros(B.size), log_wscale, slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=0)
    assert np.all(fast[:10] == 0.0) and np.all(np.sign(fast[10:]) == -np.sign(B[10:]))


def test_cli_sweep_of_a_separable_model(tmp_path, monkeypatch, capsys):
    """sweep --model separable --phi … --init …: every point runs, the law λt* = ln α − c₀ is fitted."""
    monkeypatch.chdir(tmp_path)
    code = call_main(["sweep", "--model", "separable", "--phi", "u*v", "--init", "u=1, v=0", "--n", "32", "--d", "100",
                      "--alpha", "1e3,1e4,1e5", "--lam", "1e-2", "--workers", "1", "--no-plot", "--out", "s.csv",
                      "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["points"], res["ran"], res["failed"]) == (3, 3, 0)
    (fit,) = res["fits"]
    assert fit["n_points"] == 3 and abs(fit["slope"] - 1.0) < 0.05, fit
