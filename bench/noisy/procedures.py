"""The procedures compared at equal epochs: each one a function (world, budget in epochs,
repetition) -> Outcome, registered by name. A new procedure is one function and one
@procedure line. Every training here is a full one (the proxy's epochs) on one seed, except
in the two rung-based procedures, which stop designs early as the tool does; both count
every epoch they train."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from se_design.search import report
from se_design.search.accuracy_model import AccuracyModel, Measurement, fit
from se_design.search.initial_design import initial_design
from se_design.search.records import TrialRecord

from .sim import run_search
from .world import World

CALIBRATION_DF = 8  # seed noise known to this many df where a procedure measured no replicate
FRONT_P = 0.5  # the model reports a design on the front when it is there in most draws
DRAWS = 200


@dataclass
class Outcome:
    measured: list[tuple[int, int, float]]  # (design, seed, final accuracy)
    export: int  # the design it recommends
    front: list[int]  # the front it reports
    epochs: int


PROCEDURES: dict[str, Callable[[World, int, int], Outcome]] = {}


def procedure(name: str):
    def register(fn):
        PROCEDURES[name] = fn
        return fn
    return register


# --- the tool's own procedures (rungs, racing; bench/noisy/sim.py) ---------------------------

def _tool_search(world: World, budget: int, rep: int, sampler, stops: str,
                 space=None, space_stored: bool = False) -> optuna.Study:
    """The tool's own search (its Objective: rungs, racing, re-seeds) on this world's
    measurements, until `budget` epochs are trained (sim.run_search)."""
    problem = world.problem if space is None else dataclasses.replace(world.problem, space=space)
    return run_search(problem, world.truth(rep), budget, rep, sampler, stops, space_stored)


def _outcome(world: World, study: optuna.Study, rows: list, front: list, export: int) -> Outcome:
    """What a tool search measured (every seed of its finished trials) and claims: the
    front's rows and the exported trial's number (of its report's `rows`), as designs."""
    at = {r.number: world.by_label[r.design] for r in rows}
    measured = {(world.by_label[rec.design], s, a)
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                for rec in [TrialRecord.of(t)] for s, a in rec.seed_acc.items()}
    return Outcome(sorted(measured), at[export], [at[r.number] for r in front],
                   report.epochs_trained(study))


def _rung_search(world: World, budget: int, rep: int, aware: bool) -> Outcome:
    space = world.problem.space.model_copy(update={"seeds": 1, "max_seeds": 3 if aware else 1})
    study = _tool_search(world, budget, rep, "nsga2", "evidence" if aware else "any lead", space)
    rows = report.rows(study)
    if aware:
        return _outcome(world, study, rows, [r for r in rows if r.resolved],
                        report.pick(study, None, "best-under-budget").number)
    export = max((r for r in rows if r.feasible), key=lambda r: (r.values[0], -r.values[1]))
    return _outcome(world, study, rows, [r for r in rows if r.front], export.number)


@procedure("single-seed")
def single_seed(world: World, budget: int, rep: int) -> Outcome:
    """One seed per design, a rung stops on any lead, front and export of single numbers."""
    return _rung_search(world, budget, rep, aware=False)


@procedure("noise-aware")
def noise_aware(world: World, budget: int, rep: int) -> Outcome:
    """References on 3 seeds, racing, the noise-aware rung rule, resolved front, export by
    the intervals' lower ends (NSGA-II, the sampler before the model sampler)."""
    return _rung_search(world, budget, rep, aware=True)


@procedure("tool")
def tool(world: World, budget: int, rep: int) -> Outcome:
    """The search as `se-design search` runs it by default: the model sampler
    (se_design.search.model_sampler) through the tool's Objective (references on 3 seeds,
    noise-aware rungs, racing, the sampler's re-seeds), stopped as --budget-epochs stops it;
    front and export as its report gives them (with the accuracy model, the designs on the
    front in at least half of its joint posterior draws and `export --pick
    best-under-budget`, the highest posterior mean), as the report does with the space it
    stores."""
    space = world.problem.space.model_copy(update={"seeds": 1, "max_seeds": 3})
    study = _tool_search(world, budget, rep, "model", "evidence", space, space_stored=True)
    rows = report.rows(study)
    return _outcome(world, study, rows, [r for r in rows if r.front],
                    report.pick(study, None, "best-under-budget").number)


# --- Optuna samplers, ask and tell, one seed per trial ---------------------------------------

def _ask_tell(world: World, budget: int, rep: int, sampler) -> Outcome:
    """Every variable suggested in every trial (GP and BoTorch need a fixed set of params; the
    variant of a stage without SE is then ignored); observed values, as Optuna keeps them."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    trainer, names = _Trainer(world, rep), _choices(world)
    for _ in range(budget // world.epochs):
        trial = study.ask()
        i = world.of_params({k: trial.suggest_categorical(k, v) for k, v in sorted(names.items())})
        trial.set_user_attr("violation", float(world.violation[i]))  # BoTorch's constraints_func
        trial.set_constraint("violation", float(world.violation[i]))  # Optuna 5's samplers
        study.tell(trial, [trainer(i), world.cost[i]])
    of = {t.number: world.of_params(t.params) for t in study.trials}
    best = [t for t in study.best_trials if world.feasible[of[t.number]]]
    front = sorted({of[t.number] for t in best})
    done = [t for t in study.trials if world.feasible[of[t.number]]] or study.trials
    export = of[max(done, key=lambda t: (t.values[0], -t.values[1])).number]
    return Outcome(trainer.measured, export, front, trainer.epochs())


def _choices(world: World) -> dict[str, list[str]]:
    """Every variable of the space and its values, as strings (a fixed set of parameters for
    the samplers that need one)."""
    return {k: sorted({str(p[k]) for p in world.params if k in p})
            for k in {k for p in world.params for k in p}}


class _Trainer:
    """A procedure's trainings in one repetition: seed 0, 1, ... of each design as drawn."""

    def __init__(self, world: World, rep: int):
        self.world, self.rep, self.seeds, self.measured = world, rep, Counter(), []

    def __call__(self, i: int) -> float:
        acc = self.world.measure(i, self.seeds[i], self.rep)
        self.measured.append((i, self.seeds[i], acc))
        self.seeds[i] += 1
        return acc

    def epochs(self) -> int:
        return len(self.measured) * self.world.epochs


def _violation(trial) -> list[float]:
    return [trial.user_attrs["violation"]]


@procedure("random")
def random_search(world: World, budget: int, rep: int) -> Outcome:
    return _ask_tell(world, budget, rep, optuna.samplers.RandomSampler(seed=rep))


@procedure("tpe")
def tpe(world: World, budget: int, rep: int) -> Outcome:
    return _ask_tell(world, budget, rep, optuna.samplers.TPESampler(seed=rep, multivariate=True))


@procedure("gp")
def gp(world: World, budget: int, rep: int) -> Outcome:
    """Optuna's GPSampler: LogEHVI, one learned noise level, Hamming kernel."""
    return _ask_tell(world, budget, rep, optuna.samplers.GPSampler(
        seed=rep, warn_independent_sampling=False))


@procedure("botorch")
def botorch(world: World, budget: int, rep: int) -> Outcome:
    """optuna_integration's BoTorchSampler with qLogNEHVI (noisy EHVI)."""
    from botorch.acquisition.multi_objective import logei
    from optuna_integration.botorch import BoTorchSampler, qnehvi_candidates_func

    # BoTorch 0.18 JIT-compiles a fused qLogNEHVI kernel on first use, behind a file lock in
    # the shared torch_extensions cache that a killed run leaves stale (every later run then
    # waits forever): take its pure-Python path, as it does when the compile fails.
    logei._load_attempted = True
    return _ask_tell(world, budget, rep, BoTorchSampler(
        candidates_func=qnehvi_candidates_func, constraints_func=_violation, seed=rep))


@procedure("smac")
def smac(world: World, budget: int, rep: int) -> Outcome:
    """SMAC3's HPO facade (random forest), ParEGO over (error, params), its intensifier
    racing configurations over up to 3 seeds. SMAC has no constraints: an over-budget design
    scores as a crash (accuracy 0)."""
    from ConfigSpace import Categorical, ConfigurationSpace
    from smac import HyperparameterOptimizationFacade as HPO
    from smac import Scenario
    from smac.multi_objective.parego import ParEGO

    names = _choices(world)
    space = ConfigurationSpace(seed=rep)
    space.add([Categorical(k, v) for k, v in sorted(names.items())])
    trainer, scale = _Trainer(world, rep), float(world.cost.max())

    def train(config, seed: int = 0) -> list[float]:
        i = world.of_params(dict(config))
        acc = trainer(i) if world.feasible[i] else 0.0 * trainer(i)  # trained, scored a crash
        return [1 - acc, world.cost[i] / scale]

    with tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(space, deterministic=False, objectives=["error", "params"],
                            n_trials=budget // world.epochs, seed=rep, output_directory=tmp)
        facade = HPO(scenario, train, multi_objective_algorithm=ParEGO(scenario),
                     intensifier=HPO.get_intensifier(scenario, max_config_calls=3),
                     logging_level=logging.ERROR, overwrite=True)
        facade.optimize()
        incumbents = [world.of_params(dict(c)) for c in facade.intensifier.get_incumbents()]
    front = sorted({i for i in incumbents if world.feasible[i]})
    export = max(front or incumbents, key=lambda i: _own_mean(trainer.measured, i))
    return Outcome(trainer.measured, export, front, trainer.epochs())


@procedure("ax")
def ax_client(world: World, budget: int, rep: int) -> Outcome:
    """Ax's Client (method="fast": Sobol, then a BoTorch GP with qLogNEHVI), objectives
    accuracy up and the exact params down, the budget an outcome constraint (violation <= 0,
    exact). One seed per trial, reported as (mean, SEM) with SEM the seed std a calibration
    gives (what the model gets where a procedure measured no replicate). Front: the feasible
    designs of `get_pareto_frontier(use_model_predictions=True)`; export: the one of highest
    predicted accuracy."""
    from ax.utils.common.logger import set_stderr_log_level

    set_stderr_log_level(logging.ERROR)  # Ax logs INFO lines per trial to stderr otherwise
    with warnings.catch_warnings():  # torch's and Ax's numerical warnings, per trial
        warnings.simplefilter("ignore")
        return _ax(world, budget, rep)


def _ax(world: World, budget: int, rep: int) -> Outcome:
    from ax import Client
    from ax.api.configs import ChoiceParameterConfig

    names = _choices(world)
    fixed = {k: v[0] for k, v in names.items() if len(v) == 1}  # Ax wants 2+ values
    client = Client(random_seed=rep)
    client.configure_experiment([ChoiceParameterConfig(k, v, "str", is_ordered=False)
                                 for k, v in sorted(names.items()) if k not in fixed])
    client.configure_optimization("accuracy, -params", outcome_constraints=["violation <= 0"])
    client.configure_generation_strategy(method="fast", initialization_random_seed=rep)
    trainer, sem = _Trainer(world, rep), world.noise or world.table_noise()
    for _ in range(budget // world.epochs):
        (index, params), = client.get_next_trials(max_trials=1).items()
        i = world.of_params(fixed | dict(params))
        client.complete_trial(index, {"accuracy": (trainer(i), sem),
                                      "params": (float(world.cost[i]), 0.0),
                                      "violation": (float(world.violation[i]), 0.0)})
    frontier = [(world.of_params(fixed | dict(p)), float(m["accuracy"][0]))
                for p, m, _, _ in client.get_pareto_frontier(use_model_predictions=True)]
    feasible = [(i, a) for i, a in frontier if world.feasible[i]]
    measured = [i for i, _, _ in trainer.measured if world.feasible[i]]
    export = (max(feasible, key=lambda x: x[1])[0] if feasible  # none: best measured mean
              else max(measured or [i for i, _, _ in trainer.measured],
                       key=lambda i: _own_mean(trainer.measured, i)))
    return Outcome(trainer.measured, export, sorted({i for i, _ in feasible}), trainer.epochs())


def _own_mean(measured, i: int) -> float:
    return float(np.mean([a for d, _, a in measured if d == i]))


# --- the accuracy model ----------------------------------------------------------------------

def fit_model(world: World, measured) -> AccuracyModel | None:
    """The accuracy model of the measurements; the seed noise from their replicates, or
    where there are none as a calibration would give it (CALIBRATION_DF df); None when the
    data cannot fit it (fewer designs than terms)."""
    ms = [Measurement(world.params[i], s, a) for i, s, a in measured]
    replicated = len({(i, s) for i, s, _ in measured}) > len({i for i, _, _ in measured})
    noise = world.noise or world.table_noise()
    kw = {} if replicated else {"sigma2": noise ** 2, "sigma2_df": CALIBRATION_DF}
    try:
        return fit(world.factors, ms, **kw)
    except (ValueError, np.linalg.LinAlgError):
        return None


def model_choice(world: World, measured, rng: np.random.Generator):
    """The model's recommendation from measurements: (export, front, model). Export: the
    measured feasible design of highest posterior mean; front: the measured feasible designs
    on the front in at least FRONT_P of joint posterior draws. Without a model (too few
    designs), the highest seed mean and its point front."""
    done = sorted({i for i, _, _ in measured if world.feasible[i]})
    if not done:
        return min(i for i, _, _ in measured), [], None
    model = fit_model(world, measured)
    if model is not None:
        means = model.predict(world.codes[done]).mean
        draws = model.draws(world.codes[done], DRAWS, rng)
    if model is None or np.isnan(means).all():  # or no measured design estimable
        means = np.array([_own_mean(measured, i) for i in done])
        draws = means[None]
    cost = world.cost[done]
    export = done[int(np.nanargmax(means))]
    p_front = _on_front(draws, cost).mean(0)
    return export, [d for d, p in zip(done, p_front) if p >= FRONT_P], model


def _on_front(draws: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per draw and design: on the (accuracy up, cost down) front of that draw."""
    a, b = draws[:, :, None], draws[:, None, :]  # design j (axis 1) against k (axis 2)
    cheaper = cost[None, :] <= cost[:, None]  # k as cheap as j
    strictly = cost[None, :] < cost[:, None]
    dominated = ((b >= a) & cheaper[None] & ((b > a) | strictly[None])).any(2)
    return ~dominated


@procedure("model")
def model_search(world: World, budget: int, rep: int) -> Outcome:
    """The accuracy model as a search: a D-optimal first design (references first, on 2
    seeds so the seed noise is measured), then Thompson sampling: one joint posterior draw
    over every feasible design, train its best (a measured design gets another seed).
    Exact costs: only designs within the budgets are proposed. The benchmark's own
    sketch of the tool's model sampler, kept so its figures stay reproducible; `tool` runs the
    tool's."""
    rng = np.random.default_rng(rep)
    trainer, n = _Trainer(world, rep), budget // world.epochs
    refs = [world.of_params(p) for p in world.problem.references()]
    first = [world.of_params(d) for d in initial_design(world.factors, [world.params[i] for i in refs],
                                                        seed=rep)]
    for i in (first + refs)[:n]:
        trainer(i)
    feasible = np.flatnonzero(world.feasible)
    while len(trainer.measured) < n:
        model = fit_model(world, trainer.measured)
        if model is None:
            trainer(int(rng.choice(feasible)))
            continue
        draw = model.draws(world.codes[feasible], 1, rng)[0]
        pick = rng.choice(feasible) if np.isnan(draw).all() else feasible[np.nanargmax(draw)]
        trainer(int(pick))
    export, front, _ = model_choice(world, trainer.measured, rng)
    return Outcome(trainer.measured, export, front, trainer.epochs())


with contextlib.suppress(Exception):  # SMAC logs through the root logger otherwise
    logging.getLogger("smac").setLevel(logging.ERROR)
