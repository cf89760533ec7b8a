"""The figures the plotting functions build, read back from their artists (issue 21's plot
defects): what is marked and labelled, where points sit, which colours lines take."""

import dataclasses
import itertools

import pytest
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from test_effects import make_study, r_design

from se_design.search import plot, report


def _summary(tmp_path, designs):
    """The report's front of a study holding `designs`, each a point more accurate per SE
    stage (so the most accurate design is not the knee)."""
    acc = lambda d: 0.7 + 0.01 * sum(d[f"r_{s}"] != "none" for s in ("stage1", "stage2", "stage3"))
    _, _, study = make_study(tmp_path, designs, acc,
                             variables={"r": ["none", 16],
                                        "variant": ["standard", "post", "identity"]})
    return study, report.front(study, report.rows(study))


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _names(label, row):
    """Whether a design's label names it: by its reference's name, else its trial number."""
    return label.startswith(row.reference) if row.reference else f"trial {row.number}" in label


def _marks(ax):
    """The scatter layers by their legend label."""
    return {c.get_label(): c for c in ax.collections if not c.get_label().startswith("_")}


def test_the_best_under_budget_design_is_marked_and_labelled_apart_from_the_knee(tmp_path):
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    study, summary = _summary(tmp_path, designs)
    assert summary.best.number == report.best_under_budget([r for r in summary.rows
                                                            if r.feasible]).number
    # the most accurate design has SE in every stage, past the front's point of diminishing
    # returns: the two picks differ
    assert summary.best.number != summary.knee.number
    ax = plot.front_figure(study, summary).axes[0]
    for role, row, other in (("knee", summary.knee, "best under budget"),
                             ("best under budget", summary.best, "knee")):
        label, = [t for t in _texts(ax) if role in t]
        assert _names(label, row) and other not in label
    marks = _marks(ax)
    knee = next(c for label, c in marks.items() if label.startswith("knee"))
    best = next(c for label, c in marks.items() if label.startswith("best under budget"))
    for mark, row in ((knee, summary.knee), (best, summary.best)):
        assert mark.get_offsets()[0][1] == pytest.approx(row.estimate)
    # told apart by shape and colour, not by the label alone
    assert knee.get_paths()[0].vertices.shape != best.get_paths()[0].vertices.shape
    assert to_rgb(knee.get_edgecolor()[0]) != to_rgb(best.get_edgecolor()[0])


def test_one_label_says_both_when_the_knee_is_the_best_design(tmp_path):
    designs = [r_design(*rs) for rs in itertools.product(("none", "16"), repeat=3)]
    study, summary = _summary(tmp_path, designs)
    summary = dataclasses.replace(summary, best=summary.knee)
    texts = _texts(plot.front_figure(study, summary).axes[0])
    label, = [t for t in texts if "knee" in t or "best under budget" in t]
    assert "knee" in label and "best under budget" in label and _names(label, summary.knee)


def test_designs_of_equal_params_are_drawn_side_by_side_and_said_so(tmp_path):
    one = r_design("16", "none", "none")
    twins = [one, one | {"variant_stage1": "post"}, one | {"variant_stage1": "identity"}]
    designs = [r_design("none", "none", "none"), *twins, r_design("16", "16", "16")]
    study, summary = _summary(tmp_path, designs)
    tied = {r.number for r in summary.rows if r.params == summary.rows[1].params}
    assert len(tied) == 3  # the variants cost the same params: an exact three-way tie
    fig = plot.front_figure(study, summary)
    ax = fig.axes[0]
    fig.canvas.draw()
    points = [(x, y, c.lines[0].get_markersize()) for c in ax.containers
              if isinstance(c, ErrorbarContainer) for x, y in zip(*c.lines[0].get_data())]
    px = [(ax.transData.transform((x, y))[0], ms * fig.dpi / 72) for x, y, ms in points]
    for (a, size), (b, _) in itertools.combinations(px, 2):
        assert abs(a - b) >= size  # no marker covers another (nor its interval's cap)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("apart" in t and "x off" in t for t in legend)


def test_spread_sets_near_and_exact_ties_a_step_apart_and_leaves_the_rest():
    step = 0.1
    xs = {0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0 + step / 3, 5: 1.0 + 1.5 * step,
          6: 5.0, 7: 5.0 + step / 100}
    at = _check_spread(xs, step)
    assert at[0] == 0.0  # no close neighbour: its true x
    assert (at[6] + at[7]) / 2 == pytest.approx(5.0 + step / 200)  # centred on the pair
    assert at[1] < at[2] < at[3]  # ties keep the order of their trial numbers


def _check_spread(xs, step):
    at = plot._spread(xs, step)
    order = sorted(xs, key=lambda n: (xs[n], n))
    for a, b in itertools.pairwise(order):
        assert at[b] - at[a] >= step - 1e-12  # in their order, never closer than a step
    return at

