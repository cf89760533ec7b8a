"""A spec as one self-contained PyTorch source file that imports only torch.

The file holds one class per block family the network uses, one SE class and a `build()`
that assembles them. Its module paths are the layer graph's (those of `build_model`), so an
se-design checkpoint's state_dict loads into it with strict=True. The classes below are
written out by hand for readability; tests/test_export_formats.py holds them to
`build_model` (same keys, same outputs) and to the cost model (fvcore's FLOPs).
"""

from __future__ import annotations

import inspect

from se_design import build
from se_design import expand as ex
from se_design import graph as g
from se_design.errors import UserError
from se_design.spec import Arch, BlockSpec

# Source of each class or helper the file may need, in the order they are written out, and
# what each one uses.
SNIPPETS: dict[str, tuple[tuple[str, ...], str]] = {
    "ACTS": ((), '''ACTS = {"relu": lambda: nn.ReLU(inplace=True), "relu6": nn.ReLU6, "hardswish": nn.Hardswish,
        "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid, "tanh": nn.Tanh}
'''),
    "helpers": (("ACTS",), '''
def conv(cin, out, kernel, stride=1, groups=1):
    """A bias-free conv padded to keep the size (at stride 1)."""
    return nn.Conv2d(cin, out, kernel, stride, kernel // 2, groups=groups, bias=False)


def se_slot(se, se_at, slot):
    """The layer list entry of a block's SE if it sits at `slot`, else nothing."""
    return [("se", se)] if se is not None and se_at == slot else []
'''),
    "SE": (("ACTS",), '''
class SE(nn.Module):
    """Squeeze-and-Excitation: x * gate(fc2(act(fc1(squeeze(x))))), the gate one weight per
    channel; `reduced` is the bottleneck width d. squeeze "none" (NoSqueeze) applies the
    1x1 convs at every position instead of to the pooled vector."""

    def __init__(self, channels, reduced, squeeze="avg", act="relu", gate="sigmoid", bias=True):
        super().__init__()
        pools = {"avg": nn.AdaptiveAvgPool2d, "max": nn.AdaptiveMaxPool2d}
        self.squeeze = pools[squeeze](1) if squeeze != "none" else nn.Identity()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=bias)
        self.act = ACTS[act]()
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=bias)
        self.gate = ACTS[gate]()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.squeeze(x)))))
'''),
    # the builder's own classes, which need only torch
    "Shuffle": ((), "\n" + inspect.getsource(build.Shuffle)),
    "PadShortcut": ((), "\n" + inspect.getsource(build.PadShortcut)),
    "ConvBNAct": (("helpers",), '''
class ConvBNAct(nn.Sequential):
    """conv -> BN -> activation (stems, VGG layers, 1x1 convs), SE before ("pre") or after.
    kernel may be (h, w); padding None pads kernel // 2 per side."""

    def __init__(self, cin, out, kernel=3, stride=1, groups=1, padding=None, bias=False,
                 bn=True, act="relu", se=None, se_at="standard"):
        k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        pad = (k[0] // 2, k[1] // 2) if padding is None else padding
        super().__init__(OrderedDict([
            *se_slot(se, se_at, "pre"),
            ("conv", nn.Conv2d(cin, out, k, stride, pad, groups=groups, bias=bias)),
            *([("bn", nn.BatchNorm2d(out))] if bn else []),
            *([("act", ACTS[act]())] if act != "none" else []),
            *se_slot(se, se_at, "standard"),
        ]))
'''),
    "DWSep": (("helpers",), '''
class DWSep(nn.Sequential):
    """MobileNet's depthwise-separable block: depthwise kxk -> BN -> ReLU -> 1x1 -> BN -> ReLU;
    SE at the start ("pre"), after the depthwise ("3x3") or at the end ("standard")."""

    def __init__(self, cin, out, kernel=3, stride=1, se=None, se_at="standard"):
        super().__init__(OrderedDict([
            *se_slot(se, se_at, "pre"),
            ("dw", conv(cin, cin, kernel, stride, groups=cin)), ("bn1", nn.BatchNorm2d(cin)),
            ("relu1", nn.ReLU(inplace=True)), *se_slot(se, se_at, "3x3"),
            ("pw", conv(cin, out, 1)), ("bn2", nn.BatchNorm2d(out)),
            ("relu2", nn.ReLU(inplace=True)), *se_slot(se, se_at, "standard"),
        ]))
'''),
    "MBConv": (("helpers",), '''
class MBConv(nn.Sequential):
    """Inverted residual (MobileNetV2/V3, EfficientNet): [1x1 expand -> BN -> act] ->
    depthwise kxk -> BN -> act -> [SE] -> 1x1 project -> BN. The expand conv is left out
    when `expanded` equals the input width; Residual(...) adds the input."""

    def __init__(self, cin, out, expanded, kernel=3, stride=1, act="relu", se=None,
                 se_at="standard"):
        expand = [("expand", conv(cin, expanded, 1)), ("bn0", nn.BatchNorm2d(expanded)),
                  ("act0", ACTS[act]())] if expanded != cin else []
        super().__init__(OrderedDict([
            *se_slot(se, se_at, "pre"), *expand,
            ("dw", conv(expanded, expanded, kernel, stride, groups=expanded)),
            ("bn1", nn.BatchNorm2d(expanded)), ("act1", ACTS[act]()),
            *se_slot(se, se_at, "standard"),
            ("project", conv(expanded, out, 1)), ("bn2", nn.BatchNorm2d(out)),
        ]))
'''),
    "Residual": ((), '''
class Residual(nn.Module):
    """x + main(x), nothing after the add (MBConv with stride 1 and the width kept)."""

    def __init__(self, main):
        super().__init__()
        self.main = main

    def forward(self, x):
        return x + self.main(x)
'''),
    "ResNetBlock": (("helpers",), '''
def projection(cin, out, stride):
    """The shortcut's layers: none (identity), or a 1x1 conv + BN when the shape changes."""
    if stride == 1 and cin == out:
        return []
    return [("conv", conv(cin, out, 1, stride)), ("bn", nn.BatchNorm2d(out))]


class ResNetBlock(nn.Module):
    """main(x) + shortcut(x) -> ReLU, then the SE if it sits "post" (after the add); an
    "identity" SE sits at the end of the shortcut."""

    def __init__(self, main, shortcut, se=None, se_at="standard"):
        super().__init__()
        self.main = nn.Sequential(OrderedDict(main))
        self.shortcut = nn.Sequential(OrderedDict(shortcut + se_slot(se, se_at, "identity")))
        self.relu = nn.ReLU(inplace=True)
        self.se = se if se is not None and se_at == "post" else nn.Identity()

    def forward(self, x):
        return self.se(self.relu(self.main(x) + self.shortcut(x)))
'''),
    "Basic": (("ResNetBlock", "PadShortcut"), '''
class Basic(ResNetBlock):
    """ResNet basic block: 3x3 -> BN -> ReLU -> 3x3 -> BN, SE "pre", "3x3" or "standard"
    (after the last BN) in the main branch. shortcut "pad" is the CIFAR ResNets' (option A)."""

    def __init__(self, cin, out, stride=1, shortcut="projection", se=None, se_at="standard"):
        main = [*se_slot(se, se_at, "pre"),
                ("conv1", conv(cin, out, 3, stride)), ("bn1", nn.BatchNorm2d(out)),
                ("relu1", nn.ReLU(inplace=True)), *se_slot(se, se_at, "3x3"),
                ("conv2", conv(out, out, 3)), ("bn2", nn.BatchNorm2d(out)),
                *se_slot(se, se_at, "standard")]
        short = projection(cin, out, stride)
        if shortcut == "pad" and short:
            short = [("pad", PadShortcut(cin, out, stride))]
        super().__init__(main, short, se, se_at)
'''),
    "Bottleneck": (("ResNetBlock",), '''
class Bottleneck(ResNetBlock):
    """ResNet/ResNeXt bottleneck 1x1 -> 3x3 (grouped) -> 1x1, `width` the 3x3's channels;
    the stride on the first 1x1 ("1x1", Caffe ResNet) or on the 3x3 (torchvision, RegNet)."""

    def __init__(self, cin, out, width, stride=1, groups=1, stride_at="1x1", se=None,
                 se_at="standard"):
        s1, s3 = (stride, 1) if stride_at == "1x1" else (1, stride)
        main = [*se_slot(se, se_at, "pre"),
                ("conv1", conv(cin, width, 1, s1)), ("bn1", nn.BatchNorm2d(width)),
                ("relu1", nn.ReLU(inplace=True)),
                ("conv2", conv(width, width, 3, s3, groups)), ("bn2", nn.BatchNorm2d(width)),
                ("relu2", nn.ReLU(inplace=True)), *se_slot(se, se_at, "3x3"),
                ("conv3", conv(width, out, 1)), ("bn3", nn.BatchNorm2d(out)),
                *se_slot(se, se_at, "standard")]
        super().__init__(main, projection(cin, out, stride), se, se_at)
'''),
    "Branches": (("ACTS",), '''
class Branches(nn.Module):
    """Parallel branches on one input (each a list of blocks, [] = identity), each but the
    identity times `scale`, then concatenated or added, an optional ReLU and the SE."""

    def __init__(self, branches, merge="concat", act="none", scale=1.0, se=None):
        super().__init__()
        self.merge, self.scale = merge, scale
        self.names = [f"b{i}" for i in range(len(branches))]
        for i, blocks in enumerate(branches):
            self.add_module(f"b{i}", nn.Sequential(*blocks))
        self.relu = ACTS[act]() if act != "none" else nn.Identity()
        self.se = se if se is not None else nn.Identity()

    def forward(self, x):
        outs = [self._branch(getattr(self, name), x) for name in self.names]
        x = torch.cat(outs, 1) if self.merge == "concat" else sum(outs[1:], outs[0])
        return self.se(self.relu(x))

    def _branch(self, blocks, x):
        return blocks(x) * self.scale if len(blocks) and self.scale != 1 else blocks(x)
'''),
    "init_weights": ((), '''
def init_weights(model):
    """He init for convs; each residual branch's last BN starts at zero (Goyal et al.)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(getattr(m, "main", None), nn.Sequential):
            last_bn = [x for x in m.main if isinstance(x, nn.BatchNorm2d)][-1]
            nn.init.zeros_(last_bn.weight)
'''),
}

