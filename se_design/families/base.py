"""What every block family shares: the spec base class that registers a family, and the
expansion helpers families call (sequences of blocks, the SE node and its slots, group
checks)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar, Union

from pydantic import ConfigDict, Discriminator, GetPydanticSchema, model_serializer, model_validator

from se_design import graph as g
from se_design.errors import SpecError
from se_design.se import SE
from se_design.validated import StrictModel

FAMILIES: dict[str, type[BlockSpec]] = {}  # kind -> spec class, filled as modules load


class BlockSpec(StrictModel):
    """A block family: a pydantic spec (its fields, with `kind` a Literal naming it) that
    knows its graph expansion, its SE slots, output channels and stride. Subclassing
    registers the family; modules of se_design.families are loaded automatically."""

    # Built on first use, once every family is registered: a family holding blocks needs them.
    model_config = ConfigDict(defer_build=True)

    se_slots: ClassVar[tuple[str, ...]] = ()  # SE variants that fit (empty: no SE)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        super().__pydantic_init_subclass__(**kwargs)
        FAMILIES[cls.model_fields["kind"].default] = cls

    @model_serializer(mode="wrap")
    def _keep_kind(self, handler):
        return {"kind": self.kind} | handler(self)

    @model_validator(mode="after")
    def _se_fits(self):
        check_se_fits(type(self), getattr(self, "se", None))
        return self

    def expand(self, cin: int, where: str) -> g.Node:
        """The block's layer graph on `cin` input channels (`where` is for messages)."""
        raise NotImplementedError

    def out_channels(self, cin: int) -> int:
        return getattr(self, "out", cin)

    def total_stride(self) -> int:
        return getattr(self, "stride", 1)

    def with_block_se(self, se: SE | None, levels: str = "outer") -> BlockSpec:
        """Copy with `se` (None removes it) if the block has SE slots. `levels` matters only to
        families holding blocks: 'outer' = on the block itself, 'inner' = on the blocks it
        holds, 'all' = both."""
        if not self.se_slots:
            return self
        check_se_fits(type(self), se)
        return self.model_copy(update={"se": se})  # se is already validated


def _any_family(_source, handler):
    """The schema of `Block`: the union of the registered families, told apart by `kind`."""
    return handler(Annotated[Union[tuple(FAMILIES.values())], Discriminator("kind")])  # noqa: UP007


# A block of any registered family. Its union is made when a model holding blocks is built:
# the spec's models once se_design.families has loaded every family module, the families
# holding blocks on first use (BlockSpec defers its build).
Block = Annotated[BlockSpec, GetPydanticSchema(_any_family)]


def check_se_fits(cls: type[BlockSpec], se: SE | None) -> None:
    if se is not None and se.variant not in cls.se_slots:
        kind = cls.model_fields["kind"].default
        raise SpecError(f"SE variant {se.variant!r} does not fit a {kind} block "
                        f"(allowed: {', '.join(cls.se_slots) or 'none'}).")


def se_node(se: SE, seen: int, block_in: int, where: str) -> g.Scale:
    """Squeeze (global pool, or none = NoSqueeze) -> 1x1 conv C->d -> act -> 1x1 conv d->C
    -> gate, multiplied into the input; C = `seen` channels, d from the reference width."""
    ref = seen if se.width_of == "seen" else block_in
    if se.r > ref:
        raise SpecError(f"SE reduction r={se.r} at {where} is larger than its {ref} channels.")
    return _se_node(se, (seen, ref))


@g.memo
def _se_node(se: SE, widths: tuple[int, int]) -> g.Scale:
    """se_node's graph, memoised: a stage's blocks share their SE setting, so its first block
    and the repeated one (which differ in input width) share one SE node."""
    seen, ref = widths
    d = se.reduced(ref)
    squeeze = None if se.squeeze == "none" else g.Squeeze(se.squeeze)
    return g.Scale(g.seq(("squeeze", squeeze), ("fc1", g.Conv(seen, d, bias=se.bias)),
                         ("act", act(se.act)), ("fc2", g.Conv(d, seen, bias=se.bias)),
                         ("gate", act(se.gate))), g.SESetting(se, seen, d))


def se_at(b: BlockSpec, variant: str, seen: int, cin: int, where: str) -> g.Scale | None:
    """The SE node if the block's SE sits at `variant`'s slot, else None (b: a block of a
    family with SE slots, so with an `se` field)."""
    se = b.se
    return se_node(se, seen, cin, where) if se is not None and se.variant == variant else None


def check_groups(cin: int, cout: int, groups: int, where: str) -> None:
    if cin % groups or cout % groups:
        raise SpecError(f"{groups} groups at {where} do not divide {cin} -> {cout} channels.")


# hash(key) -> (key, (node, output channels)); a key is (block, input channels) or the ids of
# a stage's block nodes. Keyed by the hash, made once: a dict hashes its key again to store a
# miss, and a pydantic block hashes slowly (in Python, its SE setting too).
NODES: dict = {}


def _expanded(key: tuple, make) -> tuple[g.Node, int]:
    h = hash(key)
    hit = NODES.get(h)
    if hit is None or hit[0] != key:  # another key of the same hash is replaced
        if len(NODES) > g.MEMO_LIMIT:
            NODES.clear()
        hit = NODES[h] = (key, make())
    return hit[1]


def block(b: BlockSpec, cin: int, where: str) -> tuple[g.Node, int]:
    """(graph of one spec block, its output channels). Memoised without the position (used
    only in error messages), so repeated blocks and the specs a search costs share nodes."""
    return _expanded((b, cin), lambda: (b.expand(cin, where), b.out_channels(cin)))


@g.memo
def sequence(blocks: tuple, cin: int, where: str) -> g.Seq:
    """The blocks one after another, named 0, 1, ...; memoised as block() is, so the same
    blocks on the same width are the very same node (its shapes and cost memoised once).
    Memoised by the tuple's identity first: a search's specs share their stages' tuples (and
    hashing or comparing the blocks is most of a warm cost)."""
    nodes, last = [], (None, None, None)
    for i, b in enumerate(blocks):
        if b is not last[0] or cin != last[1]:  # a stage repeats one block object: no rehash
            last = (b, cin, block(b, cin, f"{where}.{i}"))
        nodes.append(last[2][0])
        cin = last[2][1]
    # Keyed by the nodes' identities: equal blocks are already one node, so this shares what
    # a key of the blocks would, without hashing every block again. The Seq keeps its nodes
    # alive, so their ids are not reused while the entry stands.
    return _expanded(tuple(map(id, nodes)),
                     lambda: (g.Seq(tuple((str(i), n) for i, n in enumerate(nodes))), cin))[0]


def clear_memos() -> None:
    """Forget every memoised node (for cold-start benchmarks)."""
    NODES.clear()
    sequence.clear()
    _se_node.clear()
    act.cache_clear()


def sequence_channels(blocks, cin: int) -> int:
    for b in blocks:
        cin = b.out_channels(cin)
    return cin


def sequence_stride(blocks) -> int:
    """The blocks' total stride; a block object repeated in a row, as a stage repeats one, is
    asked once (asking a pydantic block is slow, and a cost asks every stage)."""
    total = stride = 1
    last = None
    for b in blocks:
        if b is not last:
            last, stride = b, b.total_stride()
        total *= stride
    return total


@cache  # one node per activation: nodes are never changed, so a leaf may sit at many places
def act(fn: str) -> g.Act | None:
    return None if fn == "none" else g.Act(fn)

