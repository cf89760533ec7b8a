"""Layer graph -> torch.nn.Module: one torch module per graph primitive.

Module paths equal the graph's paths, so fvcore's per-module counts line up row by row with
the analytic ones.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from se_design import expand as ex
from se_design import graph as g
from se_design.errors import UserError
from se_design.spec import Arch


class Scale(nn.Sequential):
    """x * gate(x), the gate a (N, C, 1, 1) map broadcast over H and W (SE excitation)."""

    def forward(self, x):
        return x * super().forward(x)


class Parallel(nn.Module):
    """Branches on one input, added or concatenated, then the `post` modules."""

    def __init__(self, branches: OrderedDict, merge: str, post: OrderedDict):
        super().__init__()
        self.branch_names, self.post_names, self.merge = list(branches), list(post), merge
        for name, m in (branches | post).items():
            self.add_module(name, m)

    def forward(self, x):
        outs = [getattr(self, n)(x) for n in self.branch_names]
        x = torch.cat(outs, 1) if self.merge == "concat" else sum(outs[1:], outs[0])
        for n in self.post_names:
            x = getattr(self, n)(x)
        return x


class Shuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class PadShortcut(nn.Module):
    """CIFAR ResNet option A: subsample by stride and zero-pad the new channels."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class Mul(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


ACTS = {"relu": lambda: nn.ReLU(inplace=True), "relu6": nn.ReLU6, "hardswish": nn.Hardswish,
        "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid, "tanh": nn.Tanh}


def module(node: g.Node) -> nn.Module:
    if isinstance(node, g.Seq):
        return nn.Sequential(OrderedDict((n, module(c)) for n, c in node.items))
    if isinstance(node, g.Parallel):
        return Parallel(OrderedDict((n, module(c)) for n, c in node.branches), node.merge,
                        OrderedDict((n, module(c)) for n, c in node.post.items))
    if isinstance(node, g.Scale):
        return Scale(OrderedDict((n, module(c)) for n, c in node.gate.items))
    if isinstance(node, g.Conv):
        return nn.Conv2d(node.cin, node.cout, node.hw, node.stride, node.pad,
                         groups=node.groups, bias=node.bias)
    if isinstance(node, g.BN):
        return nn.BatchNorm2d(node.c)
    if isinstance(node, g.Act):
        return ACTS[node.fn]()
    if isinstance(node, g.Pool):
        pool = nn.MaxPool2d if node.op == "max" else nn.AvgPool2d
        return pool(node.k, node.stride, node.padding)
    if isinstance(node, g.GlobalPool) or (isinstance(node, g.Squeeze) and node.op == "avg"):
        return nn.AdaptiveAvgPool2d(1)
    if isinstance(node, g.Squeeze):
        return nn.AdaptiveMaxPool2d(1)
    if isinstance(node, g.Flatten):
        return nn.Flatten(1)
    if isinstance(node, g.Linear):
        return nn.Linear(node.cin, node.cout)
    if isinstance(node, g.Dropout):
        return nn.Dropout(node.p)
    if isinstance(node, g.Shuffle):
        return Shuffle(node.groups)
    if isinstance(node, g.PadShortcut):
        return PadShortcut(node.cin, node.cout, node.stride)
    if isinstance(node, g.Mul):
        return Mul(node.factor)
    raise TypeError(f"no torch module for {node!r}")


def init_weights(model: nn.Module) -> None:
    """He init for convs; each residual branch's last BN starts at zero (Goyal et al.),
    which makes short training of deep ResNets stable."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(m, Parallel) and "main" in m.branch_names:
            last_bn = [x for x in m.main if isinstance(x, nn.BatchNorm2d)][-1]
            nn.init.zeros_(last_bn.weight)


# The pre-activation at which each gate passes a fraction v of its input.
GATE_INVERSE = {nn.Sigmoid: lambda v: math.log(v / (1 - v)), nn.Hardsigmoid: lambda v: 6 * v - 3,
                nn.Tanh: math.atanh, nn.ReLU: lambda v: v}


def init_gates(model: nn.Module, value: float) -> None:
    """Start every SE gate near `value` (0 < value < 1): the excitation's last bias is set so
    that the gate passes that fraction at zero excitation input. A short proxy then starts
    close to the plain network instead of with every residual branch halved (sigmoid(0))."""
    for scale in (m for m in model.modules() if isinstance(m, Scale)):
        *_, last_fc, gate = scale.children()
        if last_fc.bias is None:
            raise UserError("gate_init needs SE blocks with a bias (set the SE's bias: true).")
        with torch.no_grad():
            last_fc.bias.fill_(GATE_INVERSE[type(gate)](value))


def build_model(arch: Arch) -> nn.Module:
    """The PyTorch model of a spec (raises SpecError for specs that cannot be built)."""
    return build_graph(ex.expand(arch))


def build_graph(net: g.Seq) -> nn.Module:
    """The PyTorch model of an expanded spec (verify builds and costs the same expansion)."""
    model = module(net)
    init_weights(model)
    return model
