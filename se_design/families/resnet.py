"""ResNet/ResNeXt residual blocks (basic, bottleneck), also RegNetY's block: a main branch
plus a shortcut, added, then ReLU, with the SE paper's five SE slots."""

from __future__ import annotations

from typing import Literal

from se_design import graph as g
from se_design.families.base import BlockSpec, act, check_groups, se_at
from se_design.se import SE
from se_design.validated import PosInt

SLOTS = ("standard", "pre", "post", "identity", "3x3")


def _shortcut(cin: int, cout: int, stride: int, kind: str, se: g.Node | None) -> g.Seq:
    if stride == 1 and cin == cout:
        return g.seq(("se", se))
    if kind == "pad":
        return g.seq(("pad", g.PadShortcut(cin, cout, stride)), ("se", se))
    return g.seq(("conv", g.Conv(cin, cout, 1, stride)), ("bn", g.BN(cout)), ("se", se))


def _residual(b, cin: int, main: g.Seq, shortcut_kind: str, where: str) -> g.Parallel:
    """main + shortcut -> ReLU, with the identity and post SE slots."""
    out = b.out  # read once (pydantic: slow)
    sc = _shortcut(cin, out, b.stride, shortcut_kind, se_at(b, "identity", out, cin, where))
    return g.Parallel((("main", main), ("shortcut", sc)), "add",
                      g.seq(("relu", act("relu")), ("se", se_at(b, "post", out, cin, where))))


class Basic(BlockSpec):
    """ResNet basic block: two 3x3 convs; shortcut 'projection' (1x1 conv + BN) when the
    shape changes, or 'pad' (subsample and zero-pad channels: CIFAR ResNet option A)."""

    kind: Literal["basic"] = "basic"
    out: PosInt
    stride: PosInt = 1
    shortcut: Literal["projection", "pad"] = "projection"
    se: SE | None = None

    se_slots = SLOTS

    def expand(self, cin: int, where: str) -> g.Node:
        out = self.out  # read once (pydantic: slow)
        main = g.seq(("se", se_at(self, "pre", cin, cin, where)),
                     ("conv1", g.Conv(cin, out, 3, self.stride)), ("bn1", g.BN(out)),
                     ("relu1", act("relu")), ("se", se_at(self, "3x3", out, cin, where)),
                     ("conv2", g.Conv(out, out, 3)), ("bn2", g.BN(out)),
                     ("se", se_at(self, "standard", out, cin, where)))
        return _residual(self, cin, main, self.shortcut, where)


class Bottleneck(BlockSpec):
    """ResNet/ResNeXt bottleneck 1x1 -> 3x3 (grouped) -> 1x1; `width` is the 3x3's channels.

    stride_at '1x1' is the paper's Caffe ResNet (v1); '3x3' is torchvision/timm ("v1.5") and
    RegNet's block (with SE in the '3x3' slot: RegNetY)."""

    kind: Literal["bottleneck"] = "bottleneck"
    out: PosInt
    width: PosInt
    stride: PosInt = 1
    groups: PosInt = 1
    stride_at: Literal["1x1", "3x3"] = "1x1"
    se: SE | None = None

    se_slots = SLOTS

    def expand(self, cin: int, where: str) -> g.Node:
        w, out, groups = self.width, self.out, self.groups  # each read once (pydantic: slow)
        check_groups(w, w, groups, where)
        s1, s3 = (self.stride, 1) if self.stride_at == "1x1" else (1, self.stride)
        main = g.seq(("se", se_at(self, "pre", cin, cin, where)),
                     ("conv1", g.Conv(cin, w, 1, s1)), ("bn1", g.BN(w)), ("relu1", act("relu")),
                     ("conv2", g.Conv(w, w, 3, s3, groups)), ("bn2", g.BN(w)),
                     ("relu2", act("relu")), ("se", se_at(self, "3x3", w, cin, where)),
                     ("conv3", g.Conv(w, out, 1)), ("bn3", g.BN(out)),
                     ("se", se_at(self, "standard", out, cin, where)))
        return _residual(self, cin, main, "projection", where)
