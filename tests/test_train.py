"""The proxy trainer: learns on real images, is reproducible on CPU, fails loudly."""


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from se_design import build_model, get_arch
from se_design.data import holdout, load_data, synthetic
from se_design.errors import UserError
from se_design.train import Diverged, TrainConfig, augment, train


def tiny_model(se: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return build_model(get_arch("se_cifar_resnet20" if se else "cifar_resnet20", width=0.5,
                                r=4 if se else None))


@pytest.fixture(scope="module")
def split(cifar_dir):
    train, _ = load_data("cifar10", str(cifar_dir))
    fit, val = holdout(train, 0.2, seed=0)
    return fit.subset(torch.arange(1024)), val


def test_short_training_on_real_images_learns(split):
    seen = []
    result = train(tiny_model(), *split, TrainConfig(epochs=3, batch_size=64, lr=0.2),
                   on_epoch=lambda e, acc: seen.append((e, acc)), progress=False)
    losses = [loss for _, loss, _ in result.history]
    assert losses[0] > losses[1] > losses[2]
    assert result.val_acc > 0.15  # chance is 0.10 on 1017 held-out images
    assert seen == [(e, acc) for e, _, acc in result.history] and result.epochs_run == 3
    assert result.images_per_s > 0 and result.seconds > 0


def test_same_seed_same_result_on_cpu(split):
    fit, val = split[0].subset(torch.arange(256)), split[1].subset(torch.arange(256))
    cfg = TrainConfig(epochs=2, batch_size=64, schedule="cosine")
    runs = [train(tiny_model(se=True), fit, val, cfg, progress=False) for _ in range(2)]
    assert runs[0].history == runs[1].history and runs[0].val_acc == runs[1].val_acc
    other = train(tiny_model(se=True), fit, val, TrainConfig(epochs=2, batch_size=64,
                  schedule="cosine", seed=1), progress=False)
    assert other.history != runs[0].history


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean((2, 3))) * float("nan")


def test_non_finite_loss_raises_diverged_naming_epoch_and_step():
    data = synthetic(64)
    with pytest.raises(Diverged, match=r"^the training loss became nan at epoch 1, step 1\.$"):
        train(NaNModel(), data, data, TrainConfig(epochs=2, batch_size=32), progress=False)


def test_huge_learning_rate_diverges():
    data = synthetic(256)
    with pytest.raises(Diverged, match="epoch 1"):
        train(tiny_model(), data, data, TrainConfig(epochs=1, batch_size=32, lr=1e6),
              progress=False)


def test_on_epoch_exception_propagates_and_stops_training():
    class Pruned(Exception):
        pass

    calls = []

    def prune(epoch, acc):
        calls.append(epoch)
        raise Pruned()

    data = synthetic(64)
    with pytest.raises(Pruned):
        train(tiny_model(), data, data, TrainConfig(epochs=5, batch_size=32), on_epoch=prune,
              progress=False)
    assert calls == [1]


def test_flip_really_flips_and_keeps_shape():
    x = torch.randn(64, 3, 8, 8)
    out = augment(x, padding=0, flip=True, gen=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f != s for f, s in zip(flipped, same)) and 10 < sum(flipped) < 54


def test_crop_is_a_window_of_the_zero_padded_image():
    x = torch.randn(32, 3, 8, 8)
    out = augment(x, padding=2, flip=False, gen=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for o, p in zip(out, padded):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(o, p[:, dy:dy + 8, dx:dx + 8])]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 5  # offsets differ between images


@pytest.mark.parametrize("kwargs", [{"schedule": "step"}, {"epochs": 0}, {"lr": -1},
                                    {"momentum": 0}, {"label_smoothing": 1},
                                    {"gate_init": 0}, {"gate_init": 1}])
def test_bad_config_raises_user_error(kwargs):
    with pytest.raises(UserError):
        TrainConfig(**kwargs)
