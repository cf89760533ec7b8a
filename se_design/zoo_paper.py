"""The SE paper's other networks (Hu et al., Tables 2 and 3), plain and with SE where the SE
authors put it. Registered into zoo.ZOO; same arguments as the rest of the zoo.
"""

from __future__ import annotations

from functools import partial

from se_design.spec import SE, Arch, Branches, Conv, Pool, Shuffle, Stage


def scaled(c: int, width: float, multiple: int = 8) -> int:
    """c channels times width, rounded to a multiple (at least one); exactly c at width 1.
    The whole zoo's width multiplier (zoo.py's SE paper networks use it too)."""
    return c if width == 1 else max(multiple, int(c * width + multiple / 2) // multiple * multiple)


# BN-Inception (Ioffe & Szegedy 2015) as in the SE authors' SE-BN-Inception.prototxt:
# per module (1x1, 3x3 reduce, 3x3, double-3x3 reduce, double 3x3, pool, pool projection).
# The stride-2 modules (3c, 4e) have no 1x1 and no projection: their pool is a 3x3/2 max pool.
BN_INCEPTION = {
    "inception3": ((64, 64, 64, 64, 96, "avg", 32), (64, 64, 96, 64, 96, "avg", 64),
                   (0, 128, 160, 64, 96, "max", 0)),
    "inception4": ((224, 64, 96, 96, 128, "avg", 128), (192, 96, 128, 96, 128, "avg", 128),
                   (160, 128, 160, 128, 160, "avg", 128), (96, 128, 192, 160, 192, "avg", 128),
                   (0, 128, 192, 192, 256, "max", 0)),
    "inception5": ((352, 192, 320, 160, 224, "avg", 128), (352, 192, 320, 192, 224, "max", 128)),
}


def _inception(plan: tuple, width: float, se: SE | None) -> Branches:
    c1, c3r, c3, d3r, d3, pool, proj = (p if isinstance(p, str) else scaled(p, width)
                                        for p in plan)
    stride = 1 if proj else 2
    pooling = (Pool(op=pool, kernel=3, stride=stride, padding=1),)
    branches = (((Conv(out=c1, kernel=1),),) if c1 else ()) + (
        (Conv(out=c3r, kernel=1), Conv(out=c3, stride=stride)),
        (Conv(out=d3r, kernel=1), Conv(out=d3), Conv(out=d3, stride=stride)),
        pooling + ((Conv(out=proj, kernel=1),) if proj else ()))
    return Branches(branches=branches, merge="concat", se=se)


def bn_inception(name: str, *, num_classes: int = 1000, resolution: int = 224,
                 width: float = 1.0, se: SE | None = None) -> Arch:
    """BN-Inception, SE after every Inception module's concat (the authors' released model).

    Caffe's ceil-mode 3x3/2 max pools are written as padding 1 (the same sizes at even
    input sizes, and the same as the stride-2 convs beside them); convs have no bias."""
    w = lambda c: scaled(c, width)
    stem = (Conv(out=w(64), kernel=7, stride=2), Pool(op="max", kernel=3, stride=2, padding=1),
            Conv(out=w(64), kernel=1), Conv(out=w(192)),
            Pool(op="max", kernel=3, stride=2, padding=1))
    stages = tuple(Stage(name=n, blocks=tuple(_inception(p, width, se) for p in plans))
                   for n, plans in BN_INCEPTION.items())
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=stages)




def _shuffle_unit(cin: int, out: int, stride: int, groups: int, first: bool,
                  se: SE | None) -> Branches:
    """ShuffleNet v1 unit (megvii's ShuffleNet-Series): grouped 1x1 (plain 1x1 in the first
    unit) -> shuffle -> depthwise 3x3 -> grouped 1x1, added to the input (stride 1) or
    concatenated with a 3x3/2 average pool of it (stride 2), then ReLU. SE sits on the
    residual branch after its last BN, before the merge, as in SE-ResNet."""
    mid = out // 4
    main = (Conv(out=mid, kernel=1, groups=1 if first else groups), Shuffle(groups=groups),
            Conv(out=mid, stride=stride, groups=mid, act="none"),
            Conv(out=out - cin if stride == 2 else out, kernel=1, groups=groups, act="none",
                 se=se))
    if stride == 1:
        return Branches(branches=(main, ()), merge="add", act="relu")
    return Branches(branches=((Pool(op="avg", kernel=3, stride=2, padding=1),), main),
                    merge="concat", act="relu")


# ShuffleNet v1's stage-2 output channels per group count (its paper's Table 1, at 1x);
# stages 3 and 4 double it.
SHUFFLENET_CHANNELS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}


