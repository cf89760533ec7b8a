"""Spec -> layer graph, the only such function: the cost, the builder and verify walk what
`expand` returns. Each block expands through its family (se_design.families)."""

from __future__ import annotations

from functools import lru_cache
from math import prod

from se_design import graph as g
from se_design import spec as s
from se_design.errors import SpecError
from se_design.families import sequence, sequence_stride


def parts(arch: s.Arch) -> list[tuple[str, tuple]]:
    """(name, blocks) of the stem (if any) and each stage, after checking the resolution
    against the network's total stride."""
    out = ([("stem", arch.stem)] if arch.stem else []) + [(st.name, st.blocks) for st in arch.stages]
    total = prod(sequence_stride(blocks) for _, blocks in out)
    if arch.resolution < total:
        raise SpecError(f"resolution {arch.resolution} is too small for {arch.name}, which "
                        f"downsamples by {total}: use at least {total}.")
    return out


def head(arch: s.Arch, shape: g.Shape) -> g.Seq:
    """Classifier on a (C, H, W) feature map."""
    return head_node(arch.head, arch.num_classes, shape)


@lru_cache(maxsize=1024)  # one node per head: its cost is memoised by identity
def head_node(spec: s.Head, num_classes: int, shape: g.Shape) -> g.Seq:
    items: list[tuple[str, g.Node]] = []
    if spec.pool == "avg":
        items.append(("pool", g.GlobalPool()))
        shape = (shape[0], 1, 1)
    items.append(("flatten", g.Flatten()))
    c = prod(shape)
    for i, width in enumerate(spec.hidden, 1):
        items += [(f"fc{i}", g.Linear(c, width)), (f"{spec.act}{i}", g.Act(spec.act))]
        if spec.dropout:
            items.append((f"drop{i}", g.Dropout(spec.dropout)))
        c = width
    items.append(("fc", g.Linear(c, num_classes)))
    return g.Seq(tuple(items))


@g.memo
def stage_out(node: g.Seq, shape: g.Shape, name: str) -> g.Shape:
    """Output shape of a stage's Seq of blocks, walked, memoised."""
    last = (None, None, None)  # (node, input, output): a stage repeats one block node
    for i, child in node.items:
        if child is not last[0] or shape != last[1]:
            last = (child, shape, g.walk(child, shape, f"{name}.{i}"))
        shape = last[2]
    return shape


def expand(arch: s.Arch, stage_out=stage_out) -> g.Seq:
    """The whole network: stem, one node per stage (named as the stage), each a Seq of one
    node per block, then the head. `stage_out(node, shape, name)` gives a stage's output
    shape; the cost passes its own walk of the stage, which counts as it goes, so that a cold
    cost walks each block once."""
    c = arch.in_chans
    shape = (arch.in_chans, arch.resolution, arch.resolution)
    items = []
    for name, blocks in parts(arch):
        node = sequence(blocks, c, name)
        shape = stage_out(node, shape, name)
        items.append((name, node))
        c = shape[0]
    return g.Seq(tuple(items) + (("head", head(arch, shape)),))
