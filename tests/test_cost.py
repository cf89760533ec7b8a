"""The analytic model against hand derivations and published counts."""

import subprocess
import sys

import pytest

from se_design import spec as s
from se_design.cost import cost
from se_design.paper import compare
from se_design.spec import SE, with_se
from se_design.zoo import get_arch


def test_cost_module_does_not_import_torch():
    code = ("import sys, se_design.cost, se_design.zoo, se_design.paper; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_se_resnet50_figures_from_the_issue():
    """Closed form 2/r * sum N_s C_s^2 = 2,514,944 at r=16; totals 28,088,024 and 25,557,032
    (torchvision's resnet50 has 25,557,032 parameters; same for v1 and v1.5)."""
    se, plain = cost(get_arch("se_resnet50")), cost(get_arch("resnet50"))
    hand = 2 / 16 * (3 * 256**2 + 4 * 512**2 + 6 * 1024**2 + 3 * 2048**2)
    assert se.se_closed_form == hand == 2_514_944
    assert se.params == 28_088_024 and plain.params == 25_557_032
    assert se.params - plain.params == se.se_params
    # exact = closed form + biases: each SE has C/r + C bias terms
    assert se.se_params == hand + sum(n * (c // 16 + c) for n, c in
                                      [(3, 256), (4, 512), (6, 1024), (3, 2048)])


def test_v1_5_moves_flops_not_params():
    """Stride in the 3x3 (torchvision/timm): 4.09 GMACs, published for torchvision's
    resnet50; same parameters as the paper's stride-in-1x1 layout (3.86)."""
    v1, v15 = (cost(get_arch("resnet50", stride_at=at), "paper") for at in ("1x1", "3x3"))
    assert v1.params == v15.params
    assert v15.flops / 1e9 == pytest.approx(4.09, rel=0.005)
    assert v1.flops / 1e9 == pytest.approx(3.86, rel=0.005)


@pytest.mark.parametrize("c", compare(), ids=lambda c: c.row.model)
def test_paper_table_within_tolerance(c):
    assert c.ok, (c.row.model, c.params_m, c.row.params_m, c.gflops, c.row.gflops)


def test_single_conv_block_by_hand():
    """conv 3x3 16->32 stride 2 on 32x32, BN, ReLU; SE r=4; flatten head to 10 classes."""
    arch = s.Arch(name="tiny", resolution=32, in_chans=16, num_classes=10,
                  stages=(s.Stage(name="a", blocks=(s.Conv(out=32, stride=2, se=SE(r=4)),)),),
                  head=s.Head(pool="flatten"))
    fv, paper = cost(arch, "fvcore"), cost(arch, "paper")
    conv = 32 * 16 * 9 * 16 * 16
    bn = 2 * 32 * 16 * 16
    squeeze = 32 * 16 * 16
    fcs = 32 * 8 + 8 * 32
    head = 32 * 16 * 16 * 10
    assert paper.flops == conv + squeeze + fcs + head
    assert fv.flops == conv + bn + squeeze + fcs + head
    assert fv.params == 32 * 16 * 9 + 2 * 32 + (32 * 8 + 8) + (8 * 32 + 32) + 32 * 256 * 10 + 10
    assert fv.se_params == (32 * 8 + 8) + (8 * 32 + 32)
    assert fv.se_closed_form == 2 * 32**2 / 4


def test_nosqueeze_costs_fcs_at_full_resolution():
    """NoSqueeze: each SE's two FCs run as 1x1 convs on every pixel: +2 C^2/r * H * W each
    (the paper's 3.86 -> 4.27 GFLOPs)."""
    base = cost(get_arch("resnet50"), "paper").flops
    nosq = cost(with_se(get_arch("resnet50"), SE(squeeze="none")), "paper").flops
    per_stage = [(3, 256, 56), (4, 512, 28), (6, 1024, 14), (3, 2048, 7)]
    assert nosq - base == sum(n * 2 * c * (c // 16) * hw * hw for n, c, hw in per_stage)


def test_se_flops_and_paths_follow_the_variant():
    """The SE sees the bottleneck width after the 3x3 (25.8M in the paper's table), the
    block input for 'pre', the output elsewhere."""
    base = get_arch("resnet50")
    for variant, where, c in [("standard", "conv3.1.main.se.fc1", 512),
                              ("3x3", "conv3.1.main.se.fc1", 128),
                              ("pre", "conv3.0.main.se.fc1", 256),
                              ("post", "conv3.1.se.fc1", 512),
                              ("identity", "conv3.0.shortcut.se.fc1", 512)]:
        layers = {la.path: la for la in cost(with_se(base, SE(variant=variant))).layers}
        assert where in layers, (variant, sorted(p for p in layers if ".se." in p)[:3])
        assert layers[where].params == c * (c // 16) + c // 16  # weights + bias


def test_per_stage_rows_add_up_and_report_r():
    c = cost(with_se(with_se(get_arch("resnet50"), SE(r=8), ["conv2"]), SE(r=32), ["conv5"]))
    rows = {gr.name: gr for gr in c.groups}
    assert [rows[n].r for n in ("stem", "conv2", "conv3", "conv5", "head")] == \
        [None, 8, None, 32, None]
    assert (rows["conv2"].blocks, rows["conv2"].channels) == (3, 256)
    assert sum(la.flops for la in c.layers) == c.flops
    assert sum(la.params for la in c.layers) == c.params


def test_unknown_convention():
    with pytest.raises(s.SpecError, match="unknown convention"):
        cost(get_arch("resnet18"), "macs")


def test_nested_se_closed_form_by_hand():
    """Issue 11: a branches block with an outer SE (128 channels, r=16) around a block with
    an inner SE (64 channels, r=4): 2·128²/16 + 2·64²/4 = 2,048 + 2,048, with biases
    (8 + 128) + (16 + 64) on top; the stage reports both ratios."""
    inner = s.Conv(out=64, kernel=1, se=SE(r=4))
    unit = s.Branches(branches=((inner,), (s.Conv(out=64, kernel=1),)), merge="concat",
                      se=SE(r=16))
    arch = s.Arch(name="nested", resolution=8, num_classes=10,
                  stages=(s.Stage(name="a", blocks=(unit,)),))
    c = cost(arch)
    assert c.se_closed_form == 2 * 128**2 // 16 + 2 * 64**2 // 4 == 4096
    assert c.se_params == 4096 + (8 + 128) + (16 + 64)
    assert c.groups[0].rs == (4, 16) and c.groups[0].r is None
    assert [la.path for la in c.layers if la.se and la.op == "Conv"] == \
        ["a.0.b0.0.se.fc1", "a.0.b0.0.se.fc2", "a.0.se.fc1", "a.0.se.fc2"]


def test_layer_paths_have_no_trailing_dot():
    c = cost(get_arch("resnet18"))
    assert "stem.1" in {la.path for la in c.layers}  # the max pool is a block on its own
    assert not [la.path for la in c.layers if la.path.endswith(".")]


TORCHVISION_PARAMS = {  # torchvision's documented parameter counts of the same definitions
    "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548, "regnet_y_400mf": 4_344_144, "regnet_y_800mf": 6_432_512,
    "regnet_y_1_6gf": 11_202_430,
}


@pytest.mark.parametrize("name", TORCHVISION_PARAMS)
def test_published_se_networks_match_torchvision_and_have_a_plain_version(name):
    se, plain = cost(get_arch(name)), cost(get_arch(f"plain_{name}"))
    assert se.params == TORCHVISION_PARAMS[name]
    assert plain.se_params == 0 and se.params - plain.params == se.se_params > 0
    with pytest.raises(s.SpecError, match="unknown architecture"):
        get_arch(f"se_{name}")  # SE is already in: se_ is for the SE paper's plain networks


def test_r_overrides_the_published_ratio():
    """MobileNetV3-Small's first SE sees 16 channels: make_divisible(16/4, 8) = 8, and
    with r=2 make_divisible(8, 8) = 8 too; its last sees 576: 144 at r=4, 288 at r=2."""
    c = cost(get_arch("mobilenet_v3_small", r=2))
    first, last = c.groups[1].units[0][1].ses[0], c.groups[4].units[-1][1].ses[0]
    assert (first.channels, first.reduced, last.channels, last.reduced) == (16, 8, 576, 288)
    with pytest.raises(s.SpecError, match="r does not apply; use mobilenet_v3_small"):
        get_arch("plain_mobilenet_v3_small", r=4)


def test_printable_tables():
    """print(cost(arch)) shows the per-stage table, cost(arch).layer_table() every layer."""
    c = cost(get_arch("se_cifar_resnet20"))
    lines = str(c).splitlines()
    assert lines[-1].split()[-2:] == [f"{c.params:,}", f"{c.flops:,}"]
    stage2 = next(ln.split() for ln in lines if ln.startswith("stage2"))
    assert stage2[1:4] == ["3", "32", "16"]  # blocks, channels, r
    rows = c.layer_table().splitlines()[1:]
    assert len(rows) == len(c.layers)
    assert sum(r.endswith("SE") for r in rows) == sum(la.se for la in c.layers) == 9 * 5


def test_se_without_biases_is_exactly_the_closed_form():
    c = cost(with_se(get_arch("resnet50"), SE(bias=False)))
    assert c.se_params == c.se_closed_form == 2_514_944