def shufflenet_v1(name: str, groups: int, *, num_classes: int = 1000, resolution: int = 224,
                  width: float = 1.0, se: SE | None = None) -> Arch:
    """ShuffleNet v1 (Zhang et al. 2018): 3x3/2 conv (24) and max pool, then 4/8/4 units.
    Widths round to multiples of 4 * groups (megvii's 0.5x and 2x g=3 models come out exact)."""
    c = scaled(24, width, 4 * groups)
    stem = (Conv(out=c, stride=2), Pool(op="max", kernel=3, stride=2, padding=1))
    stages = []
    for i, n in enumerate((4, 8, 4)):
        out = scaled(SHUFFLENET_CHANNELS[groups] * 2**i, width, 4 * groups)
        first = _shuffle_unit(c, out, 2, groups, i == 0, se)
        stages.append(Stage(name=f"stage{i + 2}",
                            blocks=repeat(first, _shuffle_unit(out, out, 1, groups, False, se), n)))
        c = out
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=tuple(stages))


def repeat(first, rest, n: int) -> tuple:
    """A stage's n blocks: `first`, then one `rest` object n - 1 times. Repeated blocks are
    one object, as the expansion and the cost key blocks by identity first (and one object
    validates once)."""
    return (first, *(rest,) * (n - 1))


def _conv(out: int, kernel: int | tuple[int, int] = 1, stride: int = 1,
          valid: bool = False) -> Conv:
    return Conv(out=out, kernel=kernel, stride=stride, padding=0 if valid else None)


def _residual(branches: tuple, channels: int, scale: float, se: SE | None,
              act: str = "relu") -> Branches:
    """Inception-ResNet block: x + scale * up(concat(branches)), then ReLU; `up` is a biased
    1x1 conv without BN back to the input's channels. SE on the residual branch before the
    scaling and the add, as in SE-ResNet."""
    up = Conv(out=channels, kernel=1, bias=True, bn=False, act="none", se=se)
    return Branches(branches=((Branches(branches=branches), up), ()), merge="add", act=act,
                    scale=scale)


def inception_resnet_v2(name: str, *, num_classes: int = 1000, resolution: int = 299,
                        width: float = 1.0, se: SE | None = None) -> Arch:
    """Inception-ResNet-v2 as Google released it (TF-slim; Cadene's pretrainedmodels port):
    10/20/10 residual blocks scaled by 0.17/0.10/0.20, the last without ReLU, then a 1x1
    conv to 1536. SE after the concat of each non-residual Inception module (as
    SE-BN-Inception) and on the residual branch of each residual block."""
    w = lambda c: scaled(c, width)
    pool = Pool(op="max", kernel=3, stride=2)
    stem = (_conv(w(32), 3, 2, valid=True), _conv(w(32), 3, valid=True), _conv(w(64), 3), pool,
            _conv(w(80)), _conv(w(192), 3, valid=True), pool)
    mixed_5b = ((_conv(w(96)),), (_conv(w(48)), _conv(w(64), 5)),
                (_conv(w(64)), _conv(w(96), 3), _conv(w(96), 3)),
                (Pool(op="avg", kernel=3, stride=1, padding=1), _conv(w(64))))
    ch = 2 * w(96) + 2 * w(64)
    block35 = ((_conv(w(32)),), (_conv(w(32)), _conv(w(32), 3)),
               (_conv(w(32)), _conv(w(48), 3), _conv(w(64), 3)))
    a = (Branches(branches=mixed_5b, se=se),) + (_residual(block35, ch, 0.17, se),) * 10
    mixed_6a = ((_conv(w(384), 3, 2, valid=True),),
                (_conv(w(256)), _conv(w(256), 3), _conv(w(384), 3, 2, valid=True)), (pool,))
    ch += 2 * w(384)
    block17 = ((_conv(w(192)),), (_conv(w(128)), _conv(w(160), (1, 7)), _conv(w(192), (7, 1))))
    b = (Branches(branches=mixed_6a, se=se),) + (_residual(block17, ch, 0.10, se),) * 20
    mixed_7a = ((_conv(w(256)), _conv(w(384), 3, 2, valid=True)),
                (_conv(w(256)), _conv(w(288), 3, 2, valid=True)),
                (_conv(w(256)), _conv(w(288), 3), _conv(w(320), 3, 2, valid=True)), (pool,))
    ch += w(384) + w(288) + w(320)
    block8 = ((_conv(w(192)),), (_conv(w(192)), _conv(w(224), (1, 3)), _conv(w(256), (3, 1))))
    c = ((Branches(branches=mixed_7a, se=se),) + (_residual(block8, ch, 0.20, se),) * 9
        + (_residual(block8, ch, 1.0, se, act="none"), _conv(w(1536))))
    stages = tuple(Stage(name=f"inception_resnet_{n}", blocks=blocks)
                   for n, blocks in zip("abc", (a, b, c)))
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=stages)


NETS = {"bn_inception": bn_inception, "inception_resnet_v2": inception_resnet_v2,
        "shufflenet_v1_g3": partial(shufflenet_v1, groups=3)}
