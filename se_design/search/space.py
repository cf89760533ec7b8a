"""Search space files: what is designed (target), how candidates are ranked (proxy), the
decision variables, objectives and budgets. Validated on load; errors name the key."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from se_design.cost import cost
from se_design.errors import UserError
from se_design.files import read_data
from se_design.se import PRESETS
from se_design.search.factors import Factors, se_factors
from se_design.spec import SE, Arch, SpecError, StrictModel, explain, load_config, override, with_se
from se_design.train_config import TrainConfig
from se_design.zoo import get_arch

Unit = Annotated[float, Field(gt=0, lt=1)]


class NetCfg(StrictModel):
    """A zoo architecture (plain, without SE: the search adds SE) or a spec file."""

    arch: str | None = None
    config: str | None = None
    resolution: int | None = Field(None, ge=1)
    num_classes: int | None = Field(None, ge=1)
    width: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.arch is None) == (self.config is None):
            raise ValueError("give either arch or config")
        return self

    def spec(self, num_classes: int | None = None) -> Arch:
        if self.config:
            return override(load_config(self.config), resolution=self.resolution,
                            num_classes=num_classes or self.num_classes)
        return get_arch(self.arch, resolution=self.resolution, width=self.width,
                        num_classes=num_classes or self.num_classes)


class DataCfg(StrictModel):
    source: Literal["cifar10", "cifar100", "folder", "digits"] = "digits"
    path: str | None = None
    val_fraction: Unit = 0.2  # held out of the training set; the test set is never used
    max_train: int | None = Field(None, ge=10)  # subsample the training split for speed
    size: int | None = Field(None, ge=4)  # resize images to size x size: a low-resolution proxy


class ProxyCfg(NetCfg):
    data: DataCfg = DataCfg()
    train: dict = {}  # TrainConfig fields (se_design.train)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("train")
    @classmethod
    def _train_keys(cls, v: dict) -> dict:
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown training setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        TypeAdapter(TrainConfig).validate_python(v)  # types and ranges, e.g. epochs: six
        return v


Choice = int | str  # "none" or r >= 1, checked below (a union's own errors read poorly)


class Variables(StrictModel):
    stages: list[str] | None = None  # default: every stage of the target
    r: list[Choice] = Field(["none", 4, 8, 16, 32], min_length=1)
    variant: list[Literal["standard", "pre", "post", "identity", "3x3"]] = ["standard"]
    squeeze: list[Literal["avg", "max", "none"]] = ["avg"]
    gate: list[Literal["sigmoid", "hardsigmoid", "tanh", "relu"]] = ["sigmoid"]
    per_block: bool = False  # also switch SE on/off block by block
    # multi-branch (Inception) blocks: SE after the merge, on the blocks inside, or both
    levels: Literal["outer", "inner", "all"] = "outer"
    # SE conventions not searched (width d is taken from, rounding, inner activation)
    preset: Literal["paper", "efficientnet", "regnet", "mobilenetv3"] = "paper"

    def se(self, r: int, variant: str = "standard", squeeze: str = "avg",
           gate: str = "sigmoid") -> SE:
        return PRESETS[self.preset].model_copy(
            update={"r": r, "variant": variant, "squeeze": squeeze, "gate": gate})

    @field_validator("r")
    @classmethod
    def _r_values(cls, v: list) -> list:
        bad = [x for x in v if x != "none" and not (type(x) is int and x >= 1)]
        if bad:
            raise ValueError(f"each r must be none or an integer >= 1, not {bad[0]!r}")
        return v

    @model_validator(mode="after")
    def _references_possible(self):
        # Every study starts with no SE and the paper's SE (r=16, standard, avg, sigmoid).
        for key, value in (("r", "none"), ("r", 16), ("variant", "standard"),
                           ("squeeze", "avg"), ("gate", "sigmoid")):
            if value not in getattr(self, key):
                raise ValueError(f"{key} must include {value!r} for the reference designs "
                                 "(no SE; SE in every block at r=16)")
        return self


class Budgets(StrictModel):
    """Feasibility limits on the target, relative to its plain (no SE) version or absolute."""

    params_increase: float | None = Field(None, ge=0)  # 0.05 = at most +5% params
    flops_increase: float | None = Field(None, ge=0)
    max_params: int | None = Field(None, ge=1)
    max_flops: int | None = Field(None, ge=1)


class EarlyStop(StrictModel):
    """Noise-aware rung rule (se_design.search.rungs): at each rung epoch, a candidate stops
    when at least `dominators` designs at most as costly (first cost objective) were ahead of
    it at that epoch by more than `z` standard errors of the difference, among at least
    `min_peers` that reached it, and only if that epoch's rank fidelity (Spearman against the
    final epoch, from the calibration or the study's replicates) is at least `min_fidelity`."""

    rungs: list[int] = []
    min_peers: int = Field(4, ge=1)
    dominators: int = Field(2, ge=1)
    z: float = Field(1.645, gt=0)  # one-sided 95%: a truly-as-good design stops 5% per peer
    min_fidelity: float = Field(0.7, ge=-1, le=1)


