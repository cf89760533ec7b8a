"""Export formats: the standalone PyTorch file against build_model (keys, outputs, init) and
the cost model (fvcore), the ONNX file against ONNX Runtime, and the suffix dispatcher."""

import ast
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import inception_resnet_parts

from se_design import spec as s
from se_design.build import build_model
from se_design.checkpoint import Checkpoint, save
from se_design.cost import cost
from se_design.errors import UserError
from se_design.export_formats import export_file
from se_design.pyfile import to_python
from se_design.spec import SE, load_config, with_se
from se_design.verify import fvcore_counts
from se_design.zoo import get_arch, names


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny forward passes on one thread: on a shared CPU, more threads only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small(name, res=32, **kw):
    return get_arch(name, resolution=res, num_classes=10, **kw)


def shuffle_pre_all():
    """SE before each ShuffleNet unit and on the blocks inside its branches (the nested SEs
    of se_shufflenet_v1_g3, and the 'pre' layout of branches)."""
    return with_se(small("shufflenet_v1_g3"), SE(r=4, variant="pre"), levels="all")


ARCHS = {
    "se_cifar_resnet20": lambda: get_arch("se_cifar_resnet20"),
    "se_resnet50": lambda: small("se_resnet50", 32, width=0.5),
    "mobilenet_v3_small": lambda: small("mobilenet_v3_small"),
    "efficientnet_b0": lambda: small("efficientnet_b0"),
    "regnet_y_400mf": lambda: small("regnet_y_400mf"),
    "se_bn_inception": lambda: small("se_bn_inception", 64, width=0.25),
    "inception_resnet_parts": lambda: inception_resnet_parts(SE(r=2, variant="pre")),
    "shufflenet_pre_all": shuffle_pre_all,
    "mobilenet_v3_pre": lambda: with_se(small("plain_mobilenet_v3_small"), SE(r=4, variant="pre")),
    "mobilenet_v1_pre": lambda: with_se(small("mobilenet_v1", width=0.25), SE(r=2, variant="pre")),
    "se_mobilenet_v1_3x3": lambda: with_se(small("mobilenet_v1", width=0.25), SE(r=2, variant="3x3")),
    "vgg16_pre": lambda: with_se(small("vgg16", width=0.25), SE(r=2, variant="pre", squeeze="max")),
    **{f"cifar_resnet20_{v}_{sq}_{gate}": (lambda v=v, sq=sq, gate=gate: with_se(
        get_arch("cifar_resnet20"), SE(r=4, variant=v, squeeze=sq, gate=gate, act="silu")))
       for v, sq, gate in [("pre", "max", "tanh"), ("post", "none", "relu"),
                           ("identity", "avg", "hardsigmoid"), ("3x3", "avg", "sigmoid")]},
    "resnet50_identity_nobias": lambda: with_se(
        small("resnet50", 32, width=0.25, stride_at="3x3"),
        SE(r=4, variant="identity", bias=False, divisor=8)),
}


def load_source(source: str, monkeypatch) -> dict:
    """Run the file in a fresh namespace with se_design unimportable."""
    monkeypatch.setitem(sys.modules, "se_design", None)
    namespace: dict = {"__name__": "exported"}
    exec(compile(source, "exported.py", "exec"), namespace)  # noqa: S102 - the file under test
    return namespace


def randomized(model: torch.nn.Module) -> dict:
    """A state_dict with every float tensor random (BN variances positive), so that no
    branch is silenced by zero-initialised BNs."""
    gen = torch.Generator().manual_seed(0)
    out = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            out[key] = value
        elif key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(value.shape, generator=gen)
        else:
            out[key] = 0.2 * torch.randn(value.shape, generator=gen)
    return out


@pytest.mark.parametrize("name", ARCHS)
def test_pyfile_matches_build_model_and_cost(name, monkeypatch):
    arch = ARCHS[name]()
    source = to_python(arch)
    reference = build_model(arch).eval()
    weights = randomized(reference)
    reference.load_state_dict(weights)
    exported = load_source(source, monkeypatch)["build"]()
    exported.load_state_dict(weights, strict=True)
    x = torch.randn(2, arch.in_chans, arch.resolution, arch.resolution)
    with torch.no_grad():
        torch.testing.assert_close(exported.eval()(x), reference(x), atol=1e-5, rtol=1e-5)
    flops, params = fvcore_counts(exported, arch.resolution, arch.in_chans)
    c = cost(arch, "fvcore")
    assert (flops[""], params[""]) == (c.flops, c.params)


@pytest.mark.parametrize("name", ["se_resnet50", "mobilenet_v3_small", "se_cifar_resnet20"])
def test_pyfile_initialises_as_build_model(name, monkeypatch):
    """He init and zero last BNs in the same places (which BN weights start at zero)."""
    arch = ARCHS[name]()
    exported = load_source(to_python(arch), monkeypatch)["build"]()

    def zero_bns(model):
        return {k for k, v in model.state_dict().items()
                if k.endswith(".weight") and v.ndim == 1 and not v.any()}

    assert zero_bns(exported) == zero_bns(build_model(arch)) != set()


