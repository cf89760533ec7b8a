"""Pareto front of a study, its reference designs, plots, CSV/JSON, and picking a trial."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from se_design.errors import UserError
from se_design.files import folder, write_text, writing
from se_design.search import GRACE, budget, pareto, racing, stats
from se_design.search.accuracy_model import AccuracyModel
from se_design.search.effects import Fitted, fit_study
from se_design.search.pareto import no_costlier
from se_design.search.records import (
    REFERENCES,
    StudyRecord,
    TrialRecord,
    accuracies,
    by_design,
    feasible,
)
from se_design.search.rungs import false_stop_bound
from se_design.search.space import EarlyStop


@dataclass
class Row:
    number: int
    design: str
    values: list[float]  # in the study's objective order; values[0] is the mean over seeds
    params: int
    flops: int
    feasible: bool
    reference: str
    front: bool = False  # on the front of the estimates (the model's, else the seed means)
    accuracy_ci95: float | None = None  # half-width of the 95% interval of the mean
    seeds: int = 0  # training seeds behind values[0] (0: cost-only)
    p_front: float | None = None  # probability of being on the front (see p_front_from)
    indistinct_from: str = ""  # the cheaper reference it cannot be told apart from
    resolved: bool = False  # on the front and distinguishably above every cheaper front member
    unstable: bool = False  # its seeds spread significantly more than the pool: own interval
    accuracies: list[float] = field(default_factory=list)  # per seed
    # the accuracy model's posterior mean and 95% interval of the design's true accuracy,
    # from every design's seeds (none: no model, or an unstable design, judged by its own)
    model_mean: float | None = None
    model_low: float | None = None
    model_high: float | None = None
    p_front_from: str = ""  # "model" (joint posterior draws) or "bootstrap" (own seeds)

    @property
    def estimate(self) -> float:
        """The accuracy the front and the picks use: the model's, else the seed mean."""
        return self.values[0] if self.model_mean is None else self.model_mean

    @property
    def estimate_ci95(self) -> float | None:
        """Half-width of the estimate's 95% interval (symmetric: t times a standard error)."""
        return self.accuracy_ci95 if self.model_mean is None else self.model_high - self.model_mean

    @property
    def accuracy_low(self) -> float:
        """The lower end of the estimate's interval (the estimate where there is none)."""
        return self.estimate - (self.estimate_ci95 or 0.0)


def rows(study: optuna.Study) -> list[Row]:
    """Completed designs (a design trained in several trials once, with all its seeds), the
    feasible non-dominated ones marked as the front, with intervals, model estimates and
    front probabilities when accuracy was measured."""
    return _table(study)[0]


