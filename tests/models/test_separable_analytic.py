"""Separable homogeneous models (MATH.md §6): parser, sympy derivation and the tabulated profile F₁.

References are independent of the code under test: closed forms typed here from MATH.md §3 (the diagonal
net is φ = u^L − v^L) or derived here by hand from conserved quantities, mpmath's Taylor-series ODE solver
at 20 digits, scipy integrations of the full per-coordinate flow, finite differences and SLSQP.
"""

import functools
import json
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from grokode.analytic import render
from grokode.analytic.formula import parse_init, parse_phi
from grokode.analytic.report import LOCALS_KEY
from grokode.analytic.separable import SeparableModel, json_locals
from grokode.errors import InputError
from grokode.numeric import separable_profile
from grokode.numeric.separable_profile import profile_for

Gamma, g, lam, t, x, xp = sp.symbols("Gamma g lam t x xp", real=True)
c0 = sp.Symbol("c0", positive=True)
a, b, c, d, e, u, v = sp.symbols("a b c d e u v", real=True)
mp.mp.dps = 30


@functools.cache
def model(phi: str, init: str) -> SeparableModel:
    return SeparableModel(phi, init)


def profile(phi: str, init: str):
    return profile_for(model(phi, init))


def same(p, q) -> bool:
    return sp.simplify(sp.sympify(p) - sp.sympify(q)) == 0


# -- parser ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, names", [
    ("u*v", u * v, ["u", "v"]),
    ("a*b*c", a * b * c, ["a", "b", "c"]),
    ("u**4 - v**4", u**4 - v**4, ["u", "v"]),
    ("a**2*b - c**2*b", a**2 * b - c**2 * b, ["a", "b", "c"]),
    ("2*a*b", 2 * a * b, ["a", "b"]),
    ("0.5*(a + b)**2 - 3*b**2/4", sp.Rational(1, 2) * (a + b) ** 2 - sp.Rational(3, 4) * b**2, ["a", "b"]),
    ("abs(a)*b", sp.Abs(a) * b, ["a", "b"]),
])
def test_parse_valid(text, expected, names):
    expr, params = parse_phi(text)
    assert [p.name for p in params] == names
    assert sp.expand(expr - expected) == 0


def test_sympy_reserved_names_are_plain_parameters():
    expr, params = parse_phi("E*N + S*I - Q*beta")
    assert [p.name for p in params] == ["E", "N", "S", "I", "Q", "beta"]
    assert not expr.has(sp.E) and not expr.has(sp.I) and expr.free_symbols == set(params)


HOSTILE = [
    ("__import__('os').system('ls')", "calling"),
    ("a.real*b", "attribute access"),
    ("a[0]*b", "subscripts"),
    ("(lambda: 1)()", "calling"),
    ("[a for a in b]", "comprehensions"),
    ("a*b; import os", "not a formula"),
    ("'ab'*2", "str literals"),
    ("a**10**10", "exponent 10 is too large"),
    ("(a := b)*a", "assignment"),
    ("f'{a}'*b", "f-strings"),
    ("a if b else c", "conditional"),
    ("a < b", "comparisons"),
    ("1j*a*b", "complex"),
    ("a @ b", "'@'"),
    ("a/b", "division by an expression"),
    ("a**b", "exponents must be numbers"),
    ("a**0.5*b", "not an integer"),
    ("print(a)*b", "calling 'print'"),
    ("exp(a)*b", "calling 'exp'"),
    ("x*a", "reserved"),
    ("a\x00b", "character"),
    ("a*b\nimport os", "character"),
    ("θ*a", "character"),
    ("a*b" + "+a*b" * 200, "too long"),
    ("-" * 320 + "a*b", "too complex"),
    ("1e999*a*b", "not finite"),
    ("a*b*" + "9" * 150, "too large"),
    ("True*a*b", "not a number"),
    ("", "empty"),
    ("a, b", "tuples"),
    ("a*a - a*a", "identically zero"),
    ("a*b*c*d*e*f*g1*h*k", "at most 8"),
]


