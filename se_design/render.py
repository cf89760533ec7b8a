"""The CLI's tables (se_design.tables draws them) and JSON-ready dicts of the cost model,
the paper comparison and the search: rendering only, of objects computed elsewhere."""

from __future__ import annotations

from se_design.cost import LAYER_COLUMNS, Cost
from se_design.tables import Fitted
from se_design.units import compact, n


def cost_table(c: Cost, fvcore: dict[str, int] | None = None) -> Fitted:
    """Per stage: blocks, channels, r, SE params (closed form and exact), params and FLOPs
    with their shares (SE mostly costs params)."""
    rows = []
    for gr in c.groups:
        rows.append([gr.name, str(gr.blocks or ""), str(gr.channels), gr.r_label,
                     compact(gr.se_closed_form), compact(gr.se_params), compact(gr.params),
                     compact(gr.flops), f"{gr.params / c.params:.1%}",
                     f"{gr.flops / c.flops:.1%}"] + ([compact(fvcore[gr.name])] if fvcore else []))
    rows.append(["total", str(sum(gr.blocks for gr in c.groups[1:-1])), "", "",
                 compact(c.se_closed_form), compact(c.se_params), compact(c.params),
                 compact(c.flops), "100%", "100%"] + ([compact(fvcore[""])] if fvcore else []))
    return Fitted(
        f"{c.arch} at {c.resolution}x{c.resolution}, '{c.convention}' convention "
        "(1 multiply-add = 1 FLOP)",
        ["stage", "N_s", "C_s", "r", "SE\nΣ2Cd", "SE\nexact", "params", "FLOPs",
         "params\nshare", "FLOPs\nshare"] + (["fvcore\nFLOPs"] if fvcore else []),
        rows, styles=[None] * (len(rows) - 1) + ["bold"],
        caption=f"{n(c.params)} params, {n(c.flops)} FLOPs; " + _se_note(c))


def _se_note(c: Cost) -> str:
    """The SE params and how the closed form counts them; for a network without SE, that."""
    if not c.se_params:
        return "no SE blocks"
    return (f"SE {n(c.se_params)} params ({n(c.se_closed_form)} by the closed form Σ2Cd: C the "
            "channels an SE sees, d = C/r its bottleneck; 2/r·N_s·C_s² where SE sees the "
            "stage's C_s)")


def layer_table(c: Cost) -> Fitted:
    """Every layer: path, op, output shape, params, FLOPs, and SE where it belongs to an SE
    module (the table of Cost.layer_table, titled)."""
    return Fitted("per layer", LAYER_COLUMNS, c.layer_rows(), text=(0, 1))


def cost_dict(c: Cost, with_layers: bool = True) -> dict:
    out = {"arch": c.arch, "convention": c.convention, "resolution": c.resolution,
           "unit": "1 multiply-add = 1 FLOP",
           "total": {"params": c.params, "flops": c.flops, "se_params": c.se_params,
                     "se_params_closed_form": c.se_closed_form},
           "stages": [{"name": gr.name, "blocks": gr.blocks, "channels": gr.channels, "r": gr.r,
                       "r_values": list(gr.rs),
                       "se_params_closed_form": gr.se_closed_form, "se_params": gr.se_params,
                       "params": gr.params, "flops": gr.flops} for gr in c.groups]}
    if with_layers:
        out["layers"] = [la._asdict() for la in c.layers]
    return out


def check_dict(check) -> dict:
    return {"ok": check.ok,
            "analytic": {"params": check.analytic.params, "flops": check.analytic.flops},
            "fvcore": {"params": check.fvcore_params[""], "flops": check.fvcore_flops[""]},
            "difference": {"params": check.params_diff, "flops": check.flops_diff},
            "per_stage_fvcore_flops": {k: v for k, v in check.fvcore_flops.items() if k},
            "layer_mismatches": [{"layer": p, "analytic": a, "fvcore": f}
                                 for p, a, f in check.layer_mismatches]}


def check_text(check) -> str:
    a = check.analytic
    style = "green" if check.ok else "red"
    lines = ["[bold]verify[/bold] (analytic 'fvcore' convention vs fvcore.nn on the built model)",
             (f"  params: analytic {n(a.params)}  fvcore {n(check.fvcore_params[''])}  "
              f"difference [{style}]{check.params_diff:+,}[/{style}]"),
             (f"  FLOPs:  analytic {n(a.flops)}  fvcore {n(check.fvcore_flops[''])}  "
              f"difference [{style}]{check.flops_diff:+,}[/{style}]")]
    lines += [f"  [red]layer {p}: analytic {n(x)} fvcore {n(y)}[/red]"
              for p, x, y in check.layer_mismatches]
    return "\n".join(lines)


