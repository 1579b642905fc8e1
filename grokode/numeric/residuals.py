"""The loss's residuals and curvatures over the samples, in the log form the flows need (numba).

Each flow forms r_i = ∂ℓ/∂f(f_i, y_i) and log ℓ''(f_i, y_i) from the generated loss kernels
(:mod:`grokode.numeric.generated`); the residual can carry a factor e^{log_factor} that is applied in log space.
"""

from __future__ import annotations

import math

import numba

from . import generated as gen


@numba.njit(cache=True)
def loss_residuals(f, y, loss_id, log_factor, out):
    """out_i = e^{log_factor}·r_i, r_i = ∂ℓ/∂f at (f_i, y_i)."""
    # formed in log space: the factor (t·rate) overflows at large α exactly when r is tiny
    for i in range(f.shape[0]):
        sign = gen.loss_residual_sign(loss_id, f[i], y[i])
        out[i] = 0.0 if sign == 0.0 else sign * math.exp(log_factor + gen.loss_log_abs_residual(loss_id, f[i], y[i]))


@numba.njit(cache=True)
def loss_log_curvatures(f, y, loss_id, out):
    """out_i = log ℓ''(f_i, y_i)."""
    for i in range(f.shape[0]):
        out[i] = gen.loss_log_curvature(loss_id, f[i], y[i])
