"""train / excitation / fold on the command line: results agree with the cost model; bad
input is one sentence and exit 2."""

import json

import pytest
import torch
from conftest import cli, run
from statsmodels.stats.proportion import proportion_confint

from se_design import build_model, get_arch
from se_design.checkpoint import Checkpoint, save
from se_design.cost import cost
from se_design.data import holdout, load_data
from se_design.edit import set_se
from se_design.spec import SE, load_config, save_config


def fails_in_one_sentence(res, *words):
    assert res.exit_code == 2, res.output
    text = " ".join(res.stderr.split())  # one sentence, wrapped at the terminal's width
    assert text.startswith("error:") and text.count("error:") == 1, text
    assert text.endswith(".") and "Traceback" not in res.output, text
    for w in words:
        assert w in text, text


def tiny(tmp_path, arch=None, name="m.pt", classes=10):
    """An untrained checkpoint on the bundled digits (3x32x32, 10 classes)."""
    arch = arch or get_arch("se_cifar_resnet20", width=0.25, r=2)
    torch.manual_seed(0)
    path = tmp_path / name
    save(Checkpoint(arch, build_model(arch).state_dict(), [30.0] * 3, [60.0] * 3,
                    [str(c) for c in range(classes)],
                    {"data": {"source": "digits", "val_fraction": 0.2, "split_seed": 0}}), path)
    return path


def test_excitation_json_has_every_se_block(tmp_path):
    res = run("excitation", "--checkpoint", tiny(tmp_path), "--json", "--out-dir", tmp_path / "o")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [b["block"] for b in data["blocks"]] == [f"stage{s}.{i}" for s in (1, 2, 3)
                                                    for i in range(3)]
    # the held-out split the checkpoint records (20% of digits' training images, seed 0)
    assert data["images"] == len(holdout(load_data("digits")[0], 0.2, 0)[1])
    b = data["blocks"][0]
    assert len(b["class_mean"]) == 10 and len(b["class_mean"][0]) == b["channels"] == 8  # width 0.25 of 16, at least 8
    assert (tmp_path / "o/excitation_classes.png").stat().st_size > 10_000
    assert (tmp_path / "o/excitation_summary.png").stat().st_size > 10_000


