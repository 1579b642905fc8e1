"""Run diffrax on the full diagonal flow; used by cases_diagonal in a subprocess.

A subprocess, so that the caller's wall-clock budget can stop it (a compiled JAX solve cannot be interrupted).
Usage: python diffrax_worker.py IN.npz OUT.npz MARKER; IN holds X, y, alpha, lam, t_end, rtol, atol, max_steps
and ``solver``, one of

* ``tsit5``: Tsit5 with a PID controller, explicit, no Jacobian (what a diffrax user runs first);
* ``kvaerno5``: Kvaerno5 (ESDIRK) + PID controller with diffrax's default root finder (VeryChord with lineax's
  AutoLinearSolver: an LU factorization of the dense 2d×2d Jacobian, formed column by column);
* ``kvaerno5-gmres``: Kvaerno5 whose root finder (optimistix Newton) solves its linear systems with lineax's GMRES
  on the linearised right-hand side (Jacobian-vector products only, no dense matrix).

The file written holds the final state ``th``, the wall time of the compiled solve (compilation excluded: the
MARKER file appears when it is done), the accepted steps, the RHS evaluations and whether diffrax succeeded.
The process runs on the threads XLA is given (the caller sets ``XLA_FLAGS`` for one thread).
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
    import lineax
    import optimistix

    z = np.load(src)
    X, y = jnp.asarray(z["X"]), jnp.asarray(z["y"])
    alpha, lam, t_end = float(z["alpha"]), float(z["lam"]), float(z["t_end"])
    rtol, atol, which = float(z["rtol"]), float(z["atol"]), str(z["solver"])
    n, d = X.shape

    def f(t, th, args):
        u, v = th[:d], th[d:]
        r = -y * jax.nn.sigmoid(-y * (X @ (u * u - v * v)))
        g = X.T @ r / n
        return jnp.concatenate([-2.0 * u * g - lam * u, 2.0 * v * g - lam * v])

    if which == "tsit5":
        solver = diffrax.Tsit5()
    elif which == "kvaerno5":
        solver = diffrax.Kvaerno5()
    elif which == "kvaerno5-gmres":
        # VeryChord (diffrax's default root finder) with GMRES fails to trace: it applies lax.stop_gradient to the
        # linearised operator, which holds a Jaxpr ("not a valid JAX type"; diffrax 0.7.2, lineax 0.1.1, jax
        # 0.10.2). optimistix's Newton linearises at every iteration with jax.linearize instead: JVPs only.
        # Newton tolerance = the controller's (diffrax's default for VeryChord); GMRES to 1e-3 of it.
        gmres = lineax.GMRES(rtol=1e-3 * rtol, atol=1e-3 * atol, max_steps=200, restart=20)
        solver = diffrax.Kvaerno5(root_finder=optimistix.Newton(rtol=rtol, atol=atol, linear_solver=gmres))
    else:
        raise SystemExit(f"unknown solver {which!r}")
    controller = diffrax.PIDController(rtol=rtol, atol=atol)

    @jax.jit
    def solve(t1):
        return diffrax.diffeqsolve(diffrax.ODETerm(f), solver, t0=0.0, t1=t1, dt0=None,
                                   y0=jnp.full(2 * d, alpha / math.sqrt(2 * d)), max_steps=int(z["max_steps"]),
                                   throw=False, stepsize_controller=controller)

    t0 = time.perf_counter()
    compiled = solve.lower(jnp.asarray(t_end)).compile()  # compile; timed apart
    compile_seconds = time.perf_counter() - t0
    open(marker, "w").close()
    t0 = time.perf_counter()
    sol = compiled(jnp.asarray(t_end))
    th = np.asarray(sol.ys[-1])
    wall = time.perf_counter() - t0
    ok = bool(sol.result == diffrax.RESULTS.successful)
    stats = {k: int(v) for k, v in sol.stats.items() if np.ndim(v) == 0}
    np.savez(dst, th=th, wall=wall, steps=stats.get("num_accepted_steps", stats.get("num_steps", -1)),
             rejected=stats.get("num_rejected_steps", -1), ok=ok, compile_seconds=compile_seconds)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
