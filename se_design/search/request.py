"""A search, asked for: every option of `se-design search` in one validated object, built
once by the CLI or the Python API and handed as JSON to `--workers` children.

`--seed` seeds three things, named apart here: the held-out split (a new study's; a study
keeps the split it was created with), the first training seed (replicates count up from it)
and the sampler (each worker adds its arrival index)."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from se_design.errors import UserError
from se_design.search import HEARTBEAT
from se_design.search.budget import Budget


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    space: Path
    # search trials over all workers and runs, references included (a calibration's not);
    # unset: 20, or no limit on trials when budget_epochs is given
    n_trials: int | None = Field(None, ge=2)
    budget_epochs: int | None = Field(None, ge=1)  # the search's epochs (se_design.search.budget)
    timeout: float | None = None  # seconds after which a worker starts no new trial
    storage: str | None = None  # an Optuna storage URL (se_design.search.storage)
    study: str | None = None
    sampler: str | None = None  # unset: model when training, nsga2 for --cost-only
    data: str | None = None
    device: str | None = None
    resume: bool = False
    cost_only: bool = False
    epochs: int | None = Field(None, ge=1)  # the space's proxy epochs, overridden
    max_train: int | None = Field(None, ge=10)
    seeds: int | None = Field(None, ge=1)  # training seeds per design, overriding the space's
    split_seed: int = Field(0, ge=0)
    train_seed: int = Field(0, ge=0)
    sampler_seed: int = Field(0, ge=0)
    heartbeat: int = Field(HEARTBEAT, ge=1)
    workers: int = Field(1, ge=1)
    enqueue: list[Path] = []  # designs to run first (spec files)
    keep_checkpoints: Path | None = None  # where the front's trained proxies are kept

    @field_validator("timeout")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"must be a positive number of seconds, not {v:g}")
        return v

    @field_validator("study")
    @classmethod
    def _named(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError(f"must name a study, not {v!r}")
        return v

    @property
    def overrides(self) -> dict:
        """What this search changes in the space's proxy."""
        return {"epochs": self.epochs, "max_train": self.max_train, "seeds": self.seeds}

    @property
    def budget(self) -> Budget:
        n = 20 if self.n_trials is None and self.budget_epochs is None else self.n_trials
        return Budget(n, self.budget_epochs)

    @property
    def chosen_sampler(self) -> str:
        return self.sampler or ("nsga2" if self.cost_only else "model")

    def as_worker(self) -> SearchRequest:
        """What each `--workers` child runs: the same search, joining the study."""
        return self.model_copy(update={"resume": True, "workers": 1})

    @classmethod
    def make(cls, **options) -> SearchRequest:
        """The request, or a UserError naming the first bad option as the CLI spells it."""
        try:
            return cls(**options)
        except ValidationError as e:
            err = e.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "request"
            flag = "--seed" if name.endswith("_seed") else "--" + name.replace("_", "-")
            msg = err["msg"]
            text = (f"{flag} {msg.removeprefix('Value error, ')}" if msg.startswith("Value error")
                    else f"{flag}: {msg[0].lower()}{msg[1:]}")
            raise UserError(text + ".") from None


def check_seed(seed: int) -> None:
    """--seed checked as search checks it, for a command that builds no request (train)."""
    SearchRequest.make(space=Path(), train_seed=seed)