@pytest.mark.parametrize("text, fragment", HOSTILE)
def test_hostile_formulas_are_one_line_input_errors(text, fragment):
    with pytest.raises(InputError) as info:
        parse_phi(text)
    msg = str(info.value)
    assert fragment in msg and "\n" not in msg and len(msg) < 300


def test_init_parsing():
    params = [a, b, c]
    assert parse_init("a=1, b=0.1, c=-2", params) == {a: 1, b: sp.Rational(1, 10), c: -2}
    assert parse_init({"a": 1, "b": 0.1, "c": np.float64(-2.5)}, params) == {a: 1, b: sp.Rational(1, 10),
                                                                           c: sp.Rational(-5, 2)}
    assert parse_init("a=2**(1/2), b=1/3, c=0", params)[a] == sp.sqrt(2)
    for bad, fragment in [("a=1, b=1, a=2, c=0", "twice"), ("a=1, b=1", "misses parameter 'c'"),
                          ("a=1, b=1, c=0, z=0", "'z'"), ("a=0, b=0, c=0", "zero"), ("a=1e999, b=0, c=0", "finite"),
                          ("a=1; b=0, c=0", "name=value"), ("a=__import__('os'), b=0, c=0", "calling"),
                          ("a=b, b=1, c=0", "only numbers"), ("a=(-2)**(1/2), b=0, c=0", "not an integer")]:
        with pytest.raises(InputError, match=None) as info:
            parse_init(bad, params)
        assert fragment in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError, match="must be a number"):
        parse_init({"a": True, "b": 0, "c": 0}, params)


# -- homogeneity and input checks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("phi, init, L", [
    ("u*v", "u=1, v=0", 2), ("a*b*c", "a=1, b=1, c=0", 3), ("u**4 - v**4", "u=1, v=1", 4),
    ("a**2*b - c**2*b", "a=1, b=0, c=0", 3), ("abs(a)*b", "a=1, b=0", 2), ("(a + b)**2*(a - b)", "a=1, b=1", 3),
])
def test_homogeneity_degree(phi, init, L):
    assert model(phi, init).degree == L


@pytest.mark.parametrize("phi, init, fragment", [
    ("a*b + c", "a=1, b=0, c=0", "not homogeneous"),
    ("a - b", "a=1, b=1", "degree 1"),
    ("a*b", "a=1, b=1", "Assumption 3.2"),
    ("a**2 - 2*b**2", "a=1.4142135623730951, b=1", "is not 0"),
    ("a**2*b**2", "a=1, b=0", "gradient of phi vanishes"),
])
def test_rejected_models(phi, init, fragment):
    with pytest.raises(InputError) as info:
        SeparableModel(phi, init)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_exact_irrational_init_is_accepted():
    assert model("u**2 - 2*v**2", "u=2**(1/2), v=1").degree == 2


# -- derivation ------------------------------------------------------------------------------------------------------

def test_flow_ntk_kernel_uv():
    m = model("u*v", "u=1, v=0")
    flow = m.flow()
    assert same(flow["u"], -g * v - lam * u) and same(flow["v"], -g * u - lam * v)
    feat = {p.name: f for p, f in m.ntk_feature().items()}
    assert same(feat["u"], 0) and same(feat["v"], c0 * x)
    assert same(m.kernel(), c0**2 * x * xp)


def test_kernel_constant_is_gradient_norm_at_init():
    m = model("a*b*c", "a=1, b=1, c=0")
    scale = 2.5
    theta = scale * np.array([1.0, 1.0, 0.0]) / math.sqrt(2.0)
    phi = lambda th: th[0] * th[1] * th[2]  # noqa: E731
    h = 1e-6
    grad = [(phi(theta + h * ei) - phi(theta - h * ei)) / (2 * h) for ei in np.eye(3)]
    assert abs(float(m.kernel_constant().subs(c0, scale)) - float(np.dot(grad, grad))) < 1e-8
    assert same(m.kernel(), m.kernel_constant() * x * xp)


