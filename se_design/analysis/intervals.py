"""95% intervals of the analysis commands' accuracies (over seeds: search.stats' t interval;
over images: Wilson; before/after on the same images: McNemar)."""

from __future__ import annotations

import math

from se_design.search.stats import ci95, mean

Z = 1.959964  # two-sided 95% normal quantile


def over_seeds(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t interval) over training seeds; needs two or more."""
    return mean(values), float(ci95(values))  # a plain float: checkpoints


def over_images(acc: float, n: int) -> tuple[float, float]:
    """Wilson 95% interval (low, high) of an accuracy measured on n images: the noise of
    the finite evaluation set only, not of training."""
    centre = (acc + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(acc * (1 - acc) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def paired_difference(before: list[bool], after: list[bool]) -> tuple[float, float]:
    """(accuracy after - before, half-width of its 95% interval) for two models scored on
    the same images: only the images on which they disagree carry noise (McNemar)."""
    n = len(before)
    gained = sum(a and not b for b, a in zip(before, after))
    lost = sum(b and not a for b, a in zip(before, after))
    diff = (gained - lost) / n
    var = (gained + lost) / n - diff * diff  # of one image's score change, in {-1, 0, 1}
    return diff, Z * math.sqrt(max(var, 0.0) / n)
