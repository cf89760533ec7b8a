"""Named architectures -> specs.

The SE paper's networks (ResNet, ResNeXt, VGG, MobileNet, CIFAR ResNets; BN-Inception,
Inception-ResNet-v2 and ShuffleNet v1 in zoo_paper.py): `<name>` is the plain network and
`se_<name>` puts SE (r=16) where the SE authors put it. Networks published with SE
(MobileNetV3, EfficientNet, RegNetY; see `PUBLISHED_SE`): `<name>` is the network as
torchvision builds it, SE where its authors put it, and `plain_<name>` is it without SE
(the target a search starts from).

Each builder takes num_classes, resolution, width (channel multiplier) and se; ResNets also
take stride_at ('1x1' = the paper's Caffe models, '3x3' = torchvision/timm "v1.5").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial
from math import ceil, log
from pathlib import Path

from pydantic import ValidationError

from se_design import zoo_paper
from se_design.errors import UserError
from se_design.se import PRESETS, make_divisible
from se_design.spec import (
    SE,
    Arch,
    Basic,
    Bottleneck,
    Conv,
    DWSep,
    Head,
    MBConv,
    Pool,
    SpecError,
    Stage,
    explain,
    load_config,
    override,
)

_ch = zoo_paper.scaled  # c * width, a multiple of 8 (at least 8) unless width is 1
repeat = zoo_paper.repeat


def resnet(name: str, depths: tuple[int, ...], bottleneck: bool, groups: int = 1,
           base_width: int = 64, *, num_classes: int = 1000, resolution: int = 224,
           width: float = 1.0, se: SE | None = None, stride_at: str = "1x1") -> Arch:
    """ImageNet ResNet/ResNeXt; stages named conv2..conv5 as in He et al., Table 1."""
    stages = []
    for i, n in enumerate(depths):
        out = _ch(64 * 2**i * (4 if bottleneck else 1), width)
        mid = (_ch(base_width * 2**i, width) if groups == 1  # ResNeXt: scale per-group width
               else groups * max(1, round(base_width * 2**i * width)))
        kind, kw = ((Bottleneck, {"width": mid, "groups": groups, "stride_at": stride_at})
                    if bottleneck else (Basic, {}))
        first, rest = (kind(out=out, stride=s, se=se, **kw) for s in (2 if i else 1, 1))
        stages.append(Stage(name=f"conv{i + 2}", blocks=repeat(first, rest, n)))
    stem = (Conv(out=_ch(64, width), kernel=7, stride=2), Pool(op="max", kernel=3, stride=2, padding=1))
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=tuple(stages))


def cifar_resnet(name: str, depth: int, *, num_classes: int = 10, resolution: int = 32,
                 width: float = 1.0, se: SE | None = None) -> Arch:
    """He et al. sec. 4.2: 6n+2 layers, 3 stages of n basic blocks, option-A shortcuts."""
    n = (depth - 2) // 6
    def block(i: int, stride: int) -> Basic:
        return Basic(out=_ch(16 * 2**i, width), stride=stride, shortcut="pad", se=se)

    stages = tuple(Stage(name=f"stage{i + 1}", blocks=repeat(block(i, 2 if i else 1), block(i, 1), n))
                   for i in range(3))
    return Arch(name=name, resolution=resolution, num_classes=num_classes,
                stem=(Conv(out=_ch(16, width), kernel=3),), stages=stages)


def vgg16(name: str, *, num_classes: int = 1000, resolution: int = 224, width: float = 1.0,
          se: SE | None = None) -> Arch:
    """VGG-16 with BN (as the SE paper trains it); SE after each conv's ReLU."""
    plan = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
    stages = tuple(
        Stage(name=f"conv{i + 1}", blocks=(Conv(out=_ch(c, width), se=se),) * n
              + (Pool(op="max", kernel=2, stride=2),))
        for i, (c, n) in enumerate(plan))
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stages=stages,
                head=Head(pool="flatten", hidden=(4096, 4096), dropout=0.5))


