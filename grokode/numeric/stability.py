"""The linear stability limit of gradient descent on the flow it discretizes.

GD θ_{k+1} = θ_k − η∇J(θ_k), J = L̂ + (λ/2)‖θ‖², is explicit Euler on the gradient flow dθ/dt = −∇J. Near θ its
error e_k obeys e_{k+1} ≈ (I − ηH)e_k, H = ∇²J(θ): it follows the flow only while η < 2/ρ with ρ the largest
eigenvalue of H (the curvature along which GD would oscillate, docs/math.md#gd-stability). At initialization
ρ(0) grows like α^{2(L−1)} in the kernel phase, so a fixed η that is stable late can be far beyond the limit early.

:func:`top_eigenvalue` finds ρ by Lanczos (:func:`scipy.sparse.linalg.eigsh`, the largest algebraic eigenvalue)
on Hessian-vector products; :func:`diagonal_hvp_at_init` is the exact product of the diagonal net at θ(0),
:func:`finite_difference_hvp` a central difference of any gradient (the MLP's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepStability:
    """ρ(0), the limit 2/ρ(0) and the ratio step·ρ(0)/2 (> 1: beyond the limit) of a GD run's first step."""

    curvature: float
    step: float

    @property
    def limit(self) -> float:
        return 2.0 / self.curvature if self.curvature > 0 else float("inf")

    @property
    def ratio(self) -> float:
        return self.step * max(self.curvature, 0.0) / 2.0

    def warning(self, name: str) -> str:
        """One line when the step is beyond the limit ("" otherwise)."""
        if self.ratio <= 1.0:
            return ""
        return (f"warning: {name} is {self.ratio:.3g}× the linear stability limit 2/ρ(0) = {self.limit:.3g} of the "
                "gradient flow it discretizes (ρ(0): the largest Hessian eigenvalue of L̂ + (λ/2)‖θ‖² at "
                "initialization): the early phase does not follow the flow; the late phase can recover it "
                "(docs/math.md#gd-stability)")


def top_eigenvalue(hvp: Callable[[np.ndarray], np.ndarray], dim: int, *, seed: int = 0, tol: float = 1e-8) -> float:
    """Largest algebraic eigenvalue of the symmetric operator ``hvp`` on R^dim (Lanczos, scipy's ARPACK)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    if dim <= 2:  # ARPACK needs k < dim: form the small matrix
        H = np.column_stack([hvp(e) for e in np.eye(dim)])
        return float(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    operator = LinearOperator((dim, dim), matvec=lambda v: hvp(np.asarray(v, dtype=np.float64).ravel()),
                              dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(dim)
    value = eigsh(operator, k=1, which="LA", v0=v0, tol=tol, return_eigenvectors=False, maxiter=max(1000, 10 * dim))
    return float(value[0])


def _loss_derivatives(loss_id: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ℓ'(0, y_i) and ℓ''(0, y_i) of grokode's losses (their generated residual and a central difference of it)."""
    from . import generated as gen

    h = 1e-5
    r0 = np.array([gen.loss_residual(loss_id, 0.0, yi) for yi in y])
    rp = np.array([gen.loss_residual(loss_id, h, yi) for yi in y])
    rm = np.array([gen.loss_residual(loss_id, -h, yi) for yi in y])
    return r0, (rp - rm) / (2.0 * h)


def diagonal_hvp_at_init(X: np.ndarray, y: np.ndarray, *, u0: float, lam: float, depth: int,
                         loss_id: int) -> Callable[[np.ndarray], np.ndarray]:
    """The exact Hessian-vector product of J(u, v) = mean ℓ(X(u^L − v^L), y) + (λ/2)‖(u, v)‖² at u = v = u0·1.

    There f = 0, and with a = L·u0^{L−1}, b = L(L−1)·u0^{L−2}, s = Xᵀℓ'/n, K = Xᵀ diag(ℓ'') X/n:
    H(p, q) = (a²K(p − q) + b s⊙p + λp, −a²K(p − q) − b s⊙q + λq).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    r1, r2 = _loss_derivatives(loss_id, np.asarray(y, dtype=np.float64))
    a = depth * u0 ** (depth - 1)
    b = depth * (depth - 1) * u0 ** (depth - 2)
    s = X.T @ r1 / n

    def hvp(v: np.ndarray) -> np.ndarray:
        p, q = v[:d], v[d:]
        kz = (a * a / n) * (X.T @ (r2 * (X @ (p - q))))
        return np.concatenate([kz + b * s * p + lam * p, -kz - b * s * q + lam * q])

    return hvp


def finite_difference_hvp(grad: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                          lam: float) -> Callable[[np.ndarray], np.ndarray]:
    """H v ≈ (∇L̂(θ + εv) − ∇L̂(θ − εv))/(2ε) + λv, ε scaled to θ and v (second-order accurate)."""
    theta = np.asarray(theta, dtype=np.float64)
    scale = max(float(np.linalg.norm(theta)), 1.0)

    def hvp(v: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(v))
        if norm == 0:
            return np.zeros_like(v)
        eps = 1e-6 * scale / norm
        return (grad(theta + eps * v) - grad(theta - eps * v)) / (2.0 * eps) + lam * v

    return hvp


def attach(sol, stability: StepStability, name: str):
    """Record ``stability`` on a GD solution and say it: a run beyond the limit that finished carries the warning
    as its message (first, before any other warning); a diverged one names the limit after its own message."""
    sol.extras["lr_stability_ratio"] = stability.ratio
    text = stability.warning(name)
    if text:
        if str(sol.status) == "ok":
            sol.message = text + (f"; {sol.message}" if sol.message else "")
        elif str(sol.status) == "diverged":
            sol.message += f" ({name} is {stability.ratio:.3g}× the stability limit 2/ρ(0) = {stability.limit:.3g})"
    return sol
