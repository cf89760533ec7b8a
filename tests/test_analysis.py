"""Excitation statistics, folding and removal advice on constructed cases with known answers."""

import numpy as np
import pytest
import torch

from se_design import build_model, get_arch
from se_design.analysis.advice import rank, steps
from se_design.analysis.excitation import LOW, _Sums, collect
from se_design.analysis.fold import fold, why_not
from se_design.cost import cost
from se_design.edit import set_se, without_se
from se_design.errors import UserError
from se_design.spec import SE

PLAIN = get_arch("cifar_resnet20", width=0.5, resolution=16)
SMALL = get_arch("se_cifar_resnet20", width=0.5, r=4, resolution=16)


def two_pass(e: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    """Reference: between/total variance pooled over channels, from stored values."""
    grand = e.mean(0)
    total = ((e - grand) ** 2).sum()
    between = sum((y == c).sum() * ((e[y == c].mean(0) - grand) ** 2).sum() for c in range(k))
    return between, total


def stream(e: np.ndarray, y: np.ndarray, k: int, batch: int = 37) -> _Sums:
    s = _Sums(k)
    for i in range(0, len(e), batch):
        s.add(torch.from_numpy(e[i:i + batch])[:, :, None, None], torch.from_numpy(y[i:i + batch]))
    return s


def test_streamed_sums_equal_the_two_pass_formula_near_saturation():
    rng = np.random.default_rng(0)
    k, n = 5, 3000
    y = rng.integers(0, k, n)
    # gates saturated near 1 with a small class effect: where a naive sum of squares cancels
    e = 0.999 + 1e-4 * rng.normal(size=(n, 8)) + 1e-4 * (y[:, None] % 3)
    between, total = two_pass(e, y, k)
    st = stream(e, y, k).stats(block="b", module="m", variant="standard", se_params=0)
    assert st.specificity == pytest.approx(between / total, rel=1e-6)
    assert st.variance == pytest.approx(total / e.size, rel=1e-6)
    assert st.class_mean[2] == pytest.approx(e[y == 2].mean(0), rel=1e-9)
    assert st.saturated_high == 1.0 and st.saturated_low == 0.0


def test_class_determined_gate_scores_one_and_class_free_gate_near_zero():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 5000)
    per_class = rng.uniform(0, 1, (10, 16))
    st = stream(per_class[y], y, 10).stats(block="b", module="m", variant="s", se_params=0)
    assert st.specificity == pytest.approx(1.0)
    noise = rng.uniform(0, 1, (5000, 16))
    st = stream(noise, y, 10).stats(block="b", module="m", variant="s", se_params=0)
    assert st.specificity < 0.01  # expected (K - 1) / (N - 1) = 0.0018 for no class effect


def small_model(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():  # random BN statistics and affine, so that folding them matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model


def class_images(n: int = 100, noise: float = 2.0, size: int = 16):
    """Images whose brightness is set by their class, plus a little noise."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 10
    x = (y.float().view(-1, 1, 1, 1) - 4.5) / 3 \
        + noise / 100 * torch.randn(n, 3, size, size, generator=gen)
    return x, y


def make_constant(model, module: str, seed: int = 0):
    """The SE at `module` gets fc2 = 0, so its gate is sigmoid(bias): constant per channel."""
    gen = torch.Generator().manual_seed(seed)
    se = dict(model.named_modules())[module]
    with torch.no_grad():
        se.fc2.weight.zero_()
        se.fc2.bias.copy_(torch.randn(se.fc2.bias.shape, generator=gen) * 2)
    return torch.sigmoid(se.fc2.bias.detach())


@torch.no_grad()
def test_constant_gate_has_specificity_zero_and_folds_without_changing_outputs():
    arch = SMALL
    model = small_model(arch)
    gate = make_constant(model, "stage2.1.main.se")
    x, y = class_images()
    stats, _ = collect(model, arch, x, y, batch=32)
    s = {st.block: st for st in stats}
    assert s["stage2.1"].specificity == 0 and s["stage2.1"].variance == 0
    np.testing.assert_allclose(s["stage2.1"].channel_mean, gate.numpy(), rtol=1e-6)
    assert s["stage2.1"].saturated_low == pytest.approx((gate < LOW).float().mean().item())
    # brightness sets the class: the first SE sees it, within a class almost nothing varies
    assert s["stage1.0"].specificity > 0.9
    folded_arch, folded = fold(arch, model, [s["stage2.1"]])
    assert folded_arch == without_se(arch, ["stage2.1"])
    torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
    # a gate that does vary is not the same as its mean: the check can fail
    _, folded_live = fold(arch, model, [s["stage1.0"]])
    assert not torch.allclose(folded_live(x), model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch, block, module", [
    (set_se(PLAIN, {"stage2.1": SE(r=4, variant="pre")}),
     "stage2.1", "stage2.1.main.se"),  # folds into conv1's input channels
    (set_se(PLAIN, {"stage3.0": SE(r=4, variant="3x3")}),
     "stage3.0", "stage3.0.main.se"),  # after BN -> ReLU
    (set_se(get_arch("mobilenet_v1", width=0.25, resolution=32, num_classes=10),
            {"stage2.0": SE(r=4, variant="pre")}), "stage2.0", "stage2.0.se"),  # depthwise conv
])
@torch.no_grad()
def test_other_variants_fold_exactly(arch, block, module):
    model = small_model(arch)
    make_constant(model, module, seed=1)
    x, y = class_images(20, size=arch.resolution)
    stats, _ = collect(model, arch, x, y)
    _, folded = fold(arch, model, [st for st in stats if st.block == block])
    torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_post_variant_is_refused_in_one_sentence():
    arch = set_se(PLAIN, {"stage1.1": SE(r=4, variant="post")})
    model = small_model(arch)
    stats, _ = collect(model, arch, *class_images(20))
    assert "cannot become a constant scale" in why_not(model, stats[0])
    with pytest.raises(UserError, match="stage1.1 \\(post variant\\)"):
        fold(arch, model, stats)


@torch.no_grad()
def test_steps_save_exactly_the_cost_models_difference():
    arch = SMALL
    model = small_model(arch)
    x, y = class_images(40)
    stats, _ = collect(model, arch, x, y)
    order = rank(stats)
    base, found = steps(arch, model, order[:3], x, y)
    assert [len(s.removed) for s in found] == [1, 2, 3]
    full, plain = cost(arch), cost(PLAIN)
    for st in found:
        after = cost(without_se(arch, st.removed))
        assert st.params_saved == full.params - after.params > 0
        assert st.flops_saved == full.flops - after.flops > 0
        # every removed SE block has its two 1x1 convs with bias: 2*C*d + C + d params each
        by = {s.block: s for s in stats}
        assert st.params_saved == sum(2 * by[b].channels * (by[b].channels // 4)
                                      + by[b].channels + by[b].channels // 4 for b in st.removed)
    assert cost(found[-1].arch).params - plain.params == full.se_params - found[-1].params_saved
    assert 0 <= base <= 1


@torch.no_grad()
def test_rank_puts_constant_gates_first():
    arch = SMALL
    model = small_model(arch)
    make_constant(model, "stage3.1.main.se")
    make_constant(model, "stage1.2.main.se", seed=2)
    stats, _ = collect(model, arch, *class_images(40))
    assert {s.block for s in rank(stats)[:2]} == {"stage3.1", "stage1.2"}
