"""The search half as a Python API, for notebooks and scripts: the same work and the same
objects as the CLI (`search`, `calibrate`, `report`, `export`), without parsing a command
line. Errors are se_design.errors.UserError, with the sentence the CLI would print.

    from se_design import api
    summary = api.search("search_spaces/digits_resnet20.yaml", n_trials=8, epochs=1)
    rows = api.report_rows(summary.study, summary.storage)
    rows.to_pandas()                      # with pandas installed
    api.export("best.py", study=summary.study, storage=summary.storage, pick="knee")

optuna and torch are imported inside these functions, so `import se_design` stays fast."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from se_design.consoles import console
from se_design.errors import UserError


@dataclass
class StudySummary:
    """Where a search left its study, and how its trials ended."""

    study: str
    storage: str
    finished: int
    stopped: int  # early, by the rung rule
    failed: int
    text: str  # the line the CLI prints at the end


def search(space: str | Path, *, seed: int = 0, quiet: bool = False,
           **options) -> StudySummary:
    """Run `se-design search --space SPACE`: `options` are the search's, by their Python
    names (n_trials, epochs, max_train, seeds, study, storage, sampler, data, device, resume,
    cost_only, timeout, workers, heartbeat, enqueue, keep_checkpoints; se_design.search
    .request.SearchRequest); `seed` seeds the split, training and sampler as --seed does.
    The trial lines go to stdout unless `quiet`."""
    import optuna
    from optuna.trial import TrialState

    from se_design.search import run
    from se_design.search.request import SearchRequest
    from se_design.search.space import load_space
    from se_design.search.storage import DEFAULT_STORAGE

    req = SearchRequest.make(space=space, split_seed=seed, train_seed=seed, sampler_seed=seed,
                             **options)
    text = run.search(req, console(quiet=quiet))
    name, url = run.study_name(req, load_space(req.space, req.overrides)), req.storage or DEFAULT_STORAGE
    states = [t.state for t in optuna.load_study(study_name=name, storage=url).trials]
    return StudySummary(name, url, states.count(TrialState.COMPLETE),
                        states.count(TrialState.PRUNED), states.count(TrialState.FAIL), text)


def calibrate(space: str | Path, *, seeds: int = 3, designs: int = 3, study: str | None = None,
              storage: str | None = None, data: str | None = None, device: str | None = None,
              epochs: int | None = None, max_train: int | None = None, seed: int = 0,
              log=print):
    """Run `se-design calibrate`; returns its se_design.search.records.Calibration (seed std,
    detectable differences, rung fidelity, reference gap), stored with the study."""
    from se_design.search import calibrate as cal

    if seeds < 2:
        raise UserError(f"seeds must be 2 or more to measure noise, not {seeds}.")
    result, _ = cal.run(space, seeds, designs, storage, study, data, device,
                        {"epochs": epochs, "max_train": max_train}, seed, log=log)
    return result


class Rows(list):
    """The report's rows (se_design.search.report.Row, as `se-design report` renders them),
    with the study's objective names."""

    def __init__(self, rows, objectives: list[str]):
        super().__init__(rows)
        self.objectives = objectives

    def to_pandas(self):
        """One DataFrame row per design, each objective a column (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise UserError("to_pandas needs pandas: pip install pandas.") from None
        # the row's own fields win: its params and flops stay integers
        return pd.DataFrame([dict(zip(self.objectives, r.values)) | asdict(r) for r in self])


def report_rows(study: str, storage: str | None = None) -> Rows:
    """Every finished design of a study, front and intervals marked (`se-design report`)."""
    from se_design.search import report
    from se_design.search.records import StudyRecord
    from se_design.search.storage import DEFAULT_STORAGE
    from se_design.search.study import load

    st = load(study, storage or DEFAULT_STORAGE)
    return Rows(report.rows(st), StudyRecord.of(st).objectives)


def effects(study: str, storage: str | None = None):
    """The study's ablation table (`se-design effects`): each SE choice's accuracy effect per
    stage with its 95% interval and exact costs, the interactions and the lack of fit; its
    `to_dict()` is what `--json` prints."""
    from se_design.search.effects import effects as fitted
    from se_design.search.storage import DEFAULT_STORAGE
    from se_design.search.study import load

    return fitted(load(study, storage or DEFAULT_STORAGE))


def export(out: str | Path, *, study: str | None = None, storage: str | None = None,
           trial: int | None = None, pick: str | None = None, config: str | Path | None = None,
           arch: str | None = None, checkpoint: str | Path | None = None) -> list[str]:
    """Write one design in the format `out`'s suffix names (.yaml/.yml/.json spec, .py PyTorch
    file, .onnx): a study's trial (`pick` knee | best-under-budget, or `trial`), a spec file,
    a zoo network or `checkpoint`'s own, with the checkpoint's trained weights. Returns the
    lines `se-design export` prints."""
    from se_design import checkpoint as ckpts
    from se_design.export_formats import (
        check_not_over,
        export_file,
        export_format,
        resolution_note,
        weights_for,
    )
    from se_design.files import check_writable

    out = Path(out)
    export_format(out)  # the format and the place, before anything is read or built
    check_writable(out, "export")
    if checkpoint is not None:
        check_not_over(out, checkpoint)
    given = [n for n, v in (("--study", study), ("--config", config), ("--arch", arch)) if v]
    if len(given) > 1:
        raise UserError(f"give one design, not {' and '.join(given)}.")
    if (trial is not None or pick) and study is None:
        raise UserError("--trial and --pick choose a trial of a study: add --study NAME.")
    if not given and checkpoint is None:
        raise UserError("give --study NAME with --pick or --trial, --config FILE, --arch NAME "
                        "or --checkpoint MODEL.pt.")
    ckpt = ckpts.load(checkpoint) if checkpoint else None
    written = []  # the design the weights went with, for the note on their resolution
    inputs = ckpt and (ckpt.mean, ckpt.std, ckpt.classes)  # into a .py file with them

    def weights(spec):
        written.append(spec)
        return weights_for(ckpt, spec, checkpoint)

    if study is not None:
        from se_design.search import export as ex
        from se_design.search.storage import DEFAULT_STORAGE
        from se_design.search.study import load

        url = storage or DEFAULT_STORAGE
        lines = ex.export(load(study, url), url, trial, pick, out, ckpt and weights, inputs)
    else:
        from se_design.zoo import resolve_arch

        spec = (resolve_arch(arch, Path(config) if config else None, *[None] * 5) if given
                else ckpt.arch)
        lines = [export_file(spec, out, ckpt and weights(spec), inputs=inputs)]
    return lines + [n for spec in written for n in resolution_note(ckpt, spec)]
