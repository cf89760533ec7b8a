"""The analysis and the search check each other: a folded design is enqueued next to the
references, and the search keeps its front's trained models as checkpoints."""

import optuna
import pytest
import torch
from conftest import cli, run, write_space

from se_design.build import build_model
from se_design.checkpoint import load
from se_design.edit import without_se
from se_design.errors import UserError
from se_design.search import report
from se_design.search.records import TrialRecord
from se_design.search.space import load_space
from se_design.spec import load_config, save_config
from se_design.zoo import get_arch

SE20 = get_arch("se_cifar_resnet20")


def test_params_for_inverts_the_designs(tmp_path):
    problem = load_space(write_space(tmp_path))
    assert problem.params_for(SE20, "x") == problem.references()[1]
    assert problem.params_for(get_arch("cifar_resnet20"), "x") == problem.references()[0]
    no_last = without_se(SE20, [f"stage3.{i}" for i in range(3)])
    params = problem.params_for(no_last, "x")
    assert params["r_stage3"] == "none" and params["r_stage1"] == "16"
    with pytest.raises(UserError, match="per_block: true"):
        problem.params_for(without_se(SE20, ["stage2.1"]), "fold.yaml")
    per_block = load_space(write_space(tmp_path, variables={"r": ["none", 16], "per_block": True}))
    params = per_block.params_for(without_se(SE20, ["stage2.1"]), "x")
    assert params["on_stage2_1"] is False and params["on_stage2_0"] is True
    with pytest.raises(UserError, match="outside the search space"):
        problem.params_for(get_arch("se_cifar_resnet20", r=2), "x")


def test_search_runs_the_enqueued_design_after_the_references(tmp_path):
    design = tmp_path / "folded.yaml"
    save_config(without_se(SE20, [f"stage3.{i}" for i in range(3)]), design)
    db = f"sqlite:///{tmp_path}/s.db"
    res = run("search", "--space", str(write_space(tmp_path)), "--cost-only", "--store",
              "--n-trials", "3", "--storage", db, "--enqueue-config", str(design))
    assert res.exit_code == 0, res.output
    trials = optuna.load_study(study_name="tiny-cost", storage=db).trials
    assert TrialRecord.of(trials[2]).design == "stage1:16 stage2:16 stage3:-"


def test_an_enqueued_reference_is_said_and_resume_queues_a_new_design(tmp_path):
    reference, design = tmp_path / "se20.yaml", tmp_path / "folded.yaml"
    save_config(SE20, reference)
    save_config(without_se(SE20, [f"stage3.{i}" for i in range(3)]), design)
    db = f"sqlite:///{tmp_path}/s.db"
    args = ["search", "--space", str(write_space(tmp_path)), "--cost-only", "--store",
            "--storage", db]
    res = run(*args, "--n-trials", "2", "--enqueue-config", str(reference))
    assert res.exit_code == 0, res.output
    said = "".join(res.stdout.split())  # wrapped at the terminal's width, long paths folded
    assert said.count(str(reference)) == 1 and "referencedesign'SEr=16everywhere'" in said
    assert len(optuna.load_study(study_name="tiny-cost", storage=db).trials) == 2
    # on --resume an enqueued design is queued too (once, however often it is asked for)
    for _ in range(2):
        res = run(*args, "--n-trials", "3", "--resume", "--enqueue-config",
                  str(design))
        assert res.exit_code == 0, res.output
    trials = optuna.load_study(study_name="tiny-cost", storage=db).trials
    assert [TrialRecord.of(t).design for t in trials][2:] == ["stage1:16 stage2:16 stage3:-"]


def test_keep_checkpoints_keeps_the_front_and_export_carries_a_proxys_weights(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    res = run("search", "--space", str(write_space(tmp_path, proxy__resolution=16)),
              "--n-trials", "2", "--epochs", "1", "--max-train", "64", "--storage", db,
              "--keep-checkpoints", str(tmp_path / "ck"))
    assert res.exit_code == 0, res.output
    study = optuna.load_study(study_name="tiny", storage=db)
    shown = {r.number for r in report.rows(study) if r.design in report.marked(study)}
    kept = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert kept == sorted(f"tiny-trial{n}.pt" for n in shown)
    ckpt = load(tmp_path / "ck" / kept[0])
    n = ckpt.training["trial"]
    assert ckpt.training["data"]["source"] == "digits" and ckpt.arch.resolution == 16
    assert ckpt.arch.name == f"tiny-trial{n}-proxy"  # not the plain zoo name
    # the proxy was trained at 16x16, the design is exported at the target's 32x32: the
    # weights fit (no weight depends on the resolution), and the note says so
    res, text = cli("export", "--study", "tiny", "--storage", db, "--trial", n,
                    "--checkpoint", tmp_path / "ck" / kept[0], "--out", tmp_path / "d.yaml")
    assert res.exit_code == 0, text
    assert "trained at 16x16" in text and "written for 32x32" in text
    model = build_model(load_config(tmp_path / "d.yaml"))
    model.load_state_dict(torch.load(tmp_path / "d.pt"), strict=True)
