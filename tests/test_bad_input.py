"""Every bad input a user can type is one sentence on stderr and exit code 2, never a
traceback: one table, one row per case (the issue's list and the ones found since)."""

import numpy as np
import optuna
import pytest
from conftest import run, write_space
from PIL import Image

from se_design import build_model, checkpoint
from se_design.search.space import load_space
from se_design.search.storage import open_storage
from se_design.search.study import prepare
from se_design.spec import save_config, to_dict
from se_design.zoo import get_arch


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A folder of bad inputs, and a storage with a study that has no finished trial."""
    d = tmp_path_factory.mktemp("bad")
    (d / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (d / "folder.yaml").mkdir()
    (d / "afile").write_text("not a folder")
    (d / "broken.yaml").write_text("name: x\nstages:\n- {kind: conv\n- other\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    save_config(get_arch("cifar_resnet20"), d / "arch.yaml")
    (d / "arch.txt").write_text("name: x\n")
    write_space(d)
    for name, changes in {"six": {"proxy__train": {"epochs": "six"}},
                          "r0": {"variables": {"r": ["none", 4, 0, 16]}},
                          "cifar": {"proxy__data": {"source": "cifar10"}}}.items():
        (d / name).mkdir()
        write_space(d / name, **changes)
    for cls in ("seven",):  # an image folder with one class
        (d / "oneclass" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "oneclass" / cls / "a.png")
    (d / "dir.pt").mkdir()
    (d / "cut.yaml").write_text("name: cut\nstages:\n- name: stage1\n  blocks:\n")
    (d / "nanr.yaml").write_text("name: n\nstages:\n- name: stage1\n  blocks:\n"
                                 "  - {kind: conv, out: 8, se: {r: .nan}}\n")
    for name in ("se_cifar_resnet20", "cifar_resnet20"):  # untrained: only checks need them
        arch = get_arch(name)
        checkpoint.save(checkpoint.Checkpoint(
            arch, build_model(arch).state_dict(), [0.0] * 3, [1.0] * 3, [str(k) for k in range(10)],
            {"data": {"source": "digits", "val_fraction": 0.2, "split_seed": 0}}),
            d / f"{name}.pt")
    (d / "junk").mkdir()
    (d / "junk" / "readme.txt").write_text("no images, no batches")
    db = f"sqlite:///{d}/s.db"
    problem = load_space(d / "space.yaml")
    prepare(problem, "empty", open_storage(db), settings={"epochs": 3})
    prepare(problem, "done", open_storage(db))
    optuna.load_study(study_name="done", storage=db).add_trial(optuna.trial.create_trial(
        values=[0.5, problem.plain_params], user_attrs={
            "target_spec": to_dict(problem.target), "design": "stage1:-", "params": 1,
            "flops": 2}))
    return d


S = ["search", "--space", "{d}/space.yaml", "--storage", "sqlite:///{d}/s.db"]
DB = ["--storage", "sqlite:///{d}/s.db"]
HINT = "Try 'se-design {} -h' for help."
TRAIN = ["--arch", "se_cifar_resnet20", "--data", "digits", "--out", "{d}/m.pt"]
CASES = {
    # files given as options
    "binary --config": (["cost", "--config", "{d}/binary.yaml"], ["binary.yaml", "not a text file"]),
    "binary --space": (["search", "--space", "{d}/binary.yaml"], ["not a text file"]),
    "folder --config": (["cost", "--config", "{d}/folder.yaml"], ["is a folder, not a file"]),
    "folder --space": (["search", "--space", "{d}/folder.yaml"], ["is a folder, not a file"]),
    "YAML error names file and line": (["cost", "--config", "{d}/broken.yaml"],
                                       ["broken.yaml", "not valid YAML", "line 5"]),
    "space not a mapping": (["search", "--space", "{d}/list.yaml"], ["must be a mapping"]),
    "config suffix": (["cost", "--config", "{d}/arch.txt"], ["must end in .yaml"]),
    # outputs
    "paper-table --out under /proc": (["paper-table", "--out", "/proc/se/t.md"], ["/proc/se"]),
    "paper-table --out in a file": (["paper-table", "--out", "{d}/afile/t.md"],
                                    ["afile", "a folder is needed"]),
    "report --out-dir a file": (["report", "--study", "done", *DB, "--out-dir", "{d}/afile"],
                                ["afile", "a folder is needed"]),
    "report --out-dir /proc": (["report", "--study", "done", *DB, "--out-dir", "/proc/se"],
                               ["/proc/se"]),
    "export --out under /proc": (["export", "--study", "done", *DB, "--pick", "best-under-budget",
                                 "--out",
                                  "/proc/se/a.yaml"], ["/proc/se"]),
    "export --out a folder": (["export", "--study", "done", *DB, "--pick", "best-under-budget",
                                 "--out",
                               "{d}/folder.yaml"], ["folder.yaml"]),
    # search spaces and options
    "epochs: six": (["search", "--space", "{d}/six/space.yaml"],
                    ["proxy.train.epochs", "valid integer"]),
    "r: [none, 4, 0]": (["search", "--space", "{d}/r0/space.yaml"],
                        ["variables.r", "integer >= 1, not 0"]),
    "--device tpu": ([*S, "--device", "tpu"], ["unknown device 'tpu'"]),
    "--timeout -5": ([*S, "--timeout", "-5"], ["--timeout must be a positive"]),
    "--sampler": ([*S, "--sampler", "grid"], ["unknown sampler 'grid'"]),
    "--sampler before the storage": (["search", "--space", "{d}/space.yaml", "--sampler", "grid"],
                                     ["unknown sampler 'grid'"]),  # no results/search.db made
    "--cost-only --sampler": ([*S, "--cost-only", "--sampler", "grid"],
                              ["unknown sampler 'grid'"]),
    "--sampler brute without --cost-only": ([*S, "--sampler", "brute"],
                                            ["--sampler brute", "for --cost-only"]),
    "--store without --cost-only": ([*S, "--store"], ["--store goes with --cost-only"]),  # no training
    "--json without --cost-only": ([*S, "--json"], ["--json goes with --cost-only"]),
    "--cost-only --workers 2": ([*S, "--cost-only", "--workers", "2"],
                                ["--workers needs a stored study", "--store"]),
    "space needs user data": (["search", "--space", "{d}/cifar/space.yaml"],
                              ["not bundled", "--data DIR"]),
    "calibrate: space needs user data": (["calibrate", "--space", "{d}/cifar/space.yaml"],
                                         ["not bundled", "--data DIR"]),  # no storage made
    "--data missing folder": ([*S, "--data", "{d}/nowhere"], ["nowhere", "neither"]),
    "--data unknown kind": ([*S, "--data", "cifar9:{d}/junk"], ["cifar9", "KIND:DIR"]),
    "train --data missing folder": (["train", "--arch", "se_cifar_resnet20", "--data",
                                     "{d}/nowhere", "--out", "{d}/m.pt"], ["nowhere", "neither"]),
    "train --data junk folder": (["train", "--arch", "se_cifar_resnet20", "--data", "{d}/junk",
                                  "--out", "{d}/m.pt"], ["neither CIFAR", "image folder"]),
    "--data junk folder": ([*S, "--data", "{d}/junk"], ["neither CIFAR", "image folder"]),
    "--data one-class folder": ([*S, "--data", "{d}/oneclass"], ["one class", "two class"]),
    "resume with other epochs": ([*S, "--study", "empty", "--resume", "--epochs", "2"],
                                 ["started with epochs=3, not epochs=2"]),
    "--storage in a missing folder": (["search", "--space", "{d}/space.yaml", "--storage",
                                       "sqlite:///{d}/nodir/s.db"],
                                      ["nodir/s.db'", "its folder", "does not exist"]),
    "study exists": ([*S, "--study", "empty"], ["already exists", "--resume"]),
    "--storage not SQLite": (["report", "--study", "x", "--storage", "sqlite:///{d}/afile"],
                             ["sqlite:///", "afile is not an SQLite database."]),
    "--storage not a journal": (["search", "--space", "{d}/space.yaml", "--storage",
                                 "journal:{d}/broken.yaml"],
                                ["broken.yaml is not an Optuna journal file."]),
    "--storage journal under /proc": (["search", "--space", "{d}/space.yaml", "--storage",
                                       "journal:/proc/x.journal"],
                                      ["cannot open storage journal:/proc/x.journal",
                                       "no such file or directory."]),
    # report and export
    "report from another directory": (["report", "--study", "x"], ["no storage file",
                                                                   "results/search.db",
                                                                   "or pass --storage"]),
    "report: a --storage file that is not there": (
        ["report", "--study", "x", "--storage", "sqlite:///{d}/nodir/x.db"],
        ["no storage file", "nodir/x.db", "check the path given to --storage"]),
    "export --out ''": (["export", "--arch", "resnet18", "--out", ""], ["--out names no file"]),
    "a bad value in a spec file names the file": (
        ["search", "--space", "{d}/space.yaml", "--storage", "sqlite:///{d}/s2.db",
         "--enqueue-config", "{d}/nanr.yaml", "--cost-only", "--store"],
        ["config file", "nanr.yaml", "stages[0].blocks[0].se.r"]),
    "report: no finished trial": (["report", "--study", "empty", *DB], ["no finished trials"]),
    "effects: no finished trial": (["effects", "--study", "empty", *DB],
                                   ["cannot support the accuracy model", "no finished design"]),
    "effects: a trial not of the space": (["effects", "--study", "done", *DB],
                                          ["not a design of its space"]),
    "export knee: no finished trial": (["export", "--study", "empty", *DB, "--pick", "knee",
                                        "--out", "{d}/k.yaml"], ["no finished trial yet"]),
    "export: unknown pick": (["export", "--study", "empty", *DB, "--trial", "0", "--pick",
                              "knee", "--out", "{d}/k.yaml"], ["either --trial"]),
    "unknown study": (["report", "--study", "nope", *DB], ["no study named 'nope'", "empty"]),
    # numbers: nan, inf and out-of-range refused in one sentence before any work (issue 21)
    "cost --width nan": (["cost", "--arch", "se_resnet50", "--width", "nan"],
                         ["width multiplier", "not nan"]),
    "cost --width inf": (["cost", "--arch", "se_resnet50", "--width", "inf"],
                         ["width multiplier", "not inf"]),
    "cost --width 1e300": (["cost", "--arch", "se_resnet50", "--width", "1e300"],
                           ["--width must be a positive number up to 16, not 1e+300."]),
    "cost --width 1e9": (["cost", "--arch", "se_resnet50", "--width", "1e9"], ["up to 16"]),
    "cost --num-classes 1e12": (["cost", "--arch", "se_resnet50", "--num-classes",
                                 "1000000000000"], ["--num-classes must be from 1 to 1,000,000"]),
    "cost --resolution 1e8": (["cost", "--arch", "se_resnet50", "--resolution", "100000000"],
                              ["--resolution must be from 1 to 4,096, not 100000000."]),
    "cost --config --resolution 1e8": (["cost", "--config", "{d}/arch.yaml", "--resolution",
                                        "100000000"], ["--resolution must be from 1 to 4,096"]),
    "train --lr inf": (["train", *TRAIN, "--lr", "inf"], ["learning rate", "not inf"]),
    "search --seed -1": ([*S, "--seed", "-1"], ["--seed", "greater than or equal to 0"]),
    "train --seed -1": (["train", *TRAIN, "--seed", "-1"],
                        ["--seed", "greater than or equal to 0"]),
    "search --timeout nan": ([*S, "--timeout", "nan"], ["--timeout must be a positive", "nan"]),
    "search --study ''": ([*S, "--study", ""], ["--study must name a study"]),
    "calibrate --seed -5": (["calibrate", "--space", "{d}/space.yaml", *DB, "--seed", "-5"],
                            ["--seed", "greater than or equal to 0"]),
    "calibrate --study ''": (["calibrate", "--space", "{d}/space.yaml", *DB, "--study", ""],
                             ["--study must name a study"]),
    "fold --max-drop nan": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--max-drop",
                             "nan"], ["--max-drop must be", "not nan"]),
    "fold --max-drop -1": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--max-drop",
                            "-1"], ["--max-drop must be", ">= 0"]),
    # outputs checked before any work
    "train --out a folder": (["train", "--arch", "se_cifar_resnet20", "--data", "digits",
                              "--out", "{d}/dir.pt"], ["dir.pt", "it is a folder"]),
    "train --out /proc": (["train", "--arch", "se_cifar_resnet20", "--data", "digits",
                           "--out", "/proc/t13.pt"], ["cannot write checkpoint '/proc/t13.pt'"]),
    "search --keep-checkpoints /proc": ([*S, "--keep-checkpoints", "/proc/ck"],
                                        ["cannot create folder '/proc/ck'"]),
    "fold --export x.txt": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--export",
                             "{d}/x.txt"], ["--export", "x.txt", "must end in .yaml"]),
    "fold --export /proc": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--export",
                             "/proc/f.yaml"], ["cannot write config file '/proc/f.yaml'"]),
    "excitation --out-dir /proc": (["excitation", "--checkpoint", "{d}/se_cifar_resnet20.pt",
                                    "--out-dir", "/proc/ex"], ["cannot create folder"]),
    # export: one design, its format and place checked before the study is read
    "export two designs": (["export", "--arch", "resnet18", "--config", "{d}/arch.yaml", "--out",
                            "{d}/e.py"], ["give one design", "--config and --arch"]),
    "export --pick without --study": (["export", "--pick", "knee", "--out", "{d}/e.py"],
                                      ["add --study NAME"]),
    "export no design": (["export", "--out", "{d}/e.py"], ["give --study NAME"]),
    "export --out x.txt first": (["export", "--study", "nope", *DB, "--pick", "knee", "--out",
                                  "{d}/e.txt"], ["export format", "e.txt"]),
    "export --out /proc first": (["export", "--study", "nope", *DB, "--pick", "knee", "--out",
                                  "/proc/e.py"], ["cannot write export '/proc/e.py'"]),
    "export --checkpoint a folder": (["export", "--checkpoint", "{d}/dir.pt", "--out",
                                      "{d}/e.py"], ["is a folder, not a file"]),
    # fold and its messages
    "fold --blocks twice": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--blocks",
                             "stage1.0,stage1.0"], ["stage1.0 twice"]),
    "fold --blocks empty": (["fold", "--checkpoint", "{d}/se_cifar_resnet20.pt", "--blocks", ""],
                            ["names no block", "stage1.0,stage3.2"]),
    "excitation --blocks twice": (["excitation", "--checkpoint", "{d}/se_cifar_resnet20.pt",
                                   "--blocks", "stage1.0,stage1.0"], ["stage1.0 twice"]),
    "excitation --blocks with a gap": (["excitation", "--checkpoint", "{d}/se_cifar_resnet20.pt",
                                        "--blocks", "stage1.0,,stage2.0"], ["names no block"]),
    "fold without SE": (["fold", "--checkpoint", "{d}/cifar_resnet20.pt"],
                        ["has no SE blocks", "nothing to fold"]),
    "--checkpoint a folder": (["excitation", "--checkpoint", "{d}/dir.pt"],
                              ["dir.pt' is a folder, not a file"]),
    "truncated YAML": (["cost", "--config", "{d}/cut.yaml"],
                       ["stages[0].blocks", "expected a list", "cut short"]),
    # typer's own parsing errors: the tool's one sentence and -h hint, not a boxed panel
    "search --n-trials 0": ([*S, "--n-trials", "0"],
                            ["'--n-trials'", "greater than or equal to 2.", HINT.format("search")]),
    "cost --r not an integer": (["cost", "--arch", "se_resnet50", "--r", "x"],
                                ["'--r'", "valid integer", HINT.format("cost")]),
    "unknown option": (["cost", "--arch", "se_resnet50", "--bogus"],
                       ["error: no such option: --bogus.", HINT.format("cost")]),
    "required option missing": (["search"], ["missing option '--space'.", HINT.format("search")]),
    "option without its value": (["cost", "--arch"],  # an error click gives no context
                                 ["'--arch' requires an argument.", HINT.format("cost")]),
    "unknown command": (["bogus"], ["no such command 'bogus'.", "Try 'se-design -h' for help."]),
}


@pytest.mark.parametrize("args,words", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_sentence_exit_2(d, args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: no results/ here
    res = run(*[a.format(d=d) for a in args], env={"COLUMNS": "80"})
    assert max(map(len, res.output.splitlines())) <= 80, res.output  # the project's rule
    text = " ".join(res.output.split())
    assert res.exit_code == 2, text
    assert isinstance(res.exception, SystemExit), text  # no traceback
    assert text.startswith("error:") and text.count("error:") == 1, text
    assert all(w in text for w in words), text
    assert not (tmp_path / "results").exists()  # a failed command leaves nothing behind


def test_failed_start_leaves_no_study(d):
    """Bad data found after the space was read: the study is not created, so the corrected
    command just works (here: cost-only, which needs no data)."""
    args = ["search", "--space", f"{d}/space.yaml", "--storage", f"sqlite:///{d}/s.db",
            "--study", "retry"]
    assert run(*args, "--data", f"{d}/junk").exit_code == 2
    assert "retry" not in optuna.get_all_study_names(f"sqlite:///{d}/s.db")
    res = run(*args, "--cost-only", "--store", "--n-trials", "2")
    assert res.exit_code == 0, res.output


def test_failed_storage_open_leaves_no_lock_file(d):
    (d / "text.db").write_text("not a database")
    assert run("report", "--study", "x", "--storage", f"sqlite:///{d}/text.db").exit_code == 2
    assert not (d / "text.db.se-design.lock").exists()


def test_exporting_an_early_stopped_trial_says_so(d):
    study = optuna.load_study(study_name="empty", storage=f"sqlite:///{d}/s.db")
    spec = load_space(d / "space.yaml").target
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED,
        user_attrs={"target_spec": to_dict(spec), "design": "stage1:-", "params": 1,
                    "flops": 2, "epochs_run": 1, "epochs_planned": 3}))
    number = study.trials[-1].number
    res = run("export", "--study", "empty", "--storage", f"sqlite:///{d}/s.db",
              "--trial", str(number), "--out", str(d / "stopped.yaml"))
    text = " ".join(res.output.split())
    assert res.exit_code == 0, text
    assert f"trial {number} was stopped early at epoch 1 of 3" in text


def test_export_into_a_new_folder_names_it(d, tmp_path):
    """export --out, like every command that writes, makes a missing folder and says so."""
    out = tmp_path / "new" / "a.yaml"
    res = run("export", "--study", "done", "--storage", f"sqlite:///{d}/s.db",
              "--pick", "best-under-budget", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert out.is_file() and f"created folder '{out.parent}'" in res.stderr


def test_report_names_the_trials_still_marked_running(d, tmp_path):
    """A search killed hard leaves its trial RUNNING; the report must not pass over it."""
    db = f"sqlite:///{tmp_path}/r.db"
    problem = load_space(d / "space.yaml")
    prepare(problem, "killed", open_storage(db))
    study = optuna.load_study(study_name="killed", storage=db)
    study.add_trial(optuna.trial.create_trial(values=[0.5, problem.plain_params], user_attrs={
        "target_spec": to_dict(problem.target), "design": "stage1:-", "params": 1, "flops": 2}))
    study.ask()  # a trial started and never told: as a killed worker leaves it
    res = run("report", "--study", "killed", "--storage", db,
              "--out-dir", str(tmp_path))
    text = " ".join(res.output.split())
    assert res.exit_code == 0, text
    assert "1 trial(s) still marked running, not in this report" in text
