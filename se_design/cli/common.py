"""What every command module shares: the consoles, the error handling, the options that mean
the same in several commands (as Annotated types), and help without a type on switches."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from se_design import files
from se_design.errors import Interrupted, UserError
from se_design.search import quiet_pool

out = Console()
err = Console(stderr=True)


def user_errors(fn):
    """Bad input -> one sentence on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        files.created.clear()
        try:
            return fn(*args, **kwargs)
        except Interrupted as e:  # 130 = 128 + SIGINT, what shells expect after Ctrl-C
            quiet_pool()
            err.print(str(e), highlight=False)  # wrapped at the terminal width
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            quiet_pool()
            err.print("interrupted.")
            raise typer.Exit(130) from None
        except UserError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)  # wrapped at the terminal width
            raise typer.Exit(2) from None
        finally:  # a folder a write needed is made, and named (on stderr: stdout may be JSON)
            for path in files.created:
                err.print(f"created folder '{path}'", highlight=False, soft_wrap=True)

    return wrapper


class _UntypedHelp:
    """-h/--help shown without a type, as the other switches (click's get_help_option)."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class Group(_UntypedHelp, TyperGroup):
    """The app (typer.Typer(cls=Group))."""


class Command(_UntypedHelp, TyperCommand):
    """Every command (app.command(cls=Command))."""


def flag(name: str, help: str):
    """A boolean switch, shown without a type (`--verify`, not `--verify <bool>`)."""
    return typer.Option(name, help=help, metavar="", show_default=False)


DEVICE_HELP = "auto | cpu | cuda | cuda:N."
SPACES = "the space's"

Json = Annotated[bool, flag("--json", "Machine-readable output on stdout.")]
Storage = Annotated[str | None, typer.Option(
    "--storage", help="sqlite:///FILE, postgresql://HOST/DB or journal:FILE.",
    show_default="SQLite results/search.db")]
Study = Annotated[str | None, typer.Option("--study", help="Study name.",
                                           show_default="the space's name")]
StudyName = Annotated[str, typer.Option("--study", help="Study name (as printed by search).")]
SpaceDevice = Annotated[str | None, typer.Option("--device", help=DEVICE_HELP,
                                                 show_default=SPACES)]
Epochs = Annotated[int | None, typer.Option(
    "--epochs", min=1, help="Override the proxy's epochs.", show_default=SPACES)]
MaxTrain = Annotated[int | None, typer.Option(
    "--max-train", min=10, help="Override the proxy's training images.", show_default=SPACES)]
Config = Annotated[Path | None, typer.Option("--config", "-c",
                                             help="Spec file (.yaml/.yml/.json).")]