def mobilenet_v1(name: str, *, num_classes: int = 1000, resolution: int = 224,
                 width: float = 1.0, se: SE | None = None) -> Arch:
    """MobileNet v1 (Howard et al. 2017); SE after each pointwise conv's ReLU."""
    plan = (((64, 1),), ((128, 2), (128, 1)), ((256, 2), (256, 1)),
            ((512, 2),) + ((512, 1),) * 5, ((1024, 2), (1024, 1)))
    stages = tuple(
        Stage(name=f"stage{i + 1}",
              blocks=tuple(DWSep(out=_ch(c, width), stride=st, se=se) for c, st in blocks))
        for i, blocks in enumerate(plan))
    return Arch(name=name, resolution=resolution, num_classes=num_classes,
                stem=(Conv(out=_ch(32, width), kernel=3, stride=2),), stages=stages)


# MobileNetV3 (Howard et al. 2019) as torchvision's bneck_conf lists it: per block (kernel,
# expanded, out, SE, activation, stride); stages split where the resolution halves.
_RE, _HS = "relu", "hardswish"
MOBILENET_V3 = {
    "large": (((3, 16, 16, 0, _RE, 1),),
              ((3, 64, 24, 0, _RE, 2), (3, 72, 24, 0, _RE, 1)),
              ((5, 72, 40, 1, _RE, 2), (5, 120, 40, 1, _RE, 1), (5, 120, 40, 1, _RE, 1)),
              ((3, 240, 80, 0, _HS, 2), (3, 200, 80, 0, _HS, 1), (3, 184, 80, 0, _HS, 1),
               (3, 184, 80, 0, _HS, 1), (3, 480, 112, 1, _HS, 1), (3, 672, 112, 1, _HS, 1)),
              ((5, 672, 160, 1, _HS, 2), (5, 960, 160, 1, _HS, 1), (5, 960, 160, 1, _HS, 1))),
    "small": (((3, 16, 16, 1, _RE, 2),),
              ((3, 72, 24, 0, _RE, 2), (3, 88, 24, 0, _RE, 1)),
              ((5, 96, 40, 1, _HS, 2), (5, 240, 40, 1, _HS, 1), (5, 240, 40, 1, _HS, 1),
               (5, 120, 48, 1, _HS, 1), (5, 144, 48, 1, _HS, 1)),
              ((5, 288, 96, 1, _HS, 2), (5, 576, 96, 1, _HS, 1), (5, 576, 96, 1, _HS, 1))),
}


def mobilenet_v3(name: str, size: str, *, num_classes: int = 1000, resolution: int = 224,
                 width: float = 1.0, se: SE | None = None) -> Arch:
    """torchvision's mobilenet_v3_large/small: hard-swish stem, inverted residuals (SE
    after the depthwise conv where the paper has it), 1x1 conv to 6x, FC-hardswish-FC head."""
    def ch(c: int) -> int:
        return make_divisible(c * width, 8)

    stages = tuple(Stage(name=f"stage{i + 1}", blocks=tuple(
        MBConv(out=ch(out), expanded=ch(exp), kernel=k, stride=st, act=act,
               se=se if use_se else None) for k, exp, out, use_se, act, st in plan))
        for i, plan in enumerate(MOBILENET_V3[size]))
    last = 6 * stages[-1].blocks[-1].out
    stages += (Stage(name="last", blocks=(Conv(out=last, kernel=1, act=_HS),)),)
    return Arch(name=name, resolution=resolution, num_classes=num_classes,
                stem=(Conv(out=ch(16), stride=2, act=_HS),), stages=stages,
                head=Head(hidden=(ch(1280 if size == "large" else 1024),), act=_HS, dropout=0.2))


# EfficientNet-B0 (Tan & Le 2019) as torchvision's MBConvConfig lists it: per stage (expand
# ratio, kernel, stride, in, out, layers); b1-b3 scale width and depth (compound scaling).
EFFICIENTNET_B0 = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1))
EFFICIENTNET_SCALE = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 288),
                      "b3": (1.2, 1.4, 300)}  # width, depth, torchvision's eval crop


