import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from se_design import spec as s
from se_design.cli import app
from se_design.spec import SE

# CI clones the repository beside shared/, which holds real CIFAR-10 images.
CIFAR_SUBSET = Path(__file__).resolve().parents[2] / "shared/data/cifar10-subset"


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    if not CIFAR_SUBSET.is_dir():
        pytest.skip(f"the CIFAR-10 subset is not at {CIFAR_SUBSET}")
    return CIFAR_SUBSET


# A tiny search on the digits data bundled with scikit-learn: seconds per trial on 2 cores.
TINY = {
    "name": "tiny",
    "target": {"arch": "cifar_resnet20"},
    "proxy": {"arch": "cifar_resnet20",
              "data": {"source": "digits", "val_fraction": 0.25, "max_train": 256},
              "train": {"epochs": 3, "batch_size": 64, "lr": 0.05}},
    "variables": {"r": ["none", 4, 8, 16], "variant": ["standard", "post"]},
    "objectives": ["accuracy", "params"],
    "budgets": {"params_increase": 0.02},
    "early_stopping": {"rungs": [1], "min_peers": 2, "dominators": 1},
}


def write_space(tmp_path, **changes):
    """TINY with `section=value` or `section__field=value` changes, written to tmp_path."""
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(*args, **kwargs):
    """`se-design ARGS` in process (arguments as str); kwargs as CliRunner.invoke's. Named
    as __main__ names it, for the messages that say the command's name."""
    return CliRunner().invoke(app, [str(a) for a in args], **{"prog_name": "se-design", **kwargs})


def cli(*args):
    """run()'s result and its output as one line of words (rich wraps at any width)."""
    res = run(*args)
    return res, " ".join(res.output.split())


# Search fakes: trainers with known accuracies, so a test needs no training.

SE_STAGE1 = {"r_stage1": "16", "variant_stage1": "standard", "r_stage2": "none",
             "r_stage3": "none", "squeeze": "avg", "gate": "sigmoid"}


class FakeTrainer:
    """Accuracy = 0.5 + 0.01 * seed + 0.1 * (stages with SE), rising linearly over epochs."""

    def __init__(self, epochs=3):
        self.epochs, self.calls = epochs, []

    def __call__(self, design, seed, on_epoch):
        self.calls.append((design.label(), seed))
        final = 0.5 + 0.01 * seed + 0.1 * sum(se is not None for se in design.se.values())
        curve = [final * e / self.epochs for e in range(1, self.epochs + 1)]
        for e, acc in enumerate(curve, 1):
            on_epoch(e, acc)
        return curve


class Noisy(FakeTrainer):
    """No SE scores 0.50, SE everywhere 0.45, SE in stage 1 `cand`; seed s adds +-0.01."""

    def __init__(self, cand):
        super().__init__(epochs=1)
        self.cand = cand

    def __call__(self, design, seed, on_epoch):
        self.calls.append((design.label(), seed))
        stages = sum(se is not None for se in design.se.values())
        acc = {0: 0.50, 3: 0.45}.get(stages, self.cand) + 0.01 * (-1) ** seed
        on_epoch(1, acc)
        return [acc]


# A spec fixture: the fields Inception-ResNet-v2 needs, small enough to count by hand.

def inception_resnet_parts(se: SE | None = None) -> s.Arch:
    """A 1x7 unpadded conv, then a residual unit scaled by 0.5 whose branch is a biased 1x1
    conv without BN: the spec fields Inception-ResNet-v2 needs."""
    up = s.Conv(out=6, kernel=1, bias=True, bn=False, act="none", se=se)
    return s.Arch(name="parts", resolution=10, in_chans=4, num_classes=10, stages=(
        s.Stage(name="s", blocks=(s.Conv(out=6, kernel=(1, 7), padding=0),
                                  s.Branches(branches=((up,), ()), merge="add", act="relu",
                                             scale=0.5))),))
