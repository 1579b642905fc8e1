"""The diagonal linear network (docs/math.md#diagonal): declaration and derivation.

f(θ; x) = Σ_j (u_j^L − v_j^L) x_j with θ̄ = (1, 1)/√(2d). Everything the numeric layer uses is derived
here from that declaration:

* the per-coordinate gradient flow with weight decay, in terms of g_j = ∂L̂/∂w_j;
* the closed-form solution of each coordinate, by separation of variables: with U = e^{λt}u the flow
  becomes dU/dΓ = −L U^{L−1}, where Γ = ∫ e^{−(L−2)λs} g ds (Γ = G = ∫g for L = 2), solved by ``dsolve``
  and checked by substituting back into the flow;
* the conserved quantity u v e^{2λt} (L = 2), checked by differentiating along the flow;
* the reduced n-dimensional flow dS/dt = ρ(t) r(f), G = XᵀS/n, with ρ = e^{−(L−2)λt}, and its Jacobian;
* the *stable form* of the closed form used by the code generator:
  w = e^E (e^{A(z)} − e^{B(z)}), E = Lℓ₀ − Lλt, ℓ₀ = log u₀, z = κΓ, where A, B do not depend on α.
  Writing w this way lets the numerics keep E (which is ~2·log α) in log space, so α up to 1e300
  neither overflows nor cancels (docs/math.md#diagonal, "Numerics").
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import InputError, require_int
from .functions import log1p, to_elementary
from .losses import derive_loss
from .model import Derivation, SymbolicModel
from .report import index_notation

u, v, x, xp, g, lam, t = sp.symbols("u v x xp g lam t", real=True)
u0, d, n = sp.symbols("u0 d n", positive=True)
G, Gamma, z, ell0 = sp.symbols("G Gamma z ell0", real=True)

MAX_DEPTH = 6


@dataclass(frozen=True)
class StableForm:
    """w = e^{E} (e^{A(z)} − e^{B(z)}) with z = κ·Γ (see module docstring).

    ``dA``/``dB`` are A'(z), B'(z); ``slope`` = A'(0) − B'(0), so w ≈ e^E·slope·z for tiny z;
    ``log_kappa`` is log κ in terms of ℓ₀ = log u₀; ``log_rho`` is log of the reduced-flow factor ρ(t);
    ``gamma`` is the bracket exponent γ: e^{−γA(z)} and e^{−γB(z)} are the brackets of docs/math.md#diagonal
    (linear in z, 1 at z = 0; γ = 0 at depth 2, where there is none), so the closed form restarts exactly from
    any point, A(z_a + δ) = A(z_a) + A(δ·e^{γA(z_a)}) and the same for B (re-anchoring, checked in :meth:`stable_form`).
    """

    depth: int
    E: sp.Expr
    A: sp.Expr
    B: sp.Expr
    dA: sp.Expr
    dB: sp.Expr
    slope: sp.Expr
    log_kappa: sp.Expr
    log_rho: sp.Expr
    gamma: sp.Expr


def _log_of_unit_ratio(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """log(expr) for a product of exp(·) and powers of polynomials in ``var`` that equals 1 at var = 0.

    Each polynomial base P is written P(0)·(1 + (P/P(0) − 1)) so the log becomes log1p(·), which stays
    accurate for tiny ``var``; the constants P(0)^e must multiply to 1 (checked).
    """
    result, constant = sp.Integer(0), sp.Integer(1)
    stack = list(sp.Mul.make_args(sp.factor(expr)))
    while stack:
        factor = stack.pop()
        if isinstance(factor, sp.exp):
            result += factor.args[0]
            continue
        base, exponent = factor.as_base_exp()
        if isinstance(base, sp.Pow | sp.exp) or (isinstance(base, sp.Mul) and base.has(var)):
            stack.extend(sp.Pow(b, exponent) for b in sp.Mul.make_args(sp.powdenest(base, force=True)))
            if isinstance(base, sp.Pow):
                stack[-1:] = [sp.Pow(base.base, base.exp * exponent)]
            continue
        if not base.has(var):
            constant *= factor
            continue
        c0 = base.subs(var, 0)
        constant *= c0**exponent
        result += exponent * log1p(sp.expand(base / c0 - 1))
    if sp.simplify(constant - 1) != 0:
        raise AssertionError(f"{expr} is not 1 at {var} = 0 (constant {constant})")
    return result


def _hyperbolic(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Show e^{a·var} ± e^{−a·var} brackets as 2 sinh/cosh (depth 2: w = −2u0² e^{−2λt} sinh 4G); checked."""
    collected = sp.factor_terms(sp.expand(sp.powsimp(sp.expand(expr))))
    pretty = collected.replace(lambda e: isinstance(e, sp.Add) and e.has(var),
                               lambda e: sp.expand(e.replace(sp.exp, lambda a: sp.cosh(a) + sp.sinh(a))))
    if sp.simplify((pretty - expr).rewrite(sp.exp)) != 0:
        return expr
    return pretty


