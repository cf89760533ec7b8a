"""Checkpoints: spec and weights in one file, loaded with nothing else; bad files are one
sentence."""

import pytest
import torch

from se_design import build_model, get_arch
from se_design.checkpoint import Checkpoint, load, save
from se_design.edit import se_blocks, set_se, without_se
from se_design.errors import UserError
from se_design.spec import SE


def small_ckpt(arch=None) -> Checkpoint:
    arch = arch or get_arch("se_cifar_resnet20", width=0.5, r=4)
    torch.manual_seed(0)
    model = build_model(arch)
    return Checkpoint(arch, model.state_dict(), [120.0, 110.0, 100.0], [60.0, 61.0, 62.0],
                      [f"c{i}" for i in range(10)], {"epochs": 3, "seeds": [0]})


def test_round_trip_gives_the_same_model_and_metadata(tmp_path):
    ckpt = small_ckpt()
    for v in ckpt.state.values():  # make weights differ from a fresh build
        if v.is_floating_point():
            v.add_(torch.randn_like(v) * 0.1)
    save(ckpt, tmp_path / "m.pt")
    back = load(tmp_path / "m.pt")
    assert back.arch == ckpt.arch and back.classes == ckpt.classes
    assert back.mean == ckpt.mean and back.std == ckpt.std and back.training == ckpt.training
    x = torch.randn(4, 3, 32, 32)
    reference = build_model(ckpt.arch)
    reference.load_state_dict(ckpt.state)
    torch.testing.assert_close(back.model()(x), reference.eval()(x), rtol=0, atol=0)
    # weights_only: nothing but plain data and tensors in the file
    assert torch.load(tmp_path / "m.pt", weights_only=True)["spec"]["name"] == ckpt.arch.name


def test_corrupt_file_is_one_sentence(tmp_path):
    save(small_ckpt(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "bad.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load(tmp_path / "bad.pt")


def test_checkpoint_of_another_tool_is_refused(tmp_path):
    torch.save(build_model(get_arch("cifar_resnet20")).state_dict(), tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an se-design checkpoint"):
        load(tmp_path / "other.pt")


def test_weights_that_do_not_fit_the_spec_are_named(tmp_path):
    ckpt = small_ckpt()
    ckpt.arch = without_se(ckpt.arch, ["stage2.1"])  # spec lost an SE the weights still have
    save(ckpt, tmp_path / "m.pt")
    with pytest.raises(UserError, match=r"do not fit .*stage2\.1\.main\.se\.fc1\.weight is not"):
        load(tmp_path / "m.pt")
    ckpt = small_ckpt()
    ckpt.arch = set_se(ckpt.arch, {"stage3.0": SE(r=2)})  # wider SE than the weights
    save(ckpt, tmp_path / "m.pt")
    with pytest.raises(UserError, match=r"stage3\.0\.main\.se\.fc1\.weight has shape"):
        load(tmp_path / "m.pt")


def test_block_paths_and_edits():
    arch = get_arch("se_cifar_resnet20")
    paths = [p for p, _ in se_blocks(arch)]
    assert paths == [f"stage{s}.{i}" for s in (1, 2, 3) for i in range(3)]
    assert [p for p, _ in se_blocks(without_se(arch, ["stage3.2", "stage1.0"]))] == paths[1:-1]
    with pytest.raises(UserError, match="no SE block 'stage4.0'"):
        without_se(arch, ["stage4.0"])


def test_blocks_inside_branches_are_addressed_by_branch():
    from se_design.spec import validate

    arch = validate({"name": "inc", "resolution": 32, "stages": [{"name": "s1", "blocks": [
        {"kind": "branches", "se": {"r": 4}, "branches": [
            [{"kind": "conv", "out": 8, "kernel": 1, "se": {"r": 4}}],
            [{"kind": "conv", "out": 8, "kernel": 1}, {"kind": "conv", "out": 8, "se": {"r": 2}}]]}]}]})
    assert [p for p, _ in se_blocks(arch)] == ["s1.0", "s1.0.b0.0", "s1.0.b1.1"]
    edited = set_se(arch, {"s1.0.b1.1": None, "s1.0.b1.0": SE(r=8)})
    assert [(p, b.se.r) for p, b in se_blocks(edited)] == [("s1.0", 4), ("s1.0.b0.0", 4),
                                                          ("s1.0.b1.0", 8)]
    built = {n for n, _ in build_model(edited).named_modules()}
    assert {"s1.0.se", "s1.0.b0.0.se", "s1.0.b1.0.se"} <= built  # paths name the modules
    from se_design.analysis.excitation import collect

    stats, _ = collect(build_model(arch).eval(), arch, torch.randn(20, 3, 32, 32),
                       torch.arange(20) % 10)
    assert sorted((s.block, s.module, s.channels) for s in stats) == [
        ("s1.0", "s1.0.se", 16), ("s1.0.b0.0", "s1.0.b0.0.se", 8),
        ("s1.0.b1.1", "s1.0.b1.1.se", 8)]
