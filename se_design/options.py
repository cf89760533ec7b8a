"""Option helpers shared by the CLI modules (cli.py imports the command modules, so they
cannot import from it at load time)."""

from __future__ import annotations

import typer

DEVICE_HELP = "auto | cpu | cuda | cuda:N."


def flag(name: str, help: str):
    """A boolean switch, shown without a type (`--verify`, not `--verify <bool>`)."""
    return typer.Option(False, name, help=help, metavar="", show_default=False)
