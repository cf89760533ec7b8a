"""The SE paper's other networks (Hu et al., Tables 2 and 3), plain and with SE where the SE
authors put it. Registered into zoo.ZOO; same arguments as the rest of the zoo.
"""

from __future__ import annotations

from se_design.spec import SE, Arch, Branches, Conv, Pool, Stage


def _scaled(c: int, width: float, multiple: int = 8) -> int:
    """c channels times width, rounded to a multiple (at least one); exactly c at width 1."""
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
    c1, c3r, c3, d3r, d3, pool, proj = (p if isinstance(p, str) else _scaled(p, width)
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
    w = lambda c: _scaled(c, width)  # noqa: E731
    stem = (Conv(out=w(64), kernel=7, stride=2), Pool(op="max", kernel=3, stride=2, padding=1),
            Conv(out=w(64), kernel=1), Conv(out=w(192)),
            Pool(op="max", kernel=3, stride=2, padding=1))
    stages = tuple(Stage(name=n, blocks=tuple(_inception(p, width, se) for p in plans))
                   for n, plans in BN_INCEPTION.items())
    return Arch(name=name, resolution=resolution, num_classes=num_classes, stem=stem,
                stages=stages)


NETS = {"bn_inception": bn_inception}