@pytest.mark.parametrize("phi, init, cp, cm, method", [
    ("u**2 - v**2", "u=1, v=1", 1, 1, "lagrange"),
    ("u*v", "u=1, v=0", 2, 2, "lagrange"),
    ("a*b*c", "a=1, b=1, c=0", 3, 3, "lagrange"),
    ("u**3 - v**3", "u=1, v=1", 1, 1, "lagrange"),
    ("u**6 - v**6", "u=1, v=1", 1, 1, "lagrange"),
    ("u**2 - 2*v**2", "u=2**(1/2), v=1", 1, sp.Rational(1, 2), "lagrange"),
    ("a*b*c*d*e", "a=1, b=1, c=1, d=1, e=0", 5, 5, "numeric"),  # AM–GM: (5^{-5/2})^{-2/5}; k = 5 is numeric only
    ("a*abs(a) - b*abs(b)", "a=1, b=1", 1, 1, "numeric"),
])
def test_regularizer_constants(phi, init, cp, cm, method):
    reg = model(phi, init).regularizer()
    assert reg["method"] == method
    for key, want in (("c_plus", cp), ("c_minus", cm)):
        if method == "lagrange":
            assert sp.simplify(reg[key] - want) == 0
        else:
            assert abs(float(reg[key]) - float(want)) < 1e-12


@pytest.mark.parametrize("phi, init, w", [("a*b*c", "a=1, b=1, c=0", 0.7), ("u**2 - 2*v**2", "u=2**(1/2), v=1", -0.3)])
def test_regularizer_is_min_norm_at_given_output(phi, init, w):
    """ψ(w) = min{‖θ‖² : φ(θ) = w} by SLSQP from several starts, against c_± |w|^{2/L}."""
    m = model(phi, init)
    fn = m.numeric_functions()["phi_grad"]
    rng = np.random.default_rng(3)
    best = math.inf
    for start in rng.standard_normal((12, len(m.params))):
        res = minimize(lambda th: th @ th, start, jac=lambda th: 2 * th, method="SLSQP",
                       constraints=[{"type": "eq", "fun": lambda th: fn(th)[0] - w, "jac": lambda th: fn(th)[1]}],
                       options={"ftol": 1e-14, "maxiter": 500})
        if res.success and abs(fn(res.x)[0] - w) < 1e-10:
            best = min(best, res.fun)
    reg = m.regularizer()
    want = float(reg["c_plus" if w > 0 else "c_minus"]) * abs(w) ** (2 / m.degree)
    assert abs(best - want) < 1e-8 * want


@pytest.mark.parametrize("phi, init, expected", [
    ("u*v", "u=1, v=0", [u**2 - v**2]),
    ("a*b*c", "a=1, b=1, c=0", [a**2 - b**2, b**2 - c**2]),
    ("a**2*b - c**2*b", "a=1, b=1, c=1", [a * c, a**2 - 2 * b**2 + c**2]),
])
def test_conserved_quadratics_along_the_flow(phi, init, expected):
    m = model(phi, init)
    found = m.conserved()
    # same span as the quadratics found by hand
    basis = [sp.Poly(q, *m.params) for q in found + expected]
    monos = sorted({mono for p in basis for mono in p.monoms()})
    mat = sp.Matrix([[p.coeff_monomial(mono) for mono in monos] for p in basis])
    assert len(found) == len(expected) == mat.rank()
    # e^{2λt} Q(θ(t)) constant along the full flow dθ/dt = −g(t)∇φ(θ) − λθ (scipy, arbitrary g)
    fn = m.numeric_functions()["phi_grad"]
    lam_, scale = 0.07, 0.5  # small enough that Γ stays inside the singular ends (L = 3)
    drive = lambda s: 0.25 * math.cos(1.3 * s) + 0.1  # noqa: E731
    theta0 = scale * m.numeric_functions()["direction"]
    sol = solve_ivp(lambda s, th: -drive(s) * fn(th)[1] - lam_ * th, (0, 4), theta0, method="DOP853",
                    rtol=1e-12, atol=1e-14, dense_output=True)
    times = np.linspace(0, 4, 41)
    for q in found:
        qf = sp.lambdify([m.params], q)
        vals = [math.exp(2 * lam_ * s) * qf(sol.sol(s)) for s in times]
        assert max(abs(val - vals[0]) for val in vals) < 1e-9 * max(1.0, abs(vals[0]))
    # not conserved without the factor (sanity: the check can fail)
    qf = max((sp.lambdify([m.params], q) for q in found), key=lambda f: abs(f(theta0)))
    assert abs(qf(sol.sol(4.0)) - qf(theta0)) > 1e-3 * max(1.0, abs(qf(theta0)))


