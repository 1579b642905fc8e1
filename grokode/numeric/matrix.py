"""Matrix-completion flows (docs/math.md#matrix): W = UUᵀ − VVᵀ trained on the observed entries Ω.

Two exact formulations of the same gradient flow:

* :class:`FactorMatrixFlow` — the parameters themselves, dU/dt = −RU − λU, dV/dt = +RV − λV, with
  R = (2/N)(E + Eᵀ), E = P_Ω(W − M). Its Jacobian is minus the (symmetric) Hessian of the loss. Used to
  check the other one; at large α it is numerically useless for W, because W is the difference of two
  matrices of size α², so a relative error δ in U costs α²δ in W.
* :class:`MatrixFlow` — the lifted flow on P = UUᵀ, Q = VVᵀ written in the rotated coordinates
  W = P − Q and S = P + Q:  dW/dt = −(RS + SR) − 2λW,  dS/dt = −(RW + WR) − 2λS  (sum and difference of
  dP/dt = −(RP + PR) − 2λP, dQ/dt = +(RQ + QR) − 2λQ). W is a state variable, so its error is
  controlled directly by the solver (atol/rtol act on W, which is O(1)). S = 2α²e^{−2λt}I + … carries
  the scale and, in the kernel phase, a smooth decay at rate 2λ that would limit the step size to
  λh ~ rtol^{1/3} for no benefit; the state therefore holds Ŝ = S/σ(t), σ(t) = 1 + 2α²e^{−2λt}, which
  stays O(1) and nearly constant in the kernel phase and equals S once σ → 1. This is the run's flow.

Only observed entries enter the residual: R is assembled from the N observed entries, then one
d×d by d×2d product and an O(d²) symmetrization give the right-hand side.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import InputError
from .flow import FlowBase


@numba.njit(cache=True)
def _lifted_rhs(y, d, rows, cols, target, scale, lam, sigma, R, out):
    # State rows are [W_i· | Ŝ_i·] (shape d × 2d), so one GEMM gives [RW | RŜ]: R is assembled dense from
    # the N observed residuals (a diagonal pair (i, i) gets 2·scale·E_ii, as R = scale·(E + Eᵀ) says).
    # a dense GEMM rather than a sparse O(N·d) loop: at the observed fractions of the tasks BLAS is faster
    # S = σ(t)·Ŝ with σ' = −2λ(σ − 1), hence dŜ/dt = −(RW + WR + 2λŜ)/σ.
    Y = y.reshape((d, 2 * d))
    R[:, :] = 0.0
    for k in range(rows.shape[0]):
        i = rows[k]
        j = cols[k]
        c = scale * (Y[i, j] - target[k])
        R[i, j] += c
        R[j, i] += c
    P = np.dot(R, Y)
    out2 = out.reshape((d, 2 * d))
    inv = 1.0 / sigma
    for i in range(d):
        for j in range(d):
            out2[i, j] = -sigma * (P[i, d + j] + P[j, d + i]) - 2.0 * lam * Y[i, j]
            out2[i, d + j] = -inv * (P[i, j] + P[j, i] + 2.0 * lam * Y[i, d + j])


@numba.njit(cache=True)
def _factor_rhs(y, d, rows, cols, target, scale, lam, out):
    n2 = d * d
    U = y[:n2].reshape((d, d))
    V = y[n2:].reshape((d, d))
    dU = out[:n2].reshape((d, d))
    dV = out[n2:].reshape((d, d))
    for i in range(d):
        for m in range(d):
            dU[i, m] = -lam * U[i, m]
            dV[i, m] = -lam * V[i, m]
    for k in range(rows.shape[0]):
        i = rows[k]
        j = cols[k]
        w = 0.0
        for m in range(d):
            w += U[i, m] * U[j, m] - V[i, m] * V[j, m]
        c = scale * (w - target[k])
        for m in range(d):
            dU[i, m] -= c * U[j, m]
            dV[i, m] += c * V[j, m]
        for m in range(d):
            dU[j, m] -= c * U[i, m]
            dV[j, m] += c * V[i, m]


def check_completion_problem(M: np.ndarray, train_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a completion problem: M square float, mask of the same shape (bool), at least one entry.

    Returns float64 ``M`` and bool ``train_mask`` (copies); raises InputError naming what is wrong.
    """
    M = np.asarray(M)
    mask = np.asarray(train_mask)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise InputError(f"M must be a square d×d matrix, got shape {M.shape}")
    if mask.shape != M.shape:
        raise InputError(f"train_mask has shape {mask.shape} but M has shape {M.shape}")
    if mask.dtype != np.bool_:
        raise InputError(f"train_mask must be boolean, got dtype {mask.dtype}")
    if not mask.any():
        raise InputError("train_mask observes no entry (it is all False)")
    try:
        M = np.array(M, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"M must be numeric, got dtype {M.dtype}") from None
    bad = np.argwhere(~np.isfinite(M))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"M has a non-finite entry M[{i}, {j}] = {M[i, j]} ({len(bad)} in all)")
    return M, mask.copy()


