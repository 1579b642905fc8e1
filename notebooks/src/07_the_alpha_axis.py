# %% [markdown]
# # The whole α axis: from incremental learning to grokking
#
# **Claim.** On one data set the initialization scale α alone moves a diagonal linear net through every
# regime of docs/math.md#regimes-of-a-run:
#
# * **small α** (1e-8): w stays near 0 on a long plateau of the training loss, then coordinates activate one
#   after another (the staircase of incremental learning) from the first activation time t₁
#   (docs/math.md#small-alpha-horizon) on, at the jump times that the α → 0 limit predicts (Pesme & Flammarion's
#   Algorithm 1, docs/math.md#saddle-to-saddle); the net ends near the sparse (ℓ1) solution — `rich`;
# * **finite α** at λ = 0 with the squared loss: the flow interpolates and stops at the finite-α interpolant
#   w_implicit(α), which slides from the min-ℓ1 interpolant (α → 0) to the min-ℓ2 one (α → ∞)
#   (docs/math.md#finite-alpha);
# * **large α** (1e12) with weight decay λ: the kernel predictor first, then the switch to the rich one near
#   t ≈ ln(α)/λ — `grokking`.
#
# The data set is the sparse task (±1 inputs, labels from a 3-sparse teacher), n = 64, d = 500, seed 0 in
# every cell; the λ = 0 cells fit it with the squared loss (the finite-α interpolant is defined for it), the
# others with the logistic loss. The last section is the phase diagram over (α, λ), each point a sweep row.
# `GROKODE_QUICK=1` shrinks the sizes and the grids (the same cells run in the test suite).

# %%
import math
import os

import matplotlib.pyplot as plt
import numpy as np

import grokode
from grokode.analysis.implicit_bias import DiagonalProfile, implicit_interpolant
from grokode.analysis.phase_diagram import plot_phase_diagram
from grokode.analysis.predictors import min_l1_interpolant, min_l2_interpolant
from grokode.sweep import options_key, point_options, run_point
from grokode.tasks import make_task

QUICK = os.environ.get("GROKODE_QUICK") == "1"
DATA = dict(task="sparse", n=32, d=100, seed=0) if QUICK else dict(task="sparse", n=64, d=500, seed=0)
SMALL, LARGE, LAM = 1e-8, 1e12, 1e-2
print("quick mode" if QUICK else "full size", DATA)

# %% [markdown]
# (alpha-axis-small)=
# ## Small α: the plateau at w ≈ 0 and the staircase
#
# At α = 1e-8 and λ = 0 (squared loss) the training loss stays at its initial value until the first
# coordinate activates near t₁ (the summary's `t_activation`), then falls in steps as further coordinates
# activate. The second panel is the staircase on a linear t axis: the measured activations (`jump_times`, a
# coordinate's |w_j| rising through 0.05 and on to 0.1) against the predicted ones (`jump_times_limit`: the
# limit's jumps with their first-order term) and the limit's leading times ε·τ_k (`jump_times_limit_leading`).

# %%
small = grokode.integrate(alpha=SMALL, lam=0.0, loss="squared", **DATA)
s = small.summary
t, loss = small.arrays["t"], small.arrays["train_loss"]
print(f"status={s['status']} regime={s['regime']} t_activation={s['t_activation']:.2f} "
      f"final train loss={s['train_final']:.2e} distance to w_implicit={s['dist_implicit_final']:.1e}")

measured, predicted = np.array(s["jump_times"]), np.array(s["jump_times_limit"])
leading = np.array(s["jump_times_limit_leading"])
print("measured activations:", np.round(measured[:8], 2).tolist())
print("predicted           :", np.round(predicted[:8], 2).tolist())
print(f"largest distance of a measured activation to a predicted one: {s['jump_rel_error']:.1%} "
      f"(to the leading times: {s['jump_rel_error_leading']:.1%})")

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
keep = (t > 0) & (t <= 1e3 * s["t_activation"])
ax.loglog(t[keep], loss[keep], label="training loss (squared), α = 1e-8, λ = 0")
ax.axvline(s["t_activation"], color="k", ls="--", lw=1, label=f"first activation t₁ = {s['t_activation']:.1f}")
ax.set_xlabel("t")
ax.set_ylabel("training loss")
ax.set_title("small α: a plateau at w ≈ 0, then incremental learning")
ax.grid(alpha=0.3, which="major")
ax.legend(fontsize=9)
window = 1.6 * measured[min(6, len(measured) - 1)]
shown = t <= window
ax2.semilogy(t[shown], loss[shown], color="C0", label="training loss")
for k, tk in enumerate(predicted[predicted <= window]):
    ax2.axvline(tk, color="tab:brown", lw=1, label="predicted (first order)" if k == 0 else None)
