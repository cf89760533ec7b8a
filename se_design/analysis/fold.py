"""Fold an SE block into a constant per-channel scale (its mean excitation) at zero cost.

The constant scale goes into a neighbouring layer, so the folded model is exactly
`build(spec without that SE)` with the weights carried over:
- after a BatchNorm (the standard variant: the block's last BN), BN(x) * s is a BN with
  weight and bias times s;
- after BN -> ReLU (conv and dwsep blocks, the 3x3 variant), the same, since
  ReLU(y) * s = ReLU(y * s) for s >= 0 (sigmoid and ReLU gates are never negative);
- before a convolution (the pre variant), conv(x * s) is the conv with each input
  channel's weights times s (zero padding stays zero).
An SE after a residual add (post), on a shortcut without BN, or around a branches block has
no such neighbour and is refused.
"""

from __future__ import annotations

import torch
from torch import nn

from se_design.analysis.excitation import BlockStats
from se_design.build import build_model
from se_design.edit import without_se
from se_design.errors import UserError
from se_design.spec import Arch


def _target(modules: dict[str, nn.Module], se_path: str) -> tuple[str, str] | None:
    """(kind, module path) of the layer the SE at se_path folds into, if any."""
    parent_path, _, name = se_path.rpartition(".")
    parent = modules[parent_path]
    if type(parent) is not nn.Sequential:  # Parallel post-merge slots, Scale gates
        return None
    kids = list(parent.named_children())
    i = [n for n, _ in kids].index(name)
    before, after = [m for _, m in kids[:i]], kids[i + 1] if i + 1 < len(kids) else None
    here = f"{parent_path}." if parent_path else ""
    if before and isinstance(before[-1], nn.BatchNorm2d):
        return "bn", here + kids[i - 1][0]
    if len(before) > 1 and isinstance(before[-1], nn.ReLU) and isinstance(before[-2], nn.BatchNorm2d):
        return "bn after relu", here + kids[i - 2][0]
    if after is not None and isinstance(after[1], nn.Conv2d):
        return "conv", here + after[0]
    return None


def why_not(model: nn.Module, s: BlockStats) -> str | None:
    """None if the SE of `s` can be folded, else the reason in one sentence."""
    target = _target(dict(model.named_modules()), s.module)
    if target is None:
        return (f"the SE of {s.block} ({s.variant} variant) follows no BatchNorm and precedes "
                "no convolution in its branch, so it cannot become a constant scale at zero "
                "cost.")
    if target[0] == "bn after relu" and (s.channel_mean < 0).any():
        return (f"the SE of {s.block} follows a ReLU and has negative mean excitations, so it "
                "cannot be folded into the BatchNorm before that ReLU.")
    return None


def fold(arch: Arch, model: nn.Module, stats: list[BlockStats]) -> tuple[Arch, nn.Module]:
    """(spec without the SEs of `stats`, its model with those SEs folded in, eval mode)."""
    modules = dict(model.named_modules())
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for s in stats:
        reason = why_not(model, s)
        if reason:
            raise UserError(reason)
        kind, path = _target(modules, s.module)
        scale = torch.as_tensor(s.channel_mean, dtype=torch.float32)
        if kind == "conv":
            conv = modules[path]
            w, g = state[f"{path}.weight"], conv.groups
            per_group = scale.to(w.device).view(g, 1, w.shape[1], 1, 1)
            state[f"{path}.weight"] = (w.view(g, -1, *w.shape[1:]) * per_group).view_as(w)
        else:
            for p in ("weight", "bias"):
                state[f"{path}.{p}"] = state[f"{path}.{p}"] * scale.to(state[f"{path}.{p}"].device)
    folded_arch = without_se(arch, [s.block for s in stats])
    dropped = tuple(s.module + "." for s in stats)
    folded = build_model(folded_arch)
    folded.load_state_dict({k: v for k, v in state.items() if not k.startswith(dropped)})
    device = next(model.parameters()).device
    return folded_arch, folded.to(device).eval()
