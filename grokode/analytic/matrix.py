"""Matrix factorization / completion (docs/math.md#matrix): declaration and derivation.

θ = (U, V) ∈ R^{d×d} × R^{d×d}, W = UUᵀ − VVᵀ, f(θ; (i, j)) = W_ij, θ̄ = (I, I), loss
(1/N) Σ_Ω (W_ij − M_ij)² + (λ/2)(‖U‖²_F + ‖V‖²_F). Matrix results are stated with ``MatrixSymbol``s and
each one is *derived* on explicit matrices of symbols (d = 3, a symbolic mask ω_ij ∈ {0, 1} so that every
observed set Ω is covered at once) and checked entry by entry against the general statement:

* the gradient flow dU/dt = −RU − λU, dV/dt = RV − λV with R = (2/N)(E + Eᵀ), E = P_Ω(W − M);
* the lifted flow on P = UUᵀ, Q = VVᵀ, obtained from d(UUᵀ)/dt = U̇Uᵀ + UU̇ᵀ by matrix algebra
  (noncommutative) and the symmetry of R;
* homogeneity degree 2 (by :meth:`SymbolicModel.homogeneity_degree` on an entry of W);
* the NTK feature at θ̄ = (I, I), φ(i, j) = (E_ij + E_ji, −(E_ij + E_ji)) in components, and the kernel
  K((i,j),(k,l)) = 4(δ_ik δ_jl + δ_il δ_jk);
* the kernel predictor: the minimum-norm interpolant in that kernel, computed symbolically for every
  observed set of a 3×3 matrix up to symmetry, copies observed entries and fills the rest with 0
  (Corollary 3.11).
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..errors import InputError
from .model import Derivation, SymbolicModel

d, N = sp.symbols("d N", positive=True, integer=True)
lam = sp.Symbol("lam", real=True)
i, j, k, l, a, b = sp.symbols("i j k l a b", integer=True)
U, V, P, Q, R, E, M, W = (sp.MatrixSymbol(name, d, d) for name in "UVPQREMW")
#: The 0/1 mask of the observed entries: 𝒫_Ω(A) = Ω ∘ A (Hadamard product) is zero off Ω.
Omega = sp.MatrixSymbol("Omega", d, d)
#: Names the JSON strings are parsed back with (``sympify(text, locals=MATRIX_LOCALS)``; the JSON output carries
#: the same table under "sympify_locals", see :func:`grokode.analytic.report.sympify_locals`).
MATRIX_LOCALS = {str(s): s for s in (U, V, P, Q, R, E, M, W, Omega, d, N, lam, i, j, k, l, a, b)}
CHECK_DIM = 3


def _delta(x, y):
    return sp.KroneckerDelta(x, y)


def _explicit(name: str, n: int, symmetric: bool = False) -> sp.Matrix:
    def entry(r, c):
        r, c = (min(r, c), max(r, c)) if symmetric else (r, c)
        return sp.Symbol(f"{name}_{r}{c}", real=True)
    return sp.Matrix(n, n, entry)


def _replace_product(expr, pair, replacement):
    """Replace every adjacent pair of factors (A, B) = ``pair`` inside matrix products by ``replacement``."""
    def fix(node):
        if not isinstance(node, sp.MatMul):
            return node
        coeff, factors = node.as_coeff_matrices()
        out, idx = [], 0
        while idx < len(factors):
            if idx + 1 < len(factors) and (factors[idx], factors[idx + 1]) == pair:
                out.append(replacement)
                idx += 2
            else:
                out.append(factors[idx])
                idx += 1
        return sp.MatMul(coeff, *out).doit() if coeff != 1 else sp.MatMul(*out)
    return expr.replace(lambda e: isinstance(e, sp.MatMul), fix)


class MatrixNet(SymbolicModel):
    """W = UUᵀ − VVᵀ with identity initialization direction; squared loss on observed entries."""

    def __init__(self, depth: int = 2):
        if depth != 2:
            raise InputError(f"the matrix model W = UUᵀ − VVᵀ has depth 2, got depth {depth}")
        self.name = "matrix"
        n = CHECK_DIM
        self.U, self.V = _explicit("U", n), _explicit("V", n)
        self.W = self.U * self.U.T - self.V * self.V.T
        self.params = list(self.U) + list(self.V)
        self.output = self.W[0, 1]
        eye = sp.eye(n)
        self.init_direction = {p: eye[r, c] for X in (self.U, self.V) for (r, c), p in
                               zip(itertools.product(range(n), range(n)), X, strict=True)}

    # -- flow --------------------------------------------------------------------------------------
    def flow(self) -> dict[str, sp.Expr]:
        """dU/dt, dV/dt = −∇L̂_λ, stated with R and verified on explicit d = 3 matrices with a symbolic mask."""
        n = CHECK_DIM
        omega = _explicit("omega", n)
        Mx = _explicit("M", n)
        Nsym = sp.Symbol("N", positive=True)
        resid = (self.W - Mx)
        loss = sum(omega[r, c] * resid[r, c] ** 2 for r in range(n) for c in range(n)) / Nsym + lam / 2 * sum(
            p**2 for p in self.params)
        Ex = omega.multiply_elementwise(resid)  # P_Ω(W − M): ω² = ω for a 0/1 mask
        Rx = 2 * (Ex + Ex.T) / Nsym
        stated = {"U": -R * U - lam * U, "V": R * V - lam * V}
        explicit = {"U": -Rx * self.U - lam * self.U, "V": Rx * self.V - lam * self.V}
        for name, X in (("U", self.U), ("V", self.V)):
            grad = sp.Matrix(n, n, lambda r, c, X=X: -sp.diff(loss, X[r, c]))
            if sp.expand(grad - explicit[name]) != sp.zeros(n, n):
                raise AssertionError(f"d{name}/dt is not {stated[name]}")
        return stated

    def residual_matrix(self) -> dict[str, sp.Expr]:
        return {"R": 2 * (E + E.T) / N, "E": sp.HadamardProduct(Omega, W - M)}

    def lifted_flow(self) -> dict[str, sp.Expr]:
        """dP/dt, dQ/dt for P = UUᵀ, Q = VVᵀ from the product rule, R = Rᵀ; W = P − Q. Checked on d = 3."""
        flow = self.flow()
        out = {}
        for name, X, Y in (("P", U, P), ("Q", V, Q)):
            dX = flow["U" if X is U else "V"]
            raw = sp.expand(dX * X.T + X * dX.T)
            lifted = _replace_product(raw.subs(R.T, R), (X, X.T), Y)
            out[name] = sp.expand(lifted)
        # explicit check: symmetric R, the formula against the product rule applied to the explicit flow
        n = CHECK_DIM
        Rx = _explicit("R", n, symmetric=True)
        for name, X in (("P", self.U), ("Q", self.V)):
            sign = -1 if name == "P" else 1
            dX = sign * Rx * X - lam * X
            Px = X * X.T
            product_rule = dX * X.T + X * dX.T
            formula = out[name].subs({R: Rx, U: self.U, V: self.V, P: Px, Q: Px}).doit()
            formula = sp.Matrix(formula.subs(d, n)) if not isinstance(formula, sp.Matrix) else formula
            if sp.expand(product_rule - formula) != sp.zeros(n, n):
                raise AssertionError(f"lifted flow for {name} fails the explicit check")
        out["W"] = P - Q
        return out

    # -- NTK -----------------------------------------------------------------------------------------
    def ntk_component(self) -> dict[str, sp.Expr]:
        """Component (a, b) of φ(i, j) = ∇_θ W_ij at θ̄ = (I, I), verified for every i, j, a, b < 3."""
        stated = {"U": _delta(a, i) * _delta(b, j) + _delta(a, j) * _delta(b, i)}
        stated["V"] = -stated["U"]
        n = CHECK_DIM
        for r, c in itertools.product(range(n), range(n)):
            for name, X in (("U", self.U), ("V", self.V)):
                grad = sp.Matrix(n, n, lambda p, q, X=X, r=r, c=c: sp.diff(self.W[r, c], X[p, q]))
                grad = grad.subs(self.init_direction)
                want = sp.Matrix(n, n, lambda p, q, name=name, r=r, c=c: stated[name].subs({i: r, j: c, a: p, b: q}))
                if grad != want:
                    raise AssertionError(f"NTK feature component {name} wrong at (i, j) = ({r}, {c})")
        return stated

    def kernel(self) -> sp.Expr:
        """K((i,j),(k,l)) = ⟨φ(i,j), φ(k,l)⟩, checked by summing the components for all index tuples < 3."""
        stated = 4 * (_delta(i, k) * _delta(j, l) + _delta(i, l) * _delta(j, k))
        phi = self.ntk_component()
        n = CHECK_DIM
        for r, c, p, q in itertools.product(range(n), repeat=4):
            total = sum(phi[name].subs({i: r, j: c, a: x, b: y}) * phi[name].subs({i: p, j: q, a: x, b: y})
                        for name in ("U", "V") for x in range(n) for y in range(n))
            if total != stated.subs({i: r, j: c, k: p, l: q}):
                raise AssertionError(f"kernel wrong at ({r},{c}),({p},{q})")
        return stated

    def kernel_predictor(self) -> dict[str, sp.Expr]:
        """Min-norm kernel interpolant: M_ij on observed pairs (either orientation), 0 elsewhere (Cor. 3.11).

        Checked on a 3×3 symmetric symbolic M for every observed set Ω (up to 2⁹ subsets): the
        interpolant Σ_n c_n K(x, x_n) with K(Ω, Ω) c = M_Ω (pseudo-inverse: repeated orientations).
        """
        n = CHECK_DIM
        Kfun = self.kernel()
        Mx = _explicit("M", n, symmetric=True)
        cells = list(itertools.product(range(n), range(n)))
        seen = set()
        for bits in range(1, 2 ** len(cells)):
            omega = [cells[m] for m in range(len(cells)) if bits >> m & 1]
            key = frozenset(frozenset(p) for p in omega)
            if key in seen:
                continue
            seen.add(key)
            Kmat = sp.Matrix([[Kfun.subs({i: p[0], j: p[1], k: q[0], l: q[1]}) for q in omega] for p in omega])
            y = sp.Matrix([Mx[r, c] for r, c in omega])
            coef = Kmat.pinv() * y
            for r, c in cells:
                kx = sp.Matrix([[Kfun.subs({i: r, j: c, k: p, l: q}) for p, q in omega]])
                value = sp.simplify((kx * coef)[0])
                want = Mx[r, c] if frozenset((r, c)) in key else 0
                if sp.simplify(value - want) != 0:
                    raise AssertionError(f"kernel predictor at ({r},{c}) for Ω={omega}: {value} ≠ {want}")
        # keyed by the pair {i, j}: an entry whose mirror (j, i) is observed takes M_ij too (M is symmetric)
        return {"(i,j) or (j,i) observed": M[i, j], "neither observed": sp.Integer(0)}

    def derive(self, loss: str = "squared") -> Derivation:
        """Every derived item, in the order ``grokode derive matrix`` prints them (the loss is always squared)."""
        out = Derivation(self.name)
        out.items["model"] = self.name
        out.items["homogeneity"] = self.homogeneity_degree()
        if not self.zero_output_at_init():
            raise AssertionError("W(θ̄) ≠ 0")
        out.items["output"] = U * U.T - V * V.T
        out.items["flow"] = {**self.flow(), **self.residual_matrix()}
        out.items["lifted_flow"] = self.lifted_flow()
        out.items["ntk_feature"] = self.ntk_component()
        out.items["kernel"] = self.kernel()
        out.items["kernel_predictor"] = self.kernel_predictor()
        out.notes = {
            "model": "matrix factorization W = UUᵀ − VVᵀ, f(θ; (i, j)) = W_ij, θ̄ = (I, I), U(0) = V(0) = αI",
            "homogeneity": "W(cU, cV) = c² W(U, V), checked by substitution",
            "output": "the effective matrix; zero at θ̄",
            "flow": "loss (1/N) Σ_Ω (W_ij − M_ij)² + (λ/2)(‖U‖² + ‖V‖²); E = 𝒫_Ω(W − M) = Ω ∘ (W − M) with Ω the "
                    "0/1 mask of the N observed entries (HadamardProduct in JSON); checked on 3×3 matrices",
            "lifted_flow": "exact flow of P = UUᵀ and Q = VVᵀ (uses R = Rᵀ); checked on 3×3 matrices",
            "ntk_feature": "entry (a, b) of ∇_θ W_ij at θ̄ = (I, I), which is "
                           "(e_i e_jᵀ + e_j e_iᵀ, −(e_i e_jᵀ + e_j e_iᵀ))",
            "kernel": "⟨φ(i, j), φ(k, l)⟩: features of {i, j} ≠ {k, l} are orthogonal",
            "kernel_predictor": "Corollary 3.11, the minimum-norm kernel interpolant: W_ij = W_ji = M_ij if (i, j) or "
                                "(j, i) ∈ Ω, else 0 (checked for every Ω of a 3×3 matrix)",
        }
        out.titles = {"output": "Output W", "ntk_feature": "NTK feature φ(i, j)", "kernel": "Kernel K((i, j), (k, l))"}
        out.lhs = {
            "output": "W",
            "flow": {"U": r"\dot{U}", "V": r"\dot{V}", "R": "R", "E": "E"},
            "lifted_flow": {"P": r"\dot{P}", "Q": r"\dot{Q}", "W": "W"},
            "ntk_feature": {"U": r"\phi_{U}(i, j)_{a b}", "V": r"\phi_{V}(i, j)_{a b}"},
            "kernel": "K((i, j), (k, l))",
            "kernel_predictor": {"(i,j) or (j,i) observed": r"W^{K}_{i j}\ ((i, j) \text{ or } (j, i) \in \Omega)",
                                 "neither observed": r"W^{K}_{i j}\ (\text{otherwise})"},
        }
        return out
