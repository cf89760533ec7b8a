"""`--sampler model`: proposals from one accuracy model of the whole space
(se_design.search.accuracy_model), with exact costs (se_design.search.design_costs).

The sampler chooses a trial's whole design when the trial starts (`before_trial`), stores it
with the trial (TrialRecord.proposal) and answers each parameter from it, so conditional
parameters need no special case. Everything it knows is read from the storage at that moment,
so workers, --resume and a calibration's trials need no state of their own. In order:

1. The initial design: D-optimal for the main effects (se_design.search.initial_design), the
   references (queued by `prepare`) counted in it, run first; drawn with the study's
   `design_seed` (the first search's seed), so workers and resumed runs share it and studies
   with other seeds start elsewhere.
2. Thompson sampling: the model fitted to every per-seed final accuracy of the finished trials
   (the calibration's seed std as prior noise when there is one); one joint posterior draw over
   every candidate design (the whole space up to ENUMERATE designs, else a sample plus the
   neighbours of the measured front); the feasible, never-tried candidate whose drawn accuracy
   adds most hypervolume to the front of the measured and pending designs' posterior means.
   Pending designs (running or queued) stand in that front at their posterior mean (a constant
   liar) and are never proposed again, so two workers do not train the same design.
3. After RESEED_FROM of the budget that the references and the initial design leave (so
   that Thompson sampling always has a share, however much of the budget they take): one
   more seed (TrialRecord.extra_seeds) for the measured design whose place on the front is
   least certain (front probability over joint draws closest to 1/2), while any is; else
   Thompson sampling goes on.
A new design trains on the space's `seeds` to its last epoch: no racing (these re-seeds
replace it) and no rung rule (a design stopped early has no final accuracy, so its epochs
would be lost to the model).
When the model cannot be fitted yet (too few designs, or no replicate and no calibration) it
explores a random feasible design, or first re-seeds a measured one to learn the seed noise.

Two objectives are scored exactly; with several cost objectives each proposal draws random
weights and scores accuracy against the weighted sum of the costs, each relative to the plain
target's (a random scalarisation of the costs only: a design on that 2-D front is on the full
front, and the weights vary from proposal to proposal). Latency, measured only once a design is
trained, is scored by its FLOPs.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import TrialState

from se_design.search.accuracy_model import (
    MIN_LACK_DF,
    AccuracyModel,
    fit,
    main_terms,
    row_index,
)
from se_design.search.budget import Budget
from se_design.search.design_costs import DesignCosts
from se_design.search.hypervolume import attained, improvement, level
from se_design.search.initial_design import initial_design
from se_design.search.pareto import front_share
from se_design.search.records import StudyRecord, TrialRecord, set_started
from se_design.search.space import Problem

ENUMERATE = 1_000_000  # spaces up to this many designs are scored whole
SAMPLE = 200_000  # candidates drawn per proposal in a larger space
RESEED_FROM = 0.75  # share of the budget after which uncertain front members get seeds
SEED_CAP = 4  # a re-seed takes a design to at most max(max_seeds, SEED_CAP) seeds
DRAWS = 200  # joint posterior draws for the front probabilities


class ModelSampler(BaseSampler):
    # Read by evaluate.Replicates. No racing: the model shares what each seed measures with
    # every design, so replicates are bought by the re-seeds, where a design's place on the
    # front is still uncertain. No rung rule: the model reads final accuracies only.
    races = False
    stops_early = False

    def __init__(self, problem: Problem, budget: Budget = Budget(), seed: int = 0,
                 design_seed: int | None = None):
        """`seed` draws the proposals; `design_seed` (default: `seed`) the initial design,
        which every worker and every resumed run of a study must share."""
        self.problem, self.budget, self.seed = problem, budget, seed
        self.design_seed = seed if design_seed is None else design_seed
        self.factors = problem.factors()
        self.costs = DesignCosts(problem, self.factors)
        self._fallback = RandomSampler(seed=seed)
        self._chosen: dict[int, dict] = {}  # trial number -> params, while it starts
        try:
            self._space = self.factors.enumerate(ENUMERATE)
            self._space_costs = self._cost_matrix(self._space)
            self._space_feasible = self._feasible(self._space)
        except ValueError:  # too many designs: sampled per proposal
            self._space = None
        self._initial: list[tuple] | None = None

    # Optuna's interface: nothing relative; each parameter answered from the chosen design.

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        chosen = self._chosen.get(trial.number)
        if chosen is None or name not in self.factors.index:
            return self._fallback.sample_independent(study, trial, name, distribution)
        # a factor the design does not use (squeeze without SE): any value builds the same
        # network; the baseline is stored
        return chosen.get(name, self.factors.list[self.factors.index[name]].baseline)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:  # queued: a reference, a retry, --enqueue
            return
        params, extra = self.propose(study, trial.number)
        self._chosen[trial.number] = params
        set_started(study, trial, proposal=params, extra_seeds=extra)

    def after_trial(self, study, trial, state, values) -> None:
        self._chosen.pop(trial.number, None)

    # The proposal.

    def propose(self, study: optuna.Study, number: int) -> tuple[dict, int]:
        """The design trial `number` runs, and how many seeds it adds to an earlier trial's."""
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != number]
        rng = np.random.default_rng([self.seed, number])
        pending = self._encode([p for t in trials if t.state in (TrialState.RUNNING,
                                TrialState.WAITING) and (p := _params(t))])
        tried = self._encode([p for p in map(_params, trials) if p])
        done = {tuple(c) for c in tried}
        first = next((d for d in self._initial_design() if d not in done), None)
        if first is not None:
            return self._params(np.array(first)), 0
        model = self._fit(study, trials)
        if model is None:
            return self._without_model(trials, tried, pending, rng)
        if self.budget.spent(trials) >= self._reseed_from(trials):
            again = self._reseed(model, pending, rng)
            if again is not None:
                return self._params(again), 1
        new = self._thompson(model, tried, pending, rng)
        if new is None:  # every feasible design tried: sharpen the front instead
            again = self._reseed(model, pending, rng)
            return (self._params(again), 1) if again is not None else (self._random(rng), 0)
        return self._params(new), 0

    def _initial_design(self) -> list[tuple]:
        """The initial design beyond the references, within the budgets (a design over
        budget is never proposed, so its effects need not be known): the main-effects model's
        terms plus MIN_LACK_DF designs, at most 3/4 of a trial budget but never fewer than the
        terms plus one (what the model needs)."""
        if self._initial is None:
            terms = 1 + len(main_terms(self.factors))
            k = terms + MIN_LACK_DF
            if self.budget.n_trials is not None:
                k = min(k, max(terms + 1, self.budget.n_trials * 3 // 4))
            refs = self.problem.references()
            try:
                chosen = initial_design(self.factors, refs, k, seed=self.design_seed,
                                        allowed=self._feasible)[len(refs):]
            except ValueError:  # a space smaller than the model: start from the model
                chosen = []
            self._initial = [tuple(c) for c in self._encode(chosen)]
        return self._initial

    def _reseed_from(self, trials) -> float:
        """The share of the budget after which re-seeds come: RESEED_FROM of what the
        references' and the initial design's own trials (re-seeds of them aside) left."""
        initial, first = set(self._initial_design()), []
        for t in trials:
            rec, p = TrialRecord.of(t), _params(t)
            if rec.reused_from is None and (rec.reference or p and tuple(self._encode([p])[0])
                                            in initial):
                first.append(t)
        spent = min(self.budget.spent(first), 1.0)
        return spent + RESEED_FROM * (1 - spent)

    def _fit(self, study: optuna.Study, trials) -> AccuracyModel | None:
        """The model on every per-seed final accuracy of the finished trials, or None while
        it cannot be fitted."""
        ms = self._measurements(study, trials)
        record = StudyRecord.of(study)
        cal = record.calibration_at(record.proxy_settings.get("epochs"))
        prior = (cal.seed_std ** 2, cal.seed_std_df) if cal is not None and cal.seed_std_df \
            else (None, np.inf)
        try:
            return fit(self.factors, ms, *prior) if ms else None
        except (ValueError, np.linalg.LinAlgError):
            return None

    def _measurements(self, study: optuna.Study, trials) -> list[tuple]:
        """(design, seed, accuracy) for every seed of every finished trial."""
        return [(_params(t), seed, acc) for t in trials if t.state == TrialState.COMPLETE
                for seed, acc in TrialRecord.of(t).seed_acc.items()]

    def _without_model(self, trials, tried, pending, rng) -> tuple[dict, int]:
        """Before the model fits: a second seed for the measured design with the fewest
        seeds if nothing measures the seed noise yet, else a random untried design."""
        done = [t for t in trials if t.state == TrialState.COMPLETE and TrialRecord.of(t).seed_acc]
        if done and all(len(TrialRecord.of(t).seed_acc) < 2 for t in done):
            free = [t for t in done if not _member(self._encode([_params(t)]), pending)[0]]
            if free:
                return _params(min(free, key=lambda t: len(TrialRecord.of(t).seed_acc))), 1
        codes, _, feasible = self._candidates(np.empty((0, len(self.factors)), np.int16), rng)
        new = np.flatnonzero(feasible & ~_member(codes, tried))
        return (self._params(codes[rng.choice(new)]), 0) if len(new) else (self._random(rng), 0)

    def _thompson(self, model: AccuracyModel, tried: np.ndarray, pending: np.ndarray, rng):
        """The untried feasible design whose drawn accuracy adds most hypervolume to the
        front of the measured and pending designs' posterior means (None: none left)."""
        weights = rng.dirichlet(np.ones(len(self.problem.space.objectives) - 1))
        known = np.concatenate([model.measured, pending]).astype(np.int16)
        post = model.predict(known)
        known_cost = self._cost_matrix(known)
        ok = self._feasible(known) & np.isfinite(post.mean)
        front = _on_front(post.mean[ok], known_cost[ok])
        codes, costs, feasible = self._candidates(known[ok][front], rng)
        keep = feasible & ~_member(codes, tried)
        codes, costs = codes[keep], costs[keep]
        if not len(codes):
            return None
        draw = model.draws(codes, 1, rng)[0]
        finite = np.isfinite(draw)
        codes, costs, draw = codes[finite], costs[finite], draw[finite]
        if not len(codes):
            return None
        scale = weights / self._plain
        cost, front_cost = costs @ scale, known_cost[ok] @ scale
        front_acc = post.mean[ok]
        ref = (cost.max() * 1.01, min(draw.min(), front_acc.min(initial=np.inf)))
        gain = improvement(cost, draw, front_cost, front_acc, ref)
        if gain.max() > 0:
            return codes[int(np.argmax(gain))]
        edges, steps = attained(front_cost, front_acc, ref[1])
        return codes[int(np.argmax(draw - level(cost, edges, steps)))]  # the nearest to it

    def _reseed(self, model: AccuracyModel, pending: np.ndarray, rng):
        """The measured feasible design, not pending and under the seed cap, whose front
        probability over joint draws is closest to 1/2 (None when every one is settled)."""
        codes = model.measured
        feasible = self._feasible(codes)
        if not feasible.any():
            return None
        draws = model.draws(codes[feasible], DRAWS, rng)
        finite = np.isfinite(draws).all(0)
        p = np.full(len(codes), np.nan)
        idx = np.flatnonzero(feasible)[finite]
        p[idx] = front_share(draws[:, finite], self._cost_matrix(codes[idx]))
        cap = max(self.problem.space.max_seeds, SEED_CAP)
        open_ = (p > 0) & (p < 1) & (model.seeds < cap) & ~_member(codes, pending)
        if not open_.any():
            return None
        return codes[int(np.nanargmin(np.where(open_, np.abs(p - 0.5), np.nan)))]

    # Candidates and their costs.

    def _candidates(self, front: np.ndarray, rng):
        """Code rows, cost matrix and feasibility of the designs scored: the whole space, or
        a sample of it plus the neighbours of the front's designs."""
        if self._space is not None:
            return self._space, self._space_costs, self._space_feasible
        codes = np.unique(np.concatenate([self.factors.sample(SAMPLE, rng),
                                          self._neighbours(front)]), axis=0)
        return codes, self._cost_matrix(codes), self._feasible(codes)

    def _neighbours(self, codes: np.ndarray) -> np.ndarray:
        """Every design one factor level away from a design of `codes`."""
        base = {f.name: f.baseline for f in self.factors}
        out = []
        for d in self.factors.decode(codes):
            for f in self.factors:
                if f.name in d or not f.requires:
                    out += [base | d | {f.name: lv} for lv in f.levels if lv != d.get(f.name)]
        return self._encode(out)

    def _feasible(self, codes: np.ndarray) -> np.ndarray:
        return self.costs.feasible(*self.costs.of(codes))

    def _cost_matrix(self, codes: np.ndarray) -> np.ndarray:
        """One column per cost objective (latency, known only once trained, as FLOPs)."""
        params, flops = self.costs.of(codes)
        by = {"params": params, "flops": flops, "latency": flops}
        return np.column_stack([by[o] for o in self.problem.space.objectives[1:]]).astype(float)

    @property
    def _plain(self) -> np.ndarray:
        by = {"params": self.problem.plain_params, "flops": self.problem.plain_flops}
        return np.array([by.get(o, self.problem.plain_flops)
                         for o in self.problem.space.objectives[1:]], dtype=float)

    def _encode(self, designs: list[dict]) -> np.ndarray:
        return self.factors.encode(designs).reshape(len(designs), len(self.factors))

    def _params(self, codes: np.ndarray) -> dict:
        return self.factors.decode(np.asarray(codes)[None])[0]

    def _random(self, rng) -> dict:
        return self.factors.decode(self.factors.sample(1, rng))[0]


def _params(t: optuna.trial.FrozenTrial) -> dict:
    """A trial's design: the model's proposal or the queued params, complete from the
    trial's start, else its params once it has finished (a running trial's may be partly
    suggested; {} then)."""
    known = TrialRecord.of(t).proposal or t.system_attrs.get("fixed_params")
    return known or (t.params if t.state.is_finished() else {})


def _member(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which code rows are among `rows`."""
    if not len(rows) or not len(codes):
        return np.zeros(len(codes), dtype=bool)
    return row_index(rows, codes) >= 0


def _on_front(acc: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Indices of the designs no design that costs no more beats in accuracy."""
    return np.flatnonzero(front_share(acc[None], costs) == 1)