class DiagonalNet(SymbolicModel):
    """Depth-L diagonal linear network, one coordinate: output (u^L − v^L)·x (the sum over j is implicit)."""

    def __init__(self, depth: int = 2):
        depth = require_int("depth", depth, 2)
        if depth > MAX_DEPTH:
            raise InputError(f"depth must be between 2 and {MAX_DEPTH}, got {depth}")
        self.depth = depth
        self.name = "diagonal"
        self.params = [u, v]
        self.weight = u**depth - v**depth
        self.output = self.weight * x
        ubar = 1 / sp.sqrt(2 * d)
        self.init_direction = {u: ubar, v: ubar}

    # -- shared, per coordinate -------------------------------------------------------------------------
    def flow(self) -> dict[str, sp.Expr]:
        """du/dt, dv/dt = −g ∂w/∂θ − λθ (chain rule through the effective weight)."""
        return {str(p): sp.expand(-g * sp.diff(self.weight, p) - lam * p) for p in self.params}

    def kernel(self) -> sp.Expr:
        """Per-coordinate summand of K(x, x') = Σ_j φ_j(x)·φ_j(x')."""
        phi = self.ntk_feature()
        phi_p = {k: e.subs(x, xp) for k, e in phi.items()}
        return sp.simplify(sum(phi[p] * phi_p[p] for p in self.params))

    # -- closed form by separation of variables ---------------------------------------------------------
    def reduced_variable(self) -> sp.Symbol:
        return G if self.depth == 2 else Gamma

    def closed_form(self) -> dict[str, sp.Expr]:
        """u(t), v(t), w(t) as functions of G (L = 2) or Γ (L ≥ 3), derived with ``dsolve``."""
        if getattr(self, "_closed_form", None) is None:
            self._closed_form = self._derive_closed_form()
        return dict(self._closed_form)

    def _derive_closed_form(self) -> dict[str, sp.Expr]:
        L, q = self.depth, self.reduced_variable()
        Uf = sp.Function("U")
        sols = {}
        for name, sign in (("u", -1), ("v", +1)):
            # e^{λt}θ obeys dθ/dΓ = ∓L θ^{L−1}: the weight-decay factor drops out (verified below).
            ode = sp.Eq(Uf(q).diff(q), sign * L * Uf(q) ** (L - 1))
            sol = sp.dsolve(ode, Uf(q), ics={Uf(0): u0})
            sols[name] = sp.simplify(sp.exp(-lam * t) * sol.rhs)
        self._check_closed_form(sols)
        w = sp.simplify(sols["u"] ** L - sols["v"] ** L)
        if L == 2:
            w = _hyperbolic(w, G)
        return {"u": sols["u"], "v": sols["v"], "w": w}

    def _check_closed_form(self, sols: dict[str, sp.Expr]) -> None:
        # d/dt θ(Γ(t), t) with dΓ/dt = e^{−(L−2)λt} g must equal the flow at θ(Γ, t).
        L, q = self.depth, self.reduced_variable()
        dq_dt = sp.exp(-(L - 2) * lam * t) * g
        flow = self.flow()
        for name, expr in sols.items():
            lhs = sp.diff(expr, t) + sp.diff(expr, q) * dq_dt
            rhs = flow[name].subs({u: expr, v: expr})
            if sp.simplify(lhs - rhs) != 0:
                raise AssertionError(f"closed form for {name} does not satisfy the flow: {lhs - rhs}")
            if sp.simplify(expr.subs({q: 0, t: 0}) - u0) != 0:
                raise AssertionError(f"closed form for {name} misses the initial value u0")

    def conserved(self) -> sp.Expr | None:
        """u v e^{2λt} (depth 2): derivative along the flow is zero; value from the closed form."""
        if self.depth != 2:
            return None
        quantity = u * v * sp.exp(2 * lam * t)
        flow = self.flow()
        rate = sp.diff(quantity, u) * flow["u"] + sp.diff(quantity, v) * flow["v"] + sp.diff(quantity, t)
        if sp.simplify(rate) != 0:
            raise AssertionError(f"u v e^(2 lam t) is not conserved: rate {rate}")
        cf = self.closed_form()
        value = sp.simplify(quantity.subs({u: cf["u"], v: cf["v"]}))
        return value

    def reduced_flow(self, loss: str = "logistic") -> dict[str, sp.Expr]:
        """dS_i/dt = ρ(t)·r(f_i), f_i = Σ_j x_ij w_j(q_j, t), q_j = (1/n) Σ_i x_ij S_i (q = G or Γ).

        Returned per element; ``jacobian`` is ∂(dS_i/dt)/∂S_k = ρ ℓ''(f_i) Σ_j x_ij (∂w_j/∂q_j) x_kj / n,
        the chain rule through f_i, w_j and q_j.
        """
        L, q = self.depth, self.reduced_variable()
        ld = derive_loss(loss)
        rho = sp.exp(-(L - 2) * lam * t)
        w = self.closed_form()["w"]
        dw_dq = sp.simplify(sp.diff(w, q))
        if L == 2:
            dw_dq = _hyperbolic(dw_dq, G)
        i, j, k = sp.symbols("i j k", integer=True)
        # Index structure as undefined functions (X(i, j) = x_ij, the data; w(j), …) so that every item is a
        # plain sympy expression that ``sympify`` parses back; Svec is S (the name S is taken by sympy), and X is
        # not x, the symbol of one input coordinate in the output and the NTK feature.
        X, S, W, dW = (sp.Function(name) for name in ("X", "Svec", "w", f"dw_d{q}"))
        fsym, ysym = sp.Symbol("f", real=True), sp.Symbol("y", real=True)
        fi, yi = sp.Symbol("f_i", real=True), sp.Symbol("y_i", real=True)
        rhs = rho * ld.residual.subs({fsym: fi, ysym: yi})
        jac_entry = rho * ld.curvature.subs({fsym: fi, ysym: yi}) * sp.Sum(
            X(i, j) * dW(j) * X(k, j), (j, 1, d)) / n
        return {
            "rhs": rhs,
            "f": sp.Sum(X(i, j) * W(j), (j, 1, d)),
            str(q): sp.Sum(X(i, j) * S(i), (i, 1, n)) / n,
            "w": w,
            "dw_dq": dw_dq,
            "jacobian": jac_entry,
        }

    # -- stable form for code generation ----------------------------------------------------------------
    def stable_form(self) -> StableForm:
        """Split the closed form into α-free A(z), B(z) and the log-scale E (see module docstring)."""
        L, q = self.depth, self.reduced_variable()
        cf = self.closed_form()
        # L·log(e^{λt}θ / u0) as a function of z = κq: zero at z = 0, independent of t and of u0.
        ratios = {name: sp.simplify(cf[name] * sp.exp(lam * t) / u0) for name in ("u", "v")}
        kappa = sp.simplify(-L * sp.diff(ratios["u"], q).subs(q, 0))
        A, B = (L * _log_of_unit_ratio(sp.simplify(ratios[name].subs(q, z / kappa)), z) for name in ("u", "v"))
        if u0 in A.free_symbols or u0 in B.free_symbols:
            raise AssertionError(f"stable form still depends on u0: A={A}, B={B}")
        E = L * ell0 - L * lam * t
        log_kappa = sp.expand_log(sp.log(kappa.subs(u0, sp.exp(ell0))), force=True)
        gamma = self._bracket_exponent(A, B)
        form = StableForm(
            depth=L, E=E, A=A, B=B, dA=sp.diff(A, z), dB=sp.diff(B, z),
            slope=sp.simplify((sp.diff(A, z) - sp.diff(B, z)).subs(z, 0)),
            log_kappa=sp.simplify(log_kappa), log_rho=-(L - 2) * lam * t, gamma=gamma,
        )
        return form

    @staticmethod
    def _bracket_exponent(A: sp.Expr, B: sp.Expr) -> sp.Expr:
        """γ with e^{−γA(z)}, e^{−γB(z)} linear in z, and the restart identity it gives, both checked.

        e^{−γA} is linear iff γ = A''/A'² (at z = 0); then e^{−γA(z_a + δ)} = e^{−γA(z_a)} + δ·(−γA'(0)), so
        A(z_a + δ) = A(z_a) + A(δ·e^{γA(z_a)}): the closed form started at z_a with the bracket rescaled.
        """
        za, dz = sp.symbols("z_a delta", real=True)
        A, B = to_elementary(A), to_elementary(B)
        gamma = sp.simplify((sp.diff(A, z, 2) / sp.diff(A, z) ** 2).subs(z, 0))
        for F in (A, B):
            bracket = sp.simplify(sp.exp(-gamma * F))
            if sp.diff(bracket, z, 2) != 0:
                raise AssertionError(f"e^(-{gamma}·F) is not linear in z for F = {F}")
            # F(z_a) + F(δ e^{γF(z_a)}) = F(z_a + δ), compared through the brackets e^{−γ·}
            restart = bracket.subs(z, za) * bracket.subs(z, dz * sp.exp(gamma * F.subs(z, za)))
            if sp.simplify(restart - bracket.subs(z, za + dz)) != 0:
                raise AssertionError(f"{F} does not restart from z_a with exponent {gamma}")
            if gamma == 0 and sp.simplify(F.subs(z, za) + F.subs(z, dz) - F.subs(z, za + dz)) != 0:
                raise AssertionError(f"{F} is not additive (depth 2)")
        return gamma

    def derive(self, loss: str = "logistic") -> Derivation:
        """Every derived item, in the order ``grokode derive diagonal`` prints them."""
        L = self.depth
        out = Derivation(self.name)
        out.items["model"] = self.name
        out.items["depth"] = L
        out.items["homogeneity"] = self.homogeneity_degree()
        out.items["output"] = self.output
        out.items["flow"] = self.flow()
        out.items["ntk_feature"] = {str(k): e for k, e in self.ntk_feature().items()}
        out.items["kernel"] = self.kernel()
        out.items["closed_form"] = self.closed_form()
        conserved = self.conserved()
        if conserved is not None:
            out.items["conserved"] = {"quantity": u * v * sp.exp(2 * lam * t), "value": conserved}
        reduced = self.reduced_flow(loss)
        q = str(self.reduced_variable())
        out.items["reduced_flow"] = {k: reduced[k] for k in ("rhs", "f", q, "w")}
        out.items["jacobian"] = {"entry": reduced["jacobian"], f"dw_d{q}": reduced["dw_dq"]}
        out.items["loss"] = {"name": loss, **{k: getattr(derive_loss(loss), k)
                                              for k in ("value", "residual", "curvature")}}
        q = self.reduced_variable()
        qs = "G" if L == 2 else "Γ"
        qdef = "G = ∫₀ᵗ g ds" if L == 2 else "Γ = ∫₀ᵗ e^(−(L−2)λs) g ds"
        out.notes = {
            "model": "diagonal linear network, effective weight w = u^L − v^L",
            "homogeneity": "f(cθ; x) = c^L f(θ; x), checked by substitution",
            "output": "summand j of f(θ; x) = Σ_j (u_j^L − v_j^L) x_j; u, v, x stand for u_j, v_j, x_j",
            "flow": "with weight decay λ; g = ∂L̂/∂w, the gradient of the data loss in the effective weight",
            "ntk_feature": "∂f/∂θ at θ̄ = (1, 1)/√(2d), per coordinate",
            "kernel": "summand j of K(x, x′) = Σ_j ⟨φ_j(x), φ_j(x′)⟩; xp is x′",
            "closed_form": f"separation of variables (sympy dsolve, checked by substitution); u0 = α/√(2d), {qdef}",
            "conserved": "quantity and its value along the flow (depth 2; zero derivative checked)",
            "reduced_flow": f"exact reduction to n unknowns: dS_i/dt = rhs, S(0) = 0, {qs}_j = (1/n) Σ_i X_ij S_i "
                            "(Svec is S, X the n×d data)",
            "jacobian": f"entry (i, k) = ∂(dS_i/dt)/∂S_k; dw_d{q} = ∂w/∂{qs}",
            "loss": "ℓ(f; y), residual r = ∂ℓ/∂f, curvature ∂²ℓ/∂f² (labels ±1 for classification)",
        }
        out.titles = {"output": "Output, per coordinate", "ntk_feature": "NTK feature φ(x)",
                      "kernel": "Kernel, per coordinate"}
        qtex = "G" if L == 2 else r"\Gamma"
        out.lhs = {
            "output": r"f_{j}(\theta; x)",
            "flow": {"u": r"\dot{u}", "v": r"\dot{v}"},
            "ntk_feature": {"u": r"\phi_{u}(x)", "v": r"\phi_{v}(x)"},
            "kernel": r"K_{j}(x, x')",
            "closed_form": {"u": "u(t)", "v": "v(t)", "w": "w(t)"},
            "conserved": {"quantity": "C(u, v, t)", "value": "C(u(t), v(t), t)"},
            "reduced_flow": {"rhs": r"\dot{S}_{i}", "f": "f_{i}", str(q): f"{qtex}_{{j}}", "w": "w_{j}"},
            "jacobian": {"entry": r"\frac{\partial \dot{S}_{i}}{\partial S_{k}}",
                         f"dw_d{q}": rf"\frac{{\partial w}}{{\partial {qtex}}}"},
            "loss": {"value": r"\ell(f; y)", "residual": r"\frac{\partial \ell}{\partial f}",
                     "curvature": r"\frac{\partial^{2} \ell}{\partial f^{2}}"},
        }
        out.latex_names = {"X": index_notation("X"), "Svec": index_notation("S"), "w": index_notation("w"),
                           f"dw_d{q}": lambda args: rf"\partial_{{{qtex}}} w_{{{' '.join(args)}}}"}
        return out