def _table(study: optuna.Study) -> tuple[list[Row], Measured | None]:
    """The rows, and what tells their accuracies apart (None: cost-only)."""
    done = by_design(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    recs = [TrialRecord.of(t) for t in done]
    out = [Row(t.number, rec.design, list(t.values), rec.params, rec.flops, feasible(t),
               rec.reference) for t, rec in zip(done, recs)]
    trained = StudyRecord.of(study).trained
    measured = _intervals(study, out, done) if trained else None
    signs = [1 if d == optuna.study.StudyDirection.MAXIMIZE else -1 for d in study.directions]
    for r in pareto.front([r for r in out if r.feasible], lambda r: [r.estimate, *r.values[1:]],
                          signs):
        r.front = True
    if measured is not None and measured.model is not None:
        model_front([r for r in out if r.feasible])
    if measured is not None:
        _resolved(measured, out)
    return out, measured


def _intervals(study: optuna.Study, table: list[Row], done: list) -> Measured:
    for r, t in zip(table, done):
        r.accuracies = accuracies(t)
        r.seeds = len(r.accuracies)
    m = Measured.of(study, table)
    for r in table:
        r.unstable = m.noise.unstable[m.at[r.number]]
        r.accuracy_ci95 = m.noise.ci95(m.at[r.number])
        r.p_front = None if m.noise.pooled is None else 0.0  # infeasible: never on the front
    feasible = [r for r in table if r.feasible]
    sims = stats.mean_draws([r.accuracies for r in feasible], m.noise.pooled,
                            [r.unstable for r in feasible])
    fitted = fit_model(study)
    if not isinstance(fitted, str):
        _model_estimates(fitted.model, table, done, feasible, sims)
        m.model, m.params = fitted.model, {t.number: t.params for t in done}
    if m.noise.pooled is not None or not isinstance(fitted, str):
        # one seed each, no calibration and no model: no probability to give
        shares = pareto.front_share(sims, [r.values[1:] for r in feasible]).tolist()
        for r, p in zip(feasible, shares):
            r.p_front = p
            r.p_front_from = "bootstrap" if r.model_mean is None else "model"
    return m


FRONT_P = 0.5


def model_front(feasible: list[Row]) -> None:
    """With the accuracy model, the front is what its joint posterior draws mostly agree on:
    the designs on the front in at least half of them, not the front of the point estimates
    (there, a design a hair above its neighbours would count as found). Where no design
    reaches one half (many near-equal designs), the point front stays."""
    if any(r.p_front >= FRONT_P for r in feasible):
        for r in feasible:
            r.front = r.p_front >= FRONT_P


def fit_model(study: optuna.Study) -> Fitted | str:
    """The study's accuracy model and its data (se_design.search.effects.fit_study), or the
    sentence saying why it cannot be fitted yet."""
    try:
        return fit_study(study)
    except UserError as err:
        return str(err)


def _model_estimates(model, table: list[Row], done: list, feasible: list[Row], sims) -> None:
    """Each stable design's posterior mean and interval; its column of `sims` replaced by the
    model's joint posterior draws (designs that share choices rise and fall together). An
    unstable design keeps its own seeds' interval and bootstrap draws."""
    post = model.predict([t.params for t in done])
    ours = [i for i, r in enumerate(table) if not r.unstable and post.estimable[i]]
    for i in ours:
        r = table[i]
        r.model_mean, r.model_low, r.model_high = (float(x[i]) for x in
                                                   (post.mean, post.low, post.high))
    column = {id(r): j for j, r in enumerate(feasible)}
    cols = [(column[id(table[i])], i) for i in ours if id(table[i]) in column]
    if cols:
        draws = model.draws([done[i].params for _, i in cols], len(sims),
                            np.random.default_rng(0))
        sims[:, [j for j, _ in cols]] = draws


def _resolved(m: Measured, table: list[Row]) -> None:
    """Which designs cannot be told apart from the no-SE reference, and which front members
    from every cheaper one (Measured.distinct)."""
    base = next((r for r in table if r.reference == REFERENCES[0]), None)
    if base is not None:
        others = [r for r in table if r is not base]
        for r, yes in zip(others, m.distinct([(r, base) for r in others])):
            r.indistinct_from = "" if yes else base.reference
    on_front = [r for r in table if r.front]
    for r in on_front:
        cheaper = [o for o in on_front if o is not r and no_costlier(o.values[1:], r.values[1:])]
        r.resolved = all(m.distinct([(r, o) for o in cheaper]))


@dataclass
class Measured:
    """The study's seed-noise model and where each row's design sits in it, and the accuracy
    model where one was fitted."""

    noise: stats.Noise
    at: dict[int, int]  # trial number -> index in noise.groups
    model: AccuracyModel | None = None
    params: dict[int, dict] = field(default_factory=dict)  # trial number -> its design

    @classmethod
    def of(cls, study: optuna.Study, table: list[Row]) -> Measured:
        noise = racing.pool(study)  # the calibration's designs, then the table's, in order
        first = len(noise.groups) - len(table)
        return cls(noise, {r.number: first + i for i, r in enumerate(table)})

    def distinct(self, pairs: list[tuple[Row, Row]]) -> list[bool]:
        """Per pair, whether the two designs' true accuracies are distinguishable at 95%: by
        the model's posterior of their difference where both have model estimates (what their
        neighbours measured counts too), else by their own seeds (never, when nothing
        measures the noise)."""
        out = [None if self.model is not None and a.model_mean is not None
               and b.model_mean is not None else self._seeds_distinct(a, b) for a, b in pairs]
        by_model = [i for i, yes in enumerate(out) if yes is None]
        if by_model:
            a, b = ([self.params[pairs[i][k].number] for i in by_model] for k in (0, 1))
            for i, yes in zip(by_model, self.model.difference(a, b).distinct()):
                out[i] = bool(yes)
        return out

    def _seeds_distinct(self, a: Row, b: Row) -> bool:
        try:
            return self.noise.difference(self.at[a.number], self.at[b.number]).distinct()
        except ValueError:
            return False


def epochs_saved(study: optuna.Study) -> tuple[int, int]:
    """(epochs early stopping saved, epochs a run without it would have trained)."""
    planned = saved = 0
    for t in study.get_trials(deepcopy=False):
        rec = TrialRecord.of(t)
        if rec.epochs_planned is not None:
            planned += rec.epochs_planned
            if t.state == TrialState.PRUNED:
                saved += rec.epochs_planned - rec.epochs_run
    return saved, planned


def epochs_trained(study: optuna.Study) -> int:
    """Every epoch trained by the search, over all trials and seeds (its budget in epochs)."""
    return sum(TrialRecord.of(t).epochs_run for t in study.get_trials(deepcopy=False))


def running_line(study: optuna.Study) -> str | None:
    """Trials the report leaves out because they have not finished, said so."""
    n = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    if not n:
        return None
    return (f"{n} trial(s) still marked running, not in this report: in progress, or left by a "
            "search that was killed (search --resume fails and retries such a trial once it has "
            f"been silent for {GRACE} heartbeats)")


def noise_lines(study: optuna.Study) -> list[str]:
    """What the report's accuracies can and cannot resolve, in plain sentences."""
    record = StudyRecord.of(study)
    if not record.trained:
        return []
    noise, lines = racing.pool(study), [budget.line(study.get_trials(deepcopy=False)),
                                        estimates_line(study)]
    if noise.pooled is None:
        lines.append("seed noise not measured (one seed per design, no calibration): accuracy "
                     "differences have no interval; run se-design calibrate or --seeds 2")
    else:
        lines.append(f"seed std {100 * noise.pooled.std:.2f} points (pooled, {noise.pooled.df} "
                     f"df, over {_pooled_designs(noise)}); ± = 95% interval of a mean")
        lines += _unstable_lines(noise, [r for r in rows(study) if r.unstable])
    rule = record.space.get("early_stopping") or {}
    if rule.get("rungs") and _model_sampled(study):
        lines.append("early stopping not used: the model sampler trains every design to its "
                     "last epoch")
    elif rule.get("rungs") and "z" in rule and noise.pooled is None:
        lines.append("early stopping stopped nothing: it needs measured noise")
    elif rule.get("rungs") and "z" in rule:  # studies from before the noise-aware rule: no z
        bound = false_stop_bound(EarlyStop(**rule))
        lines.append(f"early stopping stops a design truly as good as its dominators in at "
                     f"most {bound:.0%} of cases (normal model)")
    return lines + latency_lines(study, [r for r in rows(study) if r.front])


def _model_sampled(study: optuna.Study) -> bool:
    """Whether the model sampler chose the search's designs (it records its proposals) and
    so no rung rule ran: a study resumed under another sampler has stopped designs."""
    trials = study.get_trials(deepcopy=False)
    return (any(TrialRecord.of(t).proposal for t in trials)
            and not any(t.state == TrialState.PRUNED for t in trials))


def estimates_line(study: optuna.Study) -> str:
    """Where the front, the picks and p_front come from: the model, or why not."""
    why = fit_model(study)
    if not isinstance(why, str):
        stopped = len(why.data.stopped)
        also = f" and {stopped} stopped early (where they stopped)" if stopped else ""
        return (f"front, picks and p_front from the accuracy model of all designs' seeds{also} "
                "(model: its estimate ± 95% interval; p_front: share of 1,000 joint "
                "posterior draws on the front); se-design effects shows what each choice does")
    return ("front, picks and p_front from each design's own seeds (p_front: bootstrap), as "
            + why.rstrip("."))


def _pooled_designs(noise: stats.Noise) -> str:
    measured = sum(len(g) > 1 for g in noise.groups)
    return f"the {measured - sum(noise.unstable)} stable of {measured} designs with 2+ seeds"


def _unstable_lines(noise: stats.Noise, unstable: list[Row]) -> list[str]:
    """Why designs were set aside, naming the study's (the calibration's are counted)."""
    if not any(noise.unstable):
        return []
    out = [(f"{sum(noise.unstable)} design(s) set aside as unstable ({len(unstable)} of the "
            "study's, below, marked ! where the table shows them): their seeds spread "
            f"significantly more than the pool's (F test, {stats.UNSTABLE_LEVEL:.0%} "
            "family-wise), e.g. a seed that failed to learn; their intervals come from their own seeds (a design trained "
            "on one seed cannot be tested: its interval assumes it is stable)")]
    for r in unstable:
        out.append(f"  trial {r.number} ({r.design}): seeds "
                   f"{', '.join(f'{a:.3f}' for a in r.accuracies)}, std "
                   f"{100 * stats.std(r.accuracies):.1f} points")
    return out


def pick(study: optuna.Study, trial: int | None, how: str | None) -> optuna.trial.FrozenTrial:
    """A trial by number; or the knee of the front or the most accurate feasible design, by
    the accuracy model's estimates where there is a model, else by the lower ends of the
    designs' own intervals (so a lucky single-seed design does not win on its luck)."""
    if (trial is None) == (how is None):
        raise UserError("give either --trial N or --pick knee|best-under-budget.")
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found or found[0].state != TrialState.COMPLETE:
            raise UserError(f"study {study.study_name!r} has no finished trial {trial}.")
        return found[0]
    if not StudyRecord.of(study).trained:
        raise UserError(f"study {study.study_name!r} is cost-only: choose with --trial N.")
    table = rows(study)
    feasible = [r for r in table if r.feasible]
    if not feasible:
        raise UserError(f"no trial of study {study.study_name!r} meets the budgets.")
    if how == "best-under-budget":
        chosen = best_under_budget(feasible)
    elif how == "knee":
        chosen = knee_of(table)
    else:
        raise UserError(f"unknown pick {how!r}; use knee or best-under-budget.")
    return study.trials[chosen.number]


def best_under_budget(feasible: list[Row]) -> Row:
    """The feasible design of the highest accuracy model estimate, where there is a model
    (its posterior mean already draws a lucky seed toward what the design's neighbours
    measured; on the benchmark it exports better designs than the lower interval ends do);
    without one, the highest lower end of its own interval, so a lucky single seed does not
    win on its luck, nor an unstable design. The cheaper on a tie."""
    if modelled(feasible):
        return max(feasible, key=lambda r: (r.estimate, -r.values[1]))
    return max(feasible, key=lambda r: (r.accuracy_low, -r.values[1]))


def modelled(table: list[Row]) -> bool:
    return any(r.model_mean is not None for r in table)


def conservative_front(feasible: list[Row]) -> list[Row]:
    """The front of the interval's lower ends against the costs."""
    signs = [1] + [-1] * (len(feasible[0].values) - 1)
    kept = {id(r) for r in pareto.front(feasible, lambda r: [r.accuracy_low, *r.values[1:]],
                                        signs)}
    return [r for r in feasible if id(r) in kept]


def pick_note(study: optuna.Study, chosen: optuna.trial.FrozenTrial) -> str | None:
    """A sentence when a cheaper feasible design cannot be told apart from the chosen one."""
    table, m = _table(study)
    me = next((r for r in table if r.number == chosen.number), None)
    if me is None or not me.seeds:
        return None
    cheaper = [r for r in table if r.feasible and r is not me
               and no_costlier(r.values[1:], me.values[1:]) and r.values[1:] != me.values[1:]]
    cheaper = sorted((r for r, yes in zip(cheaper, m.distinct([(r, me) for r in cheaper]))
                      if not yes), key=lambda r: r.values[1])
    if not cheaper:
        return None
    r = cheaper[0]
    return (f"trial {me.number}'s accuracy ({accuracy_text(me)}) is not distinguishable from "
            f"that of the cheaper trial {r.number} ({r.design}: {accuracy_text(r)}, "
            f"{r.params:,} params) at 95% confidence")


def accuracy_text(r: Row) -> str:
    """'0.972 ± 0.012, 3 seeds; model 0.970 ± 0.009': the seed mean, its 95% interval (where
    measured) and seed count, and the model's estimate where there is one."""
    ci = "" if r.accuracy_ci95 is None else f" ± {r.accuracy_ci95:.3f}"
    est = "" if r.model_mean is None else f"; model {r.model_mean:.3f} ± {r.estimate_ci95:.3f}"
    return f"{r.values[0]:.3f}{ci}, {r.seeds} seed{'s' * (r.seeds != 1)}{est}"


def knee(front: list[Row]) -> Row:
    """The front point farthest from the line joining its extremes, on the first two
    objectives normalised to [0, 1] (the point of diminishing returns)."""
    pts = sorted(front, key=lambda r: r.values[1])
    if len(pts) < 3:
        return max(pts, key=lambda r: r.estimate)
    xs, ys = [r.values[1] for r in pts], [r.estimate for r in pts]
    nx = [(x - xs[0]) / ((xs[-1] - xs[0]) or 1) for x in xs]
    ny = [(y - min(ys)) / ((max(ys) - min(ys)) or 1) for y in ys]
    (x0, y0), (x1, y1) = (nx[0], ny[0]), (nx[-1], ny[-1])
    dist = [abs((y1 - y0) * x - (x1 - x0) * y + x1 * y0 - y1 * x0) for x, y in zip(nx, ny)]
    return pts[max(range(len(pts)), key=dist.__getitem__)]


def write(study: optuna.Study, out_dir: Path) -> list[Path]:
    """<study>.csv, <study>.json (every completed trial) and <study>.png (accuracy vs the
    first cost, the front highlighted, references labelled)."""
    folder(out_dir)
    table = rows(study)
    record = StudyRecord.of(study)
    objectives = record.objectives
    base = out_dir / study.study_name
    records = [asdict(r) | dict(zip(objectives, r.values)) for r in table]
    for rec in records:  # the accuracy under the name the users look for
        if rec["seeds"]:
            rec["accuracy_mean"] = rec["accuracy"]
    with writing(f"{base}.csv", "report") as path, open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in records[0] if k != "values"])
        writer.writeheader()
        writer.writerows({k: v for k, v in rec.items() if k != "values"} for rec in records)
    saved, planned = epochs_saved(study)
    model = racing.pool(study) if objectives[0] == "accuracy" else None
    noise = model and model.pooled
    cal = record.calibration.model_dump() if record.calibration else {}
    write_text(f"{base}.json", json.dumps(
        {"study": study.study_name, "objectives": objectives, "plain": record.plain,
         "epochs_saved": saved, "epochs_planned": planned, "epochs_trained": epochs_trained(study),
         "seed_std": noise and noise.std, "seed_std_df": noise and noise.df,
         "estimates": model and estimates_line(study),
         "unstable_designs": model and sum(model.unstable),  # the calibration's included
         "calibration": {k: cal[k] for k in ("seeds", "epochs", "seed_std", "unstable",
                                             "min_detectable_difference", "rung_fidelity",
                                             "reference_gap") if k in cal} or None,
         "trials": records}, indent=2), "report")
    paths = [Path(f"{base}.csv"), Path(f"{base}.json")]
    if objectives[0] == "accuracy":
        from se_design.search import plot

        paths.append(plot.front(study, front(study, table), Path(f"{base}.png")))
    return paths