CLASSES = {"conv": "ConvBNAct", "dwsep": "DWSep", "mbconv": "MBConv", "basic": "Basic",
           "bottleneck": "Bottleneck", "branches": "Branches"}
POSITIONAL = {"conv": ("out",), "dwsep": ("out",), "mbconv": ("out", "expanded"),
              "basic": ("out",), "bottleneck": ("out", "width"), "branches": ()}
SE_DEFAULTS = {"squeeze": "avg", "act": "relu", "gate": "sigmoid", "bias": True}
INDENT = "    "
WIDTH = 100  # the written file's line length


def to_python(arch: Arch, inputs: tuple[list, list, list] | None = None) -> str:
    """The spec's network as a PyTorch source file importing only torch; `build()` returns
    the model, whose state_dict keys equal `build_model(arch)`'s. `inputs` (mean, std,
    classes of the checkpoint whose weights go with it) become MEAN, STD and CLASSES: what a
    user needs to feed the trained model and read its outputs."""
    parts = dict(ex.expand(arch).items)
    writer = _Writer()
    body = [f'layers["{name}"] = nn.Sequential(\n{writer.blocks(blocks, c, parts[name], 2)}'
            f"\n{INDENT})" for name, blocks, c in _parts(arch)]
    body.append(f'layers["head"] = {_seq_leaves(parts["head"])}')
    if any(isinstance(c, g.Act) for _, c in parts["head"].items):
        writer.used.add("ACTS")
    snippets = _snippets(writer.used)
    return "\n".join([_header(arch, "Branches" in snippets), *snippets.values(),
                      _build(arch, "\n".join(INDENT + b for b in body)),
                      *_inputs(inputs)]) + "\n"


