"""The study's picture: accuracy against each cost objective, as % over the plain network."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from se_design.files import writing
from se_design.search.records import StudyRecord, TrialRecord

COSTS = {"params": "params", "flops": "FLOPs", "latency": "latency"}


def front(study: optuna.Study, summary, path: Path) -> Path:
    """front_figure, written to `path`."""
    return _save(front_figure(study, summary), path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with writing(path, "plot") as p:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return path


def front_figure(study: optuna.Study, summary):
    """One panel per cost objective of the report's front (search.report.Front): x = increase
    over the plain network (%), y = proxy accuracy (the rows' estimates: the model's, else
    the seed means) with its 95% interval where rows carry one; the front with trial numbers,
    the knee, the best design under the budget and the references marked and labelled, the
    budget as a line, early-stopped trials faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary.rows
    record = StudyRecord.of(study)
    objectives = record.objectives
    costs = [(i, o) for i, o in enumerate(objectives) if o in COSTS]
    fig, axes = plt.subplots(1, len(costs), figsize=(6.4 * len(costs), 4.8), squeeze=False)
    stopped = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))]
    for ax, (i, name) in zip(axes[0], costs):
        base = _plain(record, table, name, i)
        x = lambda v, b=base: 100 * (v / b - 1)
        budget = record.space.get("budgets", {}).get(f"{name}_increase")
        moved = _panel(ax, summary, i, x, name, 100 * (budget or 0))
        if stopped and name in ("params", "flops"):
            _stopped(ax, [TrialRecord.of(t) for t in stopped], name, x)
        if budget is not None:
            ax.axvline(100 * budget, c="tab:orange", ls="--", lw=1,
                       label=f"budget: +{100 * budget:g}% {COSTS[name]}")
        if moved:  # a legend line of its own, without a symbol
            ax.plot([], [], ls="none", label=moved)
        ax.set_xlabel(f"target {COSTS[name]}: increase over the plain network (%)")
        ax.set_ylabel(_accuracy_label(table) if objectives[0] == "accuracy" else objectives[0])
        ax.grid(alpha=0.3)
        # below the panel: inside it, a legend can cover a point or its interval
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=7,
                  frameon=False)
    fig.suptitle(_title(study.study_name, record), fontsize=10)
    fig.tight_layout()
    return fig


def _stopped(ax, recs: list[TrialRecord], name: str, x) -> None:
    """Early-stopped trials, faint, at their last rung's accuracy."""
    acc = [rec.last_accuracy for rec in recs]
    # the axis is scaled to the finished designs: a stopped one far below is said so
    bottom = ax.get_ylim()[0]
    below = sum(a is not None and a < bottom for a in acc)
    ax.scatter([x(getattr(rec, name)) for rec, a in zip(recs, acc) if a is not None],
               [a for a in acc if a is not None], c="tab:gray", alpha=0.4, s=22, marker="x",
               label="stopped early (accuracy at its last rung)"
               + (f"; {below} below the axis" if below else ""))
    ax.set_ylim(bottom=bottom)


DODGE = 0.02  # of the x span: a marker (5 pt) and a gap on a 6.4-inch panel


def _step(xs, budget: float) -> float:
    """DODGE of the x span: the points' x and the budget line, with 0 (the plain network)."""
    return DODGE * (max(max(xs), budget) - min(min(xs), 0) or 1)


def _spread(xs: dict[int, float], step: float) -> dict[int, float]:
    """Each trial's x (by number); designs closer than a step set a step apart, in their
    order, each such group centred on its members' mean, so that none hides another (exact
    and near ties alike); a design with no close neighbour keeps its x."""
    groups: list[list[tuple[float, int]]] = []
    for point in sorted((v, n) for n, v in xs.items()):
        groups.append([point])  # merged leftwards while a group's ends come within a step
        while len(groups) > 1 and _end(groups[-1], -step) - _end(groups[-2], step) < step:
            last = groups.pop()
            groups[-1] += last
    return {n: _end(g, 0) + step * (k - (len(g) - 1) / 2)
            for g in groups for k, (_, n) in enumerate(g)}


def _end(group: list[tuple[float, int]], step: float) -> float:
    """A spread group's right end (step > 0), left end (step < 0) or centre (0)."""
    return sum(v for v, _ in group) / len(group) + step * (len(group) - 1) / 2