def efficientnet(name: str, variant: str, *, num_classes: int = 1000,
                 resolution: int | None = None, width: float = 1.0,
                 se: SE | None = None) -> Arch:
    """torchvision's efficientnet_b0..b3: SiLU, SE in every MBConv (from the block's input
    width / 4), 1x1 conv to 4x the last width, dropout + FC head (dropout and stochastic
    depth cost nothing)."""
    wm, dm, crop = EFFICIENTNET_SCALE[variant]

    def ch(c: int) -> int:
        return make_divisible(c * wm * width, 8)

    stages = []
    for i, (ratio, k, stride, cin, out, n) in enumerate(EFFICIENTNET_B0):
        first, rest = (MBConv(out=ch(out), expanded=make_divisible(c * ratio, 8), kernel=k,
                              stride=s, act="silu", se=se)
                       for c, s in ((ch(cin), stride), (ch(out), 1)))
        stages.append(Stage(name=f"stage{i + 1}", blocks=repeat(first, rest, ceil(n * dm))))
    stages.append(Stage(name="last", blocks=(Conv(out=4 * ch(320), kernel=1, act="silu"),)))
    return Arch(name=name, resolution=resolution or crop, num_classes=num_classes,
                stem=(Conv(out=ch(32), stride=2, act="silu"),), stages=tuple(stages))


# RegNetY (Radosavovic et al. 2020) as torchvision parametrises it: depth, w_0, w_a, w_m,
# group width; SE ratio 0.25 of the block's input width.
REGNET_Y = {"400mf": (16, 48, 27.89, 2.09, 8), "800mf": (14, 56, 38.84, 2.4, 16),
            "1_6gf": (27, 48, 20.71, 2.65, 24)}


def regnet_stages(depth: int, w_0: int, w_a: float, w_m: float, group_width: int,
                  width: float = 1.0) -> list[tuple[int, int, int]]:
    """(depth, width, group width) per stage: torchvision's BlockParams.from_init_params
    (quantised linear widths), widths then made compatible with the group width."""
    ws = [round(w_0 * w_m ** round(log((i * w_a + w_0) / w_0) / log(w_m)) / 8) * 8
          for i in range(depth)]
    stages: list[list[int]] = []
    for w in ws:
        if stages and stages[-1][1] == w:
            stages[-1][0] += 1
        else:
            stages.append([1, w])
    out = []
    for d, w in stages:
        w = make_divisible(w * width, 8) if width != 1 else w
        gw = min(group_width, w)
        out.append((d, make_divisible(w, gw), gw))
    return out