def _inputs(inputs: tuple[list, list, list] | None) -> list[str]:
    if inputs is None:
        return []
    mean, std, classes = inputs
    why = ("# What the weights exported with this file expect: images on the 0..255 scale,\n"
           "# normalised per channel as (x - MEAN) / STD; output i is CLASSES[i].")
    return ["", "", why, f"MEAN = {[round(m, 6) for m in mean]}",
            f"STD = {[round(v, 6) for v in std]}", f"CLASSES = {list(classes)!r}"]


def _parts(arch: Arch):
    """(name, blocks, input channels) of the stem and stages, as expand() names them."""
    c = arch.in_chans
    for name, blocks in ex.parts(arch):
        yield name, blocks, c
        for b in blocks:
            c = b.out_channels(c)


class _Writer:
    """Python expressions of spec blocks, recording the snippets they use."""

    def __init__(self):
        self.used: set[str] = {"init_weights"}

    def blocks(self, blocks, cin: int, node: g.Seq, depth: int) -> str:
        """One expression per block, a line each, for nn.Sequential(...) or a list."""
        lines = []
        for b, (_, child) in zip(blocks, node.items):
            lines.append(_fit(INDENT * depth, self.block(b, cin, child, depth), ","))
            cin = b.out_channels(cin)
        return "\n".join(lines)

    def block(self, b: BlockSpec, cin: int, node: g.Node, depth: int) -> str:
        if b.kind == "pool":
            return f"nn.{b.op.capitalize()}Pool2d({b.kernel}, {b.stride}, {b.padding})"
        if b.kind == "shuffle":
            self.used.add("Shuffle")
            return f"Shuffle({b.groups})"
        if b.kind not in CLASSES:
            raise UserError(f"the PyTorch-file export does not know {b.kind} blocks yet "
                            f"(it writes {', '.join(CLASSES)}, pool and shuffle).")
        self.used.add(CLASSES[b.kind])
        args = [str(cin)] + [_lit(getattr(b, f)) for f in POSITIONAL[b.kind]]
        args += [f"{f}={_lit(v)}" for f, v in _changed(b) if f not in POSITIONAL[b.kind]]
        se = self.se(b, node)
        if b.kind == "branches":
            return self.branches(b, cin, node, args[1:], se, depth)
        args += [f"se={se}"] if se else []
        args += [f"se_at={_lit(b.se.variant)}"] if se and b.se.variant != "standard" else []
        call = f"{CLASSES[b.kind]}({', '.join(args)})"
        if isinstance(node, g.Parallel) and b.kind == "mbconv":  # input added back
            self.used.add("Residual")
            return f"Residual({call})"
        return call

    def branches(self, b, cin: int, node: g.Node, args: list[str], se: str | None,
                 depth: int) -> str:
        pre = se is not None and b.se.variant == "pre"
        par = dict(node.items)["body"] if pre else node
        pad = INDENT * (depth + 1)
        lists = [_branch(pad, self.blocks(blocks, cin, sub, depth + 2))
                 for blocks, (_, sub) in zip(b.branches, par.branches)]
        args += [f"se={se}"] if se and not pre else []
        call = "Branches([\n" + "\n".join(lists) + f"\n{INDENT * depth}]" + \
            "".join(f", {a}" for a in args) + ")"
        if pre:  # se-design's layout for an SE before the branches: se, then the body
            return f"nn.Sequential(OrderedDict(se={se}, body={call}))"
        return call

    def se(self, b: BlockSpec, node: g.Node) -> str | None:
        setting = _own_se(node) if getattr(b, "se", None) is not None else None
        if setting is None:
            return None
        self.used.add("SE")
        extra = [f"{k}={_lit(getattr(setting.se, k))}" for k, v in SE_DEFAULTS.items()
                 if getattr(setting.se, k) != v]
        return f"SE({', '.join([str(setting.channels), str(setting.reduced), *extra])})"


