"""Calibration of a search's proxy: how noisy is one short training, how small a difference
can the search resolve, which rung epochs rank designs as the final epoch does, and does the
proxy rank the paper's SE design above no SE at all.

Trains the two reference designs and a few sampled ones on K seeds each, on the study's
held-out split, and stores the result with the study (user attr `calibration`): the rung rule
takes its per-epoch noise and rank fidelity from it, the report its seed std. When it trained
under the study's proxy settings, each design's runs are also stored as a finished trial, as
the search would record it: the search then reuses their seeds instead of retraining them, and
the report shows them. Calibrating again under the same settings reuses the seeds the study
already holds (from an earlier calibration or the search) and trains only the missing ones.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import optuna

from se_design.device import pick_device
from se_design.files import folder
from se_design.progress import on_terminal
from se_design.search.evaluate import TorchTrainer, Trainer
from se_design.search.proxy import data_source, load_proxy_data, proxy_settings
from se_design.search.records import (
    REFERENCES,
    Calibration,
    StudyRecord,
    TrialRecord,
    by_design,
    design_key,
    set_study,
    set_trial,
)
from se_design.search.space import Design, Problem, load_space
from se_design.search.stats import (
    UNSTABLE_LEVEL,
    difference,
    mean,
    min_detectable_difference,
    noise_model,
    spearman,
)
from se_design.search.storage import DEFAULT_STORAGE, open_storage
from se_design.search.study import (
    Objective,
    changed_setting,
    prepare,
    split_seed,
)
from se_design.spec import to_dict
from se_design.train_config import TrainConfig


@dataclass
class Run:
    label: str
    reference: str
    curves: dict[int, list[float]]  # seed -> held-out accuracy per epoch
    design: Design | None = None
    trial: optuna.Trial | None = None  # the draw's (in-memory) trial: its params, distributions
    stored: int | None = None  # the study's trial already holding every one of these seeds


def designs(problem: Problem, extra: int, seed: int) -> list[tuple[Design, str, optuna.Trial]]:
    """The two references, then `extra` distinct designs drawn at random from the space."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out, keys = [], set()
    for params in problem.references():
        study.enqueue_trial(params)
    for i in range(2 + extra + 50):  # a few extra draws in case of repeats
        trial = study.ask()
        design = problem.suggest(trial)
        k = key(problem, design)
        if k not in keys:
            keys.add(k)
            out.append((design, REFERENCES[i] if i < 2 else "", trial))
        if len(out) == 2 + extra:
            break
    return out


def finished_seeds(study: optuna.Study) -> dict[str, tuple[int, dict[int, list[float]]]]:
    """Per design key: the trial holding the most finished seeds, and their curves."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    out = {}
    for t in by_design(done):
        rec = TrialRecord.of(t)
        out[rec.design_key] = (t.number, {s: rec.seed_history[s] for s in rec.seed_acc})
    return out


def measure(problem: Problem, trainer: Trainer, seeds: list[int], extra: int = 3,
            draw_seed: int = 0, log=print, known: dict | None = None) -> list[Run]:
    """Each design's curves on `seeds`: those in `known` (finished_seeds of a study trained
    under the same settings) reused, the others trained."""
    runs, drawn = [], designs(problem, extra, draw_seed)
    for i, (design, ref, trial) in enumerate(drawn):
        number, have = (known or {}).get(key(problem, design), (None, {}))
        curves = {}
        for s in seeds:
            reused = s in have
            curves[s] = have[s] if reused else trainer(design, s, lambda e, a: None)
            done = i * len(seeds) + seeds.index(s) + 1  # designs x seeds, as a count
            log(f"[{done}/{len(drawn) * len(seeds)}] {ref or design.label()}  seed {s}: "
                f"{curves[s][-1]:.4f}"
                + (f" (trial {number}'s, reused)" if reused else ""))
        runs.append(Run(ref or design.label(), ref, curves, design, trial,
                        number if set(seeds) <= set(have) else None))
    return runs


def key(problem: Problem, design: Design) -> str:
    return design_key(to_dict(design.apply(problem.target)))


def store_trials(study: optuna.Study, problem: Problem, runs: list[Run], epochs: int,
                 device: str) -> list[int]:
    """Each run as a finished trial of `study`, recorded as a search trial of its design is
    (spec, costs, constraints, per-seed results, the mean as its accuracy); their numbers. A
    run whose seeds a trial already holds adds nothing: that trial's number stands for it."""
    record = Objective(problem, False, device=device)
    numbers = []
    for r in runs:
        if r.stored is not None:
            numbers.append(r.stored)
            continue
        costs = record.record(r.trial, r.design)
        set_trial(r.trial, seed_acc={s: c[-1] for s, c in r.curves.items()},
                  seed_history=r.curves, epochs_run=epochs * len(r.curves),
                  epochs_planned=epochs * len(r.curves), calibration=True)
        study.add_trial(optuna.trial.create_trial(
            values=[mean([c[-1] for c in r.curves.values()])] + costs, params=r.trial.params,
            distributions=r.trial.distributions, user_attrs=r.trial.user_attrs,
            constraints=r.trial.constraints or None))
        numbers.append(study.get_trials(deepcopy=False)[-1].number)
    return numbers


