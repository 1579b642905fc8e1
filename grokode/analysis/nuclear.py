"""Reference predictors of matrix completion (docs/math.md#matrix): the kernel predictor and the minimum nuclear
norm completion.

* Kernel regime (Thm 3.9, Cor. 3.11): the NTK features of the entries {i, j} ≠ {k, l} are orthogonal, so
  the minimum-norm interpolant on them copies each observed entry (the mean of M_ij and M_ji when both
  are observed) into W_ij and W_ji and puts 0 in every unobserved entry.
* Rich regime (Thm 3.10): min ‖U‖²_F + ‖V‖²_F s.t. (UUᵀ − VVᵀ)_Ω = M_Ω. With P = UUᵀ, Q = VVᵀ this is the
  semidefinite program  min tr P + tr Q  s.t. P ⪰ 0, Q ⪰ 0, (P − Q)_Ω = M_Ω, whose value is the minimum
  nuclear norm of a symmetric completion (a symmetric X splits as X₊ − X₋ with tr X₊ + tr X₋ = ‖X‖_*).
  Two d×d PSD blocks instead of the 2d×2d block of the generic ‖X‖_* formulation: half the cone size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, checked_arguments

#: The default solver is grokode's own (:func:`_admm_completion`, numpy only): ADMM with a certified duality gap.
#: cvxpy's solvers stay available (optional extra) as independent checks: SCS (a splitting method: one cached
#: sparse solve and eigendecompositions of two d×d blocks per iteration) and, for small d, Clarabel (interior
#: point: each iteration factors a KKT system with two dense cone-scaling blocks of order d², which grows too
#: fast for the default). Their timings are in benchmarks/DESIGN_MEASUREMENTS.md.
DEFAULT_SOLVER = "ADMM"
DEFAULT_TOL = 1e-8
SOLVERS = ("ADMM", "SCS", "CLARABEL")
#: ADMM stops when its certified relative duality gap is below this (and after MAX_ITERATIONS, whatever it is)
ADMM_GAP = 1e-7
MAX_ITERATIONS = 20_000


@checked_arguments
def kernel_completion(M: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """Kernel predictor (Cor. 3.11): observed entries symmetrized, every unobserved entry 0."""
    M = np.asarray(M, dtype=np.float64)
    mask = np.asarray(train_mask, dtype=bool)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or mask.shape != M.shape:
        raise InputError(f"M must be square and train_mask of the same shape, got {M.shape} and {mask.shape}")
    count = mask.astype(np.float64) + mask.T
    total = np.where(mask, M, 0.0) + np.where(mask, M, 0.0).T
    return np.divide(total, count, out=np.zeros_like(M), where=count > 0)


@dataclass
class NuclearSolution:
    """X: the completion (d, d); P, Q: its PSD parts; ``nuclear_norm`` = tr P + tr Q (primal objective);
    ``max_violation``: largest |X_ij − M_ij| on Ω; ``solver``, ``status``, ``seconds``."""

    X: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    nuclear_norm: float
    max_violation: float
    solver: str
    status: str
    seconds: float
    #: certificate (ADMM): a dual Y supported on Ω with ‖Y‖₂ ≤ 1 gives the lower bound ⟨Y, M⟩ ≤ min ‖X‖_*, so
    #: gap = (‖X‖_* − ⟨Y, M⟩)/‖X‖_* bounds the relative suboptimality of X (X is exactly feasible)
    dual_value: float | None = None
    relative_gap: float | None = None
    iterations: int | None = None
    #: the dual certificate Y (d, d): symmetric, zero off Ω, ‖Y‖₂ ≤ 1, ⟨Y, M⟩ = dual_value
    Y: np.ndarray | None = field(default=None, repr=False)


def completion_data(M, train_mask) -> tuple[np.ndarray, np.ndarray]:
    """``(M, train_mask)`` as a float64 square matrix and a bool mask of its shape, refused (InputError) otherwise."""
    M = np.asarray(M, dtype=np.float64)
    mask = np.asarray(train_mask, dtype=bool)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or mask.shape != M.shape:
        raise InputError(f"M must be square and train_mask of the same shape, got {M.shape} and {mask.shape}")
    if not mask.any():
        raise InputError("train_mask is empty: nothing to complete from")
    return M, mask


@checked_arguments
def nuclear_norm_completion(M: np.ndarray, train_mask: np.ndarray, *, solver: str = DEFAULT_SOLVER,
                            tol: float = DEFAULT_TOL) -> NuclearSolution:
    """Minimum nuclear norm symmetric completion of M from the entries in ``train_mask`` (an SDP, cvxpy).

    Parameters
    ----------
    M : (d, d) target (only entries on Ω are read).
    train_mask : (d, d) bool, the observed set Ω; (i, j) and (j, i) give one constraint.
    solver : "ADMM" (default: grokode's own, certified duality gap, no cvxpy), or cvxpy's "SCS" or "CLARABEL"
        (interior point; slow beyond d ≈ 50, see DEFAULT_SOLVER), which need the optional extra ``cvxpy``.
    tol : SCS eps_abs = eps_rel, or Clarabel's gap and feasibility tolerances (ADMM: :data:`ADMM_GAP`).
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown SDP solver {solver!r} (choose {', '.join(SOLVERS)})")
    M, mask = completion_data(M, train_mask)
    d = M.shape[0]
    upper = np.triu(mask | mask.T)  # one constraint per unordered pair: duplicates are linearly dependent
    rows, cols = np.nonzero(upper)
    target = kernel_completion(M, mask)[rows, cols]
    if solver == "ADMM":
        from ..threads import compute_threads

        # d×d eigendecompositions (d ~ 100): one BLAS thread is faster than two contending ones (d = 97, load ~6:
        # 0.08–0.10 s against 0.12–0.67 s)
        with compute_threads():
            return _admm_completion(kernel_completion(M, mask), upper | upper.T)
    import cvxpy as cp

    P = cp.Variable((d, d), PSD=True)
    Q = cp.Variable((d, d), PSD=True)
    problem = cp.Problem(cp.Minimize(cp.trace(P) + cp.trace(Q)), [(P - Q)[rows, cols] == target])
    opts = ({"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol} if solver == "CLARABEL"
            else {"eps_abs": tol, "eps_rel": tol, "max_iters": 100_000})
    start = time.perf_counter()
    problem.solve(solver=solver, **opts)
    seconds = time.perf_counter() - start
    if P.value is None:
        raise RuntimeError(f"{solver} did not solve the nuclear-norm SDP (status {problem.status})")
    Pv, Qv = 0.5 * (P.value + P.value.T), 0.5 * (Q.value + Q.value.T)
    X = Pv - Qv
    viol = float(np.max(np.abs(X[rows, cols] - target)))
    return NuclearSolution(X=X, P=Pv, Q=Qv, nuclear_norm=float(np.trace(Pv) + np.trace(Qv)), max_violation=viol,
                           solver=solver, status=str(problem.status), seconds=seconds)


def _signed_eigh(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh(0.5 * (A + A.T))
    return vals, vecs


def _admm_completion(B: np.ndarray, omega: np.ndarray, gap_goal: float = ADMM_GAP,
                     max_iterations: int = MAX_ITERATIONS) -> NuclearSolution:
    """min ‖X‖_* over symmetric X with X = B on Ω (Ω symmetric), by ADMM with a certificate of optimality.

    Splitting X = Z (Z in the affine set {Z_Ω = B_Ω}), scaled dual U:
        X ← eigenvalue soft-threshold of Z − U at 1/ρ (the prox of ‖·‖_*/ρ on symmetric matrices),
        Z ← X + U with its Ω entries reset to B,   U ← U + X − Z  (so U is supported on Ω).
    At a solution Y = −ρU satisfies Y ∈ ∂‖X‖_*, i.e. ‖Y‖₂ ≤ 1 and ⟨Y, X⟩ = ‖X‖_*: weak duality for
    min{‖X‖_* : X_Ω = B_Ω} = max{⟨Y, B⟩ : Y supported on Ω, ‖Y‖₂ ≤ 1} makes Y/max(1, ‖Y‖₂) a lower bound and Z
    (exactly feasible) an upper bound. It stops when their relative gap is ≤ ``gap_goal``. ρ is balanced so the
    primal and dual residuals stay within a factor 10 of each other (Boyd et al. 2011, §3.4.1).
    """
    start = time.perf_counter()
    d = B.shape[0]
    Bz = np.where(omega, B, 0.0)
    scale = max(float(np.max(np.abs(Bz))), 1e-300)
    Bs = Bz / scale  # solve at unit scale; the solution and both bounds scale linearly
    Z = Bs.copy()
    U = np.zeros((d, d))
    rho = 1.0 / max(float(np.linalg.norm(Bs, 2)), 1e-300)
    best = (np.inf, Z, -np.inf, np.zeros((d, d)))  # (primal value, feasible X, dual bound, dual feasible Y)
    status = "max_iterations"
    k = 0
    for k in range(1, max_iterations + 1):
        vals, vecs = _signed_eigh(Z - U)
        shrunk = np.sign(vals) * np.maximum(np.abs(vals) - 1.0 / rho, 0.0)
        X = (vecs * shrunk) @ vecs.T
        Z_old = Z
        Z = np.where(omega, Bs, X + U)
        U = U + X - Z
        if k % 10 and k != max_iterations:
            continue
        primal = float(np.abs(np.linalg.eigvalsh(0.5 * (Z + Z.T))).sum())
        Y = -rho * U
        Y = 0.5 * (Y + Y.T)
        Y /= max(1.0, float(np.linalg.norm(Y, 2)))
        dual = float(np.sum(Y * Bs))
        if primal < best[0]:
            best = (primal, Z, best[2], best[3])
        if dual > best[2]:
            best = (best[0], best[1], dual, Y)
        if best[0] - best[2] <= gap_goal * best[0]:
            status = "optimal"
            break
        r = float(np.linalg.norm(X - Z))
        s = rho * float(np.linalg.norm(Z - Z_old))
        if r > 10.0 * s:
            rho *= 2.0
            U /= 2.0
        elif s > 10.0 * r:
            rho /= 2.0
            U *= 2.0
    primal, Zb, dual, Yb = best
    X = 0.5 * (Zb + Zb.T) * scale
    vals, vecs = np.linalg.eigh(X)
    P = (vecs * np.maximum(vals, 0.0)) @ vecs.T
    Q = (vecs * np.maximum(-vals, 0.0)) @ vecs.T
    viol = float(np.max(np.abs(np.where(omega, X - B, 0.0))))
    gap = (primal - dual) / primal if primal > 0 else 0.0
    return NuclearSolution(X=X, P=P, Q=Q, nuclear_norm=primal * scale, max_violation=viol, solver="ADMM",
                           status=status, seconds=time.perf_counter() - start, dual_value=dual * scale,
                           relative_gap=gap, iterations=k, Y=Yb)
