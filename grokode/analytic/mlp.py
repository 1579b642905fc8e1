"""The two-layer ReLU net of modular addition (paper §2, docs/math.md#data): declaration and derivation.

f(θ; x) = W₂ ReLU(W₁x + b₁) ∈ R^p, x ∈ R^{2p}, θ = (W₁, b₁, W₂), cross-entropy over the p classes,
θ̄ = (W̄₁, 0, 0) (He direction for W₁, zero bias, zero last layer). Every result is stated for general
(p, m) with index functions and *derived* on an explicit instance (p = 3 classes, m = 2 hidden units, a
symbolic input x ∈ R⁶ and every label), then checked entry by entry against the statement:

* homogeneity degree 2 in (W₁, b₁, W₂) (ReLU is positively 1-homogeneous: :class:`relu` pulls positive
  factors out of its argument);
* the one-hot shortcut: for x = onehot(a) ⊕ onehot(b), W₁x = W₁[:, a] + W₁[:, p + b], for every (a, b);
* the gradient flow with weight decay of the per-sample loss ℓ = logsumexp(f) − f_y (the mean over samples
  is linear, so the per-sample pattern is the flow): with z = W₁x + b₁, h = ReLU(z), r = softmax(f) − e_y,
  dW₂/dt = −r hᵀ − λW₂,  dW₁/dt = −((W₂ᵀr) ⊙ H(z)) xᵀ − λW₁,  db₁/dt = −(W₂ᵀr) ⊙ H(z) − λb₁ (H = Heaviside);
* the NTK feature at θ̄: only the last layer moves at first, ∂f_c/∂W₂[c', j] = δ_cc' ReLU(W̄₁x)_j, and the
  kernel K_cc'(x, x') = δ_cc' ⟨ReLU(W̄₁x), ReLU(W̄₁x')⟩ (random ReLU features of additive embeddings).
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..errors import InputError
from .model import Derivation, SymbolicModel
from .report import index_notation

CHECK_P, CHECK_M = 3, 2
lam = sp.Symbol("lam", real=True)
c, cp, j, k, y = sp.symbols("c cp j k y", integer=True)  # cp is c′ (printed c' in LaTeX)
# the general statements' symbols (the methods' p, m, a, b are the explicit instance's numbers)
a_, b_ = sp.symbols("a b", integer=True)
p_, m_ = sp.symbols("p m", positive=True, integer=True)  # classes, hidden units
#: Component c of softmax(f): softmax(f, c) = e^{f_c} / Σ_c′ e^{f_c′} (index notation, as W1(j, k)).
softmax = sp.Function("softmax")


class relu(sp.Function):  # noqa: N801 - printed as relu(·) and parsed back by sympify
    """ReLU(z) = max(z, 0) as a sympy function: ReLU(s·z) = s·ReLU(z) for s > 0, ReLU'(z) = H(z)."""

    @classmethod
    def eval(cls, z):
        if z.is_number and z.is_real:
            return z if z >= 0 else sp.Integer(0)
        z = sp.factor_terms(z)
        if z.is_Mul:
            pos = [f for f in z.args if f.is_positive]
            if pos:
                return sp.Mul(*pos) * cls(sp.Mul(*[f for f in z.args if not f.is_positive]))
        return None

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0])


def _is_zero(expr) -> bool:
    # expand settles the softmax/Heaviside differences at once; simplify only if it does not
    return sp.expand(expr) == 0 or sp.simplify(expr) == 0


def _matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda r, q: sp.Symbol(f"{name}_{r}{q}", real=True))


