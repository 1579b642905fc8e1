"""RKC: the explicit stabilized Runge–Kutta–Chebyshev method, as a scipy ``OdeSolver``.

Used for the matrix-completion flow (docs/math.md#matrix), whose stiffness is large (rate ~16α²/N at t = 0
against ~λ for the dynamics that matter) but whose Jacobian has an (almost) real spectrum: a gradient
flow in (U, V) has Jacobian −∇²L̂_λ, symmetric, and the lifted (W, S) flow is its push-forward.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.integrate import DenseOutput, OdeSolver

EPS = np.finfo(float).eps
#: Damping of the Chebyshev polynomial (Verwer et al.): stability region [−β(s), 0] with β ≈ 0.653 s²,
#: and |R(z)| ≤ 1 − ε/3 or so inside it, which keeps a strip around the real axis stable.
DAMPING = 2.0 / 13.0


@numba.njit(cache=True)
def _stage(y0, yjm1, yjm2, fjm1, f0, mu, nu, mus, ajm1h, h, out):
    # Y_j = (1−μ−ν)Y_0 + μY_{j−1} + νY_{j−2} + μ̃h F(Y_{j−1}) − a_{j−1}μ̃h F(Y_0), fused in one pass.
    c0 = 1.0 - mu - nu
    hm = h * mus
    for k in range(y0.shape[0]):
        out[k] = c0 * y0[k] + mu * yjm1[k] + nu * yjm2[k] + hm * (fjm1[k] - ajm1h * f0[k])


@numba.njit(cache=True)
def _error_norm(y_old, y_new, f_old, f_new, h, rtol, atol):
    # RKC's local error estimate (12(y_n − y_{n+1}) + 6h(F_n + F_{n+1}))/15, RMS norm in the weights
    # atol + rtol·max(|y_n|, |y_{n+1}|).
    acc = 0.0
    n = y_old.shape[0]
    for k in range(n):
        est = 0.8 * (y_old[k] - y_new[k]) + 0.4 * h * (f_old[k] + f_new[k])
        wt = atol[k] + rtol * max(abs(y_old[k]), abs(y_new[k]))
        acc += (est / wt) ** 2
    return math.sqrt(acc / n)


def _norm(x: np.ndarray) -> float:
    """Euclidean norm without overflow: ‖x‖ = m·‖x/m‖, m = max|x| (x may be ~1e200 at large α)."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * float(np.linalg.norm(x / m))


def stage_root(h: float, rho: float) -> float:
    """√(1 + 1.54·h·ρ): an RKC step of size h at spectral radius ρ takes 1 + ⌊this⌋ stages (its stability
    interval grows like 0.65·s²)."""
    return math.sqrt(1.0 + 1.54 * h * rho)


def rkc_coefficients(s: int, damping: float = DAMPING):
    """Stage coefficients of the s-stage RKC method (Sommeijer, Shampine & Verwer 1998, eq. 2.3–2.6).

    Returns (w0, w1, mu, nu, mus, a_prev, c): per stage j = 2…s the recurrence coefficients μ_j, ν_j,
    μ̃_j, a_{j−1} and the stage abscissae c_j (c_0 = 0, c_1 = μ̃_1 and c_s = 1); index 0/1 unused except
    ``mus[1]`` = μ̃_1.
    """
    w0 = 1.0 + damping / s**2
    t1 = w0 * w0 - 1.0
    t2 = math.sqrt(t1)
    arg = s * math.log(w0 + t2)
    w1 = math.sinh(arg) * t1 / (math.cosh(arg) * s * t2 - w0 * math.sinh(arg))
    mu, nu, mus, a_prev, c = (np.zeros(s + 1) for _ in range(5))
    bjm1 = bjm2 = 1.0 / (4.0 * w0 * w0)  # b_0 = b_1 = b_2
    mus[1] = w1 * bjm1
    c[1] = mus[1]
    zjm1, zjm2, dzjm1, dzjm2, d2zjm1, d2zjm2 = w0, 1.0, 1.0, 0.0, 0.0, 0.0
    for j in range(2, s + 1):
        zj = 2.0 * w0 * zjm1 - zjm2
        dzj = 2.0 * w0 * dzjm1 - dzjm2 + 2.0 * zjm1
        d2zj = 2.0 * w0 * d2zjm1 - d2zjm2 + 4.0 * dzjm1
        bj = d2zj / (dzj * dzj)
        a_prev[j] = 1.0 - zjm1 * bjm1
        mu[j] = 2.0 * w0 * bj / bjm1
        nu[j] = -bj / bjm2
        mus[j] = mu[j] * w1 / w0
        c[j] = mu[j] * c[j - 1] + nu[j] * c[j - 2] + mus[j] * (1.0 - a_prev[j])
        bjm2, bjm1 = bjm1, bj
        zjm2, zjm1 = zjm1, zj
        dzjm2, dzjm1 = dzjm1, dzj
        d2zjm2, d2zjm1 = d2zjm1, d2zj
    return w0, w1, mu, nu, mus, a_prev, c