def _branch(pad: str, lines: str) -> str:
    """A branch's list of blocks: on one line when it holds one block that fits."""
    one = f"{pad}[{lines.strip().removesuffix(',')}],"  # [] for the identity
    if "\n" not in lines and len(one) <= WIDTH:
        return one
    return f"{pad}[\n{lines}\n{pad}],"


def _lit(value) -> str:
    """A Python literal, strings in double quotes as in the file's own code."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _changed(b: BlockSpec):
    """(field, value) of the block's fields other than their defaults (kind, se and the
    branches' blocks are written apart)."""
    for name, field in type(b).model_fields.items():
        value = getattr(b, name)
        if name not in ("kind", "se", "branches") and value != field.default:
            yield name, value


def _own_se(node: g.Node) -> g.SESetting | None:
    """The block's own SE: the SE node nearest the block's top (breadth first), since the SEs
    of blocks nested in branches sit deeper."""
    level = [node]
    while level:
        for n in level:
            if isinstance(n, g.Scale) and n.setting is not None:
                return n.setting
        level = [c for n in level for c in _children(n)]
    return None


def _children(node: g.Node) -> list[g.Node]:
    if isinstance(node, g.Seq):
        return [c for _, c in node.items]
    if isinstance(node, g.Parallel):
        return [c for _, c in node.branches] + [node.post]
    if isinstance(node, g.Scale):
        return [node.gate]
    return []


