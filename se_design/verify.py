"""fvcore's counts of the built model, reconciled with the analytic 'fvcore' convention."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from se_design import expand as ex
from se_design.build import build_graph
from se_design.cost import Cost, cost_graph
from se_design.spec import Arch


@dataclass
class Check:
    """Analytic vs fvcore, per group (stem, stages, head) and in total."""

    analytic: Cost
    fvcore_flops: dict[str, int]  # group name -> FLOPs; "" = total
    fvcore_params: dict[str, int]
    layer_mismatches: list[tuple[str, int, int]]  # (path, analytic, fvcore) FLOPs

    @property
    def flops_diff(self) -> int:
        return self.fvcore_flops[""] - self.analytic.flops

    @property
    def params_diff(self) -> int:
        return self.fvcore_params[""] - self.analytic.params

    @property
    def ok(self) -> bool:
        groups_equal = all(self.fvcore_flops[gr.name] == gr.flops and
                           self.fvcore_params[gr.name] == gr.params
                           for gr in self.analytic.groups)
        return groups_equal and not self.layer_mismatches and not self.flops_diff and not self.params_diff


def fvcore_counts(model: torch.nn.Module, resolution: int, in_chans: int = 3):
    """(FLOPs by module path, params by module path) from fvcore, on the eval model."""
    from fvcore.nn import FlopCountAnalysis, parameter_count

    model.eval()
    with warnings.catch_warnings():  # torch.jit deprecation noise from fvcore's tracer
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, torch.zeros(1, in_chans, resolution, resolution))
        fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        flops = fca.by_module()
    return dict(flops), dict(parameter_count(model))


def verify(arch: Arch) -> Check:
    net = ex.expand(arch)  # one expansion: the model and the analytic cost share it
    analytic = cost_graph(arch, net, "fvcore")
    with torch.no_grad():
        flops, params = fvcore_counts(build_graph(net), arch.resolution, arch.in_chans)
    mismatches = [(la.path, la.flops, flops.get(la.path, 0)) for la in analytic.layers
                  if flops.get(la.path, 0) != la.flops]
    names = [""] + [gr.name for gr in analytic.groups]
    return Check(analytic, {n: int(flops.get(n, 0)) for n in names},
                 {n: int(params.get(n, 0)) for n in names}, mismatches)
