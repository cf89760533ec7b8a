"""The layer graph: what a spec expands to, made of a few primitive ops (no torch).

build.py maps each primitive to one torch module and cost.py maps it to one counting
function per convention, so the model and the cost model walk the very same graph and can
only disagree where a counting function is wrong, which the fvcore test catches per layer.
Composite nodes name their children; those names become the torch module paths.

Nodes are never changed once made: memos key them by identity, and one node may sit at
many places (an activation's node, a stage's SE node). They are not frozen, as a frozen
dataclass takes several times longer to make, and a cold cost makes hundreds; nor compared by
value (eq=False: equal is identical), which also makes the classes quicker to define.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps

from se_design.errors import SpecError
from se_design.se import SE

Shape = tuple[int, int, int]  # (channels, height, width) of one sample
node = dataclass(slots=True, eq=False)  # a node class (see above)


@node
class Conv:
    cin: int
    cout: int
    k: int | tuple[int, int] = 1  # (height, width) for asymmetric kernels
    stride: int = 1
    groups: int = 1
    bias: bool = False
    padding: int | None = None  # None: k // 2 on each side, per dimension
    # k and padding as (height, width) and the weight count (bias aside), made once: the walk
    # and the counts read them often
    hw: tuple[int, int] = field(init=False, repr=False, compare=False)
    pad: tuple[int, int] = field(init=False, repr=False, compare=False)
    weights: int = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        k, p = self.k, self.padding
        self.hw = kh, kw = (k, k) if type(k) is int else k
        self.pad = (kh // 2, kw // 2) if p is None else (p, p)
        self.weights = self.cout * (self.cin // self.groups) * kh * kw


@node
class Mul:
    """Multiplication by a constant (Inception-ResNet's residual scaling)."""

    factor: float


@node
class BN:
    c: int


@node
class Act:
    fn: str  # relu | relu6 | hardswish | silu | sigmoid | hardsigmoid | tanh


@node
class Pool:
    op: str  # max | avg
    k: int
    stride: int
    padding: int


@node
class GlobalPool:
    """Classifier pooling to 1x1 (nn.AdaptiveAvgPool2d(1))."""


@node
class Squeeze:
    """SE squeeze to 1x1: adaptive avg or max pooling."""

    op: str


@node
class Flatten:
    pass


@node
class Linear:
    cin: int
    cout: int


@node
class Dropout:
    p: float


@node
class Shuffle:
    groups: int


@node
class PadShortcut:
    """CIFAR ResNet option A: x[:, :, ::s, ::s] zero-padded to cout channels."""

    cin: int
    cout: int
    stride: int


@node
class Seq:
    items: tuple[tuple[str, Node], ...]


@node
class Parallel:
    """Branches on the same input, merged, then `post` (e.g. ReLU, SE after the add)."""

    branches: tuple[tuple[str, Node], ...]
    merge: str  # add | concat
    post: Seq


@dataclass(slots=True)
class SESetting:
    """What an SE node is: its spec setting, the channels it sees and its squeeze width.
    Cost, per-stage r and the search read these fields, never the layer paths."""

    se: SE
    channels: int  # C: the channels the SE sees (and rescales)
    reduced: int  # d: the width of its bottleneck

    @property
    def closed_form(self) -> int:
        """Weights of the two FCs, 2·C·d: the paper's 2C²/r when d = C/r (no biases)."""
        return 2 * self.channels * self.reduced


@node
class Scale:
    """x * gate(x): the excitation's rescaling, gate broadcast over H and W; `setting` is
    set when the node is an SE module."""

    gate: Node
    setting: SESetting | None = None


Leaf = (Conv | BN | Act | Pool | GlobalPool | Squeeze | Flatten | Linear | Dropout | Shuffle
        | PadShortcut | Mul)
Node = Leaf | Seq | Parallel | Scale


def seq(*items: tuple[str, Node | None]) -> Seq:
    """Seq of the named items that are not None (optional SE slots)."""
    return Seq(tuple([item for item in items if item[1] is not None]))


def _conv_out(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _conv_shape(n: Conv, s: Shape) -> Shape:  # _conv_out inlined: a cold cost walks many convs
    (kh, kw), (ph, pw), st = n.hw, n.pad, n.stride
    return n.cout, (s[1] + 2 * ph - kh) // st + 1, (s[2] + 2 * pw - kw) // st + 1


def _pool_shape(n: Pool, s: Shape) -> Shape:
    return s[0], _conv_out(s[1], n.k, n.stride, n.padding), _conv_out(s[2], n.k, n.stride, n.padding)


OUT_SHAPE = {  # leaves not listed keep their input's shape
    Conv: _conv_shape,
    Pool: _pool_shape,
    GlobalPool: lambda n, s: (s[0], 1, 1),
    Squeeze: lambda n, s: (s[0], 1, 1),
    Flatten: lambda n, s: (s[0] * s[1] * s[2], 1, 1),
    Linear: lambda n, s: (n.cout, 1, 1),
    PadShortcut: lambda n, s: (n.cout, -(-s[1] // n.stride), -(-s[2] // n.stride)),
}


# One walked leaf: (module path, leaf, input shape, output shape, the SE module the leaf
# belongs to or None); a plain tuple, as a walk makes one per layer.
Row = tuple[str, Leaf, Shape, Shape, SESetting | None]


@dataclass(slots=True)
class Tally:
    """What a walk sums as it goes: each leaf's params and FLOPs, by the (params function,
    FLOPs function) that `counters` lists for its kind (either may be None; kinds not listed
    count nothing), the params of SE modules' leaves apart too; and the setting of each SE
    node met. The cost counts in the walk that finds the shapes: a second pass over the
    leaves would cost about as much again."""

    counters: dict
    params: int = 0
    flops: int = 0
    se_params: int = 0
    ses: list[SESetting] = field(default_factory=list)


def walk(node: Node, shape: Shape, path: str = "", rows: list[Row] | None = None,
         tally: Tally | None = None, se: SESetting | None = None) -> Shape:
    """Append a Row per leaf to `rows` and count each leaf into `tally`, in execution order;
    return the node's output shape. `path` is the node's module path.

    Raises SpecError when a feature map vanishes or parallel branches disagree."""
    kind = type(node)
    if kind is Seq:
        return _seq(node.items, shape, f"{path}." if path else "", rows, tally, se)
    if kind is Parallel:
        prefix = f"{path}." if path else ""
        outs = [walk(child, shape, prefix + name, rows, tally, se) for name, child in node.branches]
        return _seq(node.post.items, _merge(outs, node.merge, path), prefix, rows, tally, se)
    if kind is Scale:
        if node.setting is not None and tally is not None:
            tally.ses.append(node.setting)
        walk(node.gate, shape, path, rows, tally, node.setting or se)
        return shape
    return _seq(((path, node),), shape, "", rows, tally, se)  # a lone leaf: a Seq of one


COMPOSITE = frozenset({Seq, Parallel, Scale})


def _seq(items: tuple, shape: Shape, prefix: str, rows: list[Row] | None,
         tally: Tally | None, se: SESetting | None) -> Shape:
    """walk() of named items one after another; the leaves handled here, not by a call each,
    as most nodes of a graph are leaves in a Seq and a cold cost walks them all."""
    for name, child in items:
        kind = type(child)
        if kind in COMPOSITE:
            shape = walk(child, shape, prefix + name, rows, tally, se)
            continue
        f = OUT_SHAPE.get(kind)
        out = shape
        if f is not None:  # leaves not listed keep their shape, so cannot make it vanish
            out = f(child, shape)
            if out[1] < 1 or out[2] < 1:
                raise SpecError(f"the feature map vanishes at {prefix + name} "
                                f"(input {shape[1]}x{shape[2]}).")
        if rows is not None:
            rows.append((prefix + name, child, shape, out, se))
        if tally is not None:
            both = tally.counters.get(kind)
            if both is not None:
                count, count_flops = both
                if count is not None:
                    p = count(child)
                    tally.params += p
                    if se is not None:
                        tally.se_params += p
                if count_flops is not None:
                    tally.flops += count_flops(child, shape, out)
        shape = out
    return shape


def memo(f):
    """f(obj, key, *rest) memoised by obj's identity and the hashable key; `rest` (a path
    for messages) is not part of the key. Keyed by identity because hashing a node walks all
    of it (and a tuple of blocks hashes every pydantic block); obj is kept with the result,
    so a recycled id never matches. A decorator rather than a lookup taking a maker: a
    memoised call is then one call, as a warm cost makes many. `.clear()` forgets everything
    (cold-start benchmarks)."""
    data: dict = {}

    @wraps(f)
    def get(obj, key, *rest):
        k = (id(obj), key)
        hit = data.get(k)
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(data) > MEMO_LIMIT:
            data.clear()
        value = f(obj, key, *rest)
        data[k] = (obj, value)
        return value

    get.clear = data.clear
    return get


MEMO_LIMIT = 100_000  # entries a memo holds before it starts again


def _merge(outs: list[Shape], merge: str, path: str) -> Shape:
    if merge == "add":
        if len(set(outs)) > 1:
            raise SpecError(f"the branches added at {path} have different shapes {outs}.")
        return outs[0]
    if len({o[1:] for o in outs}) > 1:
        raise SpecError(f"the branches concatenated at {path} differ in size {outs}.")
    return sum(o[0] for o in outs), outs[0][1], outs[0][2]
