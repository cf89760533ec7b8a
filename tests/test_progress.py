"""Long commands are never silent in a log (a plain line per epoch, seed or step on stderr
where no bar can be drawn; nothing of it in --json), a kept search checkpoint feeds
`excitation` and `fold`, and a Ctrl-C'd calibration leaves no study behind (issue 21)."""

import json

import optuna
import pytest
from conftest import run, write_space

from se_design import progress
from se_design.search import run as search_run
from se_design.search.evaluate import TorchTrainer

SMALL = {"proxy": {"arch": "cifar_resnet20", "resolution": 16,  # as digits_resnet20.yaml
                   "data": {"source": "digits", "val_fraction": 0.25, "max_train": 128},
                   "train": {"epochs": 1, "batch_size": 64, "lr": 0.05}}}


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A 2-trial search with a 16x16 proxy keeping both trained proxies (off the front too)."""
    tmp = tmp_path_factory.mktemp("kept")
    space = write_space(tmp, **SMALL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_run, "_keep_front", lambda study, folder: None)
        res = run("search", "--space", space, "--n-trials", 2, "--storage",
                  f"sqlite:///{tmp}/s.db", "--keep-checkpoints", tmp / "front")
    assert res.exit_code == 0, res.output
    return tmp, res


def test_search_logs_every_epoch_where_no_bar_is_drawn(kept):
    _, res = kept
    # on stderr, as a bar would be: stdout keeps the trials' lines and the summary
    assert res.stderr.count("seed 0 epoch 1/1: held-out") == 2  # one per trial
    assert "epoch 1/1" not in res.stdout and "study 'tiny'" in res.stdout


def test_kept_checkpoint_feeds_excitation_and_fold(kept, monkeypatch):
    monkeypatch.setattr(progress, "EVERY", 0)  # a line per batch and step, however quick
    tmp, _ = kept
    ck = tmp / "front" / "tiny-trial1.pt"  # SE r=16 everywhere, trained at 16x16
    res = run("excitation", "--checkpoint", ck, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["images"] > 0  # stdout is the JSON alone
    assert "excitation: batches: 1/1" in res.stderr
    res = run("fold", "--checkpoint", ck, "--steps", 2, "--json")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["steps"]) == 2
    assert "fold: steps: 2/2" in res.stderr


def test_train_logs_every_epoch(tmp_path):
    res = run("train", "--arch", "se_cifar_resnet20", "--data", "digits", "--epochs", 2,
              "--batch-size", 256, "--out", tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    assert "seed 0 epoch 1/2" in res.stderr and "seed 0 epoch 2/2" in res.stderr
    assert "epoch 1/2" not in res.stdout and "seed 0: held-out" in res.stdout  # results only


def test_train_in_a_terminal_prints_no_epoch_line_over_its_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    res = run("train", "--arch", "se_cifar_resnet20", "--data", "digits", "--epochs", 1,
              "--batch-size", 256, "--out", tmp_path / "m.pt")
    assert res.exit_code == 0, res.output
    assert "epoch 1/1" not in res.output and "seed 0: held-out" in res.output


def test_interrupted_calibration_leaves_no_study(tmp_path, monkeypatch):
    """Ctrl-C during the second seed: the first was logged per epoch and counted, and the
    study the calibration created is gone."""
    space, db = write_space(tmp_path, **SMALL), f"sqlite:///{tmp_path}/s.db"
    real, calls = TorchTrainer.__call__, []

    def second_interrupted(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(TorchTrainer, "__call__", second_interrupted)
    res = run("calibrate", "--space", space, "--storage", db, "--seeds", 2, "--designs", 0)
    assert res.exit_code == 130, res.output
    assert "seed 0 epoch 1/1: held-out" in res.stderr and "[1/4]" in res.stderr
    assert "tiny" not in optuna.get_all_study_names(db)
