"""The factors of a design space, as the accuracy model and the initial design see it.

A design is a dict factor name -> level (Optuna's stored params: `r_stage1`, `variant_stage1`,
`on_stage1_0`, `squeeze`, `gate`). A factor that does not apply to a design (the variant of a
stage without SE; squeeze and gate with no SE anywhere) is absent from it. In arrays a design
is a row of integer codes: the level's index in `Factor.levels`, -1 where inactive. The first
level of each factor is its baseline (no SE, the standard variant, avg, sigmoid, block on):
every effect is measured against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

INACTIVE = -1


@dataclass(frozen=True)
class Factor:
    """One decision variable. It applies to a design only when one of the factors it
    `requires` is active and off its baseline (variant_stage1 requires r_stage1: SE in the
    stage); with no `requires` it always applies."""

    name: str
    levels: tuple
    requires: tuple[str, ...] = ()
    stage: str | None = None  # for the effects table
    kind: str = ""  # r, variant, squeeze, gate, on

    @property
    def baseline(self):
        return self.levels[0]


class Factors:
    """An ordered list of factors (each after those it requires) and the code arrays of
    designs over them."""

    def __init__(self, factors: Sequence[Factor]):
        self.list = tuple(factors)
        self.index = {f.name: i for i, f in enumerate(self.list)}
        for i, f in enumerate(self.list):
            late = [r for r in f.requires if self.index.get(r, len(self.list)) >= i]
            if late:
                raise ValueError(f"factor {f.name} requires {late[0]!r}, which must come before it")
        self.parents = [tuple(self.index[r] for r in f.requires) for f in self.list]

    def __len__(self) -> int:
        return len(self.list)

    def __iter__(self):
        return iter(self.list)

    def _active(self, codes: np.ndarray, i: int) -> np.ndarray:
        """Which rows factor i applies to, given the codes of the factors before it."""
        if not self.parents[i]:
            return np.ones(len(codes), dtype=bool)
        return (codes[:, list(self.parents[i])] > 0).any(1)  # active and off baseline (code 0)

    def encode(self, designs: Iterable[Mapping]) -> np.ndarray:
        """Code rows of designs given as dicts. Values of factors that do not apply are
        dropped (Optuna stores squeeze for a design without SE); an unknown name or level,
        or a missing applicable factor, is an error."""
        rows = []  # Python lists until the end: numpy indexing per factor costs more
        for d in designs:
            unknown = d.keys() - self.index.keys()
            if unknown:
                raise ValueError(f"unknown factor {min(unknown)!r} in design {dict(d)}")
            row = [INACTIVE] * len(self.list)
            for i, f in enumerate(self.list):
                if self.parents[i] and not any(row[p] > 0 for p in self.parents[i]):
                    continue
                value = d.get(f.name, f.baseline if len(f.levels) == 1 else None)
                if value not in f.levels:  # a single-choice factor may be omitted
                    raise ValueError(f"design {dict(d)}: {f.name}={value!r} is not one of "
                                     f"{list(f.levels)}")
                row[i] = f.levels.index(value)
            rows.append(row)
        return np.array(rows, dtype=np.int16).reshape(len(rows), len(self.list))

    def decode(self, codes: np.ndarray) -> list[dict]:
        """Designs as dicts of the factors that apply (the inverse of encode)."""
        return [{f.name: f.levels[c] for f, c in zip(self.list, row) if c >= 0}
                for row in np.asarray(codes)]

    def enumerate(self, limit: int = 1_000_000) -> np.ndarray:
        """Every distinct design's codes, in a fixed order; ValueError beyond `limit`."""
        codes = np.zeros((1, 0), dtype=np.int16)
        for i, f in enumerate(self.list):
            on = self._active(codes, i)
            n_on, n_levels = int(on.sum()), len(f.levels)
            if len(codes) - n_on + n_on * n_levels > limit:
                raise ValueError(f"the space has more than {limit:,} designs: sample it")
            off = np.column_stack([codes[~on], np.full(len(codes) - n_on, INACTIVE, np.int16)])
            grown = np.column_stack([np.repeat(codes[on], n_levels, axis=0),
                                     np.tile(np.arange(n_levels, dtype=np.int16), n_on)])
            codes = np.concatenate([off, grown])
        return codes

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n designs drawn level by level, uniformly among the levels of each factor that
        applies (not uniform over designs; duplicates possible)."""
        codes = np.empty((n, len(self.list)), dtype=np.int16)
        for i, f in enumerate(self.list):
            on = self._active(codes[:, :i], i)
            codes[:, i] = np.where(on, rng.integers(0, len(f.levels), n), INACTIVE)
        return codes


def se_factors(stages: Sequence[str], r: Sequence, variant: Sequence[str] = ("standard",),
               squeeze: Sequence[str] = ("avg",), gate: Sequence[str] = ("sigmoid",),
               blocks: Mapping[str, int] | None = None) -> Factors:
    """The factors of an SE space file's variables, named and valued as
    `Problem.suggest` stores them (r as strings, per-block switches as booleans), with the
    baselines first: r none, variant standard, squeeze avg, gate sigmoid, block on.
    `blocks` (stage -> number of blocks) adds the per-block switches."""
    def first(values, base):
        return (base, *[v for v in values if v != base])

    out = []
    for s in stages:
        r_name = f"r_{s}"
        out.append(Factor(r_name, first([str(x) for x in r], "none"), (), s, "r"))
        out.append(Factor(f"variant_{s}", first(variant, "standard"), (r_name,), s, "variant"))
        out += [Factor(f"on_{s}_{i}", (True, False), (r_name,), s, "on")
                for i in range((blocks or {}).get(s, 0))]
    every_r = tuple(f"r_{s}" for s in stages)
    out.append(Factor("squeeze", first(squeeze, "avg"), every_r, None, "squeeze"))
    out.append(Factor("gate", first(gate, "sigmoid"), every_r, None, "gate"))
    return Factors(out)
