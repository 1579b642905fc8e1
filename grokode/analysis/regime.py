"""The regime of a run on the α axis (docs/math.md#regimes-of-a-run): rich, grokking, misgrokking, kernel, none.

Read from the saved trajectory and the two reference predictors' own test metrics. The test metric is the run's
transition metric: accuracy for classification (higher is better), log10 of the test loss for regression (lower
is better). Two values of it count as the same level within the tolerance: :data:`TOLERANCE`, or
:data:`GAP_FRACTION` of the gap between the kernel and the rich references where that is smaller (the squared
loss on ±1 labels with weight decay puts them a third of a decade apart).

* Regression: test losses more than :data:`ZERO_LOSS_DECADES` decades below the initial one count as zero.
* Training is *fitted* at the first saved time t_fit with training accuracy 1 and training loss at most
  :data:`FIT_FRACTION_CLASSIFICATION` of its initial value (classification: accuracy alone is scale-invariant,
  and a small-α w ≈ 0 already separates the training set along its initial gradient with the loss at chance),
  or (regression) training loss at most :data:`FIT_FRACTION` of its largest saved value — or within
  :data:`FLOOR_FACTOR` of its smallest, when that is below :data:`FLOOR_FRACTION` of the largest (weight decay
  keeps the loss of the fitted flow above zero). Never fitted: ``none``.
* A *kernel plateau*: at t_fit the test metric is within the tolerance of the kernel predictor's and not of the
  rich predictor's, and it is still within the tolerance of its t_fit value at 2·t_fit (it stays flat while the
  training data are fitted). A small-α run's long wait at w ≈ 0 has training at chance, so it is not one.
* With a plateau, the final test metric decides: at the rich level (or better) and better than the plateau →
  ``grokking``;
  worse than the plateau by more than the tolerance → ``misgrokking``; better by more than the tolerance but not
  at the rich level → ``incomplete`` (the switch is under way at the horizon); otherwise ``kernel``.
* Without a plateau: ``rich`` when the final test metric is at the rich level (or better) or the metric at t_fit
  already was; otherwise ``other``.
"""

from __future__ import annotations

import math

import numpy as np

#: Two values of the test metric are the same level within this: accuracy, or decades of test loss …
TOLERANCE = {"classification": 0.05, "regression": 0.5}
#: … or within this fraction of the gap between the kernel and the rich references, where that is smaller.
GAP_FRACTION = 0.25
#: Regression is fitted once the training loss is at most this fraction of its largest saved value …
FIT_FRACTION = 1e-3
#: … or within this factor of its smallest, when that is at most FLOOR_FRACTION of the largest (weight decay).
FLOOR_FACTOR = 2.0
FLOOR_FRACTION = 0.1
#: … classification once the training accuracy is 1 and the training loss at most this fraction of its initial value.
FIT_FRACTION_CLASSIFICATION = 0.5
#: Regression: test losses more than this many decades below the initial one count as zero.
ZERO_LOSS_DECADES = 6.0
REGIMES = ("rich", "grokking", "misgrokking", "incomplete", "kernel", "none", "other")


def classify_regime(t: np.ndarray, train: np.ndarray, test: np.ndarray, kind: str, kernel_value: float | None,
                    rich_value: float | None, train_loss: np.ndarray | None = None,
                    rich_decay_value: float | None = None) -> str | None:
    """The regime (one of :data:`REGIMES`) from the saved curves.

    Parameters
    ----------
    t : saved times (T,).
    train : training accuracy (classification) or training loss (regression) at ``t``.
    test : the test metric at ``t``: accuracy, or log10 of the test loss.
    kind : "classification" or "regression".
    kernel_value, rich_value : the reference predictors' values of the same metric (accuracy, or log10 loss).
    train_loss : classification: the training loss at ``t`` (required to call the data fitted).
    rich_decay_value : with weight decay, the value of the decay-aware rich predictor (the weighted lasso the flow
        ends at); the rich level is then either one (the flow passes the λ → 0 rich predictor on its way).

    Returns None when it cannot be read (no saved times, a missing reference).
    """
    t, train, test = (np.asarray(a, dtype=np.float64) for a in (t, train, test))
    if t.size == 0 or kernel_value is None or rich_value is None or not (
            math.isfinite(kernel_value) and math.isfinite(rich_value)):
        return None
    if kind == "regression" and math.isfinite(float(test[0])):
        # losses below ZERO_LOSS_DECADES under the initial one count as zero (an exact recovery has log10 loss −inf)
        floor = float(test[0]) - ZERO_LOSS_DECADES
        test = np.maximum(np.nan_to_num(test, nan=np.nan, neginf=floor), floor)
        kernel_value, rich_value = max(kernel_value, floor), max(rich_value, floor)
        if rich_decay_value is not None:
            rich_decay_value = max(rich_decay_value, floor)
    sign = 1.0 if kind == "classification" else -1.0  # quality = sign·metric, higher is better
    quality = sign * test
    q_kernel = sign * kernel_value
    q_riches = [sign * v for v in (rich_value, rich_decay_value) if v is not None and math.isfinite(v)]
    tol = min(TOLERANCE[kind], GAP_FRACTION * min(abs(q_kernel - q) for q in q_riches))
    if kind == "classification":
        if train_loss is None:
            return None
        loss = np.asarray(train_loss, dtype=np.float64)
        fitted = (train >= 1.0) & (loss <= FIT_FRACTION_CLASSIFICATION * float(loss[0]))
    else:
        top, low = float(np.nanmax(train)), float(np.nanmin(train))
        level = FIT_FRACTION * top
        if low <= FLOOR_FRACTION * top:
            level = max(level, FLOOR_FACTOR * low)
        fitted = train <= max(level, 1e-300)
    if not np.any(fitted):
        return "none"
    i_fit = int(np.argmax(fitted))
    q_fit, q_final = float(quality[i_fit]), float(quality[-1])
    if not (math.isfinite(q_fit) and math.isfinite(q_final)):
        return None
    later = np.flatnonzero(t >= 2.0 * t[i_fit])
    flat = later.size > 0 and abs(float(quality[later[0]]) - q_fit) <= tol
    plateau = abs(q_fit - q_kernel) <= tol and all(abs(q_fit - q) > tol for q in q_riches) and flat
    at_rich = q_final >= min(q_riches) - tol  # at a rich level, or better (a λ = 0 run can beat its finite reference)
    if plateau:
        if at_rich and q_final > q_fit:
            return "grokking"
        if q_final < q_fit - tol:
            return "misgrokking"
        if q_final > q_fit + tol:
            return "incomplete"
        return "kernel"
    if at_rich or any(abs(q_fit - q) <= tol for q in q_riches):
        return "rich"
    return "other"


def classify_regression_regime(t: np.ndarray, train_loss: np.ndarray, test_loss: np.ndarray,
                               kernel_loss: float | None, rich_loss: float | None,
                               rich_decay_loss: float | None = None) -> str | None:
    """:func:`classify_regime` of a regression run from its losses themselves (its test metric is their log10; a
    loss of 0 is −∞ there, and a reference loss of 0 counts as 1e-300)."""
    if kernel_loss is None or rich_loss is None:
        return None
    with np.errstate(divide="ignore"):
        return classify_regime(t, train_loss, np.log10(np.asarray(test_loss, dtype=np.float64)), "regression",
                               math.log10(max(kernel_loss, 1e-300)), math.log10(max(rich_loss, 1e-300)),
                               rich_decay_value=None if rich_decay_loss is None else math.log10(max(rich_decay_loss,
                                                                                                     1e-300)))
