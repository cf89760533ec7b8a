"""The user's files: every read and write goes through here, so a missing file, a folder, a
binary file, a read-only or odd location (/proc) is one sentence naming the path."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

from se_design.errors import UserError


def read_text(path: str | Path, what: str = "file") -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} '{path}' does not exist.") from None
    except IsADirectoryError:
        raise UserError(f"{what} '{path}' is a folder, not a file.") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} '{path}' is not a text file.") from None
    except OSError as err:
        raise UserError(f"cannot read {what} '{path}': {_reason(err)}.") from None


def read_data(path: str | Path, fmt: str, what: str = "file") -> object:
    """Parsed JSON or YAML; a syntax error names the file and line."""
    import yaml  # here, not at the top: the commands that read no YAML start faster

    text = read_text(path, what)
    try:
        return json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{what} '{path}' is not valid JSON: line {err.lineno}: "
                        f"{err.msg}.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{what} '{path}' is not valid YAML: {line}{problem}.") from None


def write_text(path: str | Path, text: str, what: str = "file") -> Path:
    """Write `text`, creating missing parent folders."""
    with writing(path, what) as p:
        p.write_text(text, encoding="utf-8")
    return p


@contextmanager
def writing(path: str | Path, what: str = "file"):
    """Yields the path to write (its folder created); a failed write (read-only folder,
    /proc, full disk) becomes one sentence. For writers that need a path (CSV, matplotlib)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {what} '{path}': it is a folder.")
    folder(path.parent)
    try:
        yield path
    except OSError as err:
        raise UserError(f"cannot write {what} '{path}': {_reason(err)}.") from None


def check_writable(path: str | Path, what: str = "file") -> Path:
    """Check, before any work, that `path` can be written (its missing folders made later by
    `writing`): not a folder, under a folder (or where one can be made), in a place that
    takes files (not /proc, not read-only). Leaves nothing behind."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {what} '{path}': it is a folder.")
    check_folder(path.parent, f"cannot write {what} '{path}'")
    return path


def check_folder(path: str | Path, failure: str | None = None) -> Path:
    """Check, before any work, that files can be written in folder `path` (existing, or to be
    made under its nearest existing ancestor); a file there, /proc or a read-only place is
    one sentence. Nothing is created."""
    path = Path(path)
    ancestor = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not ancestor.is_dir():
        raise UserError(f"'{ancestor}' is a file, but a folder is needed there.")
    try:  # a probe file: the only sure test (root passes os.access checks /proc refuses)
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        failure = failure or (f"cannot write in folder '{path}'" if ancestor == path
                              else f"cannot create folder '{path}'")
        raise UserError(f"{failure}: {_reason(err)}.") from None
    return path


created: list[Path] = []  # folders this command made; the CLI names them (never silently)


def folder(path: str | Path) -> Path:
    """An existing or newly created folder (then added to `created`)."""
    path = Path(path)
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        created.append(path)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"'{path}' is a file, but a folder is needed there.") from None
    except OSError as err:
        raise UserError(f"cannot create folder '{path}': {_reason(err)}.") from None
    return path


def _reason(err: OSError) -> str:
    return (err.strerror or type(err).__name__).lower().rstrip(".")
