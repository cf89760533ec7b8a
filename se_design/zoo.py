"""Named architectures -> specs. `se_<name>` is <name> with SE (r=16) in every block.

Each builder takes num_classes, resolution, width (channel multiplier) and se; ResNets also
take stride_at ('1x1' = the paper's Caffe models, '3x3' = torchvision/timm "v1.5").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial

from pydantic import ValidationError

from se_design import zoo_paper
from se_design.spec import (
    SE,
    Arch,
    Basic,
    Bottleneck,
    Conv,
    DWSep,
    Head,
    Pool,
    SpecError,
    Stage,
    explain,
)


def _ch(c: int, width: float) -> int:
    """Scaled channel count, a multiple of 8 (at least 8) unless width is 1."""
    return c if width == 1 else max(8, int(c * width + 4) // 8 * 8)


def resnet(name: str, depths: tuple[int, ...], bottleneck: bool, groups: int = 1,
           base_width: int = 64, *, num_classes: int = 1000, resolution: int = 224,
           width: float = 1.0, se: SE | None = None, stride_at: str = "1x1") -> Arch:
    """ImageNet ResNet/ResNeXt; stages named conv2..conv5 as in He et al., Table 1."""
    stages = []
    for i, n in enumerate(depths):
        out = _ch(64 * 2**i * (4 if bottleneck else 1), width)
        mid = (_ch(base_width * 2**i, width) if groups == 1  # ResNeXt: scale per-group width
               else groups * max(1, round(base_width * 2**i * width)))
        blocks = []
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            blocks.append(Bottleneck(out=out, width=mid, stride=stride, groups=groups,
                                     stride_at=stride_at, se=se) if bottleneck
                          else Basic(out=out, stride=stride, se=se))
        stages.append(Stage(name=f"conv{i + 2}", blocks=tuple(blocks)))
    stem = (Conv(out=_ch(64, width), kernel=7, stride=2), Pool(op="max", kernel=3, stride=2, padding=1))
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=tuple(stages))


def cifar_resnet(name: str, depth: int, *, num_classes: int = 10, resolution: int = 32,
                 width: float = 1.0, se: SE | None = None) -> Arch:
    """He et al. sec. 4.2: 6n+2 layers, 3 stages of n basic blocks, option-A shortcuts."""
    n = (depth - 2) // 6
    stages = tuple(
        Stage(name=f"stage{i + 1}", blocks=tuple(
            Basic(out=_ch(16 * 2**i, width), stride=2 if i > 0 and j == 0 else 1,
                  shortcut="pad", se=se) for j in range(n)))
        for i in range(3))
    return Arch(name=name, resolution=resolution, num_classes=num_classes,
                stem=(Conv(out=_ch(16, width), kernel=3),), stages=stages)


def vgg16(name: str, *, num_classes: int = 1000, resolution: int = 224, width: float = 1.0,
          se: SE | None = None) -> Arch:
    """VGG-16 with BN (as the SE paper trains it); SE after each conv's ReLU."""
    plan = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
    stages = tuple(
        Stage(name=f"conv{i + 1}", blocks=tuple(Conv(out=_ch(c, width), se=se) for _ in range(n))
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
}


def names() -> list[str]:
    """Every zoo name, each plain and with SE (se_ prefix)."""
    return [p + n for n in ZOO for p in ("", "se_")]


def get_arch(name: str, r: int | None = None, **kwargs) -> Arch:
    """Zoo spec by name; kwargs (num_classes, resolution, width, stride_at) left as None
    keep the architecture's defaults."""
    base = name.removeprefix("se_")
    if base not in ZOO:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SpecError(f"unknown architecture {name!r}{hint} (`se-design archs` lists them)")
    if r is not None and base == name:
        raise SpecError(f"{name} has no SE blocks, so r does not apply; use se_{name}.")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if kwargs.get("width", 1.0) <= 0:
        raise SpecError(f"width multiplier must be positive, not {kwargs['width']}.")
    if "stride_at" in kwargs and not base.startswith("res"):
        raise SpecError(f"stride_at applies to ResNet/ResNeXt bottlenecks, not {base}.")
    if r is not None and (not isinstance(r, int) or r < 1):
        raise SpecError(f"the reduction ratio r must be an integer >= 1, not {r!r}.")
    se = SE(r=16 if r is None else r) if base != name else None
    try:
        return ZOO[base](name=name, se=se, **kwargs)
    except ValidationError as err:
        raise SpecError(explain(err)) from None