def archs_table(rows: list[dict]) -> Fitted:
    return Fitted("model zoo (se_* = SE in every block, r=16; plain_* = a net published with SE, without it)",
                   ["name", "input", "classes", "params", "GFLOPs\n(paper)", "GFLOPs\n(fvcore)"],
                   [[r["name"], str(r["resolution"]), str(r["num_classes"]), compact(r["params"]),
                     f"{r['gflops_paper']:.3f}", f"{r['gflops_fvcore']:.3f}"] for r in rows])


def paper_table(comparisons) -> Fitted:
    """One row per model under a bold row naming its experiment (a column of its own would
    leave the model names too little of 80 columns)."""
    rows, styles, experiment = [], [], None
    for c in comparisons:
        if c.row.table != experiment:
            experiment = c.row.table
            rows.append([experiment] + [""] * 7)
            styles.append("bold")
        cells = []
        for ours, paper in ((c.params_m, c.row.params_m), (c.gflops, c.row.gflops)):
            cells += [paper or "", f"{ours:.3f}",
                      f"{c.rel(ours, paper):+.2%}" if paper else ""]
        rows.append([c.row.model, *cells, c.match if c.ok else "NO"])
        styles.append(None)
    return Fitted("SE paper vs se-design (params in M, exact; GFLOPs 'paper' convention)",
                   ["experiment / model", "params\npaper", "ours", "Δ", "GFLOPs\npaper", "ours",
                    "Δ", "match"], rows, styles=styles, gap=1)


def front_table(front) -> Fitted:
    """A search.report.Front's front and reference designs: accuracy (the seed mean, with its
    interval where the rows carry one and no model does; ! when its seeds are unstable), the
    accuracy model's estimate and interval where there is one, seed count and front
    probability, costs as compact numbers and % over the plain network, and notes: which
    row is the knee and which the best within budget (the ones `export --pick` chooses,
    shown even when off the front), which is over budget."""
    objectives, plain, best = front.objectives, front.plain, front.best
    costs = [(i, o) for i, o in enumerate(objectives) if o in ("params", "flops", "latency")]
    trained = objectives[0] == "accuracy"
    modelled = any(r.model_mean is not None for r in front.rows)
    cols = ["trial", "design (stage:r)"] + (["seed\nmean", "model\n(95%)"] if modelled
                                            else [objectives[0]]) + ["n", "p_front"] * trained
    for _, o in costs:
        cols += [o, f"Δ{o}"] if o in plain else [o]
    cols += ["note"]
    rows, styles = [], []
    for r in sorted((r for r in front.rows
                      if r.front or r.reference or r is best or r is front.knee),
                    key=lambda r: r.values[1]):
        ci = r.accuracy_ci95 if r.model_mean is None else None  # the model's is beside it
        benefit = f"{r.values[0]:.3f}" if trained else f"{r.values[0]:.0f}"  # a count of blocks
        cells = [str(r.number), r.design, benefit + (f"±{ci:.3f}" if ci else "")
                 + "!" * r.unstable]  # noise_lines says why
        if modelled:
            cells.append("-" if r.model_mean is None else f"{r.model_mean:.3f}±{r.estimate_ci95:.3f}")
        if trained:
            cells += [str(r.seeds), "-" if r.p_front is None else f"{r.p_front:.2f}"]
        for i, o in costs:
            value = r.values[i]
            cells += ([compact(value), f"{value / plain[o] - 1:+.2%}"] if o in plain
                      else [f"{value:.2f}ms"])
        notes = [r.reference] * bool(r.reference) + ["knee"] * (r is front.knee) + \
            ["best within budget"] * (r is best and trained) + \
            ["not on the front"] * (not r.front) + ["over budget"] * (not r.feasible)
        rows.append(cells + ["\n".join(notes)])  # a note a line: no comma left alone
        styles.append(None if r.feasible else "dim")
    return Fitted(
        f"study {front.study}: Pareto front ({sum(r.front for r in front.rows)} of "
        f"{len(front.rows)} finished designs)", cols, rows, text=(0, 1, -1), styles=styles,
        gap=2 - modelled,  # room for the model's column in 80
        caption=(f"Δ = over the plain network ({compact(plain['params'])} params, "
                 f"{compact(plain['flops'])} FLOPs)" + (
                     "; accuracy on the held-out split, mean over the design's n training "
                     "seeds; " * trained) + (
                     "model = the accuracy model's estimate from every design's seeds, which "
                     "the picks use; p_front = probability of being on the front (joint "
                     "posterior draws); the front: p_front >= 1/2" if modelled else
                     "p_front = bootstrap probability of being on the front" * trained) + (
                     "; best within budget: the highest estimate, off the front when its "
                     "interval is too wide for p_front >= 1/2" * (
                         trained and best is not None and not best.front))))