for k, tk in enumerate(leading[leading <= window]):
    ax2.axvline(tk, color="tab:gray", ls=":", lw=1, label="limit ε·τ_k" if k == 0 else None)
marks = measured[measured <= t[shown][-1]]
ax2.plot(marks, np.interp(marks, t, loss), "o", color="k", ms=4, label="measured activation")
ax2.set_xlabel("t")
ax2.set_ylabel("training loss")
ax2.set_title("the staircase and its predicted jumps")
ax2.grid(alpha=0.3)
ax2.legend(fontsize=9)
fig.tight_layout()

# %% [markdown]
# (alpha-axis-finite)=
# ## Finite α: the interpolant slides from min-ℓ1 to min-ℓ2
#
# The curve is w_implicit(α), solved for each α (no integration); the circles are the final w of λ = 0 runs.

# %%
ds = make_task(DATA["task"], n=DATA["n"], d=DATA["d"], seed=DATA["seed"])
X = np.asarray(ds.X, dtype=np.float64)
w_l2, w_l1 = min_l2_interpolant(X, ds.y).w, min_l1_interpolant(X, ds.y).w


def dist(w, ref):
    return float(np.linalg.norm(w - ref) / np.linalg.norm(ref))


alphas = np.logspace(-8, 12, 11 if QUICK else 21)
path = [implicit_interpolant(X, ds.y, DiagonalProfile(2), math.log(a / math.sqrt(2 * DATA["d"]))).w for a in alphas]
run_alphas = (1e-3, 1.0, 1e3)
finite = {a: grokode.integrate(alpha=a, lam=0.0, loss="squared", **DATA) for a in run_alphas}
finite[SMALL] = small
for a_, run in sorted(finite.items()):
    end = run.arrays["w"][-1]
    print(f"α = {a_:g}: final w to w_implicit {run.summary['dist_implicit_final']:.1e}, "
          f"to min-ℓ1 {dist(end, w_l1):.3f}, to min-ℓ2 {dist(end, w_l2):.3f}")

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.semilogx(alphas, [dist(w, w_l2) for w in path], color="C0", label="w_implicit(α) to min-ℓ2")
ax.semilogx(alphas, [dist(w, w_l1) for w in path], color="C3", ls="--", label="w_implicit(α) to min-ℓ1")
ax.semilogx(sorted(finite), [dist(finite[a].arrays["w"][-1], w_l2) for a in sorted(finite)], "o", color="C0",
            mfc="none", label="final w of a λ = 0 run")
ax.semilogx(sorted(finite), [dist(finite[a].arrays["w"][-1], w_l1) for a in sorted(finite)], "s", color="C3",
            mfc="none")
ax.set_xlabel("α")
ax.set_ylabel("relative ℓ2 distance")
ax.set_title("finite α, λ = 0: where the flow stops")
ax.grid(alpha=0.3, which="major")
ax.legend(fontsize=9)
fig.tight_layout()

# %% [markdown]
# (alpha-axis-large)=
# ## Large α: grokking
#
# At α = 1e12 with λ = 1e-2 (logistic loss) the test accuracy sits at the kernel predictor's until the
# switch near ln(α)/λ, then rises to the rich predictor's.

# %%
large = grokode.integrate(alpha=LARGE, lam=LAM, **DATA)
g = large.summary
print(f"status={g['status']} regime={g['regime']} plateau={g['test_plateau']:.3f} final={g['test_final']:.3f} "
      f"kernel predictor={g['kernel_test']:.3f} rich predictor={g['rich_test']:.3f} "
      f"t*={g['t_transition']:.0f} ln(α)/λ={g['t_theory']:.0f}")
