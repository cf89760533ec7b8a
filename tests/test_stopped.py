"""Designs stopped early: the link of an epoch to the last, against hand-computed cases."""

import pytest

from se_design.search.records import TrialRecord
from se_design.search.stopped import link, measurements

SIGMA2 = 1e-4  # the final seed noise variance the link is given
GAPS = (0.10, 0.12, 0.08, 0.10)  # per design: seed 0's final - seed 1's accuracy at epoch 1


def finished(gap: float, first_at_1: float = 0.50) -> TrialRecord:
    """Two seeds; seed 0 (first: it faced the rung) ends at 0.70, seed 1 is 0.70 - gap at
    epoch 1 and ends at 0.71."""
    return TrialRecord(seed_acc={0: 0.70, 1: 0.71},
                       seed_history={0: [first_at_1, 0.70], 1: [0.70 - gap, 0.71]})


def test_link_by_hand():
    done = [finished(g, first_at_1=0.70 - g - 0.01) for g in GAPS]
    ln = link(done, 1, SIGMA2)
    # offset: the gaps' mean; their variance (0 + 0.02^2 + 0.02^2 + 0) / 3, less the
    # variance of one other seed's final (sigma^2 / 1); seed noise at epoch 1: each design's
    # seeds 0.01 apart, 0.01^2 / 2 = 5e-5, below it; plus the offset's variance (spread / 4)
    spread = 8e-4 / 3
    assert (ln.epoch, ln.designs) == (1, 4)
    assert ln.offset == pytest.approx(0.10)
    assert ln.variance == pytest.approx(spread - SIGMA2 + spread / 4)


def test_the_first_seed_never_links():
    """Seed 0 faced the rung: its accuracy at epoch 1 (0.2 here, wildly low) moves the
    seed noise at epoch 1 but not the offset."""
    ln = link([finished(g, first_at_1=0.2) for g in GAPS], 1, SIGMA2)
    assert ln.offset == pytest.approx(0.10)


def test_the_link_is_no_better_than_the_seed_noise_at_its_epoch():
    done = [finished(0.1, first_at_1=0.60 - 0.1 * k) for k in range(4)]  # gaps all 0.1
    ln = link(done, 1, SIGMA2)
    # spread 0, so the seed noise at epoch 1 sets it: designs' seeds 0, 0.1, 0.2, 0.3 apart
    noise = sum(d ** 2 / 2 for d in (0.0, 0.1, 0.2, 0.3)) / 4
    assert ln.variance == pytest.approx(noise)


def test_fewer_than_four_replicated_designs_give_no_link():
    assert link([finished(g) for g in GAPS[:3]], 1, SIGMA2) is None
    one_seed = TrialRecord(seed_acc={0: 0.7}, seed_history={0: [0.6, 0.7]})
    assert link([finished(g) for g in GAPS[:3]] + [one_seed], 1, SIGMA2) is None


def test_a_stopped_design_measures_its_final_accuracy_worth_a_fraction_of_a_seed():
    done = [finished(g, first_at_1=0.70 - g - 0.01) for g in GAPS]
    stopped = [({"r_s1": "16"}, TrialRecord(seed_history={3: [0.4, 0.45, 0.5]})),  # epoch 3: none
               ({"r_s1": "4"}, TrialRecord(seed_history={5: [0.52]}))]
    ms, unlinked = measurements(stopped, done, SIGMA2)
    ln = link(done, 1, SIGMA2)
    assert unlinked == 1 and len(ms) == 1
    assert ms[0] == ({"r_s1": "4"}, 5, pytest.approx(0.62), pytest.approx(SIGMA2 / ln.variance))
    assert ms[0].weight < 1
