"""Spec -> layer graph: one expansion function per block family (no torch).

SE placement is decided here and only here: each family puts the SE node in one of its
named slots according to `se.variant`, so every variant of every family is the same code.
"""

from __future__ import annotations

from math import prod

from se_design import graph as g
from se_design import spec as s
from se_design.spec import SpecError


def se_node(se: s.SE, c: int, where: str) -> g.Scale:
    """Squeeze (global pool, or none = NoSqueeze) -> 1x1 conv C->d -> ReLU -> 1x1 conv d->C
    -> gate, multiplied into the input. 1x1 convs with bias, as Caffe's FC layers."""
    if se.r > c:
        raise SpecError(f"SE reduction r={se.r} at {where} is larger than its {c} channels.")
    d = se.reduced(c)
    squeeze = None if se.squeeze == "none" else g.Squeeze(se.squeeze)
    return g.Scale(g.seq(("squeeze", squeeze), ("fc1", g.Conv(c, d, bias=True)),
                         ("act", g.Act("relu")), ("fc2", g.Conv(d, c, bias=True)),
                         ("gate", g.Act(se.gate))))


def _se_at(block, variant: str, c: int, where: str) -> g.Scale | None:
    """The SE node if the block's SE sits at `variant`'s slot, else None."""
    se = getattr(block, "se", None)
    return se_node(se, c, where) if se is not None and se.variant == variant else None


def _check_groups(cin: int, cout: int, groups: int, where: str) -> None:
    if cin % groups or cout % groups:
        raise SpecError(f"{groups} groups at {where} do not divide {cin} -> {cout} channels.")


def _conv(b: s.Conv, cin: int, where: str) -> g.Node:
    _check_groups(cin, b.out, b.groups, where)
    return g.seq(("se", _se_at(b, "pre", cin, where)),
                 ("conv", g.Conv(cin, b.out, b.kernel, b.stride, b.groups, b.bias, b.padding)),
                 ("bn", g.BN(b.out) if b.bn else None),
                 ("act", g.Act("relu") if b.act == "relu" else None),
                 ("se", _se_at(b, "standard", b.out, where)))


def _pool(b: s.Pool, cin: int, where: str) -> g.Node:
    if b.padding > b.kernel // 2:
        raise SpecError(f"pool padding {b.padding} at {where} exceeds half its kernel {b.kernel}.")
    return g.Pool(b.op, b.kernel, b.stride, b.padding)


def _shortcut(cin: int, cout: int, stride: int, kind: str, se: g.Node | None) -> g.Seq:
    if stride == 1 and cin == cout:
        return g.seq(("se", se))
    if kind == "pad":
        return g.seq(("pad", g.PadShortcut(cin, cout, stride)), ("se", se))
    return g.seq(("conv", g.Conv(cin, cout, 1, stride)), ("bn", g.BN(cout)), ("se", se))


def _residual(block, cin: int, main: g.Seq, shortcut_kind: str, where: str) -> g.Parallel:
    """main + shortcut -> ReLU, with the identity and post SE slots."""
    sc = _shortcut(cin, block.out, block.stride, shortcut_kind,
                   _se_at(block, "identity", block.out, where))
    return g.Parallel((("main", main), ("shortcut", sc)), "add",
                      g.seq(("relu", g.Act("relu")), ("se", _se_at(block, "post", block.out, where))))


def _basic(b: s.Basic, cin: int, where: str) -> g.Node:
    main = g.seq(("se", _se_at(b, "pre", cin, where)),
                 ("conv1", g.Conv(cin, b.out, 3, b.stride)), ("bn1", g.BN(b.out)),
                 ("relu1", g.Act("relu")), ("se", _se_at(b, "3x3", b.out, where)),
                 ("conv2", g.Conv(b.out, b.out, 3)), ("bn2", g.BN(b.out)),
                 ("se", _se_at(b, "standard", b.out, where)))
    return _residual(b, cin, main, b.shortcut, where)


def _bottleneck(b: s.Bottleneck, cin: int, where: str) -> g.Node:
    _check_groups(b.width, b.width, b.groups, where)
    s1, s3 = (b.stride, 1) if b.stride_at == "1x1" else (1, b.stride)
    main = g.seq(("se", _se_at(b, "pre", cin, where)),
                 ("conv1", g.Conv(cin, b.width, 1, s1)), ("bn1", g.BN(b.width)),
                 ("relu1", g.Act("relu")),
                 ("conv2", g.Conv(b.width, b.width, 3, s3, b.groups)), ("bn2", g.BN(b.width)),
                 ("relu2", g.Act("relu")), ("se", _se_at(b, "3x3", b.width, where)),
                 ("conv3", g.Conv(b.width, b.out, 1)), ("bn3", g.BN(b.out)),
                 ("se", _se_at(b, "standard", b.out, where)))
    return _residual(b, cin, main, "projection", where)