def _leaf(node: g.Node) -> str:
    """The head's layers."""
    if isinstance(node, g.GlobalPool):
        return "nn.AdaptiveAvgPool2d(1)"
    if isinstance(node, g.Flatten):
        return "nn.Flatten(1)"
    if isinstance(node, g.Linear):
        return f"nn.Linear({node.cin}, {node.cout})"
    if isinstance(node, g.Dropout):
        return f"nn.Dropout({node.p})"
    if isinstance(node, g.Act):
        return f'ACTS["{node.fn}"]()'
    raise TypeError(f"no head layer for {node!r}")


def _seq_leaves(node: g.Seq) -> str:
    layers = "".join(f"{INDENT * 2}{n}={_leaf(c)},\n" for n, c in node.items)
    return f"nn.Sequential(OrderedDict(\n{layers}{INDENT}))"


def _fit(prefix: str, call: str, suffix: str) -> str:
    """prefix + call + suffix on one line if it fits, else the call's arguments wrapped
    under its opening parenthesis (inside a one-argument wrapper such as Residual(...))."""
    line = prefix + call + suffix
    if len(line) <= WIDTH or "\n" in call:
        return line
    name, args = _call_args(call)
    if len(args) == 1 and _call_args(args[0])[1]:
        return _fit(f"{prefix}{name}(", args[0], ")" + suffix)
    lines, current = [], f"{prefix}{name}("
    pad = " " * len(current)
    for i, arg in enumerate(args):
        piece = arg + (", " if i < len(args) - 1 else ")" + suffix)
        if len(current + piece.rstrip()) > WIDTH and current.strip() != f"{name}(":
            lines.append(current.rstrip())
            current = pad
        current += piece
    return "\n".join([*lines, current])


def _call_args(call: str) -> tuple[str, list[str]]:
    """'f(a, g(b, c), d=1)' -> ('f', ['a', 'g(b, c)', 'd=1']); no call: (call, [])."""
    start = call.find("(")
    if start < 1 or not call.endswith(")"):
        return call, []
    args, depth, begin = [], 0, start + 1
    for i, ch in enumerate(call[start + 1:-1], start + 1):
        depth += (ch in "([") - (ch in ")]")
        if ch == "," and depth == 0:
            args.append(call[begin:i].strip())
            begin = i + 1
    return call[:start], [*args, call[begin:-1].strip()]


def _snippets(used: set[str]) -> dict[str, str]:
    """The used snippets and those they need, in SNIPPETS' order."""
    todo, needed = list(used), set()
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += SNIPPETS[name][0]
    return {n: SNIPPETS[n][1] for n in SNIPPETS if n in needed}


def _header(arch: Arch, uses_torch: bool) -> str:
    return f'''"""{arch.name}: {arch.in_chans}x{arch.resolution}x{arch.resolution} input, \
{arch.num_classes} classes.

Written by se-design from its spec; needs only torch. Module names follow se-design's, so
its checkpoints load with strict=True:

    model = build()
    state = torch.load("model.pt")  # an se-design checkpoint, or the weights exported with this
    model.load_state_dict(state.get("state_dict", state))
"""

from collections import OrderedDict

{"import torch" + chr(10) if uses_torch else ""}from torch import nn
'''


def _build(arch: Arch, body: str) -> str:
    return f'''
def build():
    """{arch.name} with He-initialised convs (train it, or load weights)."""
    layers = OrderedDict()
{body}
    model = nn.Sequential(layers)
    init_weights(model)
    return model'''
