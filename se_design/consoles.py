"""The consoles the tool prints with (the CLI's, a search's, a worker's): rich consoles on
stdout or stderr that print text as typed (no :name: emoji codes, so a path or study name
with colons in it is not changed; rich's emoji table is never loaded) and end no line in a
space (rich pads table cells to their column and wraps lines after a space)."""

from __future__ import annotations

import io
import re
import sys

from rich.console import Console

_TRAILING = re.compile(r" +((?:\x1b\[[0-9;]*m)*)\n")  # spaces ending a line, before style codes


class _Unpadded(io.TextIOBase):
    """sys.stdout or sys.stderr as it is at each write (tests swap them), less the spaces that
    end lines: a console writes each print whole, so every line ends inside one write."""

    def __init__(self, name: str):
        self.name = name

    def _stream(self):
        return getattr(sys, self.name)

    def write(self, text: str) -> int:
        self._stream().write(_TRAILING.sub(r"\1\n", text))
        return len(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()

    def fileno(self) -> int:
        return self._stream().fileno()

    @property
    def encoding(self) -> str:
        return self._stream().encoding


def console(stderr: bool = False, quiet: bool = False) -> Console:
    return Console(file=_Unpadded("stderr" if stderr else "stdout"), emoji=False, quiet=quiet)