def _panel(ax, summary, i: int, x, name: str, budget: float) -> str:
    """The rows, the front, the marks and labels; what the legend must add when designs
    were set side by side (empty when none was moved)."""
    table = summary.rows
    true = {r.number: x(r.values[i]) for r in table}
    step = _step(true.values(), budget)
    at = _spread(true, step)
    front = sorted([r for r in table if r.front], key=lambda r: r.values[i])
    _points(ax, table, at)
    if name == "params" or i == 1:  # the front is drawn on the study's first cost
        ax.step([at[r.number] for r in front], [r.estimate for r in front], where="post",
                c="tab:red", lw=1)
    for k, r in enumerate(front):  # trial numbers, alternately above and below
        ax.annotate(str(r.number), (at[r.number], r.estimate), textcoords="offset points",
                    xytext=(4, 6 if k % 2 else -10), fontsize=7, color="tab:red")
    _picks(ax, summary, at)
    _labels(ax, table, _labelled(summary), at)
    shift = max(abs(at[n] - v) for n, v in true.items())
    if not shift:
        return ""
    # in x's unit (% over the plain network), as the axis reads
    return (f"designs < {step:.2g}% apart on x drawn {step:.2g}% apart\n"
            f"(each at most {shift:.2g}% from its true x)")


def _points(ax, table: list, at: dict[int, float]) -> None:
    """Every design at its (spread) x with its interval: over budget, within, on the front."""
    over = [r for r in table if not r.feasible]
    inside = [r for r in table if r.feasible and not r.front]
    front = [r for r in table if r.front]
    for rows, style in ((over, {"c": "lightgray", "label": "over budget"}),
                        (inside, {"c": "tab:blue", "alpha": 0.5, "label": "within budget"}),
                        (front, {"c": "tab:red", "label": "Pareto front" + (
                            " (p_front >= 1/2)" if any(r.model_mean is not None for r in table)
                            else "")})):
        if rows:
            ci = [r.estimate_ci95 or 0 for r in rows]
            ys = [r.estimate for r in rows]
            # the 95% interval, cut at the accuracies that can exist (0 and 1)
            yerr = [[min(c, y) for c, y in zip(ci, ys)], [min(c, 1 - y) for c, y in zip(ci, ys)]]
            ax.errorbar([at[r.number] for r in rows], ys,
                        yerr=yerr if any(ci) else None, fmt="o", ms=5,
                        capsize=2, elinewidth=0.8, **style)
    unstable = [r for r in table if getattr(r, "unstable", False)]
    if unstable:  # hollow: their seeds disagree (a failed seed), their bars are their own
        ax.scatter([at[r.number] for r in unstable], [r.estimate for r in unstable], s=30,
                   facecolors="white", edgecolors="black", linewidths=0.8, zorder=3,
                   label="unstable seeds (own interval)")


# the report's two picks, each ringed in its own shape and colour: where they are one design,
# the circle sits inside the square and both show
PICKS = (("knee", "o", "black", 80, "knee of the front"),
         ("best", "s", "tab:green", 140,
          "best under budget (export --pick best-under-budget)"))


def _picks(ax, summary, at: dict[int, float]) -> None:
    for attr, marker, colour, size, label in PICKS:
        r = getattr(summary, attr)
        if r is not None:
            ax.scatter([at[r.number]], [r.estimate], s=size, marker=marker, facecolors="none",
                       edgecolors=colour, linewidths=1.3, zorder=4, label=label)


def _labelled(summary) -> list[tuple]:
    """(row, label) for the references and the picks: a design's names in one label."""
    names: dict[int, list[str]] = {}
    for attr, name in (("knee", "knee"), ("best", "best under budget")):
        r = getattr(summary, attr)
        if r is not None:
            names.setdefault(r.number, []).append(name)
    out = []
    for r in summary.rows:
        roles = ", ".join(names.get(r.number, []))
        if r.reference:
            out.append((r, ", ".join(filter(None, (r.reference, roles)))))
        elif roles:
            out.append((r, f"{roles} (trial {r.number})"))
    return out


def _labels(ax, table: list, labelled: list[tuple], at: dict[int, float]) -> None:
    """One row per label along the bottom, left to right, so no two labels overlap whatever
    the points' spacing. A leader rises straight from its label's corner at the point's x,
    so it crosses no other leader, and no label starting left of it lies above it; only
    labels of points near the right edge end at their point, to stay inside the axes."""
    labelled = sorted(labelled, key=lambda p: at[p[0].number])
    # room below the lowest interval for the label rows, so that no label covers a point
    lows = [r.values[0] - (getattr(r, "accuracy_ci95", None) or 0) for r in table]
    share, top = 0.1 + 0.07 * len(labelled), ax.get_ylim()[1]
    ax.set_ylim(bottom=(min(lows) - share * top) / (1 - share))
    # The leader ends at the bottom of the point's interval, so it crosses no error bar.
    xs = list(at.values())
    right_edge = max(xs) - 0.3 * (max(xs) - min(xs))
    for k, (r, text) in enumerate(labelled):
        left = at[r.number] <= right_edge
        ax.annotate(text, (at[r.number], max(r.accuracy_low, 0)),
                    xytext=(at[r.number], 0.04 + 0.07 * k),
                    textcoords=("data", "axes fraction"), fontsize=8,
                    ha="left" if left else "right", va="bottom",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.4",
                                "relpos": (0, 1) if left else (1, 1)})


