"""The sympy derivations against the formulas of docs/math.md#diagonal (typed here from MATH.md, independently)."""

import pytest
import sympy as sp

from grokode.analytic import DiagonalNet, NotHomogeneousError, SymbolicModel, derive_loss, derive_model, render
from grokode.analytic.functions import sigmoid, to_elementary
from grokode.errors import InputError

u, v, x, g, lam, t, xp = sp.symbols("u v x g lam t xp", real=True)
u0, d = sp.symbols("u0 d", positive=True)
G, Gamma, f, y = sp.symbols("G Gamma f y", real=True)


def same(a, b) -> bool:
    return sp.simplify(to_elementary(sp.sympify(a) - sp.sympify(b))) == 0


@pytest.mark.parametrize("L", [2, 3, 4])
def test_flow_and_homogeneity(L):
    m = DiagonalNet(L)
    assert m.homogeneity_degree() == L
    flow = m.flow()
    assert same(flow["u"], -L * u ** (L - 1) * g - lam * u)
    assert same(flow["v"], L * v ** (L - 1) * g - lam * v)
    assert m.zero_output_at_init()


@pytest.mark.parametrize("L", [2, 3, 4])
def test_ntk_feature_and_kernel(L):
    m = DiagonalNet(L)
    ubar = 1 / sp.sqrt(2 * d)
    phi = {str(k): e for k, e in m.ntk_feature().items()}
    assert same(phi["u"], L * ubar ** (L - 1) * x)
    assert same(phi["v"], -L * ubar ** (L - 1) * x)
    assert same(m.kernel(), 2 * L**2 * ubar ** (2 * L - 2) * x * xp)


def test_closed_form_depth2_matches_math_md():
    cf = DiagonalNet(2).closed_form()
    assert same(cf["u"], u0 * sp.exp(-lam * t - 2 * G))
    assert same(cf["v"], u0 * sp.exp(-lam * t + 2 * G))
    assert same(cf["w"], -2 * u0**2 * sp.exp(-2 * lam * t) * sp.sinh(4 * G))


@pytest.mark.parametrize("L", [3, 4])
def test_closed_form_depth_ge3_matches_math_md(L):
    cf = DiagonalNet(L).closed_form()
    # MATH.md: (e^{λt}u)^{2−L} = u0^{2−L} + L(L−2)Γ, (e^{λt}v)^{2−L} = u0^{2−L} − L(L−2)Γ
    assert same((sp.exp(lam * t) * cf["u"]) ** (2 - L), u0 ** (2 - L) + L * (L - 2) * Gamma)
    assert same((sp.exp(lam * t) * cf["v"]) ** (2 - L), u0 ** (2 - L) - L * (L - 2) * Gamma)
    assert same(cf["w"], cf["u"] ** L - cf["v"] ** L)


def test_conserved_quantity():
    assert same(DiagonalNet(2).conserved(), u0**2)
    assert DiagonalNet(3).conserved() is None


def test_reduced_flow_jacobian_factor():
    red = DiagonalNet(2).reduced_flow("logistic")
    assert same(red["dw_dq"], -8 * u0**2 * sp.exp(-2 * lam * t) * sp.cosh(4 * G))
    red3 = DiagonalNet(3).reduced_flow("squared")
    fi, yi = sp.symbols("f_i y_i", real=True)
    assert same(red3["rhs"], sp.exp(-lam * t) * 2 * (fi - yi))


@pytest.mark.parametrize("L", [2, 3, 4, 5])
def test_stable_form_reproduces_closed_form(L):
    m = DiagonalNet(L)
    sf = m.stable_form()
    q = m.reduced_variable()
    kappa = sp.exp(sf.log_kappa.subs(sp.Symbol("ell0", real=True), sp.log(u0)))
    z = sp.Symbol("z", real=True)
    ell0 = sp.Symbol("ell0", real=True)
    rebuilt = sp.exp(sf.E.subs(ell0, sp.log(u0))) * (sp.exp(sf.A) - sp.exp(sf.B))
    rebuilt = rebuilt.subs(z, kappa * q)
    w = m.closed_form()["w"]
    # compare numerically at random points inside the domain (the brackets stay positive)
    import random
    rnd = random.Random(L)
    for _ in range(5):
        vals = {u0: rnd.uniform(0.5, 2.0), lam: rnd.uniform(0, 0.1), t: rnd.uniform(0, 10)}
        vals[q] = rnd.uniform(-0.1, 0.1) / float(kappa.subs(vals))
        a, b = complex(to_elementary(rebuilt).subs(vals).evalf()), complex(w.subs(vals).evalf())
        assert abs(a - b) <= 1e-12 * max(1.0, abs(b))
    assert sf.slope == -2


def test_losses_match_table():
    lg = derive_loss("logistic")
    m = y * f
    assert same(lg.residual, -y * sigmoid(-m))
    assert same(derive_loss("exponential").residual, -y * sp.exp(-m))
    assert same(derive_loss("squared").residual, 2 * (f - y))
    assert same(sp.exp(lg.log_curvature), lg.curvature)


def test_not_homogeneous_is_reported():
    class Bad(SymbolicModel):
        name = "bad"
        params = [u, v]
        output = (u**2 + v) * x
        init_direction = {u: 1, v: 1}

    with pytest.raises(NotHomogeneousError, match="not homogeneous"):
        Bad().homogeneity_degree()


def test_bad_input():
    with pytest.raises(InputError, match="got 1"):
        derive_model("diagonal", depth=1)
    with pytest.raises(InputError, match="'matrix2'"):
        derive_model("matrix2")
    with pytest.raises(InputError, match="'hinge'"):
        derive_model("diagonal", loss="hinge")


def test_json_roundtrip_parses():
    import json
    obj = json.loads(render(derive_model("diagonal", depth=2), "json"))
    assert obj["depth"] == 2 and obj["homogeneity"] == 2
    assert same(obj["flow"]["u"], "-2*u*g - lam*u")
    assert same(obj["closed_form"]["w"], "-2*u0**2*exp(-2*lam*t)*sinh(4*G)")
    assert same(obj["conserved"]["quantity"], "u*v*exp(2*lam*t)")
    for key in ("model", "output", "ntk_feature", "reduced_flow", "jacobian"):
        assert key in obj
    for section in ("flow", "ntk_feature", "closed_form", "reduced_flow", "jacobian"):
        for value in obj[section].values():
            sp.sympify(value)
    obj3 = json.loads(render(derive_model("diagonal", depth=3), "json"))
    assert "conserved" not in obj3 and "Gamma" in obj3["closed_form"]["w"]
