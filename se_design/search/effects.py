"""`se-design effects`: the SE paper's ablation tables (its Tables 5-10: SE per stage, r,
variant, squeeze, gate) for the user's own network, read off the study's accuracy model
(se_design.search.accuracy_model) with 95% intervals, beside the exact params and FLOPs each
choice costs (se_design.cost, never modelled).

Accuracies are fractions in a study and in the model; the table and its JSON give effects
in accuracy points (100 x a fraction), as the paper's tables do.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import optuna
from optuna.trial import TrialState

from se_design.cost import cost
from se_design.errors import UserError
from se_design.search import racing, stopped
from se_design.search.accuracy_model import (
    AccuracyModel,
    LackOfFit,
    Measurement,
    design_matrix,
    fit,
    main_terms,
)
from se_design.search.factors import Factor, Factors
from se_design.search.records import StudyRecord, TrialRecord, by_design
from se_design.search.space import Problem, Space, resolve
from se_design.search.stats import t95

POINTS = 100  # accuracy points per unit of a fraction


def problem_of(record: StudyRecord, name: str) -> Problem:
    """The study's space as it ran (stored with the study), checked against its networks."""
    try:
        return resolve(Space.model_validate(record.space), f"the space stored with study {name!r}")
    except ValueError as err:  # pydantic's ValidationError is one too; UserError passes
        if isinstance(err, UserError):
            raise
        raise UserError(f"study {name!r} stores no usable search space (stored by an older "
                        "se-design?), so its designs cannot be modelled.") from None


class StudyData(NamedTuple):
    """What the model of a study is fitted to."""

    finished: list[Measurement]  # every final seed accuracy of the finished designs
    stopped: list[Measurement]  # one per design stopped early, linked (se_design.search.stopped)
    unlinked: int  # designs stopped early and left out: no link for their epoch

    @property
    def all(self) -> list[Measurement]:
        return self.finished + self.stopped