def frontier_table(problem, points, seconds: float) -> Fitted:
    """The cost-only frontier: the most SE blocks each params/FLOPs level allows."""
    plain_p, plain_f = problem.plain_params, problem.plain_flops
    rows, styles = [], []
    for p in points:
        over = [k for k, v in problem.violations(p.params, p.flops).items() if v > 0]
        with_se = [part for part in p.label if not part.endswith(":-")]  # 80 columns
        rows.append([" ".join(with_se) or "no SE", str(p.se_blocks), compact(p.params),
                     f"{p.params / plain_p - 1:+.2%}", compact(p.flops),
                     f"{p.flops / plain_f - 1:+.2%}", "over" if over else "ok"])
        styles.append("dim" if over else None)
    return Fitted(f"{problem.space.name}: cost-only frontier of {problem.target.name}, "
                  f"{problem.size():,} designs costed in {seconds:.2f} s",
                  ["design (stage:r)", "SE\nblocks", "params", "Δparams", "FLOPs", "ΔFLOPs",
                   "budget"], rows, styles=styles,
                  caption=("each row: the most SE blocks at that params/FLOPs level (stages "
                           f"not named: no SE); Δ over the plain network ({compact(plain_p)} "
                           f"params, {compact(plain_f)} FLOPs)"))


def frontier_dicts(problem, points) -> list[dict]:
    return [{"design": " ".join(p.label), "se_blocks": p.se_blocks, "params": p.params,
             "flops": p.flops, "within_budget": all(
                 v <= 0 for v in problem.violations(p.params, p.flops).values())}
            for p in points]


def effects_table(e) -> Fitted:
    """A search.effects.Effects as the SE paper's ablation tables: per stage (a bold row), each
    choice's accuracy effect against its baseline with the 95% interval, what it costs, and
    the verdict in words."""
    from se_design.search.effects import choice_text

    rows, styles, stage = [], [], object()
    for r in sorted(e.rows, key=lambda r: (r.stage is None, r.stage or "")):
        if r.stage != stage:
            stage = r.stage
            rows.append([stage or "every stage with SE", *[""] * 5])
            styles.append("bold")
        # one word: a verdict spelled out wrapped every row at 80 columns (the caption says it)
        verdict = ("gain" if r.effect > 0 else "loss") if r.distinguishable else "≈ 0"
        rows.append([choice_text(r), f"{r.effect:+.2f}±{(r.high - r.low) / 2:.2f}",
                     f"{'+' * (r.params >= 0)}{compact(r.params)}",
                     f"{'+' * (r.flops >= 0)}{compact(r.flops)}", _per_params_cell(r), verdict])
        styles.append(None)
    return Fitted(
        f"study {e.study}: effect of each SE choice on proxy accuracy",
        ["choice", "effect\n(points)", "Δparams", "ΔFLOPs", "points\n/1% params",
         "verdict"], rows, text=(0, -1), styles=styles, gap=1,
        caption=("effect ± 95% interval: that choice against its baseline (in parentheses), every other "
                 "choice at its baseline, from a model of all designs measured; verdict: gain "
                 "or loss where the interval excludes 0, ≈ 0 (not distinguishable from 0) "
                 "where it does not; Δ: exact cost "
                 "over the baseline design (SE r: no SE; variant, block: SE r=16 in that stage "
                 "alone; squeeze, gate: SE r=16 everywhere); plain network "
                 f"{compact(e.plain['params'])} params, {compact(e.plain['flops'])} FLOPs"))


def _per_params_cell(r) -> str:
    """Points per 1% params ± its 95% half-width, in the effect column's form: params are
    exact, so the interval is the effect's scaled, symmetric about the ratio, and a ratio
    whose interval spans 0 shows it (a bare ratio read as a rate it is not)."""
    if r.per_params_pct_interval is None:
        return "-"
    low, high = r.per_params_pct_interval
    return f"{r.per_params_pct:+.2f}±{(high - low) / 2:.2f}"