def _dwsep(b: s.DWSep, cin: int, where: str) -> g.Node:
    return g.seq(("se", _se_at(b, "pre", cin, where)),
                 ("dw", g.Conv(cin, cin, b.kernel, b.stride, cin)), ("bn1", g.BN(cin)),
                 ("relu1", g.Act("relu")), ("se", _se_at(b, "3x3", cin, where)),
                 ("pw", g.Conv(cin, b.out, 1)), ("bn2", g.BN(b.out)), ("relu2", g.Act("relu")),
                 ("se", _se_at(b, "standard", b.out, where)))


def _shuffle(b: s.Shuffle, cin: int, where: str) -> g.Node:
    if cin % b.groups:
        raise SpecError(f"channel shuffle in {b.groups} groups at {where} needs channels "
                        f"divisible by {b.groups}, not {cin}.")
    return g.Shuffle(b.groups)


def _branches(b: s.Branches, cin: int, where: str) -> g.Node:
    branches = tuple((f"b{i}", _times(sequence(blocks, cin, f"{where}.b{i}"), b.scale))
                     for i, blocks in enumerate(b.branches))
    cout = out_channels(b, cin)
    post = g.seq(("relu", g.Act("relu") if b.act == "relu" else None),
                 ("se", _se_at(b, "standard", cout, where)))
    par = g.Parallel(branches, b.merge, post)
    pre = _se_at(b, "pre", cin, where)
    return g.seq(("se", pre), ("body", par)) if pre else par


def _times(branch: g.Seq, scale: float) -> g.Seq:
    """The branch times `scale`, unless it is the identity or the scale is 1."""
    if scale == 1 or not branch.items:
        return branch
    return g.Seq(branch.items + (("scale", g.Mul(scale)),))


EXPANDERS = {"conv": _conv, "pool": _pool, "basic": _basic, "bottleneck": _bottleneck,
             "dwsep": _dwsep, "shuffle": _shuffle, "branches": _branches}


def block(b, cin: int, where: str) -> tuple[g.Node, int]:
    """(graph of one spec block, its output channels)."""
    return EXPANDERS[b.kind](b, cin, where), out_channels(b, cin)


def out_channels(b, cin: int) -> int:
    if b.kind == "branches":
        outs = [sequence_channels(br, cin) for br in b.branches]
        return sum(outs) if b.merge == "concat" else outs[0]
    return getattr(b, "out", cin)


def sequence_channels(blocks, cin: int) -> int:
    for b in blocks:
        cin = out_channels(b, cin)
    return cin


def sequence(blocks, cin: int, where: str) -> g.Seq:
    items = []
    for i, b in enumerate(blocks):
        node, cin = block(b, cin, f"{where}.{i}")
        items.append((str(i), node))
    return g.Seq(tuple(items))


def stride(b) -> int:
    if b.kind == "branches":
        return max(prod(map(stride, br)) for br in b.branches)
    return getattr(b, "stride", 1)


def parts(arch: s.Arch) -> list[tuple[str, tuple]]:
    """(name, blocks) of the stem (if any) and each stage, after checking the resolution
    against the network's total stride."""
    out = ([("stem", arch.stem)] if arch.stem else []) + [(st.name, st.blocks) for st in arch.stages]
    total = prod(stride(b) for _, blocks in out for b in blocks)
    if arch.resolution < total:
        raise SpecError(f"resolution {arch.resolution} is too small for {arch.name}, which "
                        f"downsamples by {total}: use at least {total}.")
    return out


def head(arch: s.Arch, shape: g.Shape) -> g.Seq:
    """Classifier on a (C, H, W) feature map."""
    items: list[tuple[str, g.Node]] = []
    if arch.head.pool == "avg":
        items.append(("pool", g.GlobalPool()))
        shape = (shape[0], 1, 1)
    items.append(("flatten", g.Flatten()))
    c = prod(shape)
    for i, width in enumerate(arch.head.hidden, 1):
        items += [(f"fc{i}", g.Linear(c, width)), (f"relu{i}", g.Act("relu"))]
        if arch.head.dropout:
            items.append((f"drop{i}", g.Dropout(arch.head.dropout)))
        c = width
    items.append(("fc", g.Linear(c, arch.num_classes)))
    return g.Seq(tuple(items))


def expand(arch: s.Arch) -> g.Seq:
    """The whole network: stem, one node per stage (named as the stage), head."""
    c = arch.in_chans
    items = []
    for name, blocks in parts(arch):
        items.append((name, sequence(blocks, c, name)))
        c = sequence_channels(blocks, c)
    net = g.Seq(tuple(items))
    shape = g.walk(net, (arch.in_chans, arch.resolution, arch.resolution))
    return g.Seq(net.items + (("head", head(arch, shape)),))
