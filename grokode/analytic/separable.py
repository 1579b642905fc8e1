"""Separable homogeneous models with a user-given φ (docs/math.md#separable): the sympy derivation.

The model is f(θ; x) = Σ_j φ(θ_j) x_j with θ_j ∈ R^k and φ positively homogeneous of degree L ≥ 2; every
coordinate starts at θ_j(0) = c0·θ̂₁ with θ̂₁ = θ̂/‖θ̂‖ and c0 = α/√d (so ‖θ(0)‖ = α). The user writes φ as
a formula (``"a*b*c"``) and θ̂ as name=value pairs (``"a=1, b=1, c=0"``); both are untrusted text, parsed
by the safe parser of :mod:`grokode.analytic.formula` (never ``eval``/``sympify``).

Derived here (:meth:`SeparableModel.derive`):

* the homogeneity degree L, checked symbolically (φ(cθ) = c^L φ(θ) for c > 0);
* the per-coordinate flow dθ/dt = −g ∇φ(θ) − λθ;
* the NTK feature and kernel at θ̄ = c0·θ̂₁: K(x, x') = c_K x x' per coordinate, c_K = ‖∇φ(θ̄)‖²;
* the late-phase regularizer ψ(w) = min{‖θ‖² : φ(θ) = w} = c_± |w|^{2/L}, c_± = (max_{‖θ‖=1} ±φ)^{−2/L}
  (exact critical values from the Lagrange conditions by Gröbner elimination where sympy manages,
  matched to a multi-start numeric maximization on the sphere, which is used alone otherwise);
* conserved quadratic forms Q(θ) = θᵀAθ with ∇Q·∇φ ≡ 0 (a linear system in A): e^{2λt}Q(θ_j(t)) is
  constant along the flow (checked by differentiating along it);
* the profile: θ_j(t) = e^{−λt} Ψ(Γ_j(t)) with dΨ/dΓ = −∇φ(Ψ), Ψ(0) = θ̄, and F = φ∘Ψ,
  F′(Γ) = −‖∇φ(Ψ(Γ))‖²; a closed form when the system decouples (separation of variables) or is
  linear and small (``dsolve``), checked by substitution into the ODE.

The numeric side (F tabulated once per formula, evaluated in log magnitudes) is
:mod:`grokode.numeric.separable_profile`.

JSON rendering: every value is a string that ``sympy.sympify(s, locals=json_locals(model))`` parses back
(:func:`json_locals` maps the parameter names, which may be sympy-reserved names such as ``E`` or ``N``,
and the derivation's own symbols and functions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import sympy as sp

from ..errors import InputError
from .formula import MAX_DEGREE, MAX_PARAMS, RESERVED_NAMES, _short, parse_init, parse_phi
from .model import Derivation, SymbolicModel, drop_delta
from .time_limit import time_limit

#: Wall-clock budget of each optional symbolic attempt (Gröbner elimination, dsolve), main thread only.
SYMBOLIC_SECONDS = 3.0

# The derivation's own symbols (same names and assumptions as grokode.analytic.diagonal).
x, xp, g, lam, t = sp.symbols("x xp g lam t", real=True)
c0 = sp.Symbol("c0", positive=True)  # c0 = α/√d, the norm of every θ_j(0)
Gamma = sp.Symbol("Gamma", real=True)
w_j = sp.Symbol("w_j", real=True)
r_i = sp.Symbol("r_i", real=True)
F = sp.Function("F")

def _attempt(fn, *, small: bool):
    """Run a symbolic attempt under the time limit; None when it fails or takes too long.

    Outside the main thread no limit can be armed, so only ``small`` problems are attempted there.
    """
    try:
        with time_limit(SYMBOLIC_SECONDS) as armed:
            if not armed and not small:
                return None
            return fn()
    except Exception:  # an optional attempt: any failure, including the time limit, means "no"
        return None


def _prefer_hyperbolic(expr: sp.Expr) -> sp.Expr:
    """Rewrite sums of exponentials as cosh/sinh when that is shorter (checked equal)."""
    if not expr.has(sp.exp):
        return expr
    cand = sp.factor_terms(sp.expand(sp.expand(expr).rewrite(sp.cosh)))
    if sp.count_ops(cand) < sp.count_ops(expr) and sp.simplify((cand - expr).rewrite(sp.exp)) == 0:
        return cand
    return expr


class SeparableModel(SymbolicModel):
    """Separable L-homogeneous model f(θ; x) = Σ_j φ(θ_j) x_j with a user formula φ (docs/math.md#separable).

    One coordinate is declared (output φ(θ)·x; the sum over j is implicit), initialized at θ̄ = c0·θ̂₁ with
    θ̂₁ = θ̂/‖θ̂‖ and c0 = α/√d. Requires φ(θ̂) = 0 (zero output at initialization, Assumption 3.2) and
    ∇φ(θ̂) ≠ 0 (else the flow never leaves θ̄ and the NTK vanishes).

    Parameters
    ----------
    phi : str
        The formula, e.g. ``"a*b*c"`` (see :func:`parse_phi` for what is allowed).
    init : str or Mapping
        The direction θ̂, e.g. ``"a=1, b=1, c=0"`` or ``{"a": 1, "b": 1, "c": 0}`` (see :func:`parse_init`).
    """

    name = "separable"

    def __init__(self, phi: str, init: str | Mapping):
        self.phi_text = phi
        self.phi, self.params = parse_phi(phi)
        self.theta_hat = parse_init(init, self.params)
        self.polynomial = not self.phi.has(sp.Abs)
        self.degree = self.homogeneity_degree()
        self.output = self.phi * x
        norm = sp.sqrt(sum(v**2 for v in self.theta_hat.values()))
        self.unit = {p: sp.radsimp(v / norm) for p, v in self.theta_hat.items()}
        self.init_direction = {p: c0 * self.unit[p] for p in self.params}
        at_init = sp.simplify(self.phi.subs(self.theta_hat))
        if at_init != 0 and at_init.equals(0) is not True:
            shown = sp.sstr(at_init) if len(sp.sstr(at_init)) <= 12 else f"{float(at_init):.3g}"
            raise InputError(
                f"phi({self._init_text()}) = {shown} is not 0 (exactly; write irrational values like 2**(1/2)): "
                "the model output at initialization "
                "f(θ(0); x) = Σ_j φ(θ_j(0)) x_j must be 0 for every x (zero-output initialization, Assumption 3.2); "
                "choose init with phi(init) = 0")
        self.gradient = [drop_delta(sp.diff(self.phi, p)) for p in self.params]
        grad0 = [sp.simplify(e.subs(self.unit)) for e in self.gradient]
        if all(v == 0 for v in grad0):
            raise InputError(f"the gradient of phi vanishes at init {self._init_text()}: the flow never leaves the "
                             "initialization and the NTK is zero; choose another init")
        self.grad_norm_sq_unit = sp.radsimp(sp.expand(sum(v**2 for v in grad0)))
        self._cache: dict[str, object] = {}

    def _init_text(self) -> str:
        def show(v):
            return sp.sstr(v) if v.is_Integer or len(sp.sstr(v)) <= 12 else f"{float(v):.17g}"
        return ", ".join(f"{p.name}={show(v)}" for p, v in self.theta_hat.items())

    @property
    def key(self) -> str:
        """Canonical identity of (φ, θ̂₁): equal keys give the same profile F₁."""
        unit = ",".join(sp.srepr(self.unit[p]) for p in self.params)
        return f"{sp.srepr(sp.expand(self.phi))}|{','.join(p.name for p in self.params)}|{unit}"

    # -- homogeneity -------------------------------------------------------------------------------------
    def homogeneity_degree(self) -> int:
        """L with φ(cθ) = c^L φ(θ) for c > 0, derived by substitution; InputError if none or L < 2."""
        c = sp.Dummy("c", positive=True)
        scaled = self.phi.subs({p: c * p for p in self.params}, simultaneous=True)
        scaled = scaled.replace(lambda e: isinstance(e, sp.Abs), lambda e: sp.Abs(sp.factor_terms(e.args[0])))
        text = _short(self.phi_text)
        try:
            poly = sp.Poly(sp.expand(scaled), c)
        except sp.PolynomialError:
            raise InputError(f"phi {text} is not homogeneous in {', '.join(p.name for p in self.params)}") from None
        terms = poly.terms()
        if len(terms) != 1 or sp.expand(terms[0][1] - self.phi) != 0:
            degrees = sorted({m[0] for m, _ in terms})
            raise InputError(f"phi {text} is not homogeneous: it has terms of degrees {degrees}; "
                             "every term must have the same degree L >= 2")
        L = terms[0][0][0]
        if L < 2:
            raise InputError(f"phi {text} is homogeneous of degree {L}; the theory needs degree L >= 2")
        if L > MAX_DEGREE:
            raise InputError(f"phi {text} has degree {L} (at most {MAX_DEGREE})")
        return int(L)

    # -- flow, NTK, kernel -------------------------------------------------------------------------------
    def flow(self) -> dict[str, sp.Expr]:
        """dθ/dt = −g ∇φ(θ) − λθ per parameter (g = ∂L̂/∂w_j for this coordinate)."""
        return {p.name: -g * dp - lam * p for p, dp in zip(self.params, self.gradient, strict=True)}

    def ntk_feature(self) -> dict[sp.Symbol, sp.Expr]:
        """φ(x) = ∇_θ f(θ̄; x) = ∇φ(θ̄)·x."""
        return {p: sp.radsimp(dp.subs(self.init_direction)) * x for p, dp in zip(self.params, self.gradient,
                                                                                    strict=True)}

    def kernel_constant(self) -> sp.Expr:
        """c_K = ‖∇φ(θ̄)‖² = c0^{2(L−1)} ‖∇φ(θ̂₁)‖² (∇φ is (L−1)-homogeneous)."""
        return self.grad_norm_sq_unit * c0 ** (2 * self.degree - 2)

    def kernel(self) -> sp.Expr:
        """Per-coordinate summand of K(x, x') = c_K Σ_j x_j x'_j."""
        feat = self.ntk_feature()
        value = sp.radsimp(sp.expand(sum(e * e.subs(x, xp) for e in feat.values())))
        if sp.expand(sp.radsimp(value - self.kernel_constant() * x * xp)) != 0:
            raise AssertionError(f"kernel {value} differs from c_K x x'")
        return value

    # -- late-phase regularizer ----------------------------------------------------------------------------
    def _sphere_max_numeric(self, sign: int) -> tuple[float, np.ndarray]:
        """max over the unit sphere of sign·φ: screen 4000 seeded random directions (and ±axes, θ̂₁), then
        BFGS on φ(θ/‖θ‖) from the 12 best; converged to gtol 1e-13, so the value is good to ~1e-20."""
        from scipy.optimize import minimize

        fns = self.numeric_functions()
        fn, vec = fns["phi_grad"], fns["phi"]
        L, k = self.degree, len(self.params)

        def objective(th):
            nrm = math.sqrt(float(th @ th))
            om = th / nrm
            val, grad = fn(om)
            tang = (grad - L * val * om) / nrm
            return -sign * val, -sign * tang

        rng = np.random.default_rng(20240611)
        fixed = np.vstack([np.eye(k), -np.eye(k), fns["direction"][None, :]])
        sample = rng.standard_normal((4000, k))
        sample /= np.linalg.norm(sample, axis=1)[:, None]
        values = sign * vec(sample.T)
        starts = list(fixed) + list(sample[np.argsort(values)[-12:]])
        best, best_x = -math.inf, None
        for s in starts:
            res = minimize(objective, s, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 400})
            val = -res.fun
            if val > best:
                best, best_x = val, res.x / np.linalg.norm(res.x)
        return best, best_x

    def _critical_values(self) -> sp.Poly | None:
        """Univariate polynomial whose roots contain every critical value of φ on the unit sphere.

        Lagrange conditions ∇φ(θ) = μθ, ‖θ‖ = 1 with μ = Lφ(θ) (Euler), eliminated by a lex Gröbner basis.
        """
        if not self.polynomial:
            return None
        v = sp.Dummy("v")
        eqs = [dp - self.degree * v * p for p, dp in zip(self.params, self.gradient, strict=True)]
        eqs += [sum(p**2 for p in self.params) - 1, self.phi - v]

        def run():
            basis = sp.groebner(eqs, *self.params, v, order="lex")
            for e in reversed(basis.exprs):
                if e.free_symbols == {v}:
                    return sp.Poly(e, v)
            return None

        return _attempt(run, small=len(self.params) <= 3 and self.degree <= 4)

    def regularizer(self) -> dict[str, object]:
        """c_± with ψ(w) = c_± |w|^{2/L}; c_± = (max_{‖θ‖=1} ±φ)^{−2/L}, ∞ where that max is ≤ 0.

        Returns ``c_plus``, ``c_minus`` (sympy numbers: exact when the numeric maximum matches a root of
        the critical-value polynomial to 1e-10, else 17-digit floats), ``max_plus``, ``max_minus`` (floats),
        ``method`` ("lagrange" if both are exact, "numeric" otherwise) and ``methods`` per sign.
        """
        if "regularizer" in self._cache:
            return self._cache["regularizer"]
        L = self.degree
        poly = self._critical_values() if len(self.params) <= 4 and L <= 6 else None
        roots = []
        if poly is not None:
            roots = _attempt(lambda: poly.real_roots(), small=True) or []
        out: dict[str, object] = {}
        methods = {}
        for sign, label in ((1, "plus"), (-1, "minus")):
            value, _ = self._sphere_max_numeric(sign)
            exact = None
            for r in roots:
                if abs(float(sign * r) - value) <= 1e-10 * max(1.0, abs(value)):
                    exact = sp.nsimplify(sign * r) if isinstance(r, sp.Rational) else sign * r
                    break
            if exact is not None:
                value = float(sp.N(exact, 30))
            methods[label] = "lagrange" if exact is not None else "numeric"
            out[f"max_{label}"] = value
            if value <= 0:
                out[f"c_{label}"] = sp.oo
            elif exact is not None:
                out[f"c_{label}"] = sp.simplify(exact ** sp.Rational(-2, L))
            else:
                out[f"c_{label}"] = sp.Float(value ** (-2.0 / L), 17)
        out["method"] = "lagrange" if all(m == "lagrange" for m in methods.values()) else "numeric"
        out["methods"] = methods
        self._cache["regularizer"] = out
        return out

    def regularizer_expr(self) -> sp.Expr:
        """ψ(w_j) = c_+ |w_j|^{2/L} for w_j ≥ 0, c_− |w_j|^{2/L} for w_j < 0."""
        reg = self.regularizer()
        power = sp.Abs(w_j) ** sp.Rational(2, self.degree)
        return sp.Piecewise((reg["c_plus"] * power, w_j >= 0), (reg["c_minus"] * power, True))

    # -- conserved quantities ------------------------------------------------------------------------------
    def conserved(self) -> list[sp.Expr]:
        """Quadratic forms Q with ∇Q·∇φ ≡ 0 (basis, integer coefficients); e^{2λt}Q(θ) is conserved.

        Each is verified by differentiating e^{2λt}Q(θ(t)) along the flow. Empty for non-polynomial φ.
        """
        if "conserved" in self._cache:
            return self._cache["conserved"]
        found: list[sp.Expr] = []
        if self.polynomial:
            k = len(self.params)
            pairs = [(i, j) for i in range(k) for j in range(i, k)]
            coeffs = sp.symbols(f"q0:{len(pairs)}")
            Q = sum(cf * self.params[i] * self.params[j] for cf, (i, j) in zip(coeffs, pairs, strict=True))
            ident = sp.expand(sum(sp.diff(Q, p) * dp for p, dp in zip(self.params, self.gradient, strict=True)))
            eqs = sp.Poly(ident, *self.params).coeffs() if ident != 0 else []
            if eqs:
                M = sp.Matrix([[sp.diff(e, cf) for cf in coeffs] for e in eqs])
                null = M.nullspace()
            else:
                null = [sp.Matrix([1 if a == b else 0 for b in range(len(pairs))]) for a in range(len(pairs))]
            if null:
                basis = sp.Matrix.hstack(*null).T.rref()[0]
                for row in range(basis.rows):
                    vec = basis.row(row)
                    if not any(vec):
                        continue
                    den = sp.ilcm(*[sp.fraction(v)[1] for v in vec])
                    q = sp.expand(sum(v * den * self.params[i] * self.params[j]
                                      for v, (i, j) in zip(vec, pairs, strict=True)))
                    found.append(q)
        for q in found:
            quantity = sp.exp(2 * lam * t) * q
            flow = self.flow()
            rate = sp.diff(quantity, t) + sum(sp.diff(quantity, p) * flow[p.name] for p in self.params)
            if sp.expand(rate * sp.exp(-2 * lam * t)) != 0:
                raise AssertionError(f"e^(2 lam t) ({q}) is not conserved: rate {rate}")
        self._cache["conserved"] = found
        return found

    # -- the profile Ψ(Γ), F(Γ) ------------------------------------------------------------------------------
    def profile_ode(self) -> dict[str, sp.Expr]:
        """dΨ/dΓ = −∇φ(Ψ), one entry per component (the parameter symbols stand for Ψ's components)."""
        return {p.name: -dp for p, dp in zip(self.params, self.gradient, strict=True)}

    def _decoupled(self) -> dict[sp.Symbol, sp.Expr] | None:
        """φ = Σ_i a_i θ_i^L (each ∂φ/∂θ_i depends on θ_i only): {θ_i: a_i}, else None."""
        if not self.polynomial:
            return None
        coef = {p: sp.Integer(0) for p in self.params}
        for term in sp.Add.make_args(sp.expand(self.phi)):
            syms = term.free_symbols
            if len(syms) != 1:
                return None
            p = next(iter(syms))
            a, rest = term.as_coeff_mul(p)
            if sp.Mul(*rest) != p**self.degree:
                return None
            coef[p] += a
        return coef

    def closed_form(self) -> dict[str, sp.Expr] | None:
        """Ψ(Γ), F(Γ) = φ(Ψ(Γ)) and F′(Γ) in closed form, or None; verified by substitution into the ODE.

        Decoupled φ = Σ a_i θ_i^L: separation of variables per component, Ψ_i = θ̄_i (1 + (L−2) L a_i θ̄_i^{L−2} Γ)
        ^{−1/(L−2)} (L ≥ 3) or θ̄_i e^{−2a_iΓ} (L = 2), with the singular ends Γ*± where a bracket vanishes.
        Quadratic φ with k ≤ 3 (a linear system): ``sympy.dsolve``. ``method`` is "separation" or "dsolve".
        """
        if "closed_form" in self._cache:
            return self._cache["closed_form"]
        L = self.degree
        result = None
        coef = self._decoupled()
        method = None
        if coef is not None:
            psi = {}
            for p, a in coef.items():
                y0 = self.init_direction[p]
                if L == 2:
                    psi[p] = y0 * sp.exp(-2 * a * Gamma)
                else:
                    psi[p] = y0 * (1 + (L - 2) * L * a * y0 ** (L - 2) * Gamma) ** sp.Rational(-1, L - 2)
            method = "separation"
        elif self.polynomial and L == 2 and len(self.params) <= 3:
            funcs = {p: sp.Function(f"Psi_{p.name}")(Gamma) for p in self.params}
            eqs = [sp.Eq(funcs[p].diff(Gamma), -dp.subs(funcs, simultaneous=True))
                   for p, dp in zip(self.params, self.gradient, strict=True)]
            ics = {funcs[p].subs(Gamma, 0): self.init_direction[p] for p in self.params}
            sol = _attempt(lambda: sp.dsolve(eqs, list(funcs.values()), ics=ics), small=len(self.params) <= 2)
            if sol is not None:
                by_func = {s.lhs: s.rhs for s in sol}
                psi = {p: _prefer_hyperbolic(sp.simplify(by_func[funcs[p]])) for p in self.params}
                method = "dsolve"
        if method is not None and self._check_profile(psi):
            Fexpr = self.phi.subs(psi, simultaneous=True)
            if L == 2:
                Fexpr = _prefer_hyperbolic(sp.simplify(Fexpr))
                dF = _prefer_hyperbolic(sp.simplify(sp.diff(Fexpr, Gamma)))
            else:  # keep the brackets (1 + κΓ)^{−1/(L−2)} visible: simplify() would multiply them out
                Fexpr = sp.powsimp(Fexpr)
                dF = sp.powsimp(sp.diff(Fexpr, Gamma))
            expect = -sum(dp.subs(psi, simultaneous=True) ** 2 for dp in self.gradient)
            if sp.simplify(dF - expect) != 0:
                raise AssertionError(f"F' = {dF} is not -|grad phi(Psi)|^2 = {expect}")
            result = {f"Psi_{p.name}": psi[p] for p in self.params}
            result["F"] = Fexpr
            result["dF"] = dF
            result["method"] = method
            if L >= 3 and coef is not None:
                ends = []
                for p, a in coef.items():
                    y0 = self.init_direction[p]
                    if a != 0 and y0 != 0:
                        ends.append(sp.simplify(-1 / ((L - 2) * L * a * y0 ** (L - 2))))
                plus = [e for e in ends if e.subs(c0, 1) > 0]
                minus = [e for e in ends if e.subs(c0, 1) < 0]
                result["Gamma_star_plus"] = min(plus, key=lambda e: e.subs(c0, 1)) if plus else sp.oo
                result["Gamma_star_minus"] = max(minus, key=lambda e: e.subs(c0, 1)) if minus else -sp.oo
        self._cache["closed_form"] = result
        return result

    def _check_profile(self, psi: dict[sp.Symbol, sp.Expr]) -> bool:
        """Ψ solves dΨ/dΓ = −∇φ(Ψ) with Ψ(0) = θ̄ (symbolically; for L ≥ 3 inside the brackets' domain)."""
        for p, dp in zip(self.params, self.gradient, strict=True):
            lhs = sp.diff(psi[p], Gamma)
            rhs = -dp.subs(psi, simultaneous=True)
            if sp.simplify(sp.powsimp(lhs - rhs, force=True)) != 0:
                return False
            if sp.simplify(psi[p].subs(Gamma, 0) - self.init_direction[p]) != 0:
                return False
        return True

    def lie_polynomials(self, order: int = 3) -> list[sp.Expr]:
        """P_0 = φ, P_{m+1} = −∇P_m·∇φ: F^{(m)}(Γ) = P_m(Ψ(Γ)), homogeneous of degree L + m(L−2)."""
        key = f"lie{order}"
        if key not in self._cache:
            out = [self.phi]
            for _ in range(order):
                nxt = drop_delta(-sum(sp.diff(out[-1], p) * dp for p, dp in zip(self.params, self.gradient,
                                                                                   strict=True)))
                out.append(sp.expand(nxt) if self.polynomial else nxt)
            self._cache[key] = out
        return list(self._cache[key])

    def numeric_functions(self) -> dict[str, object]:
        """Float callables for the numeric side: ``phi_grad(ω) -> (φ, ∇φ)``, ``phi(Ω) -> (m,)`` and
        ``lie(Ω) -> (4, m)`` (Ω: (k, m)), plus ``degree``, ``k``, ``direction`` (θ̂₁) and ``key``."""
        if "numeric" in self._cache:
            return self._cache["numeric"]
        params = self.params
        pg = sp.lambdify([params], [self.phi, *self.gradient], modules="numpy", cse=True)

        def phi_grad(om):
            vals = pg(om)
            return float(vals[0]), np.array(vals[1:], dtype=np.float64)

        lie_fn = sp.lambdify([params], self.lie_polynomials(3), modules="numpy", cse=True)

        def lie(om):
            vals = lie_fn(om)
            return np.array(np.broadcast_arrays(*[np.asarray(v, dtype=np.float64) for v in vals]))

        phi_vec = sp.lambdify([params], self.phi, modules="numpy")

        def phi(om):
            return np.broadcast_to(np.asarray(phi_vec(om), dtype=np.float64), np.shape(om)[1:])

        out = {"phi_grad": phi_grad, "phi": phi, "lie": lie, "degree": self.degree, "k": len(params),
               "direction": np.array([float(self.unit[p]) for p in params]), "key": self.key}
        self._cache["numeric"] = out
        return out

    def phi_kernel(self):
        """The compiled kernel of φ, ∇φ and the Hessian about θ̂₁ (:func:`grokode.analytic.codegen.phi_kernels`):
        the full flow (numeric layer) receives it through the model instead of importing the analytic layer."""
        from .codegen import phi_kernels

        return phi_kernels(self)

    # -- everything, for rendering -------------------------------------------------------------------------
    def derive(self, loss: str | None = None) -> Derivation:
        """Every derived item in display order (``loss`` is accepted for symmetry with the other models and
        not used: the separable derivation does not depend on the loss)."""
        L = self.degree
        out = Derivation(self.name)
        out.items["model"] = self.name
        out.items["phi"] = self.phi
        out.items["homogeneity"] = L
        out.items["output"] = self.output
        out.items["init_direction"] = {p.name: e for p, e in self.init_direction.items()}
        out.items["flow"] = self.flow()
        out.items["ntk_feature"] = {p.name: e for p, e in self.ntk_feature().items()}
        out.items["kernel"] = {"K": self.kernel(), "c_K": self.kernel_constant()}
        conserved = self.conserved()
        if conserved:
            out.items["conserved_quantities"] = {f"Q{i + 1}": sp.exp(2 * lam * t) * q for i, q in enumerate(conserved)}
            out.items["conserved_quantities"].update({f"Q{i + 1}(0)": sp.radsimp(q.subs(self.init_direction))
                                           for i, q in enumerate(conserved)})
        out.items["profile_ode"] = {f"dPsi_{k}/dGamma": e for k, e in self.profile_ode().items()}
        out.items["profile_init"] = {f"Psi_{p.name}(0)": e for p, e in self.init_direction.items()}
        cf = self.closed_form()
        if cf is not None:
            out.items["closed_form"] = {k: v for k, v in cf.items() if k != "method"}
        lie = self.lie_polynomials(1)
        out.items["reduced_flow"] = {
            "w_j": sp.exp(-L * lam * t) * F(Gamma),
            "dF_dGamma": lie[1],
            "rho": sp.exp(-(L - 2) * lam * t),
            "scaling": c0**L * sp.Function("F1")(c0 ** (L - 2) * Gamma),
        }
        reg = self.regularizer()
        out.items["regularizer"] = {"psi": self.regularizer_expr(), "c_plus": reg["c_plus"],
                                    "c_minus": reg["c_minus"]}
        out.items["methods"] = {
            "closed_form": cf["method"] if cf is not None else "none",
            "regularizer": reg["method"],
            "conserved": "quadratic" if self.polynomial else "none",
        }
        rich = ("L = 2: the rich predictor minimizes Σ_j (c_plus·w⁺_j + c_minus·w⁻_j) subject to the margin or "
                "interpolation constraints (a linear program, w = w⁺ − w⁻)" if L == 2 else
                f"L = {L}: ψ is non-convex (|w|^(2/{L})); the rich objective Σ_j ψ(w_j) is a reference only "
                "(KKT points)")
        cf_note = {"separation": "separation of variables per component, verified by substitution",
                   "dsolve": "sympy dsolve of the linear system, verified by substitution"}
        out.notes = {
            "model": "separable homogeneous model f(θ; x) = Σ_j φ(θ_j) x_j",
            "phi": f"φ(θ) with θ = ({', '.join(p.name for p in self.params)})",
            "output": "per coordinate (the sum over j is implicit)",
            "init_direction": "θ_j(0) = c0·θ̂/‖θ̂‖ with c0 = α/√d",
            "flow": "gradient flow with weight decay; g = ∂L̂/∂w_j",
            "ntk_feature": "NTK feature at θ̄",
            "kernel": "kernel K(x, x') = c_K Σ_j x_j x'_j: the kernel predictor is max ℓ2-margin / min ℓ2-norm",
            "conserved_quantities": "e^(2λt) Q(θ_j(t)) is conserved along the flow (checked by differentiation)",
            "profile_ode": "θ_j(t) = e^(-λt) Ψ(Γ_j(t)), dΨ/dΓ = -∇φ(Ψ), Γ_j = (Xᵀ H)_j / n (docs/math.md#separable)",
            "profile_init": "Ψ(0) = θ̄",
            "closed_form": cf_note.get(cf["method"], "") + (", valid between the singular ends Γ*" if L >= 3 else "")
            if cf is not None else "",
            "reduced_flow": "w_j = e^(-Lλt) F(Γ_j), F′ = dF_dGamma at Ψ(Γ); dH/dt = ρ r(f); "
                            "F(Γ; c0) = c0^L F1(c0^(L-2) Γ)",
            "regularizer": f"ψ(w) = min{{‖θ‖² : φ(θ) = w}}; c_± from max of ±φ on the unit sphere "
                           f"({reg['methods']['plus']}/{reg['methods']['minus']}). {rich}",
            "methods": "lagrange = exact critical value matched to the numeric sphere maximum; "
                       "numeric = multi-start maximization only",
        }
        if cf is None:
            out.notes["profile_ode"] += ("; no closed form: F is tabulated numerically "
                                         "(grokode.numeric.separable_profile)")
        self._check_names(out)
        return out

    def _check_names(self, derivation: Derivation) -> None:
        """No parameter may share a name with another symbol or function in the output (JSON round trip)."""
        names = {p.name for p in self.params}
        used: set[str] = set()

        def collect(value):
            if isinstance(value, dict):
                for v in value.values():
                    collect(v)
            elif isinstance(value, sp.Basic):
                for a in sp.preorder_traversal(value):
                    if isinstance(a, sp.Symbol) and a not in self.params:
                        used.add(a.name)
                    elif isinstance(a, sp.Function | sp.core.function.AppliedUndef):
                        used.add(type(a).__name__)
                    elif isinstance(a, sp.NumberSymbol | sp.core.numbers.ImaginaryUnit):
                        used.add(str(a))

        collect(derivation.items)
        clash = sorted(names & used)
        if clash:
            raise InputError(f"parameter name {clash[0]!r} clashes with a name the derivation prints; rename it")


def json_locals(model: SeparableModel) -> dict[str, object]:
    """``locals`` for ``sympy.sympify`` that parse a JSON-rendered separable derivation back.

    Parameters map to real symbols of the same name (so ``E``, ``N``, ``S``, ``I``, ``Q`` are parameters,
    not sympy constants); ``x, xp, g, lam, t, Gamma, w_j`` real, ``c0`` positive, ``F``/``F1`` functions.
    """
    out: dict[str, object] = {s.name: s for s in (x, xp, g, lam, t, c0, Gamma, w_j, r_i)}
    out["F"] = F
    out["F1"] = sp.Function("F1")
    out.update({p.name: p for p in model.params})
    return out


def derive_separable(phi: str, init: str | Mapping, loss: str | None = None) -> Derivation:
    """``grokode derive separable --phi PHI --init INIT``: build the model and derive everything."""
    return SeparableModel(phi, init).derive(loss)


__all__ = ["MAX_DEGREE", "MAX_PARAMS", "RESERVED_NAMES", "SeparableModel", "derive_separable", "json_locals",
           "parse_init", "parse_phi"]
