"""Per-block SE edits of a spec, with blocks addressed by the path of their module:
"<stage>.<i>" (the stem is "stem"), and inside a branches block "<stage>.<i>.b<k>.<j>"."""

from __future__ import annotations

from collections.abc import Iterator

from se_design.errors import UserError
from se_design.spec import SE, Arch, check_se_fits


def _walk(blocks: tuple, prefix: str) -> Iterator[tuple[str, object]]:
    for i, b in enumerate(blocks):
        path = f"{prefix}.{i}"
        yield path, b
        for k, branch in enumerate(getattr(b, "branches", ())):
            yield from _walk(branch, f"{path}.b{k}")


def all_blocks(arch: Arch) -> Iterator[tuple[str, object]]:
    """(path, block) of every block, nested ones included, in network order."""
    yield from _walk(arch.stem, "stem")
    for st in arch.stages:
        yield from _walk(st.blocks, st.name)


def se_blocks(arch: Arch) -> list[tuple[str, object]]:
    """(path, block) of every block that carries an SE, in network order."""
    return [(p, b) for p, b in all_blocks(arch) if getattr(b, "se", None) is not None]


def check_paths(arch: Arch, paths: list[str]) -> None:
    """One sentence for a path that names no SE block."""
    known = [p for p, _ in se_blocks(arch)]
    for p in paths:
        if p not in known:
            shown = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "")
            raise UserError(f"{arch.name} has no SE block {p!r} (its SE blocks: "
                            f"{shown or 'none'}).")


def _edit(blocks: tuple, prefix: str, changes: dict[str, SE | None]) -> tuple:
    out = []
    for i, b in enumerate(blocks):
        path, update = f"{prefix}.{i}", {}
        if path in changes:
            check_se_fits(b.kind, changes[path])
            update["se"] = changes[path]
        if getattr(b, "branches", None):
            update["branches"] = tuple(_edit(br, f"{path}.b{k}", changes)
                                       for k, br in enumerate(b.branches))
        out.append(b.model_copy(update=update) if update else b)
    return tuple(out)


def set_se(arch: Arch, changes: dict[str, SE | None]) -> Arch:
    """Copy of `arch` with the SE of each block path in `changes` replaced (None removes it)."""
    paths = {p for p, b in all_blocks(arch) if hasattr(b, "se")}
    unknown = sorted(set(changes) - paths)
    if unknown:
        raise UserError(f"{arch.name} has no block {unknown[0]!r} that can carry an SE.")
    stages = tuple(st.model_copy(update={"blocks": _edit(st.blocks, st.name, changes)})
                   for st in arch.stages)
    return arch.model_copy(update={"stem": _edit(arch.stem, "stem", changes), "stages": stages})


def without_se(arch: Arch, paths: list[str]) -> Arch:
    """Copy of `arch` with the SE of the given blocks removed."""
    check_paths(arch, paths)
    return set_se(arch, dict.fromkeys(paths))
