"""`se-design export`: the format by --out's suffix, the design from a study, a spec, the zoo
or a checkpoint, with the checkpoint's trained weights (issue 21)."""

import importlib.util

import pytest
import torch
from conftest import cli, write_space

from se_design import build_model, checkpoint
from se_design.spec import load_config
from se_design.zoo import get_arch


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    """An se-design checkpoint of SE-ResNet-20 with random (not default) weights."""
    path = tmp_path_factory.mktemp("ck") / "model.pt"
    arch = get_arch("se_cifar_resnet20")
    torch.manual_seed(1)
    state = {k: v + torch.randn_like(v) * 0.01 if v.is_floating_point() else v
             for k, v in build_model(arch).state_dict().items()}
    checkpoint.save(checkpoint.Checkpoint(arch, state, [0.0] * 3, [1.0] * 3,
                                          [str(k) for k in range(10)]), path)
    return path


def _module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checkpoint_to_python_file_keeps_its_weights(model_pt, tmp_path):
    res, text = cli("export", "--checkpoint", model_pt, "--out", tmp_path / "net.py")
    assert res.exit_code == 0, text
    assert "needs only torch" in text and "net.pt" in text
    module = _module(tmp_path / "net.py")
    net = module.build().eval()
    net.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    x = torch.randn(2, 3, 32, 32)
    ckpt = checkpoint.load(model_pt)
    assert torch.allclose(net(x), ckpt.model()(x), atol=1e-5)
    # what feeding the trained model needs goes with its weights
    assert (module.MEAN, module.STD, module.CLASSES) == (ckpt.mean, ckpt.std, ckpt.classes)
    cli("export", "--arch", "se_cifar_resnet20", "--out", tmp_path / "bare.py")
    assert not hasattr(_module(tmp_path / "bare.py"), "MEAN")  # no weights, nothing to feed


def test_zoo_arch_with_matching_checkpoint_and_spec_file(model_pt, tmp_path):
    res, text = cli("export", "--arch", "se_cifar_resnet20", "--checkpoint", model_pt,
                    "--out", tmp_path / "a.yaml")
    assert res.exit_code == 0, text
    assert load_config(tmp_path / "a.yaml") == get_arch("se_cifar_resnet20")
    res, text = cli("export", "--config", tmp_path / "a.yaml", "--out", tmp_path / "b.json")
    assert res.exit_code == 0 and load_config(tmp_path / "b.json") == get_arch("se_cifar_resnet20")


def test_checkpoint_of_another_design_is_one_sentence(model_pt, tmp_path):
    res, text = cli("export", "--arch", "cifar_resnet20", "--checkpoint", model_pt,
                    "--out", tmp_path / "a.py")
    assert res.exit_code == 2 and "which is not the design exported" in text
    assert not (tmp_path / "a.py").exists()


def test_export_never_writes_its_weights_over_the_checkpoint(model_pt, tmp_path):
    """`--checkpoint model.pt --out model.py` would put the weights in model.pt itself."""
    before = model_pt.read_bytes()
    for suffix in (".py", ".yaml"):
        res, text = cli("export", "--checkpoint", model_pt, "--out", model_pt.with_suffix(suffix))
        assert res.exit_code == 2 and "over the checkpoint" in text, text
        assert not model_pt.with_suffix(suffix).exists()
    assert model_pt.read_bytes() == before


def test_export_never_writes_its_weights_over_another_checkpoint(model_pt, tmp_path):
    """`train --out mine.pt` then `export --checkpoint model.pt --out mine.py`: mine.pt holds
    trained work that a bare state_dict would replace."""
    mine = tmp_path / "mine.pt"
    mine.write_bytes(model_pt.read_bytes())
    res, text = cli("export", "--checkpoint", model_pt, "--out", tmp_path / "mine.py")
    assert res.exit_code == 2 and "over the se-design checkpoint there" in text, text
    assert mine.read_bytes() == model_pt.read_bytes() and not (tmp_path / "mine.py").exists()
    # a weights file export wrote before is not a checkpoint: written again, and named as such
    assert cli("export", "--checkpoint", model_pt, "--out", tmp_path / "w.py")[0].exit_code == 0
    assert cli("export", "--checkpoint", model_pt, "--out", tmp_path / "w.py")[0].exit_code == 0
    res, text = cli("excitation", "--checkpoint", tmp_path / "w.pt")
    assert res.exit_code == 2 and "holds weights only (a state_dict" in text, text

def test_study_trial_as_python_file_and_yaml_with_origin(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path)
    assert cli("search", "--space", space, "--cost-only", "--store", "--n-trials", 3,
               "--storage", db)[0].exit_code == 0
    res, text = cli("export", "--study", "tiny-cost", "--storage", db, "--trial", 1,
                    "--out", tmp_path / "t1.py")
    assert res.exit_code == 0, text
    res, text = cli("export", "--study", "tiny-cost", "--storage", db, "--trial", 1,
                    "--out", tmp_path / "t1.yaml")
    assert "'tiny-cost', trial 1" in (tmp_path / "t1.yaml").read_text()
    arch = load_config(tmp_path / "t1.yaml")
    net, ref = _module(tmp_path / "t1.py").build(), build_model(arch)
    assert net.state_dict().keys() == ref.state_dict().keys()
