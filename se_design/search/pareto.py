"""Pareto dominance, written once. Objective vectors come with `signs`: +1 for an objective
maximised (accuracy, SE blocks), -1 for one minimised (params, FLOPs, latency)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def dominates(a: Sequence[float], b: Sequence[float], signs: Sequence[int]) -> bool:
    """a is at least as good as b everywhere and better somewhere."""
    return (all(s * x >= s * y for x, y, s in zip(a, b, signs))
            and any(s * x > s * y for x, y, s in zip(a, b, signs)))


def no_costlier(a: Sequence[float], b: Sequence[float]) -> bool:
    """Costs a are nowhere above costs b (a could dominate b whatever the accuracies)."""
    return all(x <= y for x, y in zip(a, b))


def front(items: Sequence[T], values: Callable[[T], Sequence[float]], signs: Sequence[int],
          ties: bool = True) -> list[T]:
    """The items no other item dominates, best first. With ties=False, of items with equal
    values only the first is kept. Sorting best first puts every dominator before what it
    dominates, so each item is checked against the kept ones only."""
    kept: list[T] = []
    for item in sorted(items, key=lambda it: [-s * v for s, v in zip(signs, values(it))]):
        v = values(item)
        if not any(dominates(values(k), v, signs)
                   or (not ties and list(values(k)) == list(v)) for k in kept):
            kept.append(item)
    return kept


def front_share(accuracy_draws: np.ndarray, costs: Sequence[Sequence[float]]) -> np.ndarray:
    """For draws of every design's accuracy (draws x designs, maximised) and their known
    costs (designs x objectives, minimised): the share of draws in which each design is on
    the front. d is dominated in a draw by an o that costs no more and is more accurate, or
    as accurate and cheaper somewhere."""
    n = accuracy_draws.shape[1]
    if n == 0:
        return np.zeros(0)
    c = np.asarray(costs, dtype=float).reshape(n, -1)
    no_worse = (c[:, None, :] <= c[None, :, :]).all(2)  # [o, d]: o costs no more than d
    cheaper = no_worse & (c[:, None, :] < c[None, :, :]).any(2)
    np.fill_diagonal(no_worse, False)
    dominated = np.zeros(accuracy_draws.shape, dtype=bool)
    for o in np.flatnonzero(no_worse.any(1)):
        a_o = accuracy_draws[:, o:o + 1]
        beats = (a_o > accuracy_draws) | ((a_o >= accuracy_draws) & cheaper[o][None, :])
        dominated |= beats & no_worse[o][None, :]
    return 1 - dominated.mean(0)
