"""The one table renderer (the CLI's tables and print(cost(arch)) alike): borderless rich
tables whose number columns are never cut and whose text columns wrap between words to fit
the console (80 columns at COLUMNS=80), and the same tables as plain text."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text


@dataclass
class Fitted:
    """A table with a title above and a caption below that wrap at the console's width, not
    the table's. Its column widths are chosen here, at render time: rich alone squeezes a
    text column below its longest word, restores it and crops the table at the edge."""

    title: str
    columns: list[str]  # a header may have several lines
    rows: list[list[str]]
    text: tuple[int, ...] = (0,)  # the text columns (left-aligned, wrapping); the rest numbers
    styles: list[str | None] | None = None  # one per row
    gap: int = 2  # spaces between columns
    caption: str = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title:
            yield Text(self.title, style="table.title")
        yield self._table(options.max_width)
        if self.caption:
            yield Text(self.caption, style="table.caption")

    def _is_text(self, i: int) -> bool:
        return i in self.text or i - len(self.columns) in self.text

    def _table(self, max_width: int) -> Table:
        t = Table(box=None, pad_edge=False, header_style="bold", expand=False,
                  padding=(0, self.gap - self.gap // 2, 0, self.gap // 2))
        for i, (col, width) in enumerate(zip(self.columns, self._widths(max_width))):
            t.add_column(col, justify="left" if self._is_text(i) else "right", width=width,
                         no_wrap=not self._is_text(i), overflow="fold")
        for i, row in enumerate(self.rows):
            t.add_row(*row, style=self.styles[i] if self.styles else None)
        return t

    def _widths(self, max_width: int) -> list[int | None]:
        """None each where the table fits as it is; else the text columns narrowed, the one
        with the most room first: down to their longest word, then folding words."""
        cells = [[col, *(r[i] for r in self.rows)] for i, col in enumerate(self.columns)]
        widths = [max(cell_len(line) for c in cs for line in c.split("\n")) for cs in cells]
        excess = sum(widths) + self.gap * (len(widths) - 1) - max_width
        if excess <= 0:
            return [None] * len(widths)
        words = [max(cell_len(w) for c in cs for w in c.split() or [""]) for cs in cells]
        for floors in (words, [1] * len(widths)):
            while excess > 0:
                room = [(w - f, i) for i, (w, f) in enumerate(zip(widths, floors))
                        if self._is_text(i) and w > f]
                if not room:
                    break
                widths[max(room)[1]] -= 1
                excess -= 1
        return widths


def text(renderable, width: int = 10_000) -> str:
    """What the renderable prints, without colours or trailing spaces (as wide as it needs
    by default: print(cost(arch)) knows no terminal)."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())
