"""The command line: numbers, --verify, --config, and bad input (one sentence, exit 2)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run

from se_design import spec as s
from se_design.cli import app
from se_design.zoo import get_arch


def test_cost_json_totals_and_stages():
    res = run("cost", "--arch", "se_resnet50", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["total"]["params"] == 28_088_024
    assert data["total"]["se_params_closed_form"] == 2_514_944
    assert [st["name"] for st in data["stages"]] == ["stem", "conv2", "conv3", "conv4", "conv5",
                                                     "head"]
    assert sum(st["flops"] for st in data["stages"]) == data["total"]["flops"]
    assert sum(la["flops"] for la in data["layers"]) == data["total"]["flops"]


def test_cost_verify_shows_zero_difference():
    res = run("cost", "--arch", "se_resnet50", "--resolution", "128", "--verify", "--json")
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)["verify"]
    assert v["ok"] and v["difference"] == {"params": 0, "flops": 0}
    assert v["fvcore"]["params"] == 28_088_024


def test_cost_table_and_paper_convention():
    res = run("cost", "--arch", "se_resnet50", "--convention", "paper")
    assert res.exit_code == 0
    assert "28,088,024" in res.stdout and "2,514,944" in res.stdout and "conv5" in res.stdout


def test_cost_footer_explains_se_only_for_a_network_with_se(monkeypatch):
    from se_design.cli.common import out

    monkeypatch.setattr(out, "width", 80)  # what COLUMNS=80 makes it: the footer wraps
    plain, se = run("cost", "--arch", "resnet50"), run("cost", "--arch", "se_resnet50")
    assert plain.exit_code == se.exit_code == 0
    assert "closed form" not in plain.stdout and "no SE blocks" in plain.stdout
    assert "closed form" in se.stdout
    for res in (plain, se):  # the wrapped footer's lines too
        assert [ln for ln in res.stdout.splitlines() if ln != ln.rstrip()] == []


def test_cost_config_round_trip(tmp_path):
    arch = s.with_se(get_arch("resnet34"), s.SE(r=4, variant="post"), ["conv4"])
    path = tmp_path / "arch.yaml"
    s.save_config(arch, path)
    from_config = json.loads(run("cost", "--config", str(path), "--json").stdout)
    assert from_config["total"]["params"] == \
        json.loads(run("cost", "--arch", "resnet34", "--json").stdout)["total"]["params"] \
        + from_config["total"]["se_params"]
    other = json.loads(run("cost", "--config", str(path), "--resolution", "96", "--json").stdout)
    assert other["resolution"] == 96


def test_no_line_ends_in_a_space(monkeypatch, tmp_path):
    from se_design.cli.common import err, out

    for console in (out, err):  # rich pads table cells and wraps words after their space
        monkeypatch.setattr(console, "width", 80)
    table = run("cost", "--arch", "se_resnet50", "--layers")
    wrapped = run("cost", "--config", tmp_path / ("long_name_" * 8 + ".yaml"))
    assert table.exit_code == 0 and wrapped.exit_code == 2
    for text in (table.stdout, wrapped.stderr):
        assert len(text.splitlines()) > 1
        assert [ln for ln in text.splitlines() if ln != ln.rstrip()] == []


def test_a_path_prints_as_typed_not_as_an_emoji(tmp_path):
    res = run("cost", "--config", tmp_path / "net:fire:.yaml")  # rich's default: an emoji
    assert res.exit_code == 2 and "net:fire:.yaml" in res.stderr.replace("\n", "")  # folded


def test_archs_lists_the_zoo():
    rows = json.loads(run("archs", "--json").stdout)
    names = {r["name"] for r in rows}
    assert {"resnet50", "se_resnet50", "resnext101_32x4d", "se_vgg16", "se_mobilenet_v1",
            "cifar_resnet110"} <= names


def test_paper_table_writes_markdown(tmp_path):
    out = tmp_path / "t.md"
    assert run("paper-table", "--out", str(out)).exit_code == 0
    assert "| SE-ResNet-50 | 28.1 | 28.088 |" in out.read_text()


def test_a_missing_output_folder_is_created_and_named(tmp_path):
    out = tmp_path / "new" / "deeper" / "t.md"
    res = run("paper-table", "--out", str(out))
    assert res.exit_code == 0 and out.is_file()
    assert res.stderr.strip() == f"created folder '{out.parent}'"
    again = run("paper-table", "--out", str(out))  # it exists now: nothing to say
    assert again.exit_code == 0 and again.stderr == ""


@pytest.fixture
def bad_configs(tmp_path):
    (tmp_path / "malformed.yaml").write_text("name: x\nstages: [\n")
    (tmp_path / "unknown.yaml").write_text(
        "name: x\nstages:\n- name: a\n  blocks:\n  - {kind: conv, out: 8, colour: red}\n")
    return tmp_path


@pytest.mark.parametrize("args,words", [
    (["--arch", "se_resnet5"], ["unknown architecture", "se_resnet50"]),
    (["--arch", "se_resnet50", "--r", "0"], ["r must be an integer >= 1"]),
    (["--arch", "se_resnet50", "--r", "-3"], ["r must be an integer >= 1"]),
    (["--arch", "se_resnet50", "--r", "2.5"], ["--r"]),
    (["--arch", "se_resnet50", "--r", "512"], ["r=512", "larger than its 256 channels"]),
    (["--arch", "resnet50", "--r", "8"], ["no SE blocks"]),
    (["--arch", "se_resnet50", "--resolution", "16"], ["too small", "at least 32"]),
    (["--arch", "se_vgg16", "--stride-at", "3x3"], ["stride_at"]),
    (["--arch", "resnet50", "--convention", "macs"], ["unknown convention"]),
    (["--config", "{d}/malformed.yaml"], ["not valid YAML"]),
    (["--config", "{d}/unknown.yaml"], ["config file", "unknown field", "colour"]),
    (["--config", "{d}/missing.yaml"], ["does not exist"]),
    ([], ["--arch", "--config"]),
])
def test_bad_input_is_one_sentence_exit_2(bad_configs, args, words):
    res = run("cost", *[a.format(d=bad_configs) for a in args])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # no traceback
    text = " ".join(res.output.split())
    assert all(w in text for w in words), text


@pytest.mark.skipif(shutil.which("se-design") is None, reason="console script not installed")
def test_console_script_error_has_no_traceback():
    proc = subprocess.run(["se-design", "cost", "--arch", "se_resnet50", "--r", "0"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def _at_80(table) -> str:
    from se_design.tables import text

    return text(table, width=80)


def _fits_80(text: str) -> bool:
    return max(map(len, text.splitlines())) <= 80 and "…" not in text


def test_tables_fit_80_columns_without_cutting_numbers():
    from se_design import render
    from se_design.cost import cost

    text = _at_80(render.cost_table(cost(get_arch("se_resnet50"))))
    assert _fits_80(text)
    # 28,088,024 params and 3,887,282,176 FLOPs (the fvcore agreement test's figures)
    assert "28.09M" in text and "3.89G" in text and "28,088,024" in text


def test_every_command_table_fits_80_columns():
    """Every zoo arch's stage table (with --verify's fvcore column) and the longest layer
    paths' tables, the zoo, and the shipped spaces' cost-only frontiers: a stage or layer
    name too long for its column folds, a number never does."""
    from se_design import render
    from se_design.cost import cost
    from se_design.search.frontier import frontier
    from se_design.search.space import load_space
    from se_design.zoo import names

    tables = [render.archs_table([{"name": n, "resolution": 224, "num_classes": 1000,
                                   "params": 1e8, "gflops_paper": 10.0, "gflops_fvcore": 10.0}
                                  for n in names()])]
    for name in names():
        c = cost(get_arch(name))
        tables.append(render.cost_table(c, {gr.name: gr.flops for gr in c.groups} | {"": c.flops}))
    tables += [render.layer_table(cost(get_arch(n))) for n in ("se_inception_resnet_v2",
                                                               "efficientnet_b0")]
    for space in ("digits_resnet20", "se_resnet50", "mobilenet_v3_large"):
        problem = load_space(Path(__file__).parents[1] / "search_spaces" / f"{space}.yaml")
        tables.append(render.frontier_table(problem, frontier(problem), 0.0))
    for table in tables:
        text = _at_80(table)
        assert _fits_80(text), text
        numbers = [cell for row in table.rows for cell in row[1:] if cell[:1].isdigit()]
        assert set(numbers) <= set(text.split()), table.title


def test_paper_table_fits_80_columns_without_splitting_words():
    from se_design import paper, render

    comparisons = paper.compare()
    text = _at_80(render.paper_table(comparisons))
    assert max(map(len, text.splitlines())) <= 80
    tokens = set(text.split())
    for c in comparisons:  # every word of a model's name and its experiment whole
        assert set(c.row.model.split()) | set(c.row.table.split()) <= tokens, c.row.model
        assert c.row.params_m is None or c.row.params_m in tokens  # as the paper printed it


def test_layer_table_marks_se_layers():
    from se_design import render
    from se_design.cost import cost

    c = cost(get_arch("se_resnet50"))
    lines = _at_80(render.layer_table(c)).splitlines()
    assert lines[1].split()[-1] == "SE"  # the header
    marked = [ln.split()[0] for ln in lines[2:] if ln.rstrip().endswith(" SE")]
    # 16 blocks x (squeeze, fc1, act, fc2, gate): the layers Cost counts as SE
    assert marked == [la.path for la in c.layers if la.se] and len(marked) == 16 * 5
    assert all(".se." in p for p in marked)


def test_help_fits_80_columns_without_cutting_text_or_empty_defaults():
    """Every command's -h and the app's: an option that is simply not given by default shows
    no default (a '[default: (none)]' took a line of its own in export -h)."""
    import typer

    for name in ["", *typer.main.get_command(app).commands]:
        res = run(*filter(None, [name, "-h"]), env={"COLUMNS": "80"})
        assert res.exit_code == 0, name
        assert "…" not in res.output, (name, res.output)
        assert max(map(len, res.output.splitlines())) <= 80, name
        assert "(none)" not in res.output, (name, res.output)
    helped = run("search", "-h", env={"COLUMNS": "80"}).output
    assert "results/search.db" in helped and "postgresql://HOST/DB" in helped


def test_each_command_summary_is_one_line_in_the_app_help():
    """The app's help lists each command by its docstring's first paragraph, keeping its
    line breaks: a summary over two source lines broke mid-phrase there."""
    import typer

    for name, command in typer.main.get_command(app).commands.items():
        summary = command.help.strip().split("\n\n")[0]
        assert "\n" not in summary, (name, summary)
        assert summary.endswith("."), (name, summary)


def test_cli_conventions():
    assert run("--version").stdout.startswith("se-design")
    helped = run("cost", "-h")
    assert helped.exit_code == 0 and "--verify" in helped.stdout
    line = next(ln for ln in helped.stdout.splitlines() if "--verify" in ln)
    assert "<bool>" not in line and "bool" not in line
    assert "bool" not in next(ln for ln in helped.stdout.splitlines() if "--help" in ln)


def test_two_wrapping_text_columns_fit_80_columns_with_whole_words():
    from se_design.tables import Fitted

    # the example report's front: rich alone squeezed the design column below its longest
    # word, then widened it back and cropped the note column at column 80
    rows = [["16", "stage1:4 stage2:4(identity) stage3:-", "0.973±0.012", "3", "0.62",
             "271.82K", "+0.78%", "knee\nbest within budget"],
            ["1", "stage1:16 stage2:16 stage3:16", "0.970±0.012", "3", "0.22", "272.10K",
             "+0.88%", "SE r=16 everywhere\nnot on the front\nover budget"]]
    cols = ["trial", "design (stage:r)", "accuracy", "n", "p_front", "params", "Δparams", "note"]
    text = _at_80(Fitted("front", cols, rows, text=(0, 1, -1)))  # as front_table makes it
    assert max(map(len, text.splitlines())) <= 80
    assert {w for r in rows for w in " ".join(r).split()} <= set(text.split())


def test_a_name_wider_than_its_column_breaks_after_a_separator_then_folds():
    """cost --arch se_inception_resnet_v2 at 80 columns printed 'inception_resne' / 't_a'."""
    import re

    from se_design.tables import Fitted

    def first_column(names):
        rows = [[name, *["123,456,789"] * 5] for name in names]  # leaves the names 15 columns
        text = _at_80(Fitted("t", ["name", *"abcde"], rows))
        assert max(map(len, text.splitlines())) <= 80, text
        return [line.split()[0] for line in text.splitlines()[2:]]

    def split(name):  # after each separator inside it
        return set(re.split(r"(?<=[_.-])(?=.)", name))

    names = ["inception_resnet_a", "stage1.0.se.fc1", "se-mobilenet-v3-large"]
    lines = first_column(names)
    assert "".join(lines) == "".join(names), lines
    assert all(split(line) <= set.union(*map(split, names)) for line in lines), lines
    assert lines[:2] == ["inception_", "resnet_a"]  # two pieces on a line where they fit
    # a piece wider than the column folds, and nothing is lost
    assert "".join(first_column(["averyveryverylongpiece_a"])) == "averyveryverylongpiece_a"


def test_front_table_gives_each_design_its_seed_count_and_front_probability():
    from types import SimpleNamespace

    from se_design import render
    from se_design.search.report import Row, front

    study = SimpleNamespace(study_name="s", user_attrs={
        "objectives": ["accuracy", "params"], "plain": {"params": 1000, "flops": 10}})
    rows = [Row(0, "no SE", [0.9, 1000], 1000, 10, True, "no SE", front=True,
                accuracy_ci95=0.01, seeds=3, p_front=0.97),
            Row(1, "all SE", [0.95, 1100], 1100, 11, False, "SE r=16 everywhere",
                accuracy_ci95=0.02, seeds=2),  # over budget: never on the front
            Row(2, "stage1:4", [0.92, 1010], 1010, 10, True, "", front=True, seeds=1,
                p_front=0.5)]
    text = _at_80(render.front_table(front(study, rows)))
    cells = {line.split()[0]: line.split() for line in text.splitlines()
             if line.split() and line.split()[0].isdigit()}
    assert cells["0"][:6] == ["0", "no", "SE", "0.900±0.010", "3", "0.97"]
    assert cells["1"][:5] == ["1", "all", "SE", "0.950±0.020", "2"] and cells["1"][5] == "-"
    assert cells["2"][2:5] == ["0.920", "1", "0.50"]
    assert "(2 of 3 finished designs)" in text and "over budget" in " ".join(text.split())



def test_front_table_says_why_the_best_within_budget_is_off_the_front():
    from types import SimpleNamespace

    from se_design import render
    from se_design.search.report import Row, front

    study = SimpleNamespace(study_name="s", user_attrs={
        "objectives": ["accuracy", "params"], "plain": {"params": 1000, "flops": 10}})

    def row(n, mean, half, p, on_front):  # modelled: the estimate is the model's
        return Row(n, f"d{n}", [mean, 1000 + n], 1000 + n, 10, True, "", front=on_front,
                   seeds=2, p_front=p, model_mean=mean, model_low=mean - half,
                   model_high=mean + half)

    why = "off the front when its interval is too wide"
    wide = [row(0, 0.90, 0.01, 0.9, True), row(1, 0.95, 0.09, 0.35, False)]  # best: d1
    text = " ".join(_at_80(render.front_table(front(study, wide))).split())
    assert why in text and "best within budget not on the front" in text
    sure = [row(0, 0.90, 0.01, 0.9, True), row(1, 0.95, 0.01, 0.9, True)]
    assert why not in " ".join(_at_80(render.front_table(front(study, sure))).split())

def test_after_ctrl_c_the_database_pool_does_not_print_a_traceback():
    """A connection cut by Ctrl-C fails its reset when collected at exit, and SQLAlchemy's
    pool logs that as an error with a traceback: after an interrupt it is not logged."""
    import logging

    import typer

    from se_design.cli.common import user_errors
    from se_design.errors import Interrupted

    pool = logging.getLogger("sqlalchemy.pool.impl.QueuePool")  # as SQLAlchemy names it
    before = logging.getLogger("sqlalchemy.pool").level

    @user_errors
    def search():
        raise Interrupted("interrupted: finished trials are kept; continue with --resume.")

    try:
        assert pool.isEnabledFor(logging.ERROR)
        with pytest.raises(typer.Exit):
            search()
        assert not pool.isEnabledFor(logging.ERROR)
    finally:
        logging.getLogger("sqlalchemy.pool").setLevel(before)


def test_a_worker_stopped_by_ctrl_c_prints_no_late_traceback(monkeypatch):
    """A --workers child exits at once after Ctrl-C: its pool's logs and a storage thread's
    failure on a connection the signal cut print nothing into the parent's output."""
    import logging
    import sys
    import threading

    from se_design.search import __main__ as child

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(child, "search", interrupted)
    monkeypatch.setattr(child.SearchRequest, "model_validate_json", lambda text: None)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)  # restored after
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    before = logging.getLogger("sqlalchemy.pool").level
    try:
        assert child.main("{}") == 130
        assert not logging.getLogger("sqlalchemy.pool.impl.QueuePool").isEnabledFor(logging.ERROR)
        assert threading.excepthook(None) is None and sys.unraisablehook(None) is None
    finally:
        logging.getLogger("sqlalchemy.pool").setLevel(before)