arr = large.arrays
metric = "test_acc_population" if "test_acc_population" in arr else "test_acc"
fig, ax = plt.subplots(figsize=(7, 3.6))
keep = arr["t"] > 0
ax.semilogx(arr["t"][keep], arr["train_acc"][keep], label="train accuracy")
ax.semilogx(arr["t"][keep], arr[metric][keep], label="test accuracy")
ax.axhline(g["kernel_test"], color="tab:purple", ls="-.", lw=1, label="kernel predictor")
ax.axhline(g["rich_test"], color="tab:green", ls="-.", lw=1, label="rich predictor")
ax.axvline(g["t_theory"], color="k", ls="--", lw=1, label="ln(α)/λ")
ax.set_xlabel("t")
ax.set_ylabel("accuracy")
ax.set_title("large α: grokking")
ax.grid(alpha=0.3)
ax.legend(fontsize=9, loc="lower right")
fig.tight_layout()

# %% [markdown]
# (alpha-axis-phase-diagram)=
# ## The phase diagram
#
# Each point is one row of a sweep (`grokode.sweep.run_point`, what `grokode sweep` runs on each worker),
# logistic loss, drawn by `grokode.analysis.phase_diagram.plot_phase_diagram`.

# %%
grid_alphas = (1e-8, 1.0, 1e8) if QUICK else (1e-8, 1e-4, 1.0, 1e4, 1e8, 1e12)
grid_lams = (1e-2, 3e-2)
shared = {k: v for k, v in DATA.items() if k != "seed"}
key = options_key(point_options(**shared))
rows = [run_point(a_, lam, DATA["seed"], shared, key) for lam in grid_lams for a_ in grid_alphas]
for r in rows:
    print(f"α = {r['alpha']:<8g} λ = {r['lam']:<5g} {r['status']:3s} {r['regime']:12s} "
          f"test {r['test_plateau']:.3f} → {r['test_final']:.3f}")
plot_phase_diagram(rows, title=f"diagonal net, sparse task, n = {DATA['n']}, d = {DATA['d']}")

# %% [markdown]
# (alpha-axis-checks)=
# ## Checks
#
# * Small α: the training loss is still within 1 % of its initial value at t₁/2 and has fallen by half at
#   4·t₁; the first five activations are within 3 % of a predicted time and every activation within 15 %;
#   the run ends at the finite-α interpolant (relative distance < 1e-6), closer to min-ℓ1 than to min-ℓ2.
# * Finite α: every λ = 0 run ends at w_implicit(α) (< 1e-6); along the path the distance to min-ℓ1 grows with
#   α, and from α = 1e3 on w_implicit is the min-ℓ2 interpolant (< 1e-6).
# * Large α: `grokking`; the plateau is the kernel predictor's accuracy (within 0.03) and the final value at
#   least the rich one's (less 0.03: at finite time the net can beat its reference); λ·t* = ln α − c₀ with
#   |c₀| < 0.1·ln α.
# * Phase diagram: every point ran; α = 1e-8 is `rich` and α = 1e8 `grokking` at both λ.

# %%
t1 = s["t_activation"]
assert s["status"] == "ok" and s["regime"] == "rich"
assert np.interp(t1 / 2, t, loss) > 0.99 * loss[0] and np.interp(4 * t1, t, loss) < 0.5 * loss[0]
assert len(measured) >= 5 and all(np.min(np.abs(m - predicted) / predicted) < 0.03 for m in measured[:5])
assert s["jump_rel_error"] < 0.15
end = small.arrays["w"][-1]
assert s["dist_implicit_final"] < 1e-6 and dist(end, w_l1) < dist(end, w_l2)
for run in finite.values():
    assert run.summary["status"] == "ok" and run.summary["dist_implicit_final"] < 1e-6
to_l1 = [dist(w, w_l1) for w in path]
assert all(b >= a_ - 1e-9 for a_, b in zip(to_l1, to_l1[1:], strict=False))
assert all(dist(w, w_l2) < 1e-6 for w, a_ in zip(path, alphas, strict=True) if a_ >= 1e3)
assert g["status"] == "ok" and g["regime"] == "grokking"
assert abs(g["test_plateau"] - g["kernel_test"]) < 0.03 and g["test_final"] > g["rich_test"] - 0.03
assert abs(math.log(LARGE) - LAM * g["t_transition"]) < 0.1 * math.log(LARGE)
regime = {(r["alpha"], r["lam"]): r["regime"] for r in rows}
assert all(r["status"] == "ok" for r in rows)
assert all(regime[(1e-8, lam)] == "rich" and regime[(1e8, lam)] == "grokking" for lam in grid_lams)
print("all checks passed")