def measurements(study: optuna.Study) -> StudyData:
    """Every seed of every finished design (a design once, from the trial holding all its
    seeds), except designs the noise model sets aside as unstable (a seed that failed to
    learn): the model's seed noise is common to all designs, and one failure would widen
    every interval (accuracy_model's docstring). Then the designs stopped early, each from
    its accuracy at the epoch it stopped, linked by the stable finished designs."""
    done = by_design(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    noise = racing.pool(study)
    unstable = noise.unstable[len(noise.groups) - len(done):]
    finished, stable, keys = [], [], set()
    for t, bad in zip(done, unstable):
        rec = TrialRecord.of(t)
        keys.add(rec.design_key)
        if not bad:  # a study from before replicates stores one accuracy, as seed 0
            seeds = rec.seed_acc or {0: t.values[0]}
            finished += [Measurement(t.params, s, a) for s, a in seeds.items()]
            stable.append(rec)
    pruned = by_design(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
    gone = [(t.params, rec) for t in pruned
            if (rec := TrialRecord.of(t)).design_key not in keys]
    if noise.pooled is None:
        return StudyData(finished, [], len(gone))
    return StudyData(finished, *stopped.measurements(gone, stable, noise.pooled.std ** 2))


def calibrated_noise(record: StudyRecord) -> tuple[float | None, float]:
    """The calibration's seed variance and df, when its runs are not trials of the study
    already (they would count twice) and it trained the study's epochs (pooled_runs)."""
    cal = record.calibration
    if not record.pooled_runs() or not cal.seed_std_df:
        return None, math.inf
    return cal.seed_std ** 2, cal.seed_std_df


class Fitted(NamedTuple):
    problem: Problem
    factors: Factors
    model: AccuracyModel
    data: StudyData


def fit_study(study: optuna.Study) -> Fitted:
    """The study's accuracy model; one sentence when its data cannot support it yet."""
    name, record = study.study_name, StudyRecord.of(study)
    if not record.trained:
        raise UserError(f"study {name!r} is cost-only: it measured no accuracy to model.")
    problem = problem_of(record, name)
    factors = problem.factors()
    data = measurements(study)
    sigma2, sigma2_df = calibrated_noise(record)
    _check_support(name, factors, data.all, sigma2)
    try:
        model = fit(factors, data.all, sigma2, sigma2_df)
    except ValueError as err:
        raise UserError(f"study {name!r} cannot support the accuracy model yet: {err}.") from None
    return Fitted(problem, factors, model, data)


def _check_support(name: str, factors: Factors, ms: list[Measurement], sigma2) -> None:
    """Say how many more designs (or seeds) the model needs, before fitting it."""
    lead = f"study {name!r} cannot support the accuracy model yet: "
    if not ms:
        raise UserError(lead + "it has no finished design with a measured accuracy.")
    try:
        codes = np.unique(factors.encode([m.design for m in ms]), axis=0)
    except ValueError as err:  # a trial added by hand, or by an older se-design
        raise UserError(f"study {name!r} holds a trial that is not a design of its space "
                        f"({err}), so its designs cannot be modelled.") from None
    terms = np.linalg.matrix_rank(design_matrix(codes, [(), *main_terms(factors)]))
    if len(codes) <= terms:
        raise UserError(
            lead + f"it has {len(codes)} distinct designs and the model {terms} terms that "
            "they can estimate (an intercept and the effects of the choices measured), so it "
            f"needs at least {terms + 1 - len(codes)} more design(s) to estimate how far "
            "designs depart from it (resume the search with more trials).")
    if sigma2 is None and len(ms) == len(codes):
        raise UserError(lead + "every design has one seed and no calibration measured the "
                        "seed noise: train some designs on 2 or more seeds (--seeds 2, or "
                        "max_seeds in the space file) or run se-design calibrate.")


@dataclass
class Choice:
    """One choice of the ablation table, against its baseline."""

    stage: str | None  # None: squeeze and gate, one choice for every stage
    factor: str
    kind: str  # r, variant, on (a block's switch), squeeze, gate
    level: object
    baseline: object


@dataclass
class Row(Choice):
    """A choice's effect on accuracy (points) against its baseline, with the 95% interval,
    and what it costs over its baseline design."""

    effect: float
    low: float
    high: float
    p_value: float
    distinguishable: bool  # the interval excludes 0
    params: int  # exact, over the baseline design
    flops: int
    params_pct: float  # params over the plain network's, in %

    @property
    def per_params_pct(self) -> float | None:
        """Accuracy points per 1% more params (none for a choice that costs no params)."""
        return self.effect / self.params_pct if self.params else None

    @property
    def per_params_pct_interval(self) -> tuple[float, float] | None:
        """The effect's 95% interval per 1% more params: params_pct is exact, so it is the
        effect's interval divided by it (reversed where a choice saves params)."""
        if not self.params:
            return None
        ends = (self.low / self.params_pct, self.high / self.params_pct)
        return min(ends), max(ends)


@dataclass
class Effects:
    study: str
    rows: list[Row]
    interactions: list[dict]  # factors, levels, effect, low, high, p_value, distinguishable
    lack_of_fit: LackOfFit
    seed_std: float  # points
    seed_std_df: float
    tau: float  # points: how far a design's true accuracy departs from the model
    df: float  # of the t quantile of the effects' intervals
    designs: int
    measurements: int  # final seed accuracies
    stopped: int  # designs stopped early, each in from its accuracy where it stopped
    unlinked: int  # designs stopped early and left out (no link for their epoch)
    not_estimable: list[Choice]  # the choices the data cannot separate from others
    plain: dict[str, int]

    def to_dict(self) -> dict:
        finite = lambda x: x if math.isfinite(x) else None  # JSON has no inf
        return {"study": self.study, "unit": "accuracy points (100 x a fraction)",
                "designs": self.designs, "measurements": self.measurements,
                "stopped": self.stopped, "stopped_left_out": self.unlinked,
                "seed_std": self.seed_std, "seed_std_df": finite(self.seed_std_df),
                "tau": self.tau, "df": finite(self.df), "plain": self.plain,
                "lack_of_fit": {k: finite(v) for k, v in asdict(self.lack_of_fit).items()},
                "effects": [asdict(r) | _per_params_pct(r) for r in self.rows],
                "interactions": self.interactions,
                "not_estimable": [{"factor": c.factor, "level": c.level}
                                  for c in self.not_estimable]}


def _per_params_pct(r: Row) -> dict:
    low, high = r.per_params_pct_interval or (None, None)
    return {"points_per_params_pct": r.per_params_pct, "points_per_params_pct_low": low,
            "points_per_params_pct_high": high}


def effects(study: optuna.Study) -> Effects:
    problem, factors, model, data = fit_study(study)
    costs = _Costs(problem)
    rows = []
    for e in model.effects():
        f = factors.list[factors.index[e.factor]]
        params, flops = costs.of(f, e.level)
        rows.append(Row(e.stage, e.factor, e.kind, e.level, e.baseline, POINTS * e.effect,
                        POINTS * e.low, POINTS * e.high, e.p_value, e.distinct, params, flops,
                        100 * params / problem.plain_params))
    inter = [{"factors": list(i.factors), "levels": list(i.levels), "effect": POINTS * i.effect,
              "low": POINTS * i.low, "high": POINTS * i.high, "p_value": i.p_value,
              "distinguishable": i.distinct} for i in model.interactions()]
    dropped = [Choice(f.stage, f.name, f.kind, f.levels[c], f.baseline)
               for f, c in ((factors.list[i], c) for ((i, c),) in model.not_estimable)]
    return Effects(study.study_name, rows, inter, model.lack_of_fit,
                   POINTS * math.sqrt(model.sigma2), model.sigma2_df,
                   POINTS * math.sqrt(model.tau2), model.df, len(model.means),
                   len(data.finished), len(data.stopped), data.unlinked, dropped,
                   {"params": problem.plain_params, "flops": problem.plain_flops})


class _Costs:
    """Exact params and FLOPs a choice adds to its baseline design: SE at r in one stage
    over no SE; a variant or a block switched off over SE r=16 (the paper's) in that stage
    alone; a squeeze or gate over SE r=16 everywhere (the paper's reference design)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.no_se, self.paper = problem.references()

    def of(self, f: Factor, level) -> tuple[int, int]:
        if f.kind == "r":
            base, choice = self.no_se, self._se_in(f.stage, level)
        else:
            base = self._se_in(f.stage, "16") if f.stage else self.paper
            choice = base | {f.name: level}
        (p0, f0), (p1, f1) = self._cost(base), self._cost(choice)
        return p1 - p0, f1 - f0

    def _se_in(self, stage: str, r: str) -> dict:
        """Optuna params: SE at r in `stage` only, standard variant, every block on."""
        on = {k: True for k in self.paper if k.startswith(f"on_{stage}_")}
        return self.no_se | {f"r_{stage}": r, f"variant_{stage}": "standard"} | on

    def _cost(self, params: dict) -> tuple[int, int]:
        design = self.problem.suggest(optuna.trial.FixedTrial(params))
        c = cost(design.apply(self.problem.target), self.problem.space.convention)
        return c.params, c.flops


def choice_text(r: Choice) -> str:
    """'SE r=16 (vs none)', 'variant post (vs standard)', 'block 2 off', 'gate tanh'."""
    if r.kind == "r":
        return f"SE r={r.level} (vs none)"
    if r.kind == "on":
        return f"block {r.factor.rsplit('_', 1)[1]} off (vs on)"
    return f"{r.kind} {r.level} (vs {r.baseline})"


WIDE = 1.5  # a t quantile this many times the normal's: intervals widened by too few df


def lines(e: Effects) -> list[str]:
    """What the table rests on, in sentences: noise, lack of fit, interactions, gaps."""
    lof = e.lack_of_fit
    out = [(f"{e.designs} designs, {e.measurements} seed measurements; seed std "
            f"{e.seed_std:.2f} points ({_df(e.seed_std_df)} df)")]
    if e.stopped or e.unlinked:
        out.append(_stopped_line(e.stopped, e.unlinked))
    t = t95(e.df)
    if t > WIDE * t95(math.inf):
        out.insert(0, f"too few designs for narrow intervals yet: they rest on {e.df:.1f} "
                      f"degrees of freedom (t = {t:.1f}, against 1.96 with many designs), so "
                      "every interval is wide; resume the search with more trials")
    if lof.p_value < 0.05:
        out.append(f"lack of fit: F = {lof.f:.2f} on {lof.df_lack} and {_df(lof.df_pure)} df, "
                   f"p = {lof.p_value:.3f}: designs depart from the additive model by about "
                   f"{e.tau:.2f} points beyond seed noise; the intervals include it")
    else:
        out.append(f"lack of fit: F = {lof.f:.2f} on {lof.df_lack} and {_df(lof.df_pure)} df, "
                   f"p = {lof.p_value:.2f}: the designs fit the additive model within seed "
                   f"noise (departures estimated at {e.tau:.2f} points)")
    if not e.interactions:
        out.append("interactions: none found (each effect adds, whatever the other stages do)")
    for i in e.interactions:
        (f, g), (a, b) = i["factors"], i["levels"]
        out.append(f"interaction: {f}={a} with {g}={b} adds {i['effect']:+.2f} points "
                   f"(95% {i['low']:+.2f} to {i['high']:+.2f}) to their two effects")
    if e.not_estimable:
        out.append("no estimate (never measured apart from other choices): " + ", ".join(
            f"{c.stage}: {choice_text(c)}" if c.stage else choice_text(c)
            for c in e.not_estimable))
    return out


def _stopped_line(used: int, unlinked: int) -> str:
    """What became of the designs early stopping stopped."""
    used_text = (f"{used} designs stopped early enter from their accuracy where they stopped, "
                 "put on the last epoch's scale by the designs trained to the end on 2+ seeds "
                 "(each worth less than a seed)")
    left = (f"{unlinked} designs stopped early are left out: fewer than {stopped.MIN_DESIGNS} "
            "designs trained to the end on 2+ seeds link their epoch to the last")
    return "; ".join(x for x, n in ((used_text, used), (left, unlinked)) if n)


def _df(df: float) -> str:
    return "known" if math.isinf(df) else f"{df:g}"
