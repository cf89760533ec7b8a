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