class _MatrixFlowBase(FlowBase):
    """Shared bookkeeping: observed pairs, time variable t, counters, the integrate_flow interface."""

    def __init__(self, M: np.ndarray, train_mask: np.ndarray, *, alpha: float, lam: float):
        M, mask = check_completion_problem(M, train_mask)
        if not (math.isfinite(alpha) and alpha > 0):
            raise InputError(f"alpha must be a positive finite number, got {alpha!r}")
        if not (math.isfinite(lam) and lam >= 0):
            raise InputError(f"lam must be a non-negative finite number, got {lam!r}")
        self.size = M.shape[0]
        self.d = self.size  # the matrix dimension; the weight vector handed to the driver has d² entries
        self.rows, self.cols = (np.ascontiguousarray(a, dtype=np.int64) for a in np.nonzero(mask))
        self.n_obs = int(self.rows.size)
        self.target = np.ascontiguousarray(M[self.rows, self.cols])
        self.scale = 2.0 / self.n_obs
        self.alpha, self.lam = float(alpha), float(lam)
        self.nfev = 0
        self.njev = 0

    @property
    def weight_size(self) -> int:
        """W flattened: d² entries."""
        return self.size * self.size

    def observe(self, t: float, state: np.ndarray, frame=None) -> tuple[np.ndarray, float]:
        """(W flattened, ‖θ‖ = (‖U‖²_F + ‖V‖²_F)^{1/2})."""
        return self.weight(t, state), self.param_norm(state, t)


