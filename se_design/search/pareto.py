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


def front_share(draws: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Per design, the share of joint draws of its accuracy (rows of `draws`, one column per
    design) in which no design that costs no more (`costs`: one row per design) is more
    accurate: its probability of being on the front."""
    could = (costs[:, None, :] <= costs[None, :, :]).all(2)  # could[j, i]: j no costlier than i
    np.fill_diagonal(could, False)
    on = np.empty(draws.shape, dtype=bool)
    for d, row in enumerate(draws):  # one draw at a time: m x m, not draws x m x m
        on[d] = ~(could & (row[:, None] > row[None, :])).any(0)
    return on.mean(0)
