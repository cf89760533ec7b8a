"""`se-design export`: a trial's target architecture as a config file that says where it
came from."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from se_design.errors import UserError
from se_design.export_formats import export_file
from se_design.search import report
from se_design.search.records import StudyRecord, TrialRecord, by_design
from se_design.search.storage import shown
from se_design.spec import override, validate


def choose(study: optuna.Study, trial: int | None, how: str | None) -> optuna.trial.FrozenTrial:
    """The trial asked for; an early-stopped one only by number, and never silently."""
    trials = study.get_trials(deepcopy=False)
    if trial is not None:
        found = [t for t in trials if t.number == trial]
        if found and found[0].state == TrialState.PRUNED:
            return found[0]
    elif not any(t.state == TrialState.COMPLETE for t in trials):
        raise UserError(f"study {study.study_name!r} has no finished trial yet: run or resume "
                        "the search first.")
    return report.pick(study, trial, how)


def export(study: optuna.Study, url: str, trial: int | None, how: str | None,
           path: Path, weights=None, inputs: tuple | None = None) -> list[str]:
    """Write the chosen trial's target spec in the format of `path`'s suffix, named after its
    study and trial, with its origin in a comment (YAML) and `weights(arch)`'s state_dict
    (None: no weights) and their `inputs` (export_file); returns the lines to print."""
    chosen = choose(study, trial, how)
    a = TrialRecord.of(chosen)
    name = f"{study.study_name}-trial{chosen.number}"
    arch = override(validate(a.target_spec), name=name)
    origin = (f"exported by se-design from study {study.study_name!r}, trial {chosen.number} "
              f"({a.design}), storage {shown(url)}")
    written = export_file(arch, path, weights and weights(arch), origin, inputs)
    lines = [f"{name}: {a.design}"]
    if chosen.state == TrialState.PRUNED:
        lines.append(f"note: trial {chosen.number} was stopped early at epoch "
                     f"{a.epochs_run} of {a.epochs_planned}, so its "
                     "accuracy is a partial one.")
    lines.append(f"{_accuracy(study, chosen)}{a.params:,} params, {a.flops:,} FLOPs")
    note = report.pick_note(study, chosen) if how and chosen.state == TrialState.COMPLETE else None
    return lines + [f"note: {note}."] * bool(note) + [written]


def _accuracy(study: optuna.Study, chosen: optuna.trial.FrozenTrial) -> str:
    """'accuracy MEAN ± HALF-WIDTH, K seeds, ' of the chosen design, as the report gives it
    (from the trial holding most of its seeds); '' for a cost-only study or a stopped trial."""
    if not chosen.values or not StudyRecord.of(study).trained:
        return ""
    key = TrialRecord.of(chosen).design_key
    same = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if key is not None and TrialRecord.of(t).design_key == key]
    number = by_design(same)[0].number if same else chosen.number
    row = next(r for r in report.rows(study) if r.number == number)
    return f"accuracy {report.accuracy_text(row)}, "