def test_pyfile_imports_only_torch_and_runs_alone(tmp_path):
    """`python -I` in an empty folder, se_design blocked: the file needs torch alone and
    loads an se-design checkpoint as its docstring says (strict)."""
    arch = get_arch("se_cifar_resnet20")
    path = tmp_path / "net.py"
    path.write_text(to_python(arch))
    tree = ast.parse(path.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported - {"torch", "collections"} == set()
    model = build_model(arch).eval()
    model.load_state_dict(randomized(model))
    save(Checkpoint(arch, model.state_dict(), [0.0] * 3, [1.0] * 3, [str(i) for i in range(10)]),
         tmp_path / "model.pt")
    x = torch.randn(1, 3, 32, 32)
    torch.save(x, tmp_path / "x.pt")
    script = ("import sys; sys.path.insert(0, '.'); sys.modules['se_design'] = None; "
              "import torch, net; model = net.build().eval(); state = torch.load('model.pt'); "
              "model.load_state_dict(state.get('state_dict', state), strict=True); "
              "torch.save(model(torch.load('x.pt')), 'y.pt')")
    subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, check=True,
                   capture_output=True)
    with torch.no_grad():
        torch.testing.assert_close(torch.load(tmp_path / "y.pt"), model(x), atol=1e-5, rtol=1e-5)


def test_pyfile_writes_only_the_classes_it_uses(monkeypatch):
    source = to_python(get_arch("mobilenet_v3_small"))
    assert "class MBConv" in source and "class SE(" in source
    assert "class Bottleneck" not in source and "class Branches" not in source
    plain = to_python(s.Arch(name="tiny", resolution=8, num_classes=2,
                             stages=(s.Stage(name="a", blocks=(s.Conv(out=4),)),)))
    assert "class SE(" not in plain and "class ConvBNAct" in plain


def test_pyfile_keys_and_shapes_for_the_whole_zoo(monkeypatch):
    """Every zoo network with SE (its plain twin has a subset of its layers): lines of at most
    100 characters, and the same state_dict keys and shapes as build_model (on the meta
    device: no memory, no arithmetic)."""
    for name in [n for n in names() if not n.startswith("plain_") and f"se_{n}" not in names()]:
        arch = get_arch(name)
        source = to_python(arch)
        assert max(len(line) for line in source.splitlines()) <= 100, name
        build = load_source(source, monkeypatch)["build"]
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in build().state_dict().items()}
            assert shapes == {k: v.shape for k, v in build_model(arch).state_dict().items()}, name


def tiny():
    return s.Arch(name="tiny", resolution=8, num_classes=3, stages=(s.Stage(name="a", blocks=(
        s.Conv(out=8, stride=2, se=SE(r=2)), s.Basic(out=8)),),))


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_export_spec(suffix, tmp_path):
    arch = small("se_resnet50", 64)
    assert "its spec" in export_file(arch, tmp_path / f"a{suffix}")
    assert load_config(tmp_path / f"a{suffix}") == arch
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]


def test_export_python_with_weights(tmp_path, monkeypatch):
    """The weights go beside the file and load into it with strict=True."""
    arch = tiny()
    reference = build_model(arch).eval()
    weights = randomized(reference)
    reference.load_state_dict(weights)
    message = export_file(arch, tmp_path / "net.py", weights)
    assert "net.pt" in message
    model = load_source((tmp_path / "net.py").read_text(), monkeypatch)["build"]().eval()
    model.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)


def test_export_unknown_suffix_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match=r"must end in \.yaml, \.yml, \.json, \.py or \.onnx\.$"):
        export_file(tiny(), tmp_path / "net.txt")
    assert not list(tmp_path.iterdir())


needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "onnxruntime", "onnxscript")),
    reason="the onnx extra is not installed (pip install se-design[onnx])")


@needs_onnx
@pytest.mark.parametrize("name", ["se_cifar_resnet20", "mobilenet_v3_small"])
def test_onnx_matches_pytorch_in_onnxruntime(name, tmp_path):
    """ONNX Runtime on the file, at another batch size, against build_model's outputs."""
    import onnxruntime

    arch = ARCHS[name]()
    reference = build_model(arch).eval()
    weights = randomized(reference)
    reference.load_state_dict(weights)
    message = export_file(arch, tmp_path / "net.onnx", weights)
    assert "ONNX Runtime" in message
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # the weights inside
    session = onnxruntime.InferenceSession(tmp_path / "net.onnx", providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        expected = reference(x).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], expected, atol=1e-4)


@needs_onnx
def test_onnx_with_weights_carries_what_feeding_them_needs(tmp_path):
    import onnxruntime

    arch = ARCHS["se_cifar_resnet20"]()
    inputs = ([125.3, 123.0, 113.9], [63.0, 62.1, 66.7], [f"class {k}" for k in range(10)])
    export_file(arch, tmp_path / "net.onnx", build_model(arch).state_dict(), inputs=inputs)
    meta = onnxruntime.InferenceSession(tmp_path / "net.onnx").get_modelmeta()
    got = {k: json.loads(v) for k, v in meta.custom_metadata_map.items()}
    assert got == dict(zip(("mean", "std", "classes"), map(list, inputs)))


def test_onnx_missing_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError, match=r"pip install se-design\[onnx\]\.$"):
        export_file(tiny(), tmp_path / "net.onnx")
    assert not list(tmp_path.iterdir())
