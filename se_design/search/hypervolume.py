"""Two-objective hypervolume improvement (cost minimised, accuracy maximised), vectorised over
candidates: what each candidate alone adds to the area a front dominates."""

from __future__ import annotations

import numpy as np


def attained(front_cost: np.ndarray, front_acc: np.ndarray, floor: float):
    """The front's staircase: its step costs (ascending) and the best accuracy reached at or
    below each (`floor` below the cheapest)."""
    order = np.argsort(front_cost, kind="stable")
    steps = np.maximum.accumulate(np.concatenate([[floor], front_acc[order]]))
    return front_cost[order], steps


def level(cost: np.ndarray, edges: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The staircase's accuracy at each cost."""
    return steps[np.searchsorted(edges, cost, side="right")]


def improvement(cost: np.ndarray, acc: np.ndarray, front_cost: np.ndarray,
                front_acc: np.ndarray, ref: tuple[float, float]) -> np.ndarray:
    """Per candidate (cost, acc), the area between ref = (costliest, least accurate corner)
    that it dominates and the front does not. Only candidates above the staircase gain
    anything, so the full sum is taken over those alone."""
    ref_cost, ref_acc = ref
    edges, steps = attained(np.minimum(front_cost, ref_cost), front_acc, ref_acc)
    out = np.zeros(len(cost))
    up = np.flatnonzero((acc > level(cost, edges, steps)) & (cost < ref_cost))
    if up.size:
        lo = np.concatenate([[-np.inf], edges])  # segment k spans [lo[k], hi[k]) at steps[k]
        hi = np.concatenate([edges, [ref_cost]])
        width = np.clip(hi[None] - np.maximum(cost[up, None], lo[None]), 0, None)
        height = np.clip(acc[up, None] - steps[None], 0, None)
        out[up] = (width * height).sum(1)
    return out
