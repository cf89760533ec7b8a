"""Progress of long work, on stderr so that stdout (tables, --json) stays clean: a rich bar in
a terminal; elsewhere (a pipe, `| tee`, a batch job's log) a plain line every EVERY seconds
while it runs, and one when it ends if it printed any, so such a log is never silent for long
and a quick command prints nothing but its result."""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from se_design import consoles

EVERY = 20.0  # seconds between plain lines: well inside the 30 s a log may stay silent


def on_terminal() -> bool:
    return Console(stderr=True).is_terminal


def bar(enabled: bool = True) -> Progress:
    """A transient rich bar on stderr (disabled: draws nothing)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                    disable=not enabled)


@contextmanager
def counted(what: str, total: int):
    """Yields tick(note=''), to call after each of `total` steps of `what`."""
    console = consoles.console(stderr=True)  # its lines; a bar draws on its own console
    if console.is_terminal:
        with bar() as shown:
            task = shown.add_task(what, total=total)
            yield lambda note="": shown.update(task, advance=1,
                                               description=f"{what} {note}".rstrip())
        return
    done, last, shown = 0, time.monotonic(), False

    def tick(note: str = "") -> None:
        nonlocal done, last, shown
        done += 1
        if time.monotonic() - last >= EVERY or (shown and done == total):
            last, shown = time.monotonic(), True
            console.print(f"{what}: {done}/{total} {note}".rstrip(), highlight=False,
                          soft_wrap=True)
    yield tick