def summarise(runs: list[Run], epochs: int, planned: list[int]) -> Calibration:
    """The calibration figures (accuracies as fractions) from runs of equal length."""
    finals = [[c[-1] for c in r.curves.values()] for r in runs]
    noise = noise_model(finals)  # designs that sometimes fail to learn set aside
    pool = noise.pooled
    if pool is None:
        raise ValueError("calibration needs 2 or more seeds per design")
    k = len(runs[0].curves)
    per_epoch = {e: noise_model([[c[e - 1] for c in r.curves.values()] for r in runs]).pooled
                 for e in range(1, epochs + 1)}
    fidelity = {e: spearman([mean([c[e - 1] for c in r.curves.values()]) for r in runs],
                            [mean(f) for f in finals]) for e in range(1, epochs)}
    refs = {r.reference: {s: c[-1] for s, c in r.curves.items()} for r in runs if r.reference}
    # from the references' own seeds (paired on 3+ shared seeds, else Welch), not the pool:
    # one design that sometimes fails to learn inflates the pooled std for every comparison
    gap = difference(refs[REFERENCES[1]], refs[REFERENCES[0]])
    half = gap.half_width()
    counts = sorted({1, k, *planned})
    return Calibration(
        seeds=k, epochs=epochs, designs=len(runs), seed_std=pool.std, seed_std_df=pool.df,
        unstable=[r.label for r, u in zip(runs, noise.unstable) if u],
        se_difference={str(n): pool.std * math.sqrt(2 / n) for n in counts},
        min_detectable_difference={str(n): min_detectable_difference(pool.std, n)
                                   for n in counts},
        rung_fidelity={str(e): v for e, v in fidelity.items()},
        epoch_std={str(e): [p.std, p.df] for e, p in per_epoch.items() if p is not None},
        reference_gap={"mean": gap.mean, "low": gap.mean - half, "high": gap.mean + half},
        runs=[{"design": r.label, "reference": r.reference,
               "seed_acc": {str(s): c[-1] for s, c in r.curves.items()}} for r in runs])


def warning(cal: Calibration, problem: Problem) -> str | None:
    """A plain sentence when the proxy ranks the paper's SE design below no SE."""
    gap = cal.reference_gap
    if gap["mean"] >= 0:
        return None
    proxy = problem.space.proxy
    how = "clearly" if gap["high"] < 0 else "though not distinguishably"
    return (f"this proxy ranks SE r=16 everywhere below no SE ({how}: {100 * gap['mean']:+.1f} "
            f"points, 95% interval {100 * gap['low']:+.1f} to {100 * gap['high']:+.1f}), the "
            "opposite of the SE paper's full training: the proxy is likely too short or too "
            "small to rank SE designs; "
            + ("start the SE gates at 0.9 (proxy.train.gate_init: 0.9; results/proxy_bias.md), "
               if proxy.train.get("gate_init") is None else "")
            + f"lengthen proxy.train.epochs (now {cal.epochs}; a smaller proxy.data.size "
            "buys epochs) and train on more images (proxy.data.max_train, "
            f"{'now ' + str(proxy.data.max_train) if proxy.data.max_train else 'a larger data set'}"
            "), then calibrate again.")


