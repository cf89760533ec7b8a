"""Racing: a design gets another seed only while its place on the front is uncertain.

After its first seeds, a feasible design is compared with the finished designs that cost no
more on every cost objective (those that could dominate it). If one of them is ahead by more
than the 95% interval of the difference, it is clearly dominated: no more seeds. If it is ahead
of all of them by more than that, it is clearly on the front: no more seeds either. Otherwise
it gets one more seed, up to the space's `max_seeds`. A design drawn again re-enters the race
with the seeds it has, so the front members the sampler keeps proposing are sharpened as the
study learns more about their neighbours. The interval comes from the study's noise model
(stats.noise_model): the pooled seed std for stable designs, an unstable design's own seeds
for it, so an unstable design is raced until its own seeds settle it (or the cap).
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from se_design.search.pareto import no_costlier
from se_design.search.records import StudyRecord, TrialRecord, accuracies, by_design, feasible
from se_design.search.stats import Noise, noise_model


def pool(study: optuna.Study) -> Noise:
    """The seed-noise model over the calibration's designs (those not already trials, of the
    study's epochs), then the study's finished designs (in by_design order)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return noise_model(StudyRecord.of(study).pooled_runs() + [accuracies(t) for t in by_design(done)])


def uncertain(study: optuna.Study, key: str, acc: dict[int, float], costs: list[float]) -> bool:
    """Whether a design with per-seed accuracies `acc` and costs `costs` needs another seed
    to settle whether the finished designs that cost no more dominate it."""
    done = [t for t in by_design(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            if TrialRecord.of(t).design_key != key]
    cal = StudyRecord.of(study).pooled_runs()
    first = len(cal)  # where the study's designs start in the noise model
    rivals = [first + j for j, t in enumerate(done)
              if feasible(t) and no_costlier(t.values[1:], costs)]
    if not rivals:
        return False  # the cheapest so far: on the front whatever its accuracy
    noise = noise_model(cal + [accuracies(t) for t in done] + [list(acc.values())])
    me = len(noise.groups) - 1
    if noise.pooled is None:
        return True  # nothing measures the noise yet: a second seed does
    ahead_of_all = True
    for j in rivals:
        d = noise.difference(j, me)
        if d.mean > d.half_width():
            return False  # clearly dominated
        ahead_of_all &= -d.mean > d.half_width()
    return not ahead_of_all