class LatencyCfg(StrictModel):
    """How the latency objective is measured: where the design will run (torch eager on the
    search's device, or ONNX Runtime on the CPU), on how many threads, over how many rounds
    (the median is the objective; its distribution-free 95% interval is stored beside it)."""

    backend: Literal["torch", "onnxruntime"] = "torch"
    threads: int | None = Field(None, ge=1)  # None: the library's default
    rounds: int = Field(10, ge=3)


class Space(StrictModel):
    name: str
    target: NetCfg
    proxy: ProxyCfg
    variables: Variables = Variables()
    # latency: measured median forward time of the target at batch 1 on the search's device
    objectives: list[Literal["accuracy", "params", "flops", "latency"]] = ["accuracy", "params"]
    latency: LatencyCfg = LatencyCfg()
    convention: Literal["fvcore", "paper"] = "fvcore"
    budgets: Budgets = Budgets()
    early_stopping: EarlyStop = EarlyStop()
    seeds: int = Field(1, ge=1)  # training seeds per design (replicates)
    # racing: uncertain designs (and the references) get up to this many; unset: `seeds`
    max_seeds: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_max_seeds(cls, data):
        seeds = data.get("seeds", 1) if isinstance(data, dict) else None
        if isinstance(seeds, int) and data.get("max_seeds") is None:
            data = {**data, "max_seeds": seeds}
        return data

    @model_validator(mode="after")
    def _seed_range(self):
        if self.max_seeds < self.seeds:
            raise ValueError(f"max_seeds ({self.max_seeds}) must be at least seeds ({self.seeds})")
        return self

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v: list[str]) -> list[str]:
        if v[:1] != ["accuracy"] or len(v) < 2 or len(set(v)) < len(v):
            raise ValueError("objectives must be accuracy followed by params, flops and/or latency")
        return v


@dataclass(frozen=True)
class Design:
    """One candidate: per-stage SE (None = off), and per-block on/off (all on by default)."""

    se: dict[str, SE | None]
    off: frozenset[tuple[str, int]] = frozenset()
    levels: str = "outer"  # see Variables.levels

    def apply(self, arch: Arch) -> Arch:
        for stage, se in self.se.items():
            arch = with_se(arch, se, [stage], self.levels)
        if not self.off:
            return arch
        stages = tuple(st.model_copy(update={"blocks": tuple(
            b.with_block_se(None, "all") if (st.name, i) in self.off else b
            for i, b in enumerate(st.blocks))}) for st in arch.stages)
        return arch.model_copy(update={"stages": stages})

    def label(self) -> str:
        return " ".join(f"{s}:{'-' if se is None else f'{se.r}{_abbrev(se)}'}"
                        for s, se in self.se.items())


def _abbrev(se: SE) -> str:
    extra = [x for x, default in ((se.variant, "standard"), (se.squeeze, "avg"),
                                  (se.gate, "sigmoid")) if x != default]
    return f"({','.join(extra)})" if extra else ""


