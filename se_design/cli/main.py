"""The `se-design` app, assembled here and only here: each command module's functions are
made into commands in one place, every one with the same error handling and help class."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Annotated

import typer

from se_design.cli import analysis, cost, search
from se_design.cli.common import HELP_OPTIONS, Command, Group, user_errors

# in the order -h lists them
COMMANDS = {"cost": cost.cost, "archs": cost.archs, "paper-table": cost.paper_table,
            "search": search.search, "report": search.report, "export": search.export,
            "train": analysis.train, "excitation": analysis.excitation, "fold": analysis.fold,
            "calibrate": search.calibrate, "effects": search.effects}


class Commands(Mapping):
    """The app's commands by name, each made into a click command when first looked up:
    making all eleven (typer reads every signature) took a third of `cost`'s startup."""

    def __init__(self):
        self.made: dict = {}

    def __getitem__(self, name: str):
        if name not in self.made:
            one = typer.Typer(add_completion=False)
            one.command(name, cls=Command)(user_errors(COMMANDS[name]))
            self.made[name] = typer.main.get_command(one)
        return self.made[name]

    def __iter__(self):
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class App(Group):
    """The app's group, its commands made on demand (Commands)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.commands = Commands()


app = typer.Typer(cls=App, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": HELP_OPTIONS})


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"se-design {version('se-design')}")
        except PackageNotFoundError:  # run from a checkout without installing
            print("se-design (not installed)")
        raise typer.Exit()


@app.callback()
def main(_: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                         metavar="", show_default=False,
                                         help="Print the version and exit.")] = False):
    """Design CNNs with Squeeze-and-Excitation blocks: cost, search, export."""


def run() -> None:
    """The `se-design` program (its console script and `python -m se_design`). What is
    imported by now lives until exit: frozen out of the garbage collector, no collection
    walks it again, the one at exit included (a seventh of the cost command's wall time)."""
    gc.freeze()
    app(prog_name="se-design")
