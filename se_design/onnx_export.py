"""ONNX export of a spec's model, checked with ONNX Runtime (the optional extra
`pip install se-design[onnx]`).

torch's dynamo exporter (torch.export + onnxscript) is used: the TorchScript one is
deprecated and warns on every export.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from se_design.build import build_model
from se_design.errors import UserError
from se_design.files import writing
from se_design.spec import Arch

OPSET = 18
TOLERANCE = 1e-4  # max |ONNX Runtime - PyTorch| on the check's random input


def require_onnx() -> None:
    """One sentence instead of an ImportError when the extra is not installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise UserError(f"ONNX export needs onnx, onnxruntime and onnxscript ({err.name} is "
                        "missing): pip install se-design[onnx].") from None


def to_onnx(arch: Arch, path: str | Path, state_dict: dict | None = None,
            opset: int = OPSET, inputs: tuple | None = None) -> float:
    """Write the spec's model (eval mode, these weights if given) as ONNX with input
    'input' of shape (batch, C, H, W), batch dynamic, and output 'logits'; check it with ONNX
    Runtime on a random batch of 2. Returns the largest |ONNX Runtime - PyTorch| output
    difference; above 1e-4 the file is removed and a UserError says so. `inputs` (the
    weights' checkpoint's mean, std and classes) go into the model's metadata as JSON lists
    under mean, std and classes (ONNX Runtime: get_modelmeta().custom_metadata_map)."""
    require_onnx()
    model = build_model(arch)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    model.eval()
    with writing(path, "ONNX file") as p:
        export_model(model, arch, p, opset)
        if inputs is not None:
            _metadata(p, dict(zip(("mean", "std", "classes"), inputs)))
    diff = _check(model, arch, p)
    if not diff <= TOLERANCE:  # also catches nan
        p.unlink()
        raise UserError(f"the ONNX export of {arch.name} differs from PyTorch by {diff:.2g} in "
                        f"ONNX Runtime (more than {TOLERANCE:g}), so no file was written.")
    return diff


def export_model(model: torch.nn.Module, arch: Arch, path: Path, opset: int = OPSET) -> None:
    """torch.onnx.export of an eval model, without the exporter's progress and warnings."""
    x = torch.zeros(1, arch.in_chans, arch.resolution, arch.resolution)
    with _quiet(), torch.no_grad():
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
                          external_data=False)  # one file: weights inside


def _metadata(path: Path, values: dict) -> None:
    """Add `values` (JSON-encoded) to the ONNX file's metadata_props."""
    import json

    import onnx

    proto = onnx.load(str(path))
    for key, value in values.items():
        proto.metadata_props.add(key=key, value=json.dumps(list(value)))
    onnx.save(proto, str(path))


def session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session; `threads` fixes its intra-op threads (None: ORT's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads is not None:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check(model: torch.nn.Module, arch: Arch, path: Path) -> float:
    x = torch.randn(2, arch.in_chans, arch.resolution, arch.resolution,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x).numpy()
    got = session(path).run(None, {"input": x.numpy()})[0]
    return float(np.abs(got - expected).max())


@contextmanager
def _quiet():
    """torch.onnx logs its steps and registry gaps and warns about internals: none of it is
    the user's business."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
