"""The nuclear-norm-penalized completion: the rich predictor of matrix completion trained with weight decay
(docs/math.md#matrix-decay).

With weight decay λ the flow of W = UUᵀ − VVᵀ does not end at the minimum nuclear norm completion but at a
minimizer of L(W) + (λ/2)·ψ(W), where L is the training loss (a mean over the N observed entries, without ½) and
ψ(W) = min{‖U‖²_F + ‖V‖²_F : UUᵀ − VVᵀ = W} = min{tr P + tr Q : P, Q ⪰ 0, P − Q = W} = ‖W‖_* for a symmetric W
(P = W₊, Q = W₋). That is

    minimize  F(X) = (1/N)·Σ_{(i,j)∈Ω} (X_ij − M_ij)² + p·‖X‖_*   over symmetric X,   p = λ/2,

the matrix counterpart of the weighted lasso (:func:`grokode.analysis.predictors.lasso.weighted_lasso`) and the
decay-aware counterpart of :func:`grokode.analysis.nuclear.nuclear_norm_completion` (its λ → 0 limit). With
E = P_Ω(X − M), its gradient on symmetric matrices is G = (E + Eᵀ)/N (Lipschitz constant 2/N), and its Fenchel
dual is

    maximize  D(Z) = −⟨Z, P_Ω M⟩ − (N/4)‖Z‖²_F   over Z supported on Ω, subject to ‖(Z + Zᵀ)/2‖₂ ≤ p,

with Z = (2/N)E at the optimum. :func:`penalized_completion` runs accelerated proximal gradient (FISTA with
adaptive restart; the proximal map of p‖·‖_* on symmetric matrices soft-thresholds the eigenvalues) and
certifies its answer with the relative duality gap (F(X) − D(Z))/F(X) at the dual point Z = s·(2/N)E, s ≤ 1 the
largest scale that is feasible. numpy only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .nuclear import completion_data

#: Stop when the certified relative duality gap is at most this.
GAP_GOAL = 1e-8
#: Iterations at most (each one symmetric d×d eigendecomposition).
MAX_ITERATIONS = 20_000
#: Check the duality gap every this many iterations (each check costs about one iteration more).
CHECK_EVERY = 10


@dataclass
class PenalizedSolution:
    """X: the completion (d, d, symmetric); ``objective`` F(X); ``dual_value`` D(Z) ≤ min F; ``relative_gap``
    (F(X) − D(Z))/F(X), a bound on X's relative suboptimality; ``status`` "optimal" when the gap reached
    :data:`GAP_GOAL`, else "max_iterations"; ``rank`` of X; ``iterations``, ``seconds``."""

    X: np.ndarray
    objective: float
    dual_value: float
    relative_gap: float
    status: str
    rank: int
    iterations: int
    seconds: float
    solver: str = "APG"


def _residual(X: np.ndarray, M: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, X - M, 0.0)


def _objective(X: np.ndarray, E: np.ndarray, n_obs: int, penalty: float) -> float:
    return float(np.sum(E * E)) / n_obs + penalty * float(np.abs(np.linalg.eigvalsh(X)).sum())


def _dual(E: np.ndarray, M: np.ndarray, mask: np.ndarray, n_obs: int, penalty: float) -> float:
    """D at the feasible dual point Z = s·(2/N)E (module docstring)."""
    Z = (2.0 / n_obs) * E
    spectral = float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (Z + Z.T)))))
    s = 1.0 if spectral <= penalty else penalty / spectral
    Z *= s
    return -float(np.sum(np.where(mask, Z * M, 0.0))) - 0.25 * n_obs * float(np.sum(Z * Z))


def _shrink(A: np.ndarray, threshold: float) -> np.ndarray:
    """The proximal map of threshold·‖·‖_* at the symmetric A: its eigenvalues soft-thresholded."""
    vals, vecs = np.linalg.eigh(A)
    shrunk = np.sign(vals) * np.maximum(np.abs(vals) - threshold, 0.0)
    keep = shrunk != 0.0
    if not keep.any():
        return np.zeros_like(A)
    V = vecs[:, keep]
    X = (V * shrunk[keep]) @ V.T
    return 0.5 * (X + X.T)


def penalized_completion(M: np.ndarray, train_mask: np.ndarray, penalty: float, *, start: np.ndarray | None = None,
                         gap_goal: float = GAP_GOAL, max_iterations: int = MAX_ITERATIONS) -> PenalizedSolution:
    """argmin over symmetric X of (1/N)·Σ_Ω (X_ij − M_ij)² + penalty·‖X‖_*, with its certified relative duality gap.

    Parameters
    ----------
    M : (d, d) target (only entries on Ω are read).
    train_mask : (d, d) bool, the observed set Ω (N = its number of entries; (i, j) and (j, i) both count).
    penalty : p > 0 (λ/2 for the matrix model trained with weight decay λ).
    start : (d, d) a symmetric first guess (e.g. the run's final W; default 0). It only changes how many iterations
        are needed: the answer is certified by the duality gap, whatever the start.
    gap_goal : stop when the relative duality gap is at most this.
    max_iterations : stop after this many iterations whatever the gap (status "max_iterations").

    Returns
    -------
    PenalizedSolution, the best iterate found (smallest gap).
    """
    from ..threads import compute_threads

    if not (isinstance(penalty, int | float) and math.isfinite(penalty) and penalty > 0):
        raise InputError(f"penalty must be a finite number > 0, got {penalty!r}")
    M, mask = completion_data(M, train_mask)
    if start is not None:
        start = np.asarray(start, dtype=np.float64)
        if start.shape != M.shape or not np.all(np.isfinite(start)):
            raise InputError(f"start must be a finite {M.shape[0]}×{M.shape[0]} matrix")
    t0 = time.perf_counter()
    # d×d eigendecompositions: one BLAS thread is faster than two contending ones at these sizes
    with compute_threads():
        X, gap, objective, dual, iterations = _apg(M, mask, float(penalty), start, gap_goal, max_iterations)
    eigenvalues = np.abs(np.linalg.eigvalsh(X))
    # the thresholded eigenvalues are exact zeros before X is formed; forming it leaves rounding of order d·ε·‖X‖₂
    rank = int(np.count_nonzero(eigenvalues > 100.0 * M.shape[0] * np.finfo(float).eps * eigenvalues.max(initial=0.0)))
    return PenalizedSolution(X=X, objective=objective, dual_value=dual, relative_gap=gap,
                             status="optimal" if gap <= gap_goal else "max_iterations", rank=rank,
                             iterations=iterations, seconds=time.perf_counter() - t0)


def _apg(M: np.ndarray, mask: np.ndarray, penalty: float, start: np.ndarray | None, gap_goal: float,
         max_iterations: int) -> tuple[np.ndarray, float, float, float, int]:
    """FISTA with adaptive restart (O'Donoghue & Candès) on F: (X, gap, F(X), D, iterations) of the best iterate."""
    n_obs = int(mask.sum())
    step = 0.5 * n_obs  # 1 / the Lipschitz constant 2/N of G
    X = np.zeros_like(M) if start is None else 0.5 * (start + start.T)
    Y, momentum = X.copy(), 1.0

    def certify(X: np.ndarray) -> tuple[float, float, float]:
        E = _residual(X, M, mask)
        primal = _objective(X, E, n_obs, penalty)
        dual = _dual(E, M, mask, n_obs, penalty)
        return max(primal - dual, 0.0) / max(primal, np.finfo(float).tiny), primal, dual

    best = (*certify(X), X)
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        E = _residual(Y, M, mask)
        X_next = _shrink(Y - (step / n_obs) * (E + E.T), step * penalty)
        following = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum * momentum))
        if float(np.sum((Y - X_next) * (X_next - X))) > 0.0:  # the objective turned up: restart the momentum
            Y, following = X_next.copy(), 1.0
        else:
            Y = X_next + ((momentum - 1.0) / following) * (X_next - X)
        X, momentum = X_next, following
        if iterations % CHECK_EVERY == 0 or iterations == max_iterations:
            gap, primal, dual = certify(X)
            if gap < best[0]:
                best = (gap, primal, dual, X)
            if best[0] <= gap_goal:
                break
    gap, primal, dual, X = best
    return X, gap, primal, dual, iterations