def marked(study: optuna.Study) -> set[str]:
    """The designs the report shows on its front or picks (knee, best-under-budget)."""
    table = rows(study)
    picked = front(study, table)
    return {r.design for r in [r for r in table if r.front] + [picked.knee, picked.best] if r}


def knee_of(table: list[Row]) -> Row | None:
    """The knee `export --pick knee` chooses: of the model's front where there is a model,
    else of the front of the interval's lower ends (a lucky seed does not make a knee)."""
    feasible = [r for r in table if r.feasible]
    if not feasible:
        return None
    return knee([r for r in feasible if r.front] if modelled(feasible)
                else conservative_front(feasible))


@dataclass
class Front:
    """What the report's table shows: the rows, its knee, what `export --pick
    best-under-budget` chooses, and the objectives and plain network they are read against."""

    study: str
    objectives: list[str]
    plain: dict[str, float]
    rows: list[Row]
    knee: Row | None
    best: Row | None


def front(study: optuna.Study, table: list[Row]) -> Front:
    feasible = [r for r in table if r.feasible]
    record = StudyRecord.of(study)
    return Front(study.study_name, record.objectives, record.plain, table, knee_of(table),
                 best_under_budget(feasible) if feasible else None)


def latency_lines(study: optuna.Study, front: list[Row]) -> list[str]:
    """Front members next to each other in latency whose 95% intervals overlap: measured
    latency is noisy, so their order in latency is not established."""
    if "latency" not in StudyRecord.of(study).objectives:
        return []
    trials = {t.number: TrialRecord.of(t) for t in study.get_trials(deepcopy=False)}
    timed = sorted((trials[r.number].latency_interval, r.number) for r in front
                   if trials[r.number].latency_interval)
    pairs = [f"{a} and {b}" for (ia, a), (ib, b) in itertools.pairwise(timed) if ib[0] <= ia[1]]
    if not pairs:
        return []
    return ["latency cannot tell apart trials " + "; ".join(pairs)
            + " (their medians' 95% intervals overlap)"]
