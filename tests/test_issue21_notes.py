"""The first hour's remaining defects of issue 21 that are not bad input: output that fits
80 columns, integers printed as integers, intervals inside [0, 1], a reference design given
to --enqueue-config said so, --data KIND:DIR for search."""

from conftest import run, write_space
from rich.console import Console

from se_design.analysis.training import summary
from se_design.search import run as search_run
from se_design.search.space import load_space


def _fits(res, width=80):
    long = [line for line in res.output.splitlines() if len(line) > width]
    assert not long, long


def test_search_lines_and_summary_fit_80_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    db = f"sqlite:///{tmp_path}/s.db"
    space = write_space(tmp_path, target={"arch": "cifar_resnet20"},
                        variables={"r": ["none", 4, 16], "variant": ["standard", "identity", "post"]})
    res = run("search", "--space", space, "--cost-only", "--store", "--n-trials", 6,
              "--storage", db, "--study", "a-rather-long-study-name-for-the-summary-line")
    assert res.exit_code == 0, res.output
    _fits(res)
    res = run("report", "--study", "a-rather-long-study-name-for-the-summary-line",
              "--storage", db, "--out-dir", tmp_path)
    _fits(res)
    se_blocks = res.output.split("se_blocks")[1]
    assert ".000" not in se_blocks  # a count of blocks, printed as an integer


def test_paper_table_and_search_help_fit_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    res = run("paper-table")
    _fits(res)
    assert "Inception-ResNet-v2" in res.output  # names folded at spaces, not mid-word
    help_text = run("search", "-h").output
    _fits(run("search", "-h"))
    assert "results/search.db" in " ".join(help_text.split())  # the default storage, whole


def test_cost_layers_has_an_se_column():
    res = run("cost", "--arch", "se_cifar_resnet20", "--layers")
    assert res.exit_code == 0
    head = next(line for line in res.output.splitlines() if line.startswith("layer"))
    assert head.split()[-1] == "SE"
    assert all(line.split()[-1] == "SE" for line in res.output.splitlines() if ".se." in line)


def test_two_seed_interval_stays_inside_0_and_1():
    low, high = summary([0.98, 0.70], 289)["ci95"]
    assert 0 <= low <= high <= 1


def test_enqueued_reference_design_is_named_not_dropped(tmp_path):
    from se_design.spec import save_config

    problem = load_space(write_space(tmp_path))
    save_config(problem.target, tmp_path / "plain.yaml")  # = the no-SE reference
    console = Console(record=True, width=80)
    assert search_run._queued(problem, [tmp_path / "plain.yaml"], console) == []
    assert "reference design 'no SE'" in " ".join(console.export_text().split())


def test_search_data_takes_kind_colon_dir(tmp_path):
    res = run("search", "--space", write_space(tmp_path), "--data", f"cifar10:{tmp_path}",
              "--storage", f"sqlite:///{tmp_path}/s.db")
    assert res.exit_code == 2 and "no CIFAR-10 batches" in res.output  # read as CIFAR-10


def test_diverged_training_is_one_sentence(tmp_path, monkeypatch):
    """`train --lr 1e6` diverges mid-run (the loss becomes nan): one sentence, no file."""
    from se_design.analysis import training
    from se_design.train_config import Diverged

    def diverges(*args, **kwargs):
        raise Diverged("the training loss became nan at epoch 1, step 2.")

    monkeypatch.setattr(training, "train_checkpoint", diverges)
    res = run("train", "--arch", "se_cifar_resnet20", "--data", "digits", "--lr", "1e6",
              "--out", tmp_path / "m.pt")
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "error: training diverged" in text and "lower --lr" in text
    assert not (tmp_path / "m.pt").exists()