class RKC(OdeSolver):
    """Runge–Kutta–Chebyshev (RKC) of order 2 with variable stage number, error control and dense output.

    Method (Sommeijer, Shampine & Verwer, "RKC: an explicit solver for parabolic PDEs", J. Comput. Appl.
    Math. 88 (1998) 315–326): an s-stage explicit method built on the shifted, damped Chebyshev
    polynomial T_s(w0 + w1 z); its stability interval on the negative real axis is ≈ 0.653·s², so a
    step h needs only s ≈ √(1.54·h·ρ) evaluations of F, where ρ is the spectral radius of ∂F/∂y (not
    h·ρ as for an explicit Runge–Kutta method). ρ is estimated matrix-free by a nonlinear power
    iteration on F (warm-started; re-estimated after a rejection, every 25 steps, and every step once steps
    need ≥ 20 stages, because here ρ falls by orders of magnitude within a few steps). Error: RKC's
    embedded estimate (12(yₙ−yₙ₊₁) + 6h(Fₙ+Fₙ₊₁))/15 in the weighted RMS norm, step-size control with
    the error-per-step PI rule of the RKC code; dense output is the cubic Hermite interpolant of
    (yₙ, Fₙ, yₙ₊₁, Fₙ₊₁) (third order, one order above the method).

    Stability: the method needs the eigenvalues of ∂F/∂y near the negative real axis. Gradient flows
    satisfy this exactly (∂F/∂y = −Hessian, symmetric) and so do their exact reparametrisations.

    Why this method for matrix completion (case 3 of ``benchmarks/run_all.py``): each step costs O(√(hρ))
    evaluations of the right-hand side and no linear algebra, against an implicit method that must factor a
    2d²×2d² Jacobian whose finite-difference construction alone costs 2d² evaluations. The ROS2 W-method
    (:mod:`grokode.numeric.ros2`, diagonal Jacobian) is slower and less accurate at moderate α, but its cost
    does not grow with α, so it is offered for α ≳ 1e4, where RKC's cost grows ∝ α (√ρ per step).

    Parameters are those of scipy's solvers: ``rtol``, ``atol`` (scalar or per component), ``max_step``,
    ``first_step``; ``spectral_radius`` optionally gives ρ(t, y) instead of the power iteration.
    """

    def __init__(self, fun, t0, y0, t_bound, *, rtol=1e-6, atol=1e-9, max_step=np.inf, first_step=None,
                 spectral_radius=None, vectorized=False, **extraneous):
        super().__init__(fun, t0, y0, t_bound, vectorized)
        self.rtol = float(rtol)
        self.atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), self.y.shape).copy()
        self.max_step = float(max_step)
        self._rho_fun = spectral_radius
        self.f = self.fun(self.t, self.y)
        self._eigvec = None
        self.n_rho = 0  # spectral-radius estimates after the first one
        self.rho = self._estimate_rho(self.t, self.y, self.f)
        self._steps_since_rho = 0
        self._last_stages = 0
        self.max_stages = max(2, int(math.sqrt(self.rtol / (10.0 * EPS))))
        self.h_abs = self._initial_step() if first_step is None else float(first_step)
        self.h_prev = None
        self.err_prev = None
        self.y_old = self.f_old = None
        self.n_stages_total = 0
        self.n_rejected = 0
        self.n_rho = 0
        self._coeff_cache: dict[int, tuple] = {}

    # -- spectral radius ---------------------------------------------------------------------------
    def _estimate_rho(self, t, y, f, max_iter=50, tol=0.01):
        """Largest |eigenvalue| of ∂F/∂y at (t, y): power iteration on finite differences of F."""
        if self._rho_fun is not None:
            return float(self._rho_fun(t, y))
        self.n_rho += 1
        v = self._eigvec if self._eigvec is not None else f.copy()
        if not np.any(v):
            v = np.random.default_rng(0).standard_normal(y.shape)  # deterministic fallback direction
        ynrm = _norm(y)
        dy = math.sqrt(EPS) * (ynrm if ynrm > 0 else 1.0)
        v = v * (dy / _norm(v))
        sigma = 0.0
        for it in range(max_iter):
            dfv = self.fun(t, y + v) - f
            dfnrm = _norm(dfv)
            sigma_prev, sigma = sigma, dfnrm / dy
            if dfnrm == 0.0:
                break
            v = dfv * (dy / dfnrm)
            if it >= 1 and abs(sigma - sigma_prev) <= tol * max(sigma, 1e-300):
                break
        self._eigvec = v
        return 1.2 * sigma  # the power iteration underestimates; RKC's safety factor

    def _initial_step(self):
        f0 = self.f
        wt = self.atol + self.rtol * np.abs(self.y)
        h = self.max_step if math.isfinite(self.max_step) else abs(self.t_bound - self.t)
        if self.rho > 0:
            h = min(h, 1.0 / self.rho)
        fnorm = float(np.sqrt(np.mean((f0 / wt) ** 2)))
        if h * fnorm > 0.01:
            h = 0.01 / fnorm
        h = max(h, 10.0 * EPS * max(abs(self.t), 1.0))
        # One Euler probe gives the second derivative, as in RKC: h ~ 0.1/√‖y''‖.
        f1 = self.fun(self.t + self.direction * h, self.y + self.direction * h * f0)
        est = float(np.sqrt(np.mean(((f1 - f0) / wt) ** 2))) / h
        if est > 0 and h * h * est > 0.01:
            h = 0.1 / math.sqrt(est)
        return max(h, 10.0 * EPS * max(abs(self.t), 1.0))

    def _coefficients(self, s):
        if s not in self._coeff_cache:
            if len(self._coeff_cache) > 512:
                self._coeff_cache.clear()
            self._coeff_cache[s] = rkc_coefficients(s)
        return self._coeff_cache[s]

    # -- one step ----------------------------------------------------------------------------------
    def advance(self, t: float, y: np.ndarray, f0: np.ndarray, h: float, s: int) -> np.ndarray:
        """One s-stage RKC step of size h from (t, y) with F(t, y) = f0, no error control (for order checks)."""
        _, _, mu, nu, mus, a_prev, c = self._coefficients(s)
        d = self.direction
        yjm2 = y
        yjm1 = y + (d * h * mus[1]) * f0
        yj = np.empty_like(y)
        for j in range(2, s + 1):
            fjm1 = self.fun(t + d * h * c[j - 1], yjm1)
            _stage(y, yjm1, yjm2, fjm1, f0, mu[j], nu[j], mus[j], a_prev[j], d * h, yj)
            if j == 2:
                yjm2, yjm1, yj = yjm1, yj, np.empty_like(y)
            else:
                yjm2, yjm1, yj = yjm1, yj, yjm2
        return yjm1

    def _step_impl(self):
        t, y, f0 = self.t, self.y, self.f
        min_step = 10.0 * EPS * abs(t) + np.finfo(float).tiny
        h = min(self.h_abs, self.max_step)
        fresh_rho = False
        # The RKC code re-estimates ρ every 25 steps. Here ρ decays by orders of magnitude over a few
        # long steps (∝ e^{−2λt} for matrix completion) and a stale ρ costs √(ρ_stale/ρ) more stages,
        # so re-estimate every step once a step costs ≥ 20 stages: warm-started, that is 2–4 evaluations.
        if self._steps_since_rho >= 25 or (self._last_stages >= 20 and self._steps_since_rho >= 1):
            self.rho = self._estimate_rho(t, y, f0)
            self._steps_since_rho = 0
            fresh_rho = True
        while True:
            if h < min_step:
                return False, f"step size {h:.3g} below {min_step:.3g} at t={t:.6g}"
            remaining = abs(self.t_bound - t)
            if h >= remaining or 1.05 * h >= remaining:
                h = remaining
            s = 1 + int(stage_root(h, self.rho))
            if s > self.max_stages:
                s = self.max_stages
                h = (s * s - 1.0) / (1.54 * self.rho)
            s = max(s, 2)
            self._last_stages = s
            y_new = self.advance(t, y, f0, h, s)
            t_new = t + self.direction * h if h < remaining else self.t_bound
            f_new = self.fun(t_new, y_new)
            self.n_stages_total += s
            err = _error_norm(y, y_new, f0, f_new, h, self.rtol, self.atol)
            if not math.isfinite(err):
                err = math.inf
            if err <= 1.0:
                break
            self.n_rejected += 1
            h *= max(0.1, 0.8 / err ** (1.0 / 3.0)) if math.isfinite(err) else 0.1
            if not fresh_rho:  # a rejection may mean ρ grew: re-estimate once per step
                self.rho = self._estimate_rho(t, y, f0)
                self._steps_since_rho = 0
                fresh_rho = True
        # PI step-size rule of RKC (Sommeijer et al. 1998, §3).
        fac = 10.0
        if self.h_prev is None or self.err_prev is None or err == 0.0:
            if err > 0.0:
                fac = min(fac, 0.8 / err ** (1.0 / 3.0))
        else:
            num = 0.8 * h * self.err_prev ** (1.0 / 3.0)
            den = self.h_prev * err ** (2.0 / 3.0)
            if num < fac * den:
                fac = num / den
        self.h_prev, self.err_prev = h, err
        self.h_abs = min(max(0.1, fac) * h, self.max_step)
        self.y_old, self.f_old = y, f0
        self.t, self.y, self.f = t_new, y_new, f_new
        self._steps_since_rho += 1
        return True, None

    def _dense_output_impl(self):
        return HermiteDenseOutput(self.t_old, self.t, self.y_old, self.y, self.f_old, self.f)


class HermiteDenseOutput(DenseOutput):
    """Cubic Hermite interpolant through (t_old, y_old, f_old) and (t, y, f)."""

    def __init__(self, t_old, t, y_old, y, f_old, f):
        super().__init__(t_old, t)
        self.h = t - t_old
        self.y_old, self.y, self.f_old, self.f = y_old, y, f_old, f

    def _call_impl(self, t):
        x = (np.asarray(t, dtype=np.float64) - self.t_old) / self.h
        h00 = (1 + 2 * x) * (1 - x) ** 2
        h10 = x * (1 - x) ** 2
        h01 = x * x * (3 - 2 * x)
        h11 = x * x * (x - 1)
        if x.ndim == 0:
            return h00 * self.y_old + h10 * self.h * self.f_old + h01 * self.y + h11 * self.h * self.f
        return (np.outer(self.y_old, h00) + np.outer(self.h * self.f_old, h10) + np.outer(self.y, h01)
                + np.outer(self.h * self.f, h11))