class MLPNet(SymbolicModel):
    """f(θ; x) = W₂ ReLU(W₁x + b₁) on an explicit (p, m) = (3, 2) instance; θ̄ = (W̄₁, 0, 0)."""

    def __init__(self, depth: int = 2):
        if depth != 2:
            raise InputError(f"the mlp model f = W2 ReLU(W1 x + b1) is 2-homogeneous (depth 2), got depth {depth}")
        self.name = "mlp"
        p, m = CHECK_P, CHECK_M
        self.W1, self.W2 = _matrix("W1", m, 2 * p), _matrix("W2", p, m)
        self.b1 = sp.Matrix(m, 1, lambda r, _: sp.Symbol(f"b1_{r}", real=True))
        self.x = sp.Matrix(2 * p, 1, lambda r, _: sp.Symbol(f"x_{r}", real=True))
        self.W1bar = _matrix("Wbar1", m, 2 * p)
        self.params = list(self.W1) + list(self.b1) + list(self.W2)
        self.z = self.W1 * self.x + self.b1
        self.h = self.z.applyfunc(relu)
        self.f = self.W2 * self.h
        self.output = self.f[0]
        self.init_direction = {**dict(zip(self.W1, self.W1bar, strict=True)), **dict.fromkeys(self.b1, 0),
                               **dict.fromkeys(self.W2, 0)}

    def one_hot_shortcut(self) -> sp.Expr:
        """W₁x for x = onehot(a) ⊕ onehot(b) equals W₁[:, a] + W₁[:, p + b]; checked for every (a, b)."""
        p = CHECK_P
        for a, b in itertools.product(range(p), range(p)):
            x = sp.zeros(2 * p, 1)
            x[a], x[p + b] = 1, 1
            if self.W1 * x != self.W1[:, a] + self.W1[:, p + b]:
                raise AssertionError(f"one-hot shortcut fails at (a, b) = ({a}, {b})")
        W1 = sp.Function("W1")
        return W1(j, a_) + W1(j, p_ + b_)

    def flow(self) -> dict[str, sp.Expr]:
        """−∇ of the per-sample cross-entropy plus (λ/2)‖θ‖², against the stated pattern, for every label y."""
        p = CHECK_P
        weight_decay = lam / 2 * sum(q**2 for q in self.params)
        lse = sp.log(sum(sp.exp(self.f[q]) for q in range(p)))
        step = self.z.applyfunc(sp.Heaviside)
        for label in range(p):
            loss = lse - self.f[label] + weight_decay
            r = sp.Matrix([sp.exp(self.f[q]) / sp.exp(lse) - (1 if q == label else 0) for q in range(p)])
            back = (self.W2.T * r).multiply_elementwise(step)  # (W₂ᵀr) ⊙ H(z)
            stated = {"W2": -r * self.h.T - lam * self.W2, "W1": -back * self.x.T - lam * self.W1,
                      "b1": -back - lam * self.b1}
            for name, X in (("W1", self.W1), ("b1", self.b1), ("W2", self.W2)):
                for (rr, qq), want in zip(itertools.product(range(X.rows), range(X.cols)), stated[name], strict=True):
                    got = -sp.diff(loss, X[rr, qq])
                    if not _is_zero(got - want):
                        raise AssertionError(f"d{name}[{rr},{qq}]/dt wrong for label {label}: {got} vs {want}")
        W1, W2, b1, x, z, r, h, H = (sp.Function(s) for s in ("W1", "W2", "b1", "x", "z", "r", "h", "H"))
        back = sp.Sum(W2(cp, j) * r(cp), (cp, 0, p_ - 1)) * H(z(j))
        return {
            "W2[c,j]": -r(c) * h(j) - lam * W2(c, j),
            "W1[j,k]": -back * x(k) - lam * W1(j, k),
            "b1[j]": -back - lam * b1(j),
            "r[c]": softmax(sp.Symbol("f"), c) - sp.KroneckerDelta(c, y),
            "h[j]": relu(z(j)),
            "z[j]": sp.Sum(W1(j, k) * x(k), (k, 0, 2 * p_ - 1)) + b1(j),
        }

    def ntk_component(self) -> dict[str, sp.Expr]:
        """∂f_c/∂θ at θ̄ for every class c of the instance: δ_cc'·ReLU(W̄₁x)_j on W₂[c', j], 0 on W₁ and b₁."""
        p, m = CHECK_P, CHECK_M
        hbar = (self.W1bar * self.x).applyfunc(relu)
        for cls in range(p):
            for param in self.params:
                got = sp.diff(self.f[cls], param).subs(self.init_direction)
                want = 0
                for cc, jj in itertools.product(range(p), range(m)):
                    if param == self.W2[cc, jj] and cc == cls:
                        want = hbar[jj]
                if not _is_zero(got - want):
                    raise AssertionError(f"NTK feature of f_{cls} wrong on {param}: {got} vs {want}")
        Wbar1, x = sp.Function("Wbar1"), sp.Function("x")
        hbar_j = relu(sp.Sum(Wbar1(j, k) * x(k), (k, 0, 2 * p_ - 1)))
        return {"W2[c',j]": sp.KroneckerDelta(c, cp) * hbar_j, "W1[j,k]": sp.Integer(0), "b1[j]": sp.Integer(0)}

    def kernel(self) -> sp.Expr:
        """K_cc'(x, x') = Σ_θ ∂f_c/∂θ ∂f_c'/∂θ' at θ̄, checked on the instance for every pair of classes."""
        p, m = CHECK_P, CHECK_M
        xp = sp.Matrix(2 * p, 1, lambda r, _: sp.Symbol(f"xp_{r}", real=True))
        hbar = (self.W1bar * self.x).applyfunc(relu)
        hbar_p = (self.W1bar * xp).applyfunc(relu)
        fp = self.W2 * (self.W1 * xp + self.b1).applyfunc(relu)
        for c1, c2 in itertools.product(range(p), range(p)):
            got = sum(sp.diff(self.f[c1], q).subs(self.init_direction) * sp.diff(fp[c2], q).subs(self.init_direction)
                      for q in self.params)
            want = sum(hbar[q] * hbar_p[q] for q in range(m)) if c1 == c2 else 0
            if not _is_zero(got - want):
                raise AssertionError(f"kernel wrong for classes ({c1}, {c2})")
        hb, hbp = sp.Function("hbar"), sp.Function("hbarp")  # h̄ = ReLU(W̄₁x), h̄′ = ReLU(W̄₁x′)
        return sp.KroneckerDelta(c, cp) * sp.Sum(hb(j) * hbp(j), (j, 0, m_ - 1))

    def derive(self, loss: str = "cross_entropy") -> Derivation:
        """Every derived item, in the order ``grokode derive mlp`` prints them (the loss is always cross-entropy)."""
        out = Derivation(self.name)
        out.items["model"] = self.name
        out.items["homogeneity"] = self.homogeneity_degree()
        if not self.zero_output_at_init():
            raise AssertionError("f(θ̄) ≠ 0")
        out.items["output"] = {"f_c": sp.Sum(sp.Function("W2")(c, j) * sp.Function("h")(j), (j, 0, m_ - 1)),
                               "z_j (one-hot input)": self.one_hot_shortcut() + sp.Function("b1")(j)}
        out.items["flow"] = self.flow()
        out.items["ntk_feature"] = self.ntk_component()
        out.items["kernel"] = self.kernel()
        out.notes = {
            "model": "two-layer ReLU net f = W2 ReLU(W1 x + b1) on x = onehot(a) ⊕ onehot(b), cross-entropy over p "
                     "classes; θ̄ = (He W̄1, 0, 0), θ(0) = α θ̄",
            "homogeneity": "f(cθ) = c² f(θ) for c > 0, derived on p = 3 classes and m = 2 hidden units",
            "output": "logit of class c; on a one-hot input W1 x is the sum of two columns of W1 (checked for every "
                      "(a, b))",
            "flow": "per-sample cross-entropy with weight decay (the code averages over the n samples); "
                    "softmax(f, c) = e^(f_c)/Σ_c′ e^(f_c′), H = Heaviside, cp = c′; checked on p = 3, m = 2 for "
                    "every label",
            "ntk_feature": "∂f_c/∂θ at θ̄: only W2 moves at first (W2 = 0 there)",
            "kernel": "hbar = ReLU(W̄1 x) and hbarp = ReLU(W̄1 x′): random ReLU features of the additive embedding",
        }
        out.titles = {"output": "Output f(θ; x)", "ntk_feature": "NTK feature φ_c(x) = ∇_θ f_c(θ̄; x)",
                      "kernel": "Kernel K_cc′(x, x′)"}
        out.lhs = {
            "output": {"f_c": "f_{c}", "z_j (one-hot input)": r"z_{j}(e_{a} \oplus e_{b})"},
            "flow": {"W2[c,j]": r"(\dot{W}_{2})_{c j}", "W1[j,k]": r"(\dot{W}_{1})_{j k}",
                     "b1[j]": r"(\dot{b}_{1})_{j}", "r[c]": "r_{c}", "h[j]": "h_{j}", "z[j]": "z_{j}"},
            "ntk_feature": {"W2[c',j]": r"\frac{\partial f_{c}}{\partial (W_{2})_{c' j}}",
                            "W1[j,k]": r"\frac{\partial f_{c}}{\partial (W_{1})_{j k}}",
                            "b1[j]": r"\frac{\partial f_{c}}{\partial (b_{1})_{j}}"},
            "kernel": "K_{c c'}(x, x')",
        }
        out.latex_names = {
            "cp": "c'", "W1": index_notation("W_{1}"), "W2": index_notation("W_{2}"), "b1": index_notation("b_{1}"),
            "Wbar1": index_notation(r"\bar{W}_{1}"), "x": index_notation("x"), "z": index_notation("z"),
            "r": index_notation("r"), "h": index_notation("h"), "hbar": index_notation(r"\bar{h}"),
            "hbarp": index_notation(r"\bar{h}'"),
            "softmax": lambda args: rf"\operatorname{{softmax}}({args[0]})_{{{args[1]}}}",
        }
        return out