def test_no_conserved_quadratic_at_depth_3():
    assert model("u**3 - v**3", "u=1, v=1").conserved() == []


def test_closed_form_uv_by_dsolve():
    cf = model("u*v", "u=1, v=0").closed_form()
    assert cf["method"] == "dsolve"
    assert same(cf["Psi_u"], c0 * sp.cosh(Gamma)) and same(cf["Psi_v"], -c0 * sp.sinh(Gamma))
    assert same(cf["F"], -c0**2 * sp.sinh(2 * Gamma) / 2)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_closed_form_diagonal_matches_math_md(L):
    cf = model(f"u**{L} - v**{L}", "u=1, v=1").closed_form()
    u0 = c0 / sp.sqrt(2)
    if L == 2:  # w = −2 u0² e^{−2λt} sinh(4G): F = −2 u0² sinh(4Γ)
        assert same(cf["F"], -2 * u0**2 * sp.sinh(4 * Gamma))
        return
    assert same(cf["Psi_u"] ** (2 - L), u0 ** (2 - L) + L * (L - 2) * Gamma)
    assert same(cf["Psi_v"] ** (2 - L), u0 ** (2 - L) - L * (L - 2) * Gamma)
    assert same(cf["Gamma_star_plus"], u0 ** (2 - L) / (L * (L - 2)))
    assert same(cf["Gamma_star_minus"], -(u0 ** (2 - L)) / (L * (L - 2)))


def test_no_closed_form_for_abc():
    assert model("a*b*c", "a=1, b=1, c=0").closed_form() is None


def _walk(value, path=()):
    if isinstance(value, dict):
        for k, val in value.items():
            yield from _walk(val, path + (k,))
    else:
        yield path, value


@pytest.mark.parametrize("phi, init", [("u*v", "u=1, v=0"), ("a*b*c", "a=1, b=1, c=0"), ("E*N", "E=1, N=0"),
                                       ("u**3 - v**3", "u=1, v=1")])
def test_json_round_trip_and_rendering(phi, init):
    m = model(phi, init)
    der = m.derive()
    obj = json.loads(render(der, "json"))
    loc = json_locals(m)
    originals = dict(_walk(der.items))
    table = obj.pop(LOCALS_KEY)  # the name table the JSON carries for parsing, not a derived item
    assert isinstance(table, dict)
    for path, text in _walk(obj):
        orig = originals[path]
        if isinstance(orig, int | str):
            assert text == orig
            continue
        parsed = sp.sympify(text, locals=loc)
        assert parsed == orig or sp.simplify(parsed - orig) == 0, (path, text)
    assert "Kernel" in render(der, "text") and "\\begin{align}" in render(der, "latex")
    if phi == "E*N":
        flow_e = sp.sympify(obj["flow"]["E"], locals=loc)
        assert not flow_e.has(sp.E) and same(flow_e, -g * sp.Symbol("N", real=True) - lam * sp.Symbol("E", real=True))


# -- the profile F₁ ----------------------------------------------------------------------------------------------------

def _log_abs(val) -> float:
    return float(mp.log(abs(val)))


