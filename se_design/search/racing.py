"""Racing: a design gets another seed only while its place on the front is uncertain.

After its first seeds, a feasible design is compared with the finished designs that cost no
more on every cost objective (those that could dominate it). If one of them is ahead by more
than the 95% interval of the difference, it is clearly dominated: no more seeds. If it is ahead
of all of them by more than that, it is clearly on the front: no more seeds either. Otherwise
it gets one more seed, up to the space's `max_seeds`. A design drawn again re-enters the race
with the seeds it has, so the front members the sampler keeps proposing are sharpened as the
study learns more about their neighbours.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from se_design.search import evaluate as ev
from se_design.search.stats import Pooled, difference, pooled_std


def pool(study: optuna.Study, extra: list[list[float]] = ()) -> Pooled | None:
    """Seed std pooled over the study's designs and its calibration's."""
    from se_design.search.calibrate import pooled_runs  # it imports study, which imports us

    groups = pooled_runs(study)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    groups += [ev.accuracies(t) for t in ev.by_design(done)]
    return pooled_std(groups + list(extra))


def feasible(t: optuna.trial.FrozenTrial) -> bool:
    return all(v <= 0 for v in t.constraints.values())


def uncertain(study: optuna.Study, key: str, acc: dict[int, float], costs: list[float]) -> bool:
    """Whether a design with per-seed accuracies `acc` and costs `costs` needs another seed
    to settle whether the finished designs that cost no more dominate it."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    rivals = [t for t in ev.by_design(done) if feasible(t) and t.user_attrs.get(ev.DESIGN_KEY) != key
              and all(c <= mine for c, mine in zip(t.values[1:], costs))]
    if not rivals:
        return False  # the cheapest so far: on the front whatever its accuracy
    noise = pool(study, [list(acc.values())])
    if noise is None:
        return True  # nothing measures the noise yet: a second seed does
    ahead_of_all = True
    for t in rivals:
        d = difference(dict(enumerate(ev.accuracies(t))), acc, noise)
        if d.mean > d.half_width():
            return False  # clearly dominated
        ahead_of_all &= -d.mean > d.half_width()
    return not ahead_of_all
