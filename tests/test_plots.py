"""The figures the plotting functions build, read back from their artists (issue 21's plot
defects): what is marked and labelled, where points sit, which colours lines take."""

import dataclasses
import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer
from test_effects import make_study, r_design

from se_design.analysis import plots
from se_design.analysis.excitation import BlockStats
from se_design.search import plot, report
from se_design.search.effects import choice_text, effects


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
    moved, = [t for t in legend if "apart" in t]
    # two short lines saying what was done and how far a point may be off its true x
    assert len(moved.splitlines()) == 2 and max(map(len, moved.splitlines())) <= 50, moved
    assert "drawn" in moved and "from its true x" in moved


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



def _lab(colour, alpha=1.0):
    """CIELAB (D65) of an sRGB colour drawn at `alpha` over white."""
    rgb = alpha * np.array(to_rgb(colour)) + (1 - alpha)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ lin / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _stats(blocks, classes=10, channels=16, low=0.0, high=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [BlockStats(b, f"{b}.se", "standard", 49, np.full(classes, 100),
                       rng.uniform(0.3, 0.7, (classes, channels)), np.full(channels, 0.5),
                       between=1.0, within=9.0, saturated_low=low, saturated_high=high)
            for b in blocks]


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def test_class_lines_differ_in_hue_from_each_other_and_from_all_images():
    fig = plots.classes_figure(_stats(["stage1.0"]), ["stage1.0"], CLASSES, list(range(10)), "t")
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    every = lines["all images"]
    mean = _lab(every.get_color(), every.get_alpha() or 1.0)
    labs = {c: _lab(lines[c].get_color(), lines[c].get_alpha() or 1.0) for c in CLASSES}
    # CIE76 distance as drawn: 2.3 is just noticeable; tab10's closest pair (purple, pink)
    # is about 23 at the lines' alpha, the tightest pair a common qualitative palette accepts
    for a, b in itertools.combinations(CLASSES, 2):
        assert np.linalg.norm(labs[a] - labs[b]) >= 20, (a, b)
    for c, lab in labs.items():
        # the grey class the issue reported was 10 from the all-images line, and black 43
        # yet confusable: colourless lines differ in lightness alone, which thin lines
        # crossing a thick one do not show; so each class a visible hue (chroma) and far
        assert np.hypot(*lab[1:]) >= 20 and np.linalg.norm(lab - mean) >= 30, c
        assert lines[c].get_linestyle() == "-" and lines[c].get_linewidth() < every.get_linewidth()
    assert every.get_linestyle() != "-"


def test_above_ten_classes_the_plot_shows_the_ten_departing_most_from_all_images():
    stats = _stats(["stage1.0", "stage2.0"], classes=12)
    for s in stats:  # every class 0.05 off the all-images mean, classes 4 and 9 0.01 off
        s.class_mean[:] = 0.55
        s.class_mean[[4, 9]] = 0.51
    assert plots.default_classes(stats, ["stage1.0", "stage2.0"]) == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11]
    assert plots.default_classes(_stats(["stage1.0"]), ["stage1.0"]) == list(range(10))


def test_the_plot_draws_the_classes_asked_for_and_says_how_many_of_all():
    fig = plots.classes_figure(_stats(["stage1.0"]), ["stage1.0"], CLASSES, [3, 5], "t")
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert labels == ["all images", "cat", "dog"]
    assert "(2 of 10 classes)" in fig._suptitle.get_text()


def test_summary_series_of_equal_values_do_not_hide_one_another():
    blocks = ["stage1.0", "stage1.1", "stage2.0", "stage2.1", "stage3.0"]
    fig = plots.summary_figure(_stats(blocks), "t", images=1000, classes=10)
    top = fig.axes[0]
    fig.canvas.draw()
    series = [ln for ln in top.lines if ln.get_marker() not in ("None", "", None)]
    assert len(series) == 4
    for k in range(len(blocks)):
        at = [(top.transData.transform(ln.get_xydata()[k]), ln.get_markersize() * fig.dpi / 72)
              for ln in series]
        for (p, a), (q, b) in itertools.combinations(at, 2):
            assert np.linalg.norm(p - q) >= (a + b) / 2  # the shares, both 0, side by side
        # and every marker nearer its own block than the next
        assert all(abs(ln.get_xydata()[k][0] - k) < 0.5 for ln in series)
    chance = next(ln for ln in top.lines if ln.get_label().startswith("class-specificity by"))
    # the shares at 0 sit on the chance line: opaque markers drawn over it
    assert all(ln.get_zorder() > chance.get_zorder() and ln.get_markerfacecolor() != "none"
               for ln in series)


def test_forest_gives_each_choice_it_cannot_estimate_a_row_saying_so(tmp_path):
    # r=4 is measured in stage1 only: in stage3 no design has it
    designs = [r_design(*rs) for rs in itertools.product(("none", "4", "16"), ("none", "16"),
                                                         ("none", "16"))]
    _, _, study = make_study(tmp_path, designs, lambda d: 0.7, variables={"r": ["none", 4, 16]})
    e = effects(study)
    missing = [c for c in e.not_estimable if (c.factor, c.level) == ("r_stage3", "4")]
    assert missing and not [r for r in e.rows if (r.factor, r.level) == ("r_stage3", "4")]
    ax = plot.forest_figure(e).axes[0]
    rows, group = {}, None  # (group heading, row label) -> y
    for tick, y in zip(ax.get_yticklabels(), ax.get_yticks()):
        if tick.get_fontweight() == "bold":
            group = tick.get_text()
        else:
            rows[group, tick.get_text()] = y
    notes = {t.get_position()[1]: t.get_text() for t in ax.texts}
    for c in e.not_estimable:  # a row in its stage's group, saying so on the row itself
        y, = [y for (g, t), y in rows.items() if g == c.stage and t.startswith(choice_text(c))]
        assert "not estimable" in notes[y]
    assert len(notes) == len(e.not_estimable)
    # in its place among its stage's rows: r=4 above r=16 (rows run top to bottom)
    stage3 = [t for (g, t), _ in sorted(rows.items(), key=lambda kv: -kv[1]) if g == "stage3"]
    assert [t.split(",")[0] for t in stage3[:2]] == ["SE r=4 (vs none)", "SE r=16 (vs none)"]