def _diag_ref(L: int, G) -> tuple:
    """F₁, F₁′ of u^L − v^L from θ̂₁ = (1, 1)/√2 (MATH.md §3 closed form), in mpmath."""
    G = mp.mpf(G)
    extra = int(-math.log10(abs(G))) if 0 < abs(G) < 1 else 0
    with mp.workdps(30 + extra):  # F = u^L − v^L cancels like Γ at small Γ
        u1 = 1 / mp.sqrt(2)
        if L == 2:
            uu, vv = u1 * mp.exp(-2 * G), u1 * mp.exp(2 * G)
        else:
            uu = (u1 ** (2 - L) + L * (L - 2) * G) ** (-mp.mpf(1) / (L - 2))
            vv = (u1 ** (2 - L) - L * (L - 2) * G) ** (-mp.mpf(1) / (L - 2))
        return +(uu**L - vv**L), +(-(L**2) * (uu ** (2 * L - 2) + vv ** (2 * L - 2)))


def _diag_ref_distance(L: int, s) -> tuple:
    """The same at Γ = Γ*₊ − s, written in s (no cancellation near the end)."""
    s, u1 = mp.mpf(s), 1 / mp.sqrt(2)
    vv = (L * (L - 2) * s) ** (-mp.mpf(1) / (L - 2))
    uu = (2 * u1 ** (2 - L) - L * (L - 2) * s) ** (-mp.mpf(1) / (L - 2))
    return uu**L - vv**L, -(L**2) * (uu ** (2 * L - 2) + vv ** (2 * L - 2))


def _check(p, points, ref, tol, distance_end=None):
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[pts != 0]  # F(0) = 0: log −inf on both sides (checked in test_profile_edges)
    lf, sf, ldf, sdf = p.evaluate(pts) if distance_end is None else p.evaluate_distance(pts, distance_end)
    worst = 0.0
    for i, pt in enumerate(pts):
        F, dF = ref(pt)
        assert sf[i] == mp.sign(F) and sdf[i] == -1
        errs = (abs(lf[i] - _log_abs(F)), abs(ldf[i] - _log_abs(dF)))
        assert all(np.isfinite(errs)), (pt, errs)
        worst = max(worst, *errs)
    assert worst <= tol, worst
    return worst


@pytest.mark.parametrize("L", [2, 3, 4, 5, 6])
def test_profile_of_the_diagonal_net(L):
    p = profile(f"u**{L} - v**{L}", "u=1, v=1")
    tiny = [1e-300, -1e-200, 1e-30, -1e-9, 1e-5]
    if L == 2:
        assert p.singular_end(1) == (1.0, math.inf) and p.singular_end(-1) == (-1.0, math.inf)
        _check(p, tiny + list(np.linspace(-8, 8, 161)) + [20.0, -60.0, 150.0], lambda G: _diag_ref(2, G), 1e-12)
        assert np.all(np.isnan(p.evaluate_distance(np.array([0.1]), 1)[0]))
        return
    gstar = 2 ** ((L - 2) / 2) / (L * (L - 2))  # u1^{2−L}/(L(L−2)), MATH.md §3
    for end in (1, -1):
        sign, log_gs = p.singular_end(end)
        assert sign == end and abs(math.exp(log_gs) - gstar) <= 4e-15 * gstar
    # by Γ away from the ends (near them Γ itself is ill-conditioned: see the distance checks)
    _check(p, tiny + list(np.linspace(-0.9 * gstar, 0.9 * gstar, 121)), lambda G: _diag_ref(L, G), 1e-12)
    # by distance to the ends, down to s = 1e-250: F ~ s^{−L/(L−2)}
    dists = gstar * 10.0 ** -np.linspace(1, 250 * (L - 2) / L, 60)
    _check(p, dists, lambda s: _diag_ref_distance(L, s), 1e-12, distance_end=1)
    mirrored = lambda s: tuple(sgn * val for sgn, val in zip((-1, 1), _diag_ref_distance(L, s), strict=True))  # noqa: E731
    _check(p, dists, mirrored, 1e-12, distance_end=-1)  # φ odd: F(−Γ) = −F(Γ)


