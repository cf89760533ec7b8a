"""The backbone test: the analytic 'fvcore' convention equals fvcore's count of the model
built from the same spec, per layer, per stage and in total, params and FLOPs."""

import pytest
from conftest import inception_resnet_parts

from se_design import spec as s
from se_design.spec import SE, with_se
from se_design.verify import verify
from se_design.zoo import get_arch, names


def assert_agrees(arch):
    check = verify(arch)
    assert check.layer_mismatches == []
    assert check.flops_diff == 0 and check.params_diff == 0
    assert check.ok, (check.fvcore_flops, [(gr.name, gr.flops) for gr in check.analytic.groups])


@pytest.mark.parametrize("name", names())
def test_zoo_at_default_resolution(name):
    assert_agrees(get_arch(name))


@pytest.mark.parametrize("name", [n for n in names() if not n.endswith(("b1", "b2", "b3"))])
def test_zoo_at_another_resolution(name):  # EfficientNet-B1..B3 only rescale B0
    res = 40 if "cifar" in name else 160
    assert_agrees(get_arch(name, resolution=res, num_classes=100))


@pytest.mark.parametrize("variant", ["standard", "pre", "post", "identity", "3x3"])
@pytest.mark.parametrize("squeeze,gate,r", [("avg", "sigmoid", 4), ("max", "tanh", 8),
                                            ("none", "relu", 16)])
@pytest.mark.parametrize("base", ["resnet18", "resnet50", "cifar_resnet20"])
def test_se_placements(base, variant, squeeze, gate, r):
    res = 32 if "cifar" in base else 96
    arch = with_se(get_arch(base, resolution=res), SE(r=r, variant=variant, squeeze=squeeze,
                                                      gate=gate))
    assert_agrees(arch)


@pytest.mark.parametrize("base,variants", [("vgg16", ["standard", "pre"]),
                                           ("mobilenet_v1", ["standard", "pre", "3x3"])])
def test_se_placements_plain_blocks(base, variants):
    for v in variants:
        assert_agrees(with_se(get_arch(base, resolution=64, width=0.5), SE(r=2, variant=v)))  # r <= 3 input channels


def test_mixed_per_stage_r_and_divisor():
    arch = get_arch("resnet50", resolution=128, stride_at="3x3")
    arch = with_se(arch, SE(r=2), ["conv2"])
    arch = with_se(arch, SE(r=32, divisor=8), ["conv4"])
    assert_agrees(arch)


def test_multi_branch_grouped_depthwise_and_shuffle():
    """Inception-style concat, a ShuffleNet-style unit and grouped/depthwise convs: the
    kinds of module later zoo entries (BN-Inception, ShuffleNet) are made of."""
    inception = s.Branches(branches=(
        (s.Conv(out=16, kernel=1),),
        (s.Conv(out=8, kernel=1), s.Conv(out=24, kernel=3)),
        (s.Pool(op="max", kernel=3, stride=1, padding=1), s.Conv(out=8, kernel=1)),
        (),
    ), merge="concat", se=SE(r=4))
    shuffle_unit = s.Branches(branches=(
        (s.Conv(out=48, kernel=1, groups=4), s.Shuffle(groups=4),
         s.Conv(out=48, kernel=3, groups=48, act="none"), s.Conv(out=80, kernel=1, groups=4)),
        (),
    ), merge="add", act="relu", se=SE(r=8, variant="pre"))
    arch = s.Arch(name="mixed", resolution=32, num_classes=10,
                  stem=(s.Conv(out=32, kernel=3, stride=2),),
                  stages=(s.Stage(name="inc", blocks=(inception,)),
                          s.Stage(name="shuf", blocks=(s.Conv(out=80, kernel=1), shuffle_unit))))
    assert_agrees(arch)


def test_new_activations_and_se_conventions_cost_nothing_in_fvcore():
    """hard-swish, SiLU, ReLU6 (convs, MBConv, head) and the SE presets' SiLU and
    hard-sigmoid: the analytic 'fvcore' convention counts none of them, so agreement here is
    fvcore itself showing it counts none (the convention table in the README says so)."""
    mb = [s.MBConv(out=24, expanded=48, act=a, se=SE(preset=p), stride=st)
          for a, p, st in (("hardswish", "mobilenetv3", 2), ("silu", "efficientnet", 1),
                           ("relu6", "regnet", 1), ("relu", "paper", 1))]
    arch = s.Arch(name="acts", resolution=32, num_classes=10,
                  stem=(s.Conv(out=16, stride=2, act="hardswish"), s.Conv(out=24, act="relu6"),
                        s.Conv(out=24, act="silu")),
                  stages=(s.Stage(name="mb", blocks=tuple(mb)),),
                  head=s.Head(hidden=(32,), act="hardswish", dropout=0.2))
    assert_agrees(arch)


@pytest.mark.parametrize("se", [None, SE(r=2), SE(r=3, variant="pre")])
def test_asymmetric_unpadded_biased_and_scaled(se):
    assert_agrees(inception_resnet_parts(se))