def test_fold_export_costs_what_the_steps_say(tmp_path):
    out = tmp_path / "folded.yaml"
    res = run("fold", "--checkpoint", tiny(tmp_path), "--steps", "3", "--max-drop", "100",
              "--export", out, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    last = data["steps"][-1]
    assert data["chosen"] == last["removed"] and len(last["removed"]) == 3
    before = cost(get_arch("se_cifar_resnet20", width=0.25, r=2))
    after = cost(load_config(out))
    assert last["params_saved"] == before.params - after.params
    assert last["flops_saved"] == before.flops - after.flops and after.se_params == last["se_params_left"]


def test_train_writes_a_checkpoint_that_excitation_reads(tmp_path):
    spec = tmp_path / "arch.yaml"
    save_config(get_arch("se_cifar_resnet20", width=0.25, r=2), spec)
    res = run("train", "--config", spec, "--data", "digits", "--epochs", "1", "--seeds", "2",
              "--batch-size", "256", "--out", tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "seeds 0..1," in text and "over seeds (t)," in text and "2 seeds)" in text
    assert "seed(s)" not in text
    assert not [ln for ln in res.stderr.splitlines() if not ln.strip()]  # no bar drawn as blanks
    ckpt = torch.load(tmp_path / "m.pt", weights_only=True)
    acc = ckpt["training"]["held_out_accuracy"]
    assert len(acc["per_seed"]) == 2 and acc["ci95"][0] <= acc["mean"] <= acc["ci95"][1]
    assert run("excitation", "--checkpoint", tmp_path / "m.pt", "--split", "test").exit_code == 0


def test_train_with_one_seed_says_seed_in_the_singular(tmp_path):
    res, text = cli("train", "--arch", "se_cifar_resnet20", "--data", "digits", "--epochs", "1",
                    "--batch-size", "256", "--out", tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    assert "seed 0," in text and "seeds 0..0" not in text
    assert "1 epoch," in text and "1 epochs" not in text
    assert "1 seed: excludes seed-to-seed noise)" in text and "seed(s)" not in text


def test_excitation_gives_its_accuracy_a_wilson_interval_over_the_images(tmp_path):
    path = tiny(tmp_path)
    data = json.loads(run("excitation", "--checkpoint", path, "--json").stdout)
    acc, n = data["accuracy"], data["images"]
    # an independent Wilson interval of the same count of correct images
    low, high = proportion_confint(round(acc * n), n, alpha=0.05, method="wilson")
    res, text = cli("excitation", "--checkpoint", path)
    assert res.exit_code == 0, res.output
    assert (f"{acc:.4f} (95% interval {low:.4f}-{high:.4f} over images (Wilson), {n} images, "
            "1 seed: excludes seed-to-seed noise)") in text


def test_text_output_fits_80_columns(tmp_path, monkeypatch):
    from se_design.cli.common import out

    monkeypatch.setattr(out, "width", 80)  # what COLUMNS=80 makes it (output not a terminal)
    path = tiny(tmp_path)
    outputs = [run("train", "--arch", "se_cifar_resnet20", "--data", "digits", "--epochs", "1",
                   "--batch-size", "256", "--out", tmp_path / "t.pt"),
               run("excitation", "--checkpoint", path, "--out-dir", tmp_path / "o"),
               run("fold", "--checkpoint", path, "--max-drop", "100")]
    for res in outputs:
        assert res.exit_code == 0, res.output
        long = [ln for ln in res.stdout.splitlines() if len(ln) > 80 and str(tmp_path) not in ln]
        assert not long, long


def test_fold_footer_wraps_left_aligned_at_80_columns(tmp_path, monkeypatch):
    from se_design.cli.common import out

    monkeypatch.setattr(out, "width", 80)
    res = run("fold", "--checkpoint", tiny(tmp_path), "--max-drop", "100")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if "one trained model" in ln)
    end = next(i for i, ln in enumerate(lines) if ln.startswith("within"))
    footer = lines[start:end]
    # left-aligned as the other captions: centred, its last word sat alone mid-line
    assert footer and all(ln == ln.strip() for ln in footer), footer
    assert " ".join(footer).endswith("(the same images before and after)")


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint at all")
    fails_in_one_sentence(run("excitation", "--checkpoint", tmp_path / "bad.pt"),
                          "not a readable checkpoint")
    torch.save({"model": build_model(get_arch("cifar_resnet20")).state_dict()},
               tmp_path / "other.pt")
    fails_in_one_sentence(run("fold", "--checkpoint", tmp_path / "other.pt"),
                          "not an se-design checkpoint")


def test_spec_without_se_blocks(tmp_path):
    path = tiny(tmp_path, get_arch("cifar_resnet20", width=0.25))
    fails_in_one_sentence(run("excitation", "--checkpoint", path), "has no SE blocks")


@pytest.mark.parametrize("arch, classes, words", [
    (get_arch("se_cifar_resnet20", width=0.25, r=2, num_classes=5), 5, ["10 classes", "5"]),
    (get_arch("se_cifar_resnet20", width=0.25, r=2, resolution=16), 10, ["3x32x32", "3x16x16"]),
])
def test_data_that_does_not_fit_the_checkpoint(tmp_path, arch, classes, words):
    path = tiny(tmp_path, arch, classes=classes)
    fails_in_one_sentence(run("excitation", "--checkpoint", path, "--data", "digits"), *words)


def test_train_config_that_does_not_fit_the_data(tmp_path):
    spec = tmp_path / "arch.yaml"
    save_config(get_arch("se_cifar_resnet20", num_classes=100), spec)
    fails_in_one_sentence(run("train", "--config", spec, "--data", "digits", "--out",
                              tmp_path / "m.pt"), "10 classes", "100")
    fails_in_one_sentence(run("train", "--arch", "se_cifar_resnet20", "--data", "nowhere/",
                              "--out", tmp_path / "m.pt"), "nowhere/")


def test_unknown_block_names(tmp_path):
    path = tiny(tmp_path)
    fails_in_one_sentence(run("excitation", "--checkpoint", path, "--blocks", "stage9.0"),
                          "no SE block 'stage9.0'")
    fails_in_one_sentence(run("fold", "--checkpoint", path, "--blocks", "stage1.0,stage1"),
                          "no SE block 'stage1'")


def test_classes_to_plot_by_name_or_index(tmp_path):
    path = tiny(tmp_path)  # classes named "0".."9"
    res = run("excitation", "--checkpoint", path, "--classes", "3,7", "--out-dir", tmp_path / "o")
    assert res.exit_code == 0 and (tmp_path / "o/excitation_classes.png").exists()
    fails_in_one_sentence(run("excitation", "--checkpoint", path, "--classes", "3,cat"),
                          "no class 'cat'", "0 to 9")
    fails_in_one_sentence(run("excitation", "--checkpoint", path, "--classes", "3,3"),
                          "names 3 twice")


def test_fold_refuses_a_post_se_in_one_sentence(tmp_path):
    arch = set_se(get_arch("cifar_resnet20", width=0.25), {"stage2.0": SE(r=2, variant="post")})
    fails_in_one_sentence(run("fold", "--checkpoint", tiny(tmp_path, arch)),
                          "stage2.0 (post variant)")