def test_profile_edges():
    p = profile("u**3 - v**3", "u=1, v=1")
    gstar = math.sqrt(2) / 3
    lf, sf, ldf, sdf = p.evaluate(np.array([0.0, 1.5 * gstar, -1.5 * gstar, np.nan]))
    assert lf[0] == -np.inf and sf[0] == 0 and abs(ldf[0] - math.log(4.5)) < 1e-14  # F′(0) = −‖∇φ(θ̂₁)‖² = −9/2
    assert np.all(np.isnan(lf[1:])) and np.all(np.isnan(ldf[1:]))
    lf, sf, _, _ = p.evaluate_distance(np.array([0.0, -1.0]), 1)
    assert lf[0] == np.inf and sf[0] == -1 and np.isnan(lf[1])
    with pytest.raises(InputError, match="end"):
        p.evaluate_distance(np.array([0.1]), 0)


def test_profile_uv_against_its_dsolve_closed_form():
    m = model("u*v", "u=1, v=0")
    cf = m.closed_form()
    F = sp.lambdify(Gamma, cf["F"].subs(c0, 1), modules="mpmath")
    dF = sp.lambdify(Gamma, cf["dF"].subs(c0, 1), modules="mpmath")
    _check(profile("u*v", "u=1, v=0"), [1e-100, -1e-7] + list(np.linspace(-20, 20, 81)) + [100.0],
           lambda G: (F(mp.mpf(G)), dF(mp.mpf(G))), 1e-12)


def _mp_profile(phi_expr, params, direction, gammas):
    """F₁, F₁′ at each Γ by mpmath's Taylor ODE solver (working precision), Γ < 0 through the flow of −φ."""
    grad = [sp.diff(phi_expr, p) for p in params]
    f_phi = sp.lambdify(params, phi_expr, modules="mpmath")
    f_grad = sp.lambdify(params, grad, modules="mpmath")
    out = {}
    for sign in (1, -1):
        sol = mp.odefun(lambda G, y, s=sign: [-s * gi for gi in f_grad(*y)], 0, [mp.mpf(x_) for x_ in direction])
        for G in gammas:
            if G * sign > 0:
                y = sol(abs(G))
                out[G] = (f_phi(*y), -sum(gi**2 for gi in f_grad(*y)))
    return out


@pytest.mark.parametrize("phi, init, direction", [
    ("a*b*c", "a=1, b=1, c=0", ("1/sqrt(2)", "1/sqrt(2)", "0")),
    ("a**2*b - c**2*b", "a=1, b=1, c=1", ("1/sqrt(3)",) * 3),
])
def test_profile_against_independent_integration(phi, init, direction):
    m = model(phi, init)
    p = profile(phi, init)
    gstar = math.exp(p.singular_end(1)[1])
    gammas = [0.05, -0.05, 0.6 * gstar, -0.6 * gstar]
    with mp.workdps(20):
        ref = _mp_profile(m.phi, m.params, [mp.mpf(sp.sympify(s).evalf(30)) for s in direction], gammas)
    _check(p, gammas, lambda G: ref[G], 1e-12)


def test_profile_abc_near_its_singular_ends():
    """φ = abc from (1, 1, 0)/√2: a² − b² = 0 and b² − c² = 1/2 are conserved, so c′ = −(c² + 1/2) and
    F = abc = −sin(Γ/√2)/(2√2 cos³(Γ/√2)), Γ* = π/√2; at Γ = Γ* − s: F = −cos(s/√2)/(2√2 sin³(s/√2))."""
    p = profile("a*b*c", "a=1, b=1, c=0")
    gstar = math.pi / math.sqrt(2)
    assert abs(math.exp(p.singular_end(1)[1]) - gstar) <= 4e-15 * gstar
    assert abs(math.exp(p.singular_end(-1)[1]) - gstar) <= 4e-15 * gstar
    k = 1 / mp.sqrt(2)

    def ref(s):  # (F, dF/dΓ) at Γ = Γ* − s
        sn, cs = mp.sin(k * mp.mpf(s)), mp.cos(k * mp.mpf(s))
        return -cs / (2 * mp.sqrt(2) * sn**3), -k * (sn**2 + 3 * cs**2) / (2 * mp.sqrt(2) * sn**4)

    dists = gstar * 10.0 ** -np.linspace(0.5, 200, 50)
    _check(p, dists, ref, 1e-12, distance_end=1)
    exact_star = mp.pi / mp.sqrt(2)
    _check(p, list(np.linspace(-0.9, 0.9, 31) * gstar), lambda G: ref(exact_star - G) if G > 0 else
           tuple(sgn * val for sgn, val in zip((-1, 1), ref(exact_star + mp.mpf(G)), strict=True)), 1e-12)


