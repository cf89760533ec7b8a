"""Designs the rung rule stopped early, as measurements for the accuracy model.

A stopped design has one accuracy: its first seed's at the rung epoch e where it stopped.
Left out, the model would learn only from the designs that passed the rungs, kept for being
good early, and the choices of the stopped ones would look better than they are. Taken in,
that accuracy is put on the last epoch's scale by a link that the designs trained to the end
on 2+ seeds measure:

    accuracy at e (design i, one seed) = mu_i - offset_e + noise,   Var(noise) = v_e

mu_i the design's true final mean (what the model estimates). The link is measured on pairs
of independent runs: seed j's accuracy x at e against the mean y of the final accuracies of
the design's n - 1 other seeds, so E[y - x] = offset_e and E[(x + offset_e - y)^2] =
v_e + sigma^2 / (n - 1). A design's first seed is never the x of a pair: it is the seed that
faced the rung, and a survivor's first seed was kept for being lucky at e. v_e is at least
the seed noise at e (the link cannot be better than the runs it links), and is widened by
the offset's own uncertainty (the gaps' variance over the number of designs: a design's
pairs share its finals, so the design is the unit). The stopped design then enters as a
measurement of mu_i worth sigma^2 / v_e final seeds (accuracy_model.Measurement's weight).

Assumed, not tested: one offset for every design (the rung rule acts only where the rank
fidelity is high, which an offset plus noise describes), and no selection in the y of a
pair (a survivor's first seed's final is among them, correlated with its lucky accuracy at
e; the offset may read a little high for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from se_design.search.accuracy_model import Measurement
from se_design.search.records import TrialRecord
from se_design.search.stats import pooled_std

MIN_DESIGNS = 4  # replicated designs a link needs


@dataclass(frozen=True)
class Link:
    """Epoch `epoch`'s accuracy + offset measures the final mean with variance `variance`."""

    epoch: int
    offset: float
    variance: float
    designs: int  # the replicated designs it was measured on


def link(done: list[TrialRecord], epoch: int, sigma2: float) -> Link | None:
    """The link of `epoch` to the final epoch from finished designs' per-seed curves and final
    accuracies (`sigma2`: the final seed noise variance); None on fewer than MIN_DESIGNS
    designs with a pair."""
    x, y, inv_other, at_epoch, designs = [], [], [], [], 0
    for rec in done:
        curves = {s: h for s, h in rec.seed_history.items()
                  if len(h) >= epoch and s in rec.seed_acc}
        at_epoch.append([h[epoch - 1] for h in curves.values()])
        n, first = len(rec.seed_acc), next(iter(rec.seed_history), None)
        if n < 2:
            continue
        pairs = [(h[epoch - 1], sum(a for k, a in rec.seed_acc.items() if k != s) / (n - 1))
                 for s, h in curves.items() if s != first]
        designs += bool(pairs)
        x += [p[0] for p in pairs]
        y += [p[1] for p in pairs]
        inv_other += [1 / (n - 1)] * len(pairs)
    noise_at_epoch = pooled_std(at_epoch)
    if designs < MIN_DESIGNS or noise_at_epoch is None:
        return None
    gap = np.array(y) - np.array(x)
    offset = float(gap.mean())
    spread = float(((gap - offset) ** 2).sum() / (len(gap) - 1))
    v = max(spread - sigma2 * float(np.mean(inv_other)), noise_at_epoch.std ** 2)
    return Link(epoch, offset, v + spread / designs, designs) if v > 0 else None


def measurements(stopped: list[tuple[dict, TrialRecord]], done: list[TrialRecord],
                 sigma2: float) -> tuple[list[Measurement], int]:
    """Measurements of the stopped designs ((params, record) each) linked by the finished
    ones, and how many stopped designs had no link (too few replicated designs at their
    epoch): those are left out."""
    links: dict[int, Link | None] = {}
    out, unlinked = [], 0
    for params, rec in stopped:
        seed, curve = next(iter(rec.seed_history.items()), (None, []))
        epoch = len(curve)
        if epoch not in links:
            links[epoch] = link(done, epoch, sigma2) if epoch else None
        ln = links[epoch]
        if ln is None:
            unlinked += 1
            continue
        out.append(Measurement(params, seed, curve[-1] + ln.offset, sigma2 / ln.variance))
    return out, unlinked
