"""Block families through the registry; SE inside multi-branch blocks, placed by the search."""

import optuna
import pytest

from se_design import spec as s
from se_design.cost import cost
from se_design.families import FAMILIES
from se_design.search.space import Design, Space, resolve
from se_design.spec import SE, with_se

INNER = s.Conv(out=64, kernel=1)
UNIT = s.Branches(branches=((INNER,), (s.Conv(out=32, kernel=1), s.Conv(out=64, kernel=3))))
ARCH = s.Arch(name="inc", resolution=16, num_classes=10,
              stages=(s.Stage(name="a", blocks=(UNIT, UNIT)),))


def test_every_family_module_is_registered_and_in_the_spec_schema():
    """A family is one module of se_design.families: loading the package registers it and
    the spec's Block union (hence YAML/JSON configs) accepts it."""
    assert {"conv", "pool", "basic", "bottleneck", "dwsep", "mbconv", "shuffle",
            "branches"} <= set(FAMILIES)
    defs = s.Arch.model_json_schema()["$defs"]
    assert {cls.__name__ for cls in FAMILIES.values()} <= set(defs)


@pytest.mark.parametrize("levels,outer,inner", [("outer", 2, 0), ("inner", 0, 6), ("all", 2, 6)])
def test_with_se_levels_count_se_modules(levels, outer, inner):
    """Two Inception-style units of three convs: 'outer' puts one SE after each concat
    (128 channels), 'inner' one on each of the three convs, 'all' both."""
    c = cost(with_se(ARCH, SE(r=4), levels=levels))
    seen = sorted(x.channels for _, u in c.groups[0].units for x in u.ses)
    assert seen == sorted([128] * outer + [64, 32, 64] * (inner // 3))
    assert c.se_closed_form == outer * 2 * 128 * 32 + inner // 3 * 2 * (64 * 16 * 2 + 32 * 8)


def test_search_places_se_inside_branches(tmp_path):
    spec_path = tmp_path / "inc.yaml"
    s.save_config(ARCH, spec_path)
    space = Space.model_validate({
        "name": "x", "target": {"config": str(spec_path)}, "proxy": {"config": str(spec_path)},
        "variables": {"r": ["none", 4, 16], "levels": "inner"}})
    prob = resolve(space)
    trial = optuna.trial.FixedTrial({"squeeze": "avg", "gate": "sigmoid", "r_a": "4",
                                     "variant_a": "standard"})
    design = prob.suggest(trial)
    assert design == Design({"a": SE(r=4)}, levels="inner")
    arch = design.apply(prob.target)
    assert arch.stages[0].blocks[0].se is None
    assert arch.stages[0].blocks[0].branches[0][0].se == SE(r=4)
    off = Design({"a": SE(r=4)}, frozenset({("a", 1)}), "inner").apply(prob.target)
    assert cost(off).se_params == cost(arch).se_params / 2


def test_mobilenet_v3_space_searches_with_the_papers_se_convention():
    """The shipped space: plain MobileNetV3-Large target, SE per stage with the paper's
    make-divisible-by-8 squeeze; a suggested design's SE sits after the depthwise conv."""
    from pathlib import Path

    from se_design.search.space import load_space
    from se_design.zoo import get_arch

    prob = load_space(Path(__file__).parents[1] / "search_spaces/mobilenet_v3_large.yaml")
    assert prob.target == get_arch("plain_mobilenet_v3_large")
    assert prob.stages == ["stage1", "stage2", "stage3", "stage4", "stage5"]
    params = {"squeeze": "avg", "gate": "hardsigmoid", "r_stage1": "none", "r_stage2": "none",
              "r_stage3": "4", "variant_stage3": "standard", "r_stage4": "none",
              "r_stage5": "4", "variant_stage5": "standard"}
    arch = prob.suggest(optuna.trial.FixedTrial(params)).apply(prob.target)
    c = cost(arch)
    assert {x.se for _, u in c.groups[3].units for x in u.ses} == {s.PRESETS["mobilenetv3"]}
    # stage 3 (72, 120, 120 expanded) and stage 5 (672, 960, 960): d = make_divisible(e/4, 8)
    assert [x.reduced for gr in c.groups for _, u in gr.units for x in u.ses] == \
        [24, 32, 32, 168, 240, 240]


def test_cost_only_objective_counts_nested_se_modules(tmp_path):
    """'blocks with SE' counts SE modules from the graph, those inside branches included."""
    from se_design.search.study import Objective

    spec_path = tmp_path / "inc.yaml"
    s.save_config(ARCH, spec_path)
    space = Space.model_validate({
        "name": "x", "target": {"config": str(spec_path)}, "proxy": {"config": str(spec_path)},
        "variables": {"r": ["none", 4, 16], "levels": "all"}, "objectives": ["accuracy", "params"]})
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.enqueue_trial({"squeeze": "avg", "gate": "sigmoid", "r_a": "4", "variant_a": "standard"})
    study.optimize(Objective(resolve(space), cost_only=True), n_trials=1)
    assert study.trials[0].values[0] == 2 * (1 + 3)  # per unit: after the concat + 3 convs


def test_verify_builds_and_costs_one_expansion(monkeypatch):
    from se_design import expand
    from se_design.verify import verify

    calls, real = [], expand.expand
    monkeypatch.setattr(expand, "expand", lambda arch: calls.append(arch) or real(arch))
    assert verify(with_se(ARCH, SE(r=4), levels="all")).ok
    assert len(calls) == 1


def test_inception_features_agree_with_fvcore():
    """Asymmetric kernels, explicit padding, a biased conv without BN and a scaled residual
    branch (Inception-ResNet's pieces, ported from the nets branch to the conv and branches
    family modules) cost what fvcore counts on the built model."""
    from se_design.verify import verify

    unit = s.Branches(branches=(
        (s.Conv(out=16, kernel=1), s.Conv(out=16, kernel=(1, 7)), s.Conv(out=16, kernel=(7, 1)),
         s.Conv(out=32, kernel=1, bn=False, bias=True, act="none")),
        ()), merge="add", act="relu", scale=0.2, se=SE(r=4))
    arch = s.Arch(name="irv2", resolution=19, num_classes=10,
                  stem=(s.Conv(out=32, stride=2, padding=0),),
                  stages=(s.Stage(name="a", blocks=(unit,)),))
    check = verify(arch)
    assert check.ok and not check.layer_mismatches, check.layer_mismatches
    assert check.analytic.groups[0].units[0][1].out == (32, 9, 9)  # (19 - 3) // 2 + 1
