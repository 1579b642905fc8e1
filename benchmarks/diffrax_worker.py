"""Run diffrax (Kvaerno5 + PID controller) on the full diagonal flow; used by cases_diagonal in a subprocess.

A subprocess, so that the caller's wall-clock budget can stop it (a compiled JAX solve cannot be interrupted).
Usage: python diffrax_worker.py IN.npz OUT.npz MARKER; IN holds X, y, alpha, lam, t_end, rtol, atol, max_steps.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np


def main(src: str, dst: str, marker: str) -> None:
    import diffrax
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    z = np.load(src)
    X, y = jnp.asarray(z["X"]), jnp.asarray(z["y"])
    alpha, lam, t_end = float(z["alpha"]), float(z["lam"]), float(z["t_end"])
    n, d = X.shape

    def f(t, th, args):
        u, v = th[:d], th[d:]
        r = -y * jax.nn.sigmoid(-y * (X @ (u * u - v * v)))
        g = X.T @ r / n
        return jnp.concatenate([-2.0 * u * g - lam * u, 2.0 * v * g - lam * v])

    controller = diffrax.PIDController(rtol=float(z["rtol"]), atol=float(z["atol"]))

    @jax.jit
    def solve(t1):
        return diffrax.diffeqsolve(diffrax.ODETerm(f), diffrax.Kvaerno5(), t0=0.0, t1=t1, dt0=None,
                                   y0=jnp.full(2 * d, alpha / math.sqrt(2 * d)), max_steps=int(z["max_steps"]),
                                   throw=False, stepsize_controller=controller)

    compiled = solve.lower(jnp.asarray(t_end)).compile()  # compile; not timed
    open(marker, "w").close()
    t0 = time.perf_counter()
    sol = compiled(jnp.asarray(t_end))
    th = np.asarray(sol.ys[-1])
    wall = time.perf_counter() - t0
    ok = bool(sol.result == diffrax.RESULTS.successful)
    np.savez(dst, th=th, wall=wall, steps=int(sol.stats["num_steps"]), ok=ok)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
