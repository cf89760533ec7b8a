"""The built PyTorch model does what the spec says."""

import pytest
import torch

from se_design.build import build_model
from se_design.errors import UserError
from se_design.spec import SE, with_se
from se_design.zoo import get_arch, names


@pytest.mark.parametrize("name", [n for n in names() if "152" not in n and "101" not in n])
def test_forward_shape(name):
    r = 4 if name.startswith("se_") else None  # quarter width leaves as few as 8 channels
    res = 75 if "inception_resnet" in name else 32  # its unpadded convs need 75, as in TF
    arch = get_arch(name, r=r, resolution=res, num_classes=7, width=0.25)
    model = build_model(arch).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, res, res)).shape == (2, 7)


@pytest.mark.parametrize("squeeze,gate", [("avg", "sigmoid"), ("max", "tanh"), ("none", "relu")])
def test_se_computes_the_paper_formula(squeeze, gate):
    """x~_c = s_c * u_c with s = gate(W2 relu(W1 z)), z = squeeze(u)."""
    torch.manual_seed(0)
    se_cfg = SE(r=4, squeeze=squeeze, gate=gate)
    se = build_model(with_se(get_arch("cifar_resnet20"), se_cfg)).stage2[1].main.se
    u = torch.randn(2, 32, 8, 8)
    w1, b1 = se.fc1.weight[:, :, 0, 0], se.fc1.bias
    w2, b2 = se.fc2.weight[:, :, 0, 0], se.fc2.bias
    assert w1.shape == (8, 32)  # floor(32 / 4)
    if squeeze == "none":  # the FCs act on every pixel
        z = u.permute(0, 2, 3, 1)
        s = getattr(torch, gate)(torch.relu(z @ w1.T + b1) @ w2.T + b2).permute(0, 3, 1, 2)
    else:
        z = u.mean((2, 3)) if squeeze == "avg" else u.amax((2, 3))
        s = getattr(torch, gate)(torch.relu(z @ w1.T + b1) @ w2.T + b2)[:, :, None, None]
    torch.testing.assert_close(se(u), s * u)


def test_identity_and_post_variants_sit_where_the_paper_puts_them():
    ident = build_model(with_se(get_arch("resnet18"), SE(variant="identity")))
    post = build_model(with_se(get_arch("resnet18"), SE(variant="post")))
    assert hasattr(ident.conv3[0].shortcut, "se") and not hasattr(ident.conv3[0].main, "se")
    assert post.conv3[0].post_names == ["relu", "se"]  # after the add and its ReLU


def test_option_a_shortcut_has_no_parameters_and_pads_channels():
    model = build_model(get_arch("cifar_resnet20"))
    sc = model.stage2[0].shortcut
    assert sum(p.numel() for p in sc.parameters()) == 0
    x = torch.randn(1, 16, 32, 32)
    y = sc(x)
    assert y.shape == (1, 32, 16, 16)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert y[:, 16:].abs().sum() == 0


def test_inception_resnet_block_scales_its_residual_branch():
    """Inception-ResNet: relu(x + scale * up(concat(branches))), `up` a biased 1x1 conv
    without BN; the SE of the SE version sits on the residual branch before the scaling."""
    model = build_model(get_arch("se_inception_resnet_v2", resolution=75, width=0.25)).eval()
    block = model.inception_resnet_b[1]
    residual = block.b0
    assert residual.scale.factor == 0.10 and block.b1 is not None and len(block.b1) == 0
    assert residual[1].conv.bias is not None and not hasattr(residual[1], "bn")
    assert list(residual[1]._modules) == ["conv", "se"]
    x = torch.relu(torch.randn(1, 272, 7, 7))  # 1088 channels at quarter width
    with torch.no_grad():
        up = residual[1].se(residual[1].conv(residual[0](x)))
        torch.testing.assert_close(block(x), torch.relu(x + 0.10 * up))


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid", "tanh", "relu"])
def test_init_gates_starts_each_gate_at_the_value(gate):
    from se_design.build import Scale, init_gates

    model = build_model(with_se(get_arch("cifar_resnet20"), SE(r=4, gate=gate)))
    init_gates(model, 0.8)
    scales = [m for m in model.modules() if isinstance(m, Scale)]
    assert len(scales) == 9
    for s in scales:  # the gate's output at zero input to the last excitation layer
        *_, fc, act = s.children()
        out = act(fc(torch.zeros(1, fc.in_channels, 1, 1)))
        assert torch.allclose(out, torch.full_like(out, 0.8), atol=1e-6)


def test_init_gates_needs_a_bias():
    from se_design.build import init_gates

    model = build_model(with_se(get_arch("cifar_resnet20"), SE(r=4, bias=False)))
    with pytest.raises(UserError, match="bias"):
        init_gates(model, 0.9)