class MatrixFlow(_MatrixFlowBase):
    """Lifted matrix-completion flow in (W, S) = (P − Q, P + Q) (docs/math.md#matrix, see module docstring).

    State y = vec([W | Ŝ]) (row i holds W_i· then Ŝ_i·), 2d² unknowns, Ŝ = S/σ(t) with
    σ(t) = 1 + 2α²e^{−2λt}, y(0) = (0, σ(0)⁻¹2α²I):
    dW/dt = −σ(RŜ + ŜR) − 2λW,  dŜ/dt = −(RW + WR + 2λŜ)/σ. Exact: W(t) equals UUᵀ − VVᵀ of the
    factor flow for every t. Stiff for large α: the observed residuals relax at rate up to
    ≈ 16α²e^{−2λt}/N while the rest moves at rate ~λ.
    """

    def __init__(self, M: np.ndarray, train_mask: np.ndarray, *, alpha: float, lam: float):
        super().__init__(M, train_mask, alpha=alpha, lam=lam)
        if math.log(2.0) + 2.0 * math.log(self.alpha) > 700.0:
            raise InputError(f"alpha={alpha:g} is too large: S(0) = 2α²I overflows float64 (need α < 1e151)")
        self._R = np.empty((self.size, self.size))
        mask = np.zeros((self.size, self.size))
        np.add.at(mask, (self.rows, self.cols), 1.0)
        self._multiplicity = mask + mask.T  # [(i,j) ∈ Ω] + [(j,i) ∈ Ω]

    def start(self) -> tuple[float, np.ndarray]:
        d = self.size
        y0 = np.zeros((d, 2 * d))
        y0[:, d:] = self._decay(0.0) / self.sigma(0.0) * np.eye(d)
        return 0.0, y0.ravel()

    def _decay(self, t: float) -> float:
        # 2α²e^{−2λt} in log space (α² alone overflows for α > 1e154)
        return math.exp(math.log(2.0) + 2.0 * math.log(self.alpha) - 2.0 * self.lam * t)

    def sigma(self, t: float) -> float:
        """σ(t) = 1 + 2α²e^{−2λt}: S = σ·Ŝ."""
        return 1.0 + self._decay(t)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        self.nfev += 1
        # scipy's finite-difference Jacobian (BDF, Radau) passes non-contiguous columns; the kernel reshapes
        y = np.ascontiguousarray(y, dtype=np.float64)
        out = np.empty_like(y)
        _lifted_rhs(y, self.size, self.rows, self.cols, self.target, self.scale, self.lam, self.sigma(t), self._R,
                    out)
        return out

    def jac_diagonal(self, t: float, y: np.ndarray) -> np.ndarray:
        """Diagonal approximation of ∂F/∂y that holds the stiff part (for Rosenbrock W-methods).

        On symmetric perturbations, with Ŝ ≈ diagonal (the kernel phase, where the stiffness is):
        ∂(dW_ij/dt)/∂W_ij ≈ −σ·(2/N)·(Ŝ_ii + Ŝ_jj)·([(i,j) ∈ Ω] + [(j,i) ∈ Ω]) − 2λ;  ∂(dŜ/dt)/∂Ŝ ≈ −2λ/σ.
        """
        d = self.size
        sigma = self.sigma(t)
        diag = np.diagonal(y.reshape(d, 2 * d)[:, d:])
        out = np.empty((d, 2 * d))
        out[:, :d] = -sigma * self.scale * (diag[:, None] + diag[None, :]) * self._multiplicity - 2.0 * self.lam
        out[:, d:] = -2.0 * self.lam / sigma
        return out.ravel()

    def weight(self, t: float, state: np.ndarray, frame: object = None) -> np.ndarray:
        """W = UUᵀ − VVᵀ, flattened (d²,)."""
        d = self.size
        return np.ascontiguousarray(state.reshape(d, 2 * d)[:, :d]).ravel()

    def S(self, t: float, state: np.ndarray) -> np.ndarray:
        """S = P + Q = UUᵀ + VVᵀ at time t, (d, d)."""
        d = self.size
        return self.sigma(t) * state.reshape(d, 2 * d)[:, d:]

    def param_norm(self, state: np.ndarray, t: float = 0.0) -> float:
        """‖θ‖ = (tr P + tr Q)^{1/2} = (σ(t)·tr Ŝ)^{1/2}."""
        return math.sqrt(max(float(np.trace(self.S(t, state))), 0.0))


class FactorMatrixFlow(_MatrixFlowBase):
    """The parameter flow dU/dt = −RU − λU, dV/dt = RV − λV, U(0) = V(0) = αI (docs/math.md#matrix).

    State y = (vec U, vec V). Only for checks and baselines: at large α the difference W = UUᵀ − VVᵀ
    cancels ~2·log10(α) digits (see module docstring).
    """

    def start(self) -> tuple[float, np.ndarray]:
        d = self.size
        eye = (self.alpha * np.eye(d)).ravel()
        return 0.0, np.concatenate([eye, eye])

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        self.nfev += 1
        y = np.ascontiguousarray(y, dtype=np.float64)
        out = np.empty_like(y)
        _factor_rhs(y, self.size, self.rows, self.cols, self.target, self.scale, self.lam, out)
        return out

    def weight(self, t: float, state: np.ndarray, frame: object = None) -> np.ndarray:
        d = self.size
        U = state[: d * d].reshape(d, d)
        V = state[d * d:].reshape(d, d)
        return (U @ U.T - V @ V.T).ravel()

    def param_norm(self, state: np.ndarray, t: float = 0.0) -> float:
        return float(np.linalg.norm(state))