def regnet_y(name: str, size: str, *, num_classes: int = 1000, resolution: int = 224,
             width: float = 1.0, se: SE | None = None) -> Arch:
    """torchvision's regnet_y_*: 3x3 stride-2 stem of 32, stages of grouped bottlenecks
    (bottleneck ratio 1, stride in the 3x3), SE after the 3x3 conv."""
    se = se.model_copy(update={"variant": "3x3"}) if se else None
    def block(w: int, gw: int, stride: int) -> Bottleneck:
        return Bottleneck(out=w, width=w, stride=stride, groups=w // gw, stride_at="3x3", se=se)

    stages = tuple(Stage(name=f"stage{i + 1}", blocks=repeat(block(w, gw, 2), block(w, gw, 1), d))
                   for i, (d, w, gw) in enumerate(regnet_stages(*REGNET_Y[size], width=width)))
    return Arch(name=name, resolution=resolution, num_classes=num_classes,
                stem=(Conv(out=32, stride=2),), stages=stages)


# Networks published with SE: name -> the SE setting their authors use.
PUBLISHED_SE: dict[str, SE] = {
    "mobilenet_v3_large": PRESETS["mobilenetv3"], "mobilenet_v3_small": PRESETS["mobilenetv3"],
    **{f"efficientnet_{v}": PRESETS["efficientnet"] for v in EFFICIENTNET_SCALE},
    **{f"regnet_y_{v}": PRESETS["regnet"] for v in REGNET_Y},
}

ZOO: dict[str, Callable[..., Arch]] = {
    "resnet18": partial(resnet, depths=(2, 2, 2, 2), bottleneck=False),
    "resnet34": partial(resnet, depths=(3, 4, 6, 3), bottleneck=False),
    "resnet50": partial(resnet, depths=(3, 4, 6, 3), bottleneck=True),
    "resnet101": partial(resnet, depths=(3, 4, 23, 3), bottleneck=True),
    "resnet152": partial(resnet, depths=(3, 8, 36, 3), bottleneck=True),
    # ResNeXt's own models (fb.resnet.torch) stride in the 3x3; the SE paper's 4.24 GFLOPs
    # for ResNeXt-50 is that layout (stride in the 1x1 would give 3.77).
    "resnext50_32x4d": partial(resnet, depths=(3, 4, 6, 3), bottleneck=True, groups=32,
                               base_width=4, stride_at="3x3"),
    "resnext101_32x4d": partial(resnet, depths=(3, 4, 23, 3), bottleneck=True, groups=32,
                                base_width=4, stride_at="3x3"),
    "vgg16": vgg16,
    "mobilenet_v1": mobilenet_v1,
    **{f"cifar_resnet{d}": partial(cifar_resnet, depth=d) for d in (20, 32, 44, 56, 110)},
    **zoo_paper.NETS,  # BN-Inception, Inception-ResNet-v2, ShuffleNet v1
    "mobilenet_v3_large": partial(mobilenet_v3, size="large"),
    "mobilenet_v3_small": partial(mobilenet_v3, size="small"),
    **{f"efficientnet_{v}": partial(efficientnet, variant=v) for v in EFFICIENTNET_SCALE},
    **{f"regnet_y_{v}": partial(regnet_y, size=v) for v in REGNET_Y},
}


def names() -> list[str]:
    """Every zoo name: the SE paper's networks plain and with SE (se_ prefix); networks
    published with SE as published and without SE (plain_ prefix)."""
    return [p + n for n in ZOO
            for p in (("", "plain_") if n in PUBLISHED_SE else ("", "se_"))]


def _base(name: str) -> tuple[str, bool]:
    """(zoo key, whether the name asks for SE)."""
    for prefix, se in (("se_", True), ("plain_", False)):
        base = name.removeprefix(prefix)
        if base != name and (base in PUBLISHED_SE) == (prefix == "plain_") and base in ZOO:
            return base, se
    return name, name in PUBLISHED_SE


# Far above any real network, low enough that costs stay finite numbers a table can show.
LIMITS = {"width": (0, 16, "width multiplier"), "resolution": (1, 4096, "input resolution"),
          "num_classes": (1, 1_000_000, "number of classes")}


def check_sizes(**sizes: float | None) -> None:
    """SpecError naming the first of width, resolution, num_classes outside LIMITS."""
    for key, value in sizes.items():
        low, high, what = LIMITS[key]
        if value is not None and not (low < value <= high if low == 0 else low <= value <= high):
            span = f"a positive number up to {high:,}" if low == 0 else f"from {low} to {high:,}"
            raise SpecError(f"the {what} --{key.replace('_', '-')} must be {span}, not {value}.")


def get_arch(name: str, r: int | None = None, **kwargs) -> Arch:
    """Zoo spec by name; kwargs (num_classes, resolution, width, stride_at) left as None
    keep the architecture's defaults; r changes the SE's reduction ratio."""
    base, with_se = _base(name)
    if base not in ZOO or name not in names():
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpecError(f"unknown architecture {name!r}{hint} (`se-design archs` lists them)")
    if r is not None and not with_se:
        other = f"se_{name}" if base not in PUBLISHED_SE else base
        raise SpecError(f"{name} has no SE blocks, so r does not apply; use {other}.")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    check_sizes(**{k: v for k, v in kwargs.items() if k in LIMITS})
    if "stride_at" in kwargs and not base.startswith("res"):
        raise SpecError(f"stride_at applies to ResNet/ResNeXt bottlenecks, not {base}.")
    if r is not None and (not isinstance(r, int) or r < 1):
        raise SpecError(f"the reduction ratio r must be an integer >= 1, not {r!r}.")
    se = None
    if with_se:
        se = PUBLISHED_SE.get(base, SE())
        se = se if r is None else se.model_copy(update={"r": r})
    try:
        return ZOO[base](name=name, se=se, **kwargs)
    except ValidationError as err:
        raise SpecError(explain(err)) from None


def resolve_arch(arch: str | None, config: Path | None, r: int | None, resolution: int | None,
                 num_classes: int | None, width: float | None, stride_at: str | None) -> Arch:
    """The spec a command's --arch (a zoo name with its options) or --config (a spec file,
    whose resolution and classes may be overridden) asks for."""
    if (arch is None) == (config is None):
        raise UserError("give either --arch NAME or --config FILE.")
    check_sizes(resolution=resolution, num_classes=num_classes, width=width)
    if arch is not None:
        return get_arch(arch, r=r, resolution=resolution, num_classes=num_classes, width=width,
                        stride_at=stride_at)
    if (r, width, stride_at) != (None, None, None):
        raise UserError("--r, --width and --stride-at apply to --arch; edit the config instead.")
    return override(load_config(config), resolution=resolution, num_classes=num_classes)