def text(cal: Calibration, problem: Problem) -> list[str]:
    def pts(x: float) -> str:  # accuracy points
        return f"{100 * x:.2f}"

    gap = cal.reference_gap
    lines = [(f"calibration of study {cal.study or problem.space.name!r} (space "
              f"{problem.space.name}): {cal.designs} designs x {cal.seeds} seeds x "
              f"{cal.epochs} epochs"),
             f"seed std: {pts(cal.seed_std)} points (pooled, {cal.seed_std_df} df)"]
    if cal.unstable:
        lines.append(f"  pooled over {cal.designs - len(cal.unstable)} of {cal.designs} "
                     f"designs: {len(cal.unstable)} set aside as unstable (seeds spread "
                     f"significantly more: F test, {UNSTABLE_LEVEL:.0%} family-wise): "
                     + "; ".join(cal.unstable))
    for n, se in cal.se_difference.items():
        lines.append(f"  {n} seed(s) per design: SE of a difference {pts(se)} points, smallest "
                     "difference detected (95% confidence, 80% power) "
                     f"{pts(cal.min_detectable_difference[n])} points")
    lines.append("rung fidelity (Spearman of accuracy at epoch e vs the last, over designs): "
                 + ", ".join(f"epoch {e}: {'n/a' if v is None else f'{v:.2f}'}"
                             for e, v in cal.rung_fidelity.items()))
    lines.append(f"reference gap, SE r=16 everywhere minus no SE: {pts(gap['mean'])} points "
                 f"(95% interval {pts(gap['low'])} to {pts(gap['high'])})")
    if cal.trials:
        lines.append(f"stored as trials {', '.join(map(str, cal.trials))} of the study: a "
                     "search on it reuses their seeds")
    elif cal.not_stored:
        lines.append(cal.not_stored)
    note = warning(cal, problem)
    if note:
        lines.append("warning: " + note)
    return lines


def run(space, seeds: int, extra: int, storage: str | None, study: str | None,
        data: str | None, device: str | None, overrides: dict, seed: int,
        log=print) -> tuple[Calibration, Problem]:
    """Calibrate the study of `space` (created if missing, so the search that follows uses its
    split) and store the result with it: `extra` sampled designs besides the references,
    each trained on `seeds` seeds from `seed` (also the split's seed of a new study)."""
    from se_design.search.request import SearchRequest

    SearchRequest.make(space=space, storage=storage, study=study, data=data, device=device,
                       split_seed=seed, train_seed=seed, **overrides)  # checked as search does
    problem, as_written = load_space(space, overrides), load_space(space)
    name, url = study or problem.space.name, storage or DEFAULT_STORAGE
    cfg = TrainConfig(**{"seed": seed} | problem.space.proxy.train)
    dev = pick_device(device or problem.space.proxy.device)
    where = data_source(problem, data)  # checked before the storage is opened (or created)
    if url == DEFAULT_STORAGE:
        folder("results")
    store = open_storage(url)
    split = load_proxy_data(problem, *where, split_seed(name, store, seed))
    with _removed_if_failed(store, name):
        prepare(problem, name, store, resume=True, split_seed=seed)  # after every check
        target = optuna.load_study(study_name=name, storage=store.storage)
        # the study's proxy settings: those its search ran with, else the space's as written
        theirs = StudyRecord.of(target).proxy_settings or proxy_settings(
            as_written, where, TrainConfig(**{"seed": seed} | as_written.space.proxy.train))
        mine = proxy_settings(problem, where, cfg)
        changed = changed_setting(theirs, mine)
        bar = on_terminal()  # else a line per epoch
        trainer = TorchTrainer(problem, split, cfg, dev, progress=bar, log=None if bar else log)
        known = finished_seeds(target) if changed is None else None  # same settings: same runs
        runs = measure(problem, trainer, [seed + j for j in range(seeds)], extra, seed, log, known)
        result = summarise(runs, cfg.epochs, [problem.space.seeds, problem.space.max_seeds])
        result.study = name
        if changed is None:
            result.trials = store_trials(target, problem, runs, cfg.epochs, dev)
            set_study(target, proxy_settings=theirs)  # a search under others is refused
        else:
            result.not_stored = (f"not stored as trials of the study: calibrated with "
                                 f"{_setting(changed, mine[changed])}, the study's proxy has "
                                 f"{_setting(changed, theirs[changed])} (its search trains the "
                                 "references itself)")
        set_study(target, calibration=result)
        return result, problem


@contextmanager
def _removed_if_failed(store, name: str):
    """A study this calibration creates is deleted again if it fails or is Ctrl-C'd before
    its result is stored: a failed command leaves nothing behind."""
    fresh = name not in optuna.get_all_study_names(store.storage)
    try:
        yield
    except BaseException:
        if fresh and StudyRecord.of(optuna.load_study(
                study_name=name, storage=store.storage)).calibration is None:
            optuna.delete_study(study_name=name, storage=store.storage)
        raise


def _setting(key: str, value) -> str:
    """'max_train=400', or 'no max_train' for a setting left unset (not 'max_train=None')."""
    return f"no {key}" if value is None else f"{key}={value}"