@dataclass
class Problem:
    """A loaded space with its specs resolved."""

    space: Space
    target: Arch  # plain (no SE)
    stages: list[str]
    plain_params: int
    plain_flops: int

    def proxy(self, num_classes: int | None = None) -> Arch:
        return self.space.proxy.spec(num_classes)

    def violations(self, params: int, flops: int) -> dict[str, float]:
        """Budget constraints in Optuna's sense: <= 0 is feasible."""
        b, out = self.space.budgets, {}
        if b.params_increase is not None:
            out["params_increase"] = params / self.plain_params - 1 - b.params_increase
        if b.flops_increase is not None:
            out["flops_increase"] = flops / self.plain_flops - 1 - b.flops_increase
        if b.max_params is not None:
            out["max_params"] = params / b.max_params - 1
        if b.max_flops is not None:
            out["max_flops"] = flops / b.max_flops - 1
        return out

    def factors(self) -> Factors:
        """The space's variables as the accuracy model's factors, named and valued as the
        trials' Optuna params."""
        v = self.space.variables
        blocks = {s: self.blocks(s) for s in self.stages} if v.per_block else None
        return se_factors(self.stages, v.r, v.variant, v.squeeze, v.gate, blocks)

    def blocks(self, stage: str) -> int:
        return len(self.target.stage(stage).blocks)

    def references(self) -> list[dict]:
        """Optuna params of the two reference designs: no SE; SE everywhere at r=16."""
        v = self.space.variables
        common = {"squeeze": "avg", "gate": "sigmoid"}
        on = {f"on_{s}_{i}": True for s in self.stages for i in range(self.blocks(s))
              } if v.per_block else {}
        none = {f"r_{s}": "none" for s in self.stages}
        paper = {f"r_{s}": "16" for s in self.stages} | {f"variant_{s}": "standard" for s in self.stages}
        return [none | common, paper | common | on]  # per-block switches exist only with SE

    def params_for(self, arch: Arch, where: str) -> dict:
        """Optuna params of the design that gives `arch` (e.g. a spec exported by
        `se-design fold`), to enqueue it; one sentence if the space cannot express it."""
        import optuna

        v, params = self.space.variables, {}
        mismatch = UserError(f"{where} is not the space's target {self.target.name} with SE in "
                             "the searched stages at the space's settings (set "
                             "variables.per_block: true to drop single blocks).")
        if not set(self.stages) <= set(arch.stage_names()):
            raise mismatch
        per_stage = {s: [getattr(b, "se", None) for b in arch.stage(s).blocks] for s in self.stages}
        ses = [se for sl in per_stage.values() for se in sl if se is not None]
        params["squeeze"] = ses[0].squeeze if ses else "avg"
        params["gate"] = ses[0].gate if ses else "sigmoid"
        for s, sl in per_stage.items():
            first = next((se for se in sl if se is not None), None)
            params[f"r_{s}"] = "none" if first is None else str(first.r)
            if first is not None:
                params[f"variant_{s}"] = first.variant
                if v.per_block:
                    params |= {f"on_{s}_{i}": se is not None for i, se in enumerate(sl)}
        try:
            design = self.suggest(optuna.trial.FixedTrial(params))
        except ValueError as err:  # a value outside the space's lists
            raise UserError(f"{where} is outside the search space ({err}).") from None
        if design.apply(self.target) != arch.model_copy(update={"name": self.target.name}):
            raise mismatch
        return params

    def size(self) -> int:
        """How many distinct parameter sets the space has (what brute force enumerates)."""
        v = self.space.variables
        n = len(v.squeeze) * len(v.gate)
        for s in self.stages:
            switches = 2 ** self.blocks(s) if v.per_block else 1
            n *= 1 + (len(v.r) - 1) * len(v.variant) * switches
        return n

    def suggest(self, trial) -> Design:
        v = self.space.variables
        squeeze = trial.suggest_categorical("squeeze", v.squeeze)
        gate = trial.suggest_categorical("gate", v.gate)
        se, off = {}, set()
        for s in self.stages:
            r = trial.suggest_categorical(f"r_{s}", [str(x) for x in v.r])
            if r == "none":  # variant is conditional: no duplicate designs without SE
                se[s] = None
                continue
            variant = trial.suggest_categorical(f"variant_{s}", v.variant)
            se[s] = v.se(int(r), variant, squeeze, gate)
            if v.per_block:
                off |= {(s, i) for i in range(self.blocks(s))
                        if not trial.suggest_categorical(f"on_{s}_{i}", [True, False])}
        return Design(se, frozenset(off), v.levels)


