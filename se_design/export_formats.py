"""`export --out PATH`: a spec written in the format PATH's suffix names (the spec as YAML or
JSON, a torch-only PyTorch file, ONNX), with trained weights when given."""

from __future__ import annotations

from pathlib import Path

from se_design.errors import UserError
from se_design.files import write_text, writing
from se_design.spec import Arch, dumps, to_dict

SUFFIXES = (".yaml", ".yml", ".json", ".py", ".onnx")


def export_format(path: str | Path) -> str:
    """PATH's suffix if it names a format (check it before any work), else a UserError."""
    suffix = Path(path).suffix.lower()
    if not Path(path).name:  # '' reaches here as '.'
        raise UserError(f"--out names no file: give FILE ending in {', '.join(SUFFIXES[:-1])} "
                        f"or {SUFFIXES[-1]}.")
    if suffix not in SUFFIXES:
        raise UserError(f"cannot tell the export format of '{path}': it must end in "
                        f"{', '.join(SUFFIXES[:-1])} or {SUFFIXES[-1]}.")
    return suffix


def export_file(arch: Arch, path: str | Path, state_dict: dict | None = None,
                origin: str | None = None, inputs: tuple | None = None) -> str:
    """Write `arch` in the format of `path`'s suffix; return one sentence saying what was
    written. .yaml/.yml/.json: the spec (se_design.spec.save_config); .py: a PyTorch file
    needing only torch (se_design.pyfile); .onnx: the model with its weights, checked with
    ONNX Runtime. A state_dict given with a spec or .py goes beside it as PATH with suffix
    .pt (`model.load_state_dict(torch.load(...))` reads it). `origin` (where the design
    came from) heads a YAML spec as a comment; `inputs` (a checkpoint's mean, std and
    classes) go with its weights into a .py file or the ONNX file's metadata."""
    suffix, path = export_format(path), Path(path)
    inputs = inputs if state_dict is not None else None  # they describe the weights
    if suffix == ".onnx":
        from se_design.onnx_export import to_onnx

        diff = to_onnx(arch, path, state_dict, inputs=inputs)
        return (f"wrote {arch.name} to '{path}' (ONNX, outputs within {diff:.1g} of "
                "PyTorch's in ONNX Runtime).")
    if suffix == ".py":
        from se_design.pyfile import to_python

        write_text(path, to_python(arch, inputs), "PyTorch file")
        what = "a PyTorch file that needs only torch"
    else:
        fmt = "json" if suffix == ".json" else "yaml"
        comment = f"# {origin}\n" if origin and fmt == "yaml" else ""
        write_text(path, comment + dumps(arch, fmt), "config file")
        what = "its spec"
    if state_dict is None:
        return f"wrote {arch.name} to '{path}' ({what})."
    weights = _save_weights(state_dict, weights_path(path))
    return f"wrote {arch.name} to '{path}' ({what}) and its weights to '{weights}'."


def weights_path(path: str | Path) -> Path | None:
    """Where export_file puts the weights that go with `path` (None: inside it, ONNX)."""
    path = Path(path)
    return None if path.suffix.lower() == ".onnx" else path.with_suffix(".pt")


def check_not_over(path: str | Path, checkpoint: str | Path) -> None:
    """A UserError when exporting to `path` would write its weights over `checkpoint`, or
    over any se-design checkpoint (trained weights that a bare state_dict would replace)."""
    from se_design.checkpoint import is_checkpoint

    weights = weights_path(path)
    if weights is None:
        return
    if weights.resolve() == Path(checkpoint).resolve():
        raise UserError(f"--out '{path}' would write its weights to '{weights}', over the "
                        "checkpoint they come from: give --out another name.")
    if weights.is_file() and is_checkpoint(weights):
        raise UserError(f"--out '{path}' would write its weights to '{weights}', over the "
                        "se-design checkpoint there: give --out another name.")


def weights_for(ckpt, arch: Arch, path: str | Path) -> dict:
    """The weights of checkpoint `ckpt` (read from `path`) for `arch`: only if it holds the
    same network (names aside; the resolution too, as it changes no weight: a search's kept
    proxy carries its weights to the target design), else one sentence."""
    def body(a: Arch) -> dict:
        return {k: v for k, v in to_dict(a).items() if k not in ("name", "resolution")}

    if body(ckpt.arch) != body(arch):
        raise UserError(f"checkpoint '{path}' holds {ckpt.arch.name}, which is not the design "
                        f"exported ({arch.name}): its weights would not fit.")
    return ckpt.state


def resolution_note(ckpt, arch: Arch) -> list[str]:
    """A note when the weights were trained at another input size than `arch` is written for
    (e.g. a proxy trained at 16x16, its design exported at 32x32)."""
    if ckpt is None or ckpt.arch.resolution == arch.resolution:
        return []
    r, t = ckpt.arch.resolution, arch.resolution
    note = (f"note: the weights were trained at {r}x{r} ({ckpt.arch.name}); the design is "
            f"written for {t}x{t}, where they have not been evaluated.")
    return [note]


def _save_weights(state_dict: dict, path: Path) -> Path:
    import torch

    with writing(path, "weights file") as p:
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, p)
    return p
