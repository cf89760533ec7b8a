"""Numbers as people read them in tables and logs."""

from __future__ import annotations


def n(x: float) -> str:
    return f"{x:,.0f}"


def compact(x: float) -> str:
    """28.09M, 3.89G, 272.47K: a unit and two decimals, so numbers fit narrow columns."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"
