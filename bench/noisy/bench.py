"""The procedures at equal epochs over one world, paired by repetition (common random
numbers: seed j of design i in repetition r is one number whoever trains it), and their
metrics:

- regret: best true accuracy within the budgets minus that of the exported design (points);
  `regret_model_rec`: the same for the model's recommender fitted to the procedure's data
  (separates search from selection);
- hv_regret: 1 - true hypervolume of the reported front / that of the true front (%),
  reference point the worst feasible accuracy and the largest feasible params;
- false_front_rate: share of reported front members that a design the search measured
  truly dominates;
- coverage: share of the model's front designs (fitted to the procedure's data) whose 95%
  interval holds the true accuracy; `coverage_effects`: share of its main effects whose
  interval holds the true one (the additive projection of the true accuracies over every
  design of the space, by least squares).
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

from se_design.search.accuracy_model import design_matrix, main_terms

from .procedures import PROCEDURES, model_choice
from .world import World

SUBJECTS = ("model", "tool")  # the model-based searches the targets are for


def hypervolume(acc: np.ndarray, cost: np.ndarray, ref: tuple[float, float]) -> float:
    """2-D hypervolume (accuracy up, cost down) above ref accuracy, below ref cost."""
    order = np.argsort(cost, kind="stable")
    acc, cost = acc[order], np.append(cost[order], ref[1])
    best, area = ref[0], 0.0
    for k in range(len(acc)):
        best = max(best, acc[k])
        area += (cost[k + 1] - cost[k]) * (best - ref[0])
    return area


def true_effects(world: World) -> dict[tuple, float]:
    """(factor index, level code) -> the least-squares main effect of the true accuracies
    over every design of the space."""
    terms = [(), *main_terms(world.factors)]
    beta = np.linalg.lstsq(design_matrix(world.codes, terms), world.true, rcond=None)[0]
    return {t[0]: float(b) for t, b in zip(terms[1:], beta[1:])}


class Scorer:
    def __init__(self, world: World):
        self.world = world
        f = world.feasible
        self.ref = (float(world.true[f].min()), float(world.cost[f].max()) * (1 + 1e-6))
        self.hv_best = hypervolume(world.true[f], world.cost[f], self.ref)
        self.effects = true_effects(world)

    def __call__(self, out, rep: int) -> dict:
        w = self.world
        measured = sorted({i for i, _, _ in out.measured} | set(out.front))
        front = sorted(set(out.front))
        model_export, model_front, model = model_choice(w, out.measured,
                                                        np.random.default_rng(rep))
        return {"regret": w.best - w.true[out.export],
                "regret_model_rec": w.best - w.true[model_export],
                "hv_regret": 1 - hypervolume(w.true[front], w.cost[front], self.ref) / self.hv_best,
                "false_front_rate": self.false_rate(front, measured),
                "coverage": self.front_coverage(model, model_front),
                "coverage_effects": self.effect_coverage(model),
                "epochs": out.epochs}

    def false_rate(self, front: list[int], measured: list[int]) -> float:
        w = self.world
        if not front:
            return math.nan
        t, c = w.true, w.cost
        return statistics.mean(any(t[o] > t[f] and c[o] <= c[f] or t[o] >= t[f] and c[o] < c[f]
                                   for o in measured if w.feasible[o]) for f in front)

    def front_coverage(self, model, front: list[int]) -> float:
        if model is None or not front:
            return math.nan
        post = model.predict(self.world.codes[front])
        t = self.world.true[front]
        return float(np.mean((post.low <= t) & (t <= post.high)))

    def effect_coverage(self, model) -> float:
        if model is None:
            return math.nan
        f = self.world.factors
        hit = [e.low <= self.effects[(f.index[e.factor], f.list[f.index[e.factor]].levels.index(
            e.level))] <= e.high for e in model.effects()]
        return float(np.mean(hit)) if hit else math.nan


def compare(world: World, names: list[str], budget: int, reps: int, log=print,
            on_batch=None) -> dict:
    """Every procedure in `names` over `reps` repetitions; {name: [scores per repetition]}
    and the seconds each took. `on_batch(done so far)` after every repetition, so a run cut
    short keeps every one it finished (a slow procedure takes minutes per repetition)."""
    scorer, results, took = Scorer(world), {n: [] for n in names}, dict.fromkeys(names, 0.0)
    for rep in range(reps):
        for name in names:
            t = time.perf_counter()
            results[name].append(scorer(PROCEDURES[name](world, budget, rep), rep))
            took[name] += time.perf_counter() - t
        if (rep + 1) % max(1, reps // 5) == 0:
            log(f"  [{world.name}] {rep + 1}/{reps} repetitions; seconds so far: "
                + ", ".join(f"{n} {s:.0f}" for n, s in took.items()))
        if on_batch is not None:
            on_batch({"results": results, "seconds": took})
    return {"results": results, "seconds": took}


def mean_ci(xs) -> tuple[float, float]:
    xs = [x for x in xs if not math.isnan(x)]
    if len(xs) < 2:
        return (xs[0] if xs else math.nan), math.nan
    return statistics.mean(xs), 1.96 * statistics.stdev(xs) / math.sqrt(len(xs))


def summarise(world: World, noise_label: str, done: dict) -> dict:
    """The --json lists (`runs`, `paired`) of one world; accuracies in points."""
    runs, paired, res = [], [], done["results"]
    for name, rows in res.items():
        m = {k: mean_ci([r[k] for r in rows]) for k in rows[0]}
        runs.append({"landscape": world.name, "noise": noise_label, "procedure": name,
                     "regret": 100 * m["regret"][0], "regret_ci95": 100 * m["regret"][1],
                     "hv_regret": 100 * m["hv_regret"][0],
                     "false_front_rate": m["false_front_rate"][0], "coverage": m["coverage"][0],
                     "epochs": m["epochs"][0], "reps": len(rows),
                     "regret_model_rec": 100 * m["regret_model_rec"][0],
                     "coverage_effects": m["coverage_effects"][0],
                     "seconds_per_rep": done["seconds"][name] / len(rows)})
    for subject in SUBJECTS:  # each one's regret against every other's, paired
        for name, rows in res.items() if subject in res else ():
            if name != subject:
                d, h = mean_ci([a["regret"] - b["regret"] for a, b in zip(rows, res[subject])])
                paired.append({"landscape": world.name, "noise": noise_label,
                               "procedure": name, "vs": subject, "diff": 100 * d,
                               "ci95": 100 * h})
    return {"runs": runs, "paired": paired}


def verdicts(additive: bool, summary: dict, subject: str = "model") -> list[str]:
    """The issue's targets for the model-based search `subject` (the benchmark's `model`, or
    `tool`, the tool's) in one cell, met or missed, with the figures."""
    runs = {r["procedure"]: r for r in summary["runs"]}
    m = runs.get(subject)
    if m is None:
        return []
    paired = [p for p in summary["paired"] if p.get("vs", "model") == subject]
    lower = [f"{p['procedure']} {p['diff']:+.2f} ± {p['ci95']:.2f}" for p in paired]
    beaten = all(p["diff"] > p["ci95"] for p in paired)
    out = [("regret lower than every other's by more than the paired interval: "
            f"{_mark(beaten)} ({', '.join(lower)})")]
    single = runs.get("single-seed")
    if single:
        if additive:
            out.append(f"regret at most half single-seed's: "
                       f"{_mark(m['regret'] <= 0.5 * single['regret'])} "
                       f"({m['regret']:.2f} vs {single['regret']:.2f})")
        out.append(f"false front rate at most half single-seed's: "
                   f"{_mark(m['false_front_rate'] <= 0.5 * single['false_front_rate'])} "
                   f"({m['false_front_rate']:.3f} vs {single['false_front_rate']:.3f})")
    out.append(f"coverage 0.90-0.98: {_mark(0.90 <= m['coverage'] <= 0.98)} "
               f"({m['coverage']:.3f}; effects {m['coverage_effects']:.3f})")
    return out


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(summary: dict) -> str:
    lines = [("| procedure | reps | regret (points) | regret, model's pick on its data | "
              "HV regret (%) | false front rate | coverage front / effects | epochs | s/rep |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary["runs"]:
        lines.append(f"| {r['procedure']} | {r['reps']} | {r['regret']:.2f} ± "
                     f"{r['regret_ci95']:.2f} | {r['regret_model_rec']:.2f} | "
                     f"{r['hv_regret']:.1f} | {r['false_front_rate']:.3f} | "
                     f"{r['coverage']:.3f} / {r['coverage_effects']:.3f} | {r['epochs']:.0f} | "
                     f"{r['seconds_per_rep']:.1f} |")
    return "\n".join(lines)
