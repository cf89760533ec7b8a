"""`cost`, `archs`, `paper-table`: the analytic cost model, from the spec alone. This path
imports no torch, optuna, matplotlib or scipy: what else a command needs it imports inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from se_design import render
from se_design.cli.common import Config, Json, flag, out
from se_design.cost import cost as compute_cost
from se_design.files import write_text
from se_design.zoo import get_arch, names, resolve_arch


def cost(arch: Annotated[str | None, typer.Option(
             "--arch", "-a", help="Zoo name (see `se-design archs`).")] = None,
         config: Config = None,
         r: Annotated[int | None, typer.Option(
             "--r", help="SE reduction ratio for se_* archs.", show_default="16")] = None,
         resolution: Annotated[int | None, typer.Option(
             "--resolution", help="Input size in pixels (up to 4096).", show_default="the arch's")] = None,
         num_classes: Annotated[int | None, typer.Option(
             "--num-classes", help="Classifier outputs (up to 1,000,000).", show_default="the arch's")] = None,
         width: Annotated[float | None, typer.Option(
             "--width", help="Channel width multiplier (up to 16).", show_default="1.0")] = None,
         stride_at: Annotated[str | None, typer.Option(
             "--stride-at", help="ResNet bottleneck stride: 1x1 (paper) | 3x3 (v1.5).",
             show_default="1x1 for resnet*, 3x3 for resnext*")] = None,
         convention: Annotated[str, typer.Option(help="fvcore | paper (see docs).")] = "fvcore",
         verify: Annotated[bool, flag(
             "--verify", "Count with fvcore too; exit 1 unless they agree.")] = False,
         layers: Annotated[bool, flag("--layers", "Also print every layer.")] = False,
         as_json: Json = False):
    """Params and FLOPs per stage and in total, from the spec alone (no tracing)."""
    spec = resolve_arch(arch, config, r, resolution, num_classes, width, stride_at)
    c = compute_cost(spec, convention)
    check = None
    if verify:
        from se_design.verify import verify as run_verify  # imports torch: only when asked

        check = run_verify(spec)
    if as_json:
        data = render.cost_dict(c)
        if check:
            data["verify"] = render.check_dict(check)
        print(json.dumps(data, indent=2))
    else:
        out.print(render.cost_table(c, check.fvcore_flops if check and convention == "fvcore" else None))
        if layers:
            out.print(render.layer_table(c))
        if check:
            out.print(render.check_text(check))
    if check and not check.ok:
        raise typer.Exit(1)


def archs(as_json: Json = False):
    """List the model zoo with params and GFLOPs at each arch's default resolution."""
    rows = []
    for name in names():
        spec = get_arch(name)
        fv, paper = compute_cost(spec, "fvcore"), compute_cost(spec, "paper")
        rows.append({"name": name, "resolution": spec.resolution, "num_classes": spec.num_classes,
                     "params": fv.params, "gflops_paper": paper.flops / 1e9,
                     "gflops_fvcore": fv.flops / 1e9})
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        out.print(render.archs_table(rows))


def paper_table(out_file: Annotated[Path | None, typer.Option(
        "--out", help="Also write the table as markdown to this file.")] = None):
    """The SE paper's params/GFLOPs next to ours; exit 1 if a row misses the tolerance."""
    from se_design import paper

    comparisons = paper.compare()
    text = paper.markdown(comparisons)
    if out_file:
        write_text(out_file, paper.PREAMBLE + text, "output file")
    out.print(render.paper_table(comparisons))
    if not all(c.ok for c in comparisons):
        raise typer.Exit(1)