def load_space(path: str | Path, overrides: dict | None = None) -> Problem:
    """Load and check a space file; `overrides` (epochs, max_train) shrink the proxy run,
    `seeds` sets the seeds per design."""
    path = Path(path)
    data = read_data(path, "yaml", "search space file")
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping with name, target and proxy.")
    _relative_paths(data, path.parent)
    _override(data, overrides or {})
    try:
        space = Space.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{path}: {explain(err).replace('architecture spec', 'search space')}") from None
    return resolve(space, path)


def _relative_paths(data: dict, base: Path) -> None:
    """Paths written in a space file (data, config) are relative to the file itself."""
    for section, key in (("target", "config"), ("proxy", "config"), ("proxy", "data")):
        holder = data.get(section)
        if key == "data" and isinstance(holder, dict):
            holder = holder.get("data")
            key = "path"
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = str(base / Path(holder[key]).expanduser())


def _override(data: dict, overrides: dict) -> None:
    proxy = data.get("proxy")
    if not isinstance(proxy, dict):
        return  # validation reports the missing proxy
    if overrides.get("epochs") is not None:
        proxy["train"] = dict(proxy.get("train") or {}, epochs=overrides["epochs"])
    if overrides.get("seeds") is not None:
        data["seeds"] = overrides["seeds"]
        if isinstance(data.get("max_seeds"), int):
            data["max_seeds"] = max(data["max_seeds"], overrides["seeds"])
    if overrides.get("max_train") is not None:
        proxy["data"] = dict(proxy.get("data") or {}, max_train=overrides["max_train"])


def resolve(space: Space, where: Path | str = "the search space") -> Problem:
    """Check the space against its target and proxy architectures."""
    target = space.target.spec()
    stages = space.variables.stages or target.stage_names()
    proxy = space.proxy.spec()
    for net, name in ((target, "target"), (proxy, "proxy")):
        missing = [s for s in stages if s not in net.stage_names()]
        if missing:
            raise UserError(f"{where}: the {name} {net.name} has no stage {missing[0]!r} "
                            f"(its stages: {', '.join(net.stage_names())}).")
        if cost(net).se_params:  # SE modules anywhere, nested ones included
            raise UserError(f"{where}: the {name} {net.name} must be the plain network (no SE); "
                            "the search decides where SE goes.")
    plain = cost(target, space.convention)
    prob = Problem(space, target, stages, plain.params, plain.flops)
    over = [k for k, v in prob.violations(plain.params, plain.flops).items() if v > 0]
    if over:  # relative budgets always admit the plain network; absolute ones may not
        raise UserError(f"{where}: no candidate can meet budgets.{over[0]}: even the plain "
                        f"{target.name} has {plain.params:,} params and {plain.flops:,} FLOPs.")
    v = space.variables
    for r in (x for x in v.r if x != "none"):  # every r and variant must fit every stage
        for variant in v.variant:
            design = Design({s: v.se(r, variant) for s in stages}, levels=v.levels)
            for net, name in ((target, "target"), (proxy, "proxy")):
                try:
                    cost(design.apply(net))
                except SpecError as err:
                    raise UserError(f"{where}: variables r={r}, variant={variant} do not fit the "
                                    f"{name}: {err}") from None
    return prob
