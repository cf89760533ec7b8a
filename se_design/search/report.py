"""Pareto front of a study, its reference designs, plots, CSV/JSON, and picking a trial."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from se_design.errors import UserError
from se_design.files import folder, write_text, writing


@dataclass
class Row:
    number: int
    design: str
    values: list[float]  # in the study's objective order
    params: int
    flops: int
    feasible: bool
    reference: str
    front: bool = False


def rows(study: optuna.Study) -> list[Row]:
    """Completed trials, with the feasible non-dominated ones marked as the front."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    out = [Row(t.number, t.user_attrs["design"], list(t.values), t.user_attrs["params"],
               t.user_attrs["flops"], all(v <= 0 for v in t.constraints.values()),
               t.user_attrs.get("reference", "")) for t in done]
    signs = [1 if d == optuna.study.StudyDirection.MAXIMIZE else -1 for d in study.directions]
    feasible = [r for r in out if r.feasible]
    for r in feasible:
        r.front = not any(_dominates(o.values, r.values, signs) for o in feasible)
    return out


def _dominates(a: list[float], b: list[float], signs: list[int]) -> bool:
    return (all(s * x >= s * y for x, y, s in zip(a, b, signs))
            and any(s * x > s * y for x, y, s in zip(a, b, signs)))


def epochs_saved(study: optuna.Study) -> tuple[int, int]:
    """(epochs early stopping saved, epochs a run without it would have trained)."""
    planned = saved = 0
    for t in study.get_trials(deepcopy=False):
        if "epochs_planned" in t.user_attrs and "epochs_run" in t.user_attrs:
            planned += t.user_attrs["epochs_planned"]
            if t.state == TrialState.PRUNED:
                saved += t.user_attrs["epochs_planned"] - t.user_attrs["epochs_run"]
    return saved, planned


def pick(study: optuna.Study, trial: int | None, how: str | None) -> optuna.trial.FrozenTrial:
    """A trial by number, the knee of the front, or the most accurate feasible design."""
    if (trial is None) == (how is None):
        raise UserError("give either --trial N or --pick knee|best-under-budget.")
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found or found[0].state != TrialState.COMPLETE:
            raise UserError(f"study {study.study_name!r} has no finished trial {trial}.")
        return found[0]
    if study.user_attrs["objectives"][0] != "accuracy":
        raise UserError(f"study {study.study_name!r} is cost-only: choose with --trial N.")
    table = rows(study)
    feasible = [r for r in table if r.feasible]
    if not feasible:
        raise UserError(f"no trial of study {study.study_name!r} meets the budgets.")
    if how == "best-under-budget":
        chosen = max(feasible, key=lambda r: (r.values[0], -r.values[1]))
    elif how == "knee":
        chosen = knee([r for r in feasible if r.front])
    else:
        raise UserError(f"unknown pick {how!r}; use knee or best-under-budget.")
    return study.trials[chosen.number]


def knee(front: list[Row]) -> Row:
    """The front point farthest from the line joining its extremes, on the first two
    objectives normalised to [0, 1] (the point of diminishing returns)."""
    pts = sorted(front, key=lambda r: r.values[1])
    if len(pts) < 3:
        return max(pts, key=lambda r: r.values[0])
    xs, ys = [r.values[1] for r in pts], [r.values[0] for r in pts]
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
    objectives = study.user_attrs["objectives"]
    base = out_dir / study.study_name
    records = [asdict(r) | dict(zip(objectives, r.values)) for r in table]
    with writing(f"{base}.csv", "report") as path, open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in records[0] if k != "values"])
        writer.writeheader()
        writer.writerows({k: v for k, v in rec.items() if k != "values"} for rec in records)
    saved, planned = epochs_saved(study)
    write_text(f"{base}.json", json.dumps(
        {"study": study.study_name, "objectives": objectives, "plain": study.user_attrs["plain"],
         "epochs_saved": saved, "epochs_planned": planned, "trials": records}, indent=2), "report")
    paths = [Path(f"{base}.csv"), Path(f"{base}.json")]
    if objectives[0] == "accuracy":
        from se_design.search.plot import front

        paths.append(front(study, table, knee_of(table), Path(f"{base}.png")))
    return paths


def knee_of(table: list[Row]) -> Row | None:
    """The knee of the feasible front, if there is one."""
    front = [r for r in table if r.front]
    return knee(front) if front else None
