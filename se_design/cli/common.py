"""What every command module shares: the consoles, the error handling, the options that mean
the same in several commands (as Annotated types), and help without a type on switches."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from se_design import files
from se_design.consoles import console
from se_design.errors import Interrupted, UserError
from se_design.search import quiet_pool

out, err = console(), console(stderr=True)


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
            _error(str(e))
            raise typer.Exit(2) from None
        finally:  # a folder a write needed is made, and named (on stderr: stdout may be JSON)
            for path in files.created:
                err.print(f"created folder '{path}'", highlight=False, soft_wrap=True)

    return wrapper


def _error(sentence: str) -> None:
    """`error: SENTENCE` on stderr, wrapped at the terminal width; the sentence printed as it
    is (a bracket the user typed is not rich markup)."""
    err.print(f"[red]error:[/red] {escape(sentence)}", highlight=False)


HELP_OPTIONS = ["-h", "--help"]  # every command's (the app's context_settings)


@contextmanager
def usage_errors(command_path: str):
    """typer's parsing errors (an unknown option, a bad or missing value) printed as
    user_errors prints the tool's own, then click's hint: not a boxed panel under a Usage line."""
    try:
        yield
    except typer.TyperException as e:  # the base of typer's (vendored click's) errors
        if type(e).__name__ == "NoArgsIsHelpError":  # the help, printed; typer tells it so too
            raise
        message = e.format_message()  # "No such option: -x", "... Did you mean 'cost'?"
        _error(message[:1].lower() + message[1:] + ("" if message[-1:] in ".?" else "."))
        err.print(f"Try '{command_path} {HELP_OPTIONS[0]}' for help.", highlight=False,
                  markup=False)
        raise typer.Exit(e.exit_code) from None


class _Conventions:
    """-h/--help shown without a type, as the other switches (click's get_help_option), and
    parsing errors printed by usage_errors: a command's arguments are parsed in its
    make_context, its name resolved in the app's invoke."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def make_context(self, info_name, args, parent=None, **extra):
        # the path from the parent: some errors (an option missing its value) carry no context
        with usage_errors(f"{parent.command_path} {info_name}" if parent else info_name):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx):
        with usage_errors(ctx.command_path):
            return super().invoke(ctx)


class Group(_Conventions, TyperGroup):
    """The app (typer.Typer(cls=Group))."""


class Command(_Conventions, TyperCommand):
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
