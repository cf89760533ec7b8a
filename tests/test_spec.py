"""The spec: JSON/YAML round trips, validation messages, edits."""

import json

import pytest
import yaml

from se_design import spec as s
from se_design.spec import SE, SpecError, with_se
from se_design.zoo import get_arch, names


@pytest.mark.parametrize("name", names())
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_round_trip_zoo(name, fmt):
    arch = get_arch(name)
    assert s.loads(s.dumps(arch, fmt), fmt) == arch


def test_round_trip_edited_spec(tmp_path):
    arch = with_se(get_arch("resnet50"), SE(r=8, variant="identity", squeeze="max",
                                           gate="tanh", divisor=8), ["conv3"])
    for suffix in (".yaml", ".json"):
        path = tmp_path / "new_dir" / f"a{suffix}"  # missing folders are created
        s.save_config(arch, path)
        assert s.load_config(path) == arch


def test_dump_keeps_kind_and_r_and_omits_defaults():
    data = yaml.safe_load(s.dumps(get_arch("se_cifar_resnet20")))
    block = data["stages"][0]["blocks"][0]
    assert block == {"kind": "basic", "out": 16, "shortcut": "pad", "se": {"r": 16}}


BASE = {"name": "x", "stages": [{"name": "s1", "blocks": [{"kind": "conv", "out": 8}]}]}


def with_block(**fields):
    data = json.loads(json.dumps(BASE))
    data["stages"][0]["blocks"][0].update(fields)
    return data


@pytest.mark.parametrize("data,words", [
    (with_block(se={"r": 0}), ["stages[0].blocks[0].se.r", "greater than or equal to 1"]),
    (with_block(se={"r": 2.5}), ["se.r", "integer"]),
    (with_block(se={"r": "4"}), ["se.r", "integer"]),
    (with_block(colour="red"), ["unknown field", "colour"]),
    (with_block(se={"variant": "identity"}), ["identity", "conv block"]),
    (with_block(kind="transformer"), ["transformer", "does not match"]),
    (with_block(kernel=[1, 0]), ["stages[0].blocks[0].kernel", "greater than or equal to 1"]),
    (with_block(padding=-1), ["stages[0].blocks[0].padding"]),
    ({"name": "x", "stages": [{"name": "s", "blocks": [
        {"kind": "branches", "branches": [[], []], "merge": "add", "scale": 0}]}]},
     ["scale", "greater than 0"]),
    ({"name": "x"}, ["missing", "stages"]),
    ({"name": "x", "stages": [{"name": "head", "blocks": [{"kind": "conv", "out": 3}]}]},
     ["head", "reserved"]),
    ({"name": "x", "stages": [{"name": "a b", "blocks": [{"kind": "conv", "out": 3}]}]},
     ["stages[0].name"]),
    ([1, 2], ["mapping"]),
])
def test_bad_specs_give_one_sentence(data, words):
    with pytest.raises(SpecError) as err:
        s.validate(data)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_malformed_yaml_and_wrong_suffix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstages: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        s.load_config(bad)
    (tmp_path / "a.txt").write_text("name: x")
    with pytest.raises(SpecError, match="must end in"):
        s.load_config(tmp_path / "a.txt")
    with pytest.raises(SpecError, match="does not exist"):
        s.load_config(tmp_path / "missing.yaml")


def test_with_se_edits_only_named_stages():
    arch = with_se(get_arch("resnet50"), SE(r=4), ["conv3", "conv5"])
    se_of = {st.name: {b.se for b in st.blocks} for st in arch.stages}
    assert se_of == {"conv2": {None}, "conv3": {SE(r=4)}, "conv4": {None}, "conv5": {SE(r=4)}}
    assert all(b.se is None for b in arch.stem if hasattr(b, "se"))
    with pytest.raises(SpecError, match="no stage 'conv9'"):
        with_se(arch, SE(), ["conv9"])
    with pytest.raises(SpecError, match="does not fit a dwsep block"):
        with_se(get_arch("mobilenet_v1"), SE(variant="identity"))


@pytest.mark.parametrize("c,r,divisor,expected", [
    (256, 16, 1, 16), (100, 16, 1, 6), (8, 16, 1, 1),  # floor(C/r), at least 1
    (100, 16, 8, 8), (256, 3, 8, 88), (24, 4, 8, 8),  # timm make_divisible(C/r, 8)
])
def test_reduced_width_rule(c, r, divisor, expected):
    assert SE(r=r, divisor=divisor).reduced(c) == expected


@pytest.mark.parametrize("preset,expected", [
    ("paper", 15),  # floor(240 / 16): the channels the SE sees
    ("efficientnet", 9),  # floor(38 / 4): the block's input width
    ("regnet", 10),  # round(38 / 4 = 9.5) = 10, as torchvision's int(round(0.25 * w_in))
    ("mobilenetv3", 64),  # make_divisible(240 / 4 = 60, 8) = 64
])
def test_se_presets_reduced_width_by_hand(preset, expected):
    """An MBConv block 38 -> 240 (depthwise) -> 80 with each preset's SE after the
    depthwise: the SE sees 240 channels; its squeeze width follows the preset's rule."""
    arch = s.validate({"name": "x", "resolution": 8, "stem": [{"kind": "conv", "out": 38}],
                       "stages": [{"name": "a", "blocks": [{"kind": "mbconv", "out": 80,
                                   "expanded": 240, "se": {"preset": preset}}]}]})
    from se_design.cost import cost
    (se,) = cost(arch).groups[1].units[0][1].ses
    assert (se.channels, se.reduced) == (240, expected)
    assert se.se == s.PRESETS[preset]


def test_preset_fields_can_be_overridden_and_round_trip():
    se = SE.model_validate({"preset": "mobilenetv3", "r": 8})
    assert (se.r, se.divisor, se.gate) == (8, 8, "hardsigmoid")
    arch = with_se(get_arch("mobilenet_v1"), se)
    assert s.loads(s.dumps(arch)) == arch
    with pytest.raises(SpecError, match="unknown SE preset 'timm'"):
        s.validate(with_block(se={"preset": "timm"}))
