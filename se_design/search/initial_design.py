"""The first designs of a model-based search: few, and chosen so that every main effect of the
accuracy model is estimable once they are trained, the reference designs included.

A textbook orthogonal array does not exist for these spaces: a stage's variant applies only
when the stage has SE, so the factors are nested, not crossed. The design is instead
D-optimal for the main-effects model over the candidate designs (every design of the space
when there are at most `candidates`, else a sample): greedy additions to the references, then
Fedorov exchanges while they raise det(X'X). Where an orthogonal array exists D-optimality
finds one (a 2^3 space in 4 runs gives the half fraction), and it keeps the references fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from se_design.search.accuracy_model import MIN_LACK_DF, design_matrix, main_terms
from se_design.search.factors import Factors

RIDGE = 1e-6  # keeps X'X invertible while the first designs leave directions unexplored
MAX_EXCHANGES = 200


def initial_design(factors: Factors, references: Sequence[Mapping], k: int | None = None,
                   seed: int = 0, candidates: int = 20_000,
                   allowed: Callable[[np.ndarray], np.ndarray] | None = None) -> list[dict]:
    """k designs, references first (default k: the main-effects model's terms plus
    MIN_LACK_DF, so the lack of fit is estimable too). `allowed` (code rows -> bool mask)
    restricts the designs besides the references (e.g. to those within budget). ValueError
    when k designs cannot estimate every main effect the allowed designs can."""
    terms = [(), *main_terms(factors)]
    k = len(terms) + MIN_LACK_DF if k is None else k
    given = factors.encode(references)
    refs = given[np.sort(np.unique(given, axis=0, return_index=True)[1])]  # once each, in order
    pool = _candidates(factors, refs, candidates, np.random.default_rng(seed))
    if allowed is not None:
        pool = np.concatenate([refs, pool[len(refs):][allowed(pool[len(refs):])]])
    x = design_matrix(pool, terms)
    chosen = list(range(len(refs)))  # the pool starts with the references
    if k < len(chosen) or k > len(pool):
        raise ValueError(f"k={k} must lie between the {len(chosen)} references and the "
                         f"{len(pool)} candidate designs")
    while len(chosen) < k:
        chosen.append(_most_informative(x, chosen))
    chosen = _exchange(x, chosen, len(refs))
    rank, full = np.linalg.matrix_rank(x[chosen]), np.linalg.matrix_rank(x)
    if rank < full:
        raise ValueError(f"{k} designs estimate {rank - 1} of the {full - 1} main effects; "
                         f"use k >= {full}")
    return factors.decode(pool[chosen])


def _candidates(factors: Factors, refs: np.ndarray, limit: int, rng) -> np.ndarray:
    """The references, then every other design (or `limit` sampled ones) in random order:
    ties go to a random design, not to the first enumerated."""
    try:
        rest = factors.enumerate(limit)
    except ValueError:
        rest = np.unique(factors.sample(limit, rng), axis=0)
    rest = rest[~(rest[:, None, :] == refs[None]).all(2).any(1)]
    return np.concatenate([refs, rng.permutation(rest)])


def _information(x: np.ndarray, chosen: list[int]) -> np.ndarray:
    xs = x[chosen]
    return np.linalg.inv(xs.T @ xs + RIDGE * np.eye(x.shape[1]))


def _most_informative(x: np.ndarray, chosen: list[int]) -> int:
    """The candidate whose prediction variance x' (X'X)^-1 x is largest: adding it raises
    det(X'X) the most."""
    d = ((x @ _information(x, chosen)) * x).sum(1)
    d[chosen] = -np.inf
    return int(np.argmax(d))


def _exchange(x: np.ndarray, chosen: list[int], fixed: int) -> list[int]:
    """Fedorov exchange: swap a chosen design (not one of the first `fixed`) for a candidate
    while det(X'X) grows by the factor (1 + d_j)(1 - d_i) + d_ij^2 > 1."""
    chosen = list(chosen)
    for _ in range(MAX_EXCHANGES):
        m_inv = _information(x, chosen)
        cross = x[chosen] @ m_inv @ x.T  # d_ij, chosen i by candidate j
        d_in = ((x @ m_inv) * x).sum(1)
        d_out = cross[np.arange(len(chosen)), chosen]
        gain = (1 + d_in)[None, :] * (1 - d_out)[:, None] + cross ** 2 - 1
        gain[:fixed] = -np.inf
        gain[:, chosen] = -np.inf
        i, j = np.unravel_index(np.argmax(gain), gain.shape)
        if gain[i, j] <= 1e-9:
            break
        chosen[i] = int(j)
    return chosen