def _accuracy_label(table: list) -> str:
    if any(r.model_mean is not None for r in table):
        return "proxy accuracy (held-out split):\naccuracy model's estimate, 95% interval"
    return "proxy accuracy (held-out split)"


def _plain(record: StudyRecord, table: list, name: str, i: int) -> float:
    plain = record.plain
    if name in plain:
        return plain[name]
    ref = next((r for r in table if r.reference == "no SE"), None)  # measured latency
    return ref.values[i] if ref else min(r.values[i] for r in table)


def _title(name: str, record: StudyRecord) -> str:
    target = record.space.get("target", {}).get("arch") or "the target"
    proxy = record.space.get("proxy", {})
    data = record.proxy_settings.get("data") or proxy.get("data", {}).get("source", "?")
    epochs = record.proxy_settings.get("epochs", "?")
    return (f"study {name}: where SE goes, and with which r, in {target}\n"
            f"ranked by a {proxy.get('arch', 'proxy')} proxy trained {epochs} epochs on "
            f"{Path(str(data)).name}")


def forest(e, path: Path) -> Path:
    """forest_figure, written to `path`."""
    return _save(forest_figure(e), path)


NOT_ESTIMABLE = "not estimable: never measured apart from other choices"


def forest_figure(e):
    """The ablation table as a forest plot (search.effects.Effects): one row per choice,
    grouped by stage, its effect on accuracy in points with the 95% interval, a line at 0;
    filled where the interval excludes 0 (green a gain, red a loss), hollow where it does
    not; each label says what the choice costs in params. A choice the model cannot
    estimate has its row too, saying so, so that its absence is not read as no effect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from se_design.search.effects import choice_text

    factors = {f: i for i, f in enumerate(dict.fromkeys(r.factor for r in e.rows))}

    def place(c) -> tuple:  # the model's factor order, levels by value (r=4 before r=8)
        level = str(c.level)
        return factors.get(c.factor, len(factors)), not level.isdigit(), \
            int(level) if level.isdigit() else level

    choices = [(r, f"{choice_text(r)}, {r.params_pct:+.2f}% params", r.effect, r.low, r.high,
                r.distinguishable) for r in e.rows]
    choices += [(c, choice_text(c), None, None, None, False) for c in e.not_estimable]
    groups: dict[str, list] = {}
    for c, *item in sorted(choices, key=lambda x: (x[0].stage is None, x[0].stage or "",
                                                   place(x[0]))):
        groups.setdefault(c.stage or "every stage with SE", []).append(tuple(item))
    for i in e.interactions:
        (f, g), (a, b) = i["factors"], i["levels"]
        groups.setdefault("interactions (beyond the two effects)", []).append(
            (f"{f}={a} with {g}={b}", i["effect"], i["low"], i["high"], i["distinguishable"]))
    n = sum(len(g) + 1 for g in groups.values())
    fig, ax = plt.subplots(figsize=(8, 1.8 + 0.3 * n))
    y, ticks, labels, bold = n, [], [], []
    for name, items in groups.items():
        y -= 1
        ticks.append(y), labels.append(name), bold.append(True)
        for label, mid, low, high, distinct in items:
            y -= 1
            ticks.append(y), labels.append(label), bold.append(False)
            if mid is None:
                # across the middle of the panel (x in axes fraction): there is no estimate
                ax.text(0.5, y, NOT_ESTIMABLE, transform=ax.get_yaxis_transform(), ha="center",
                        va="center", fontsize=8, style="italic", color="0.3",
                        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.7"})
                continue
            colour = ("tab:green" if mid > 0 else "tab:red") if distinct else "0.45"
            ax.errorbar([mid], [y], xerr=[[mid - low], [high - mid]], fmt="o", color=colour,
                        mfc=colour if distinct else "white", ms=6, capsize=3, lw=1.2)
        ax.axhline(y - 0.5, color="0.85", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ticks, labels, fontsize=8)
    for tick, b in zip(ax.get_yticklabels(), bold):
        tick.set_fontweight("bold" if b else "normal")
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlabel("change in proxy accuracy (percentage points), 95% interval")
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, mfc=f, label=t) for c, f, t in (
        ("tab:green", "tab:green", "gain: interval excludes 0"),
        ("tab:red", "tab:red", "loss: interval excludes 0"),
        ("0.45", "white", "not distinguishable from 0"))]
    height = fig.get_figheight()  # the legend sits below the axes, clear of every row
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    ax.set_title(f"study {e.study}: effect of each SE choice on proxy accuracy\n"
                 "each choice against the baseline in parentheses, every other choice at its "
                 f"baseline\n(accuracy model of {e.designs} designs, seed std "
                 f"{e.seed_std:.2f} points)", fontsize=9)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))
    return fig