@pytest.mark.parametrize("L", [2, 3, 6])
def test_profile_scaling_at_alpha_1e100(L):
    """F(Γ; c) = c^L F₁(c^{L−2}Γ) against the model's own closed form with c0 = α/√d in mpmath; Γ is passed
    scaled (shift), since Γ* ~ c^{2−L} is below the float range for L = 6."""
    m = model(f"u**{L} - v**{L}", "u=1, v=1")
    cf = m.closed_form()
    F = sp.lambdify([Gamma, c0], cf["F"], modules="mpmath")
    dF = sp.lambdify([Gamma, c0], cf["dF"], modules="mpmath")
    p = profile(f"u**{L} - v**{L}", "u=1, v=1")
    alpha, dim = mp.mpf(10) ** 100, 10**4
    cc = alpha / mp.sqrt(dim)
    log_c = float(mp.log(cc))
    shift = -(L - 2) * log_c
    pts = np.array([1e-3, -0.02, 0.1, -0.11]) if L > 2 else np.array([1e-3, -2.0, 30.0])
    lf, sf, ldf, sdf = p.evaluate(pts, log_c, shift=shift)
    assert np.all(np.isfinite(lf)) and np.all(np.isfinite(ldf))
    for i, G1 in enumerate(pts):
        G = mp.mpf(G1) * cc ** (2 - L)
        with mp.workdps(60):
            want_f, want_df = F(G, cc), dF(G, cc)
        assert sf[i] == mp.sign(want_f)
        assert abs(lf[i] - _log_abs(want_f)) <= 1e-12 + 4e-16 * abs(lf[i])
        assert abs(ldf[i] - _log_abs(want_df)) <= 1e-12 + 4e-16 * abs(ldf[i])
    if L > 2:
        sign, log_gs = p.singular_end(1, log_c)
        assert abs(log_gs - (float(sp.log(cf["Gamma_star_plus"].subs(c0, 1))) - (L - 2) * log_c)) < 1e-13
        lf, _, ldf, _ = p.evaluate_distance(np.array([1e-30, 1e-3]), 1, log_c, shift=shift)
        assert np.all(np.isfinite(lf)) and np.all(np.isfinite(ldf)) and lf[0] > lf[1]


def test_profile_cache(tmp_path):
    m = model("u*v", "u=1, v=0")
    first = profile_for(m, cache_dir=tmp_path)
    assert profile_for(SeparableModel("u*v", {"u": 1, "v": 0})) is first  # same key, memory cache
    separable_profile._MEMORY.pop(m.key)
    loaded = profile_for(m, cache_dir=tmp_path)
    assert loaded is not first and "loaded_from" in loaded.info
    pts = np.linspace(-3, 3, 7)
    assert np.array_equal(loaded.evaluate(pts)[0], first.evaluate(pts)[0])


def test_profile_of_abs_formula_equals_quadratic_one():
    """a|a| − b|b| from (1, 1) keeps a, b > 0 along the flow, where it is a² − b²."""
    p1, p2 = profile("a*abs(a) - b*abs(b)", "a=1, b=1"), profile("u**2 - v**2", "u=1, v=1")
    pts = np.linspace(-6, 6, 61)
    for x1, x2 in zip(p1.evaluate(pts), p2.evaluate(pts), strict=True):
        assert np.allclose(x1, x2, rtol=0, atol=1e-12, equal_nan=True)


def test_symbolic_attempts_are_time_limited(monkeypatch):
    from grokode.analytic import separable

    monkeypatch.setattr(separable, "SYMBOLIC_SECONDS", 0.05)

    def forever():
        while True:
            sum(range(1000))

    assert separable._attempt(forever, small=True) is None
    assert separable._attempt(lambda: 42, small=True) == 42
