"""`se-design calibrate`: measure the proxy's seed noise, rung fidelity and reference gap and
store them with the study (se_design.search.calibrate does the work)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from se_design.options import DEVICE_HELP, flag


def register(app: typer.Typer) -> None:
    from se_design.cli import STORAGE, STUDY, err, out, user_errors

    @app.command()
    @user_errors
    def calibrate(space: Path = typer.Option(..., "--space", help="Search space file."),
                  seeds: int = typer.Option(3, "--seeds", min=2, help="Training seeds per design."),
                  designs: int = typer.Option(3, "--designs", min=0, help="Designs sampled besides the two references."),
                  storage: str | None = STORAGE, study: str | None = STUDY,
                  data: str | None = typer.Option(None, "--data", help="As for search.", show_default="the space's"),
                  device: str | None = typer.Option(None, "--device", help=DEVICE_HELP, show_default="the space's"),
                  epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the proxy's epochs."),
                  max_train: int | None = typer.Option(None, "--max-train", min=10, help="Override the proxy's training images."),
                  seed: int = typer.Option(0, "--seed", help="First training seed; the split's seed of a new study."),
                  as_json: bool = flag("--json", "Machine-readable output (accuracies as fractions, not points).")):
        """Measure the proxy's seed noise, rung fidelity and SE-vs-no-SE gap (kept with the study)."""
        from se_design.search import calibrate as cal

        result, problem = cal.run(space, seeds, designs, storage, study, data, device,
                                  {"epochs": epochs, "max_train": max_train}, seed,
                                  log=lambda s: err.print(s, highlight=False))
        if as_json:
            print(json.dumps(result.model_dump() | {"warning": cal.warning(result, problem)},
                             indent=2))
        else:
            for line in cal.text(result, problem):
                out.print(line, highlight=False)
