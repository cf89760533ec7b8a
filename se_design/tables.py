"""The one table renderer (the CLI's tables and print(cost(arch)) alike): borderless rich
tables whose number columns are never cut and whose text columns wrap between words (then
after the _ . - of a name) to fit the console (80 columns at COLUMNS=80), and the same
tables as plain text."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

_PIECE_END = re.compile(r"(?<=[_.\-])(?=.)")  # after a separator inside a name: stage1.0, se_a


def _breakable(cell: str, width: int) -> str:
    """The cell with each word wider than `width` broken after its separators, pieces packed
    greedily: rich breaks lines only between words, and folds a piece still too wide."""
    return re.sub(r"\S+", lambda word: "\n".join(_pack(word.group(), width)), cell)


def _pack(word: str, width: int) -> list[str]:
    """The word's lines: as many whole pieces on each as fit."""
    lines = [""]
    for piece in _PIECE_END.split(word):
        if lines[-1] and cell_len(lines[-1] + piece) > width:
            lines.append("")
        lines[-1] += piece
    return lines


def _longest(cells: list[str], pattern: str) -> int:
    return max(cell_len(part) for c in cells for part in re.split(pattern, c))


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
            yield from _wrapped(self.title, "table.title", console, options.max_width)
        yield self._table(options.max_width)
        if self.caption:
            yield from _wrapped(self.caption, "table.caption", console, options.max_width)

    def _is_text(self, i: int) -> bool:
        return i in self.text or i - len(self.columns) in self.text

    def _table(self, max_width: int) -> Table:
        t = Table(box=None, pad_edge=False, header_style="bold", expand=False,
                  padding=(0, self.gap - self.gap // 2, 0, self.gap // 2))
        widths = self._widths(max_width)
        for i, (col, width) in enumerate(zip(self._fit(self.columns, widths), widths)):
            t.add_column(col, justify="left" if self._is_text(i) else "right", width=width,
                         no_wrap=not self._is_text(i), overflow="fold")
        for i, row in enumerate(self.rows):
            t.add_row(*self._fit(row, widths), style=self.styles[i] if self.styles else None)
        return t

    def _fit(self, cells: list[str], widths: list[int | None]) -> list[str]:
        """The text cells of a row (or the header) broken where a word is wider than its
        narrowed column."""
        return [_breakable(c, w) if w and self._is_text(i) else c
                for i, (c, w) in enumerate(zip(cells, widths))]

    def _widths(self, max_width: int) -> list[int | None]:
        """None each where the table fits as it is; else the text columns narrowed, the one
        with the most room first: down to their longest word, then to their longest piece of
        a word (broken after _ . -), then folding pieces."""
        cells = [[col, *(r[i] for r in self.rows)] for i, col in enumerate(self.columns)]
        widths = [_longest(cs, "\n") for cs in cells]
        excess = sum(widths) + self.gap * (len(widths) - 1) - max_width
        if excess <= 0:
            return [None] * len(widths)
        words = [_longest(cs, r"\s+") for cs in cells]
        pieces = [_longest(cs, r"\s+|" + _PIECE_END.pattern) for cs in cells]
        for floors in (words, pieces, [1] * len(widths)):
            while excess > 0:
                room = [(w - f, i) for i, (w, f) in enumerate(zip(widths, floors))
                        if self._is_text(i) and w > f]
                if not room:
                    break
                widths[max(room)[1]] -= 1
                excess -= 1
        return widths


def _wrapped(text: str, style: str, console: Console, width: int) -> list[Text]:
    """The text's lines wrapped between words at `width`, without the space rich keeps at
    the end of each line it wraps (a footer's lines ended in spaces)."""
    lines = Text(text, style=style).wrap(console, width)
    for line in lines:
        line.rstrip()
    return list(lines)


def text(renderable, width: int = 10_000) -> str:
    """What the renderable prints, without colours or trailing spaces (as wide as it needs
    by default: print(cost(arch)) knows no terminal)."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())
