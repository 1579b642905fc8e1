"""Tables the command line prints (rich): a run's summary, the theorem check, a trend, a sweep's fits."""

from __future__ import annotations

import math

#: Summary keys of the α axis: small-α activation and saddle-to-saddle jumps, the finite-α interpolant at λ = 0.
ALPHA_AXIS_KEYS = ("t_activation", "jump_threshold", "jump_times", "jump_times_limit", "jump_rel_error",
                   "jump_times_limit_leading", "jump_rel_error_leading", "saddles", "dist_implicit_final",
                   "implicit_residual", "implicit_dual_grad_norm", "implicit_dist_min_l2", "implicit_dist_min_l1")
#: Summary keys shown by ``grokode integrate`` (in this order, when present).
SUMMARY_KEYS = ("status", "regime", "t_theory", "t_transition", "transition_width", "log_t_transition",
                "transition_width_log", "lam_eff", "offset_c0", "t_bias_switch", "test_plateau", "test_final",
                "train_final", "t_train_fit", "t_test_10", "transition_metric", "kernel_test", "rich_test",
                "cos_kernel_at_Tminus", "cos_rich_at_Tplus", "dist_kernel_at_Tminus", "dist_rich_at_Tplus",
                *ALPHA_AXIS_KEYS, "rhs_evals", "jac_evals", "gd_steps_equivalent_lr0.01", "lr_stability_ratio",
                "wall_seconds", "out", "plot")
#: Entries of a list (jump times, saddles) shown in the table; the rest are counted.
LIST_SHOWN = 8


def _console():
    from rich.console import Console

    return Console()


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        more = f", … ({len(value)} in all)" if len(value) > LIST_SHOWN else ""
        return "[" + ", ".join(fmt(v) for v in value[:LIST_SHOWN]) + more + "]"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else "—"
    return str(value)


def print_summary(summary: dict, title: str = "grokode integrate") -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in SUMMARY_KEYS:
        # an α-axis entry that does not apply to this run (None: e.g. no activation time at large α) is left out
        if key in summary and not (key in ALPHA_AXIS_KEYS and summary[key] is None):
            table.add_row(key, fmt(summary[key]))
    _console().print(table)


def print_analysis(path: str, a, summary: dict | None = None) -> None:
    """The transition report and theorem check of one run (an :class:`~grokode.analysis.analyze.Analysis`), with
    the run's regime and α-axis entries from its saved ``summary`` when it has them."""
    from rich.table import Table

    table = Table(title=f"grokode analyze {path}", show_header=False, title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [("α, λ", f"{a.alpha:g}, {a.lam:g}"), ("t_theory = ln(α)/λ", fmt(a.t_theory)),
            ("t_transition", fmt(a.t_transition)), ("transition_width (10–90 %)", fmt(a.transition_width)),
            ("offset_c0 = ln α − λ t*", fmt(a.offset_c0)),
            ("t_bias_switch (cos_rich > cos_kernel)", fmt(a.t_bias_switch))]
    for name in ("kernel", "rich"):
        ref = (a.references or {}).get(name) or {}
        if ref:
            detail = (f"{ref.get('kind')}: margin {fmt(ref.get('margin'))}, gap {fmt(ref.get('gap'))}, "
                      f"test {fmt(ref.get('test_value'))}")
            rows.append((f"{name} predictor", detail if ref.get("feasible", True) else str(ref.get("message"))))
    saved = summary or {}
    rows += [(key, fmt(saved[key])) for key in ("regime", *ALPHA_AXIS_KEYS) if saved.get(key) is not None]
    for key, value in rows:
        table.add_row(key, value)
    console = _console()
    console.print(table)
    theorem = Table(title=f"theorem check (c = {a.c:g})", title_justify="left")
    m = a.measure
    names = ("cos(w, kernel)", "cos(w, rich)") if m == "cos" else ("‖W − W_kernel‖/‖W_kernel‖", "‖W − W_rich‖/‖W_rich‖")
    for col in ("time", "t", *names):
        theorem.add_column(col)
    for label, s, tag in (("T⁻ = (1−c)·t_theory", a.T_minus, "Tminus"), ("T⁺ = (1+c)·t_theory", a.T_plus, "Tplus")):
        kernel, rich = getattr(a, f"{m}_kernel_at_{tag}"), getattr(a, f"{m}_rich_at_{tag}")
        theorem.add_row(label, fmt(s), fmt(kernel), fmt(rich))
    console.print(theorem)


def print_trend(trend, c: float) -> None:
    from rich.table import Table

    table = Table(title=f"theorem check across α (c = {c:g})", title_justify="left")
    m = "cos" if trend.measure == "cos" else "distance"
    for col in ("α", f"{m}(w(T⁻), kernel)", "deficit", f"{m}(w(T⁺), rich)", "deficit"):
        table.add_column(col)
    rows = zip(trend.alphas, trend.kernel_at_Tminus, trend.deficits(trend.kernel_at_Tminus), trend.rich_at_Tplus,
               trend.deficits(trend.rich_at_Tplus), strict=True)
    for a, k, dk, r, dr in rows:
        table.add_row(f"{a:g}", fmt(k), fmt(dk), fmt(r), fmt(dr))
    console = _console()
    console.print(table)
    verdict = {True: "yes", False: "NO"}
    goal = "tends to 1" if trend.measure == "cos" else "tends to 0"
    console.print(f"{m} to the kernel predictor at T⁻ {goal} as α grows: {verdict[trend.kernel_converges]}; "
                  f"to the rich predictor at T⁺: {verdict[trend.rich_converges]}")


def print_sweep(summary: dict) -> None:
    from rich import box
    from rich.table import Table

    def g(value, spec: str) -> str:
        return "—" if value is None or not math.isfinite(value) else format(value, spec)

    table = Table(title=f"λ·t* = slope·ln α + intercept  ({summary['out']})", title_justify="left", box=box.SIMPLE,
                  pad_edge=False)
    for col in ("λ", "points", "slope", "intercept", "R²", "c₀ mean", "c₀ sd", "λ·width"):
        table.add_column(col, justify="right", no_wrap=True)
    for f in summary["fits"]:
        varied = "".join(f", {k} {v}" for k, v in (f.get("options") or {}).items())
        table.add_row(f"{f['lam']:g}{varied}", str(f["n_points"]), g(f["slope"], ".4f"), g(f["intercept"], ".3f"),
                      g(f["r2"], ".5f"), g(f["c0_mean"], ".3f"), g(f["c0_std"], ".3f"), g(f["lam_width_mean"], ".3f"))
    console = _console()
    console.print(table)
    figures = "".join(f"; {what} {summary[key]}" for key, what in (("phase_plot", "phase diagram"),
                                                                    ("scaling_plot", "scaling figure"))
                      if key in summary)
    console.print(f"{summary['points']} points: {summary['ran']} run now, {summary['skipped']} already in the file, "
                  f"{summary['failed']} failed{figures}")
