"""se_design.api: the search half from Python, the same objects the CLI renders (issue 21)."""

import subprocess
import sys

import optuna
import pytest
from conftest import write_space

from se_design import api
from se_design.errors import UserError
from se_design.search.records import TrialRecord
from se_design.search.report import Row


def test_search_rows_and_export_without_the_cli(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    summary = api.search(write_space(tmp_path), cost_only=True, n_trials=3, storage=db,
                         quiet=True)
    assert (summary.study, summary.storage, summary.finished) == ("tiny-cost", db, 3)
    trial = optuna.load_study(study_name=summary.study, storage=db).trials[1]
    assert TrialRecord.of(trial).budget == trial.constraints  # what the dashboard shows
    rows = api.report_rows(summary.study, db)
    assert len(rows) == 3 and all(isinstance(r, Row) for r in rows)
    frame = rows.to_pandas()
    assert list(frame["se_blocks"]) == [r.values[0] for r in rows]
    lines = api.export(tmp_path / "t1.py", study=summary.study, storage=db, trial=1)
    assert lines[0].startswith("tiny-cost-trial1:") and (tmp_path / "t1.py").is_file()


@pytest.mark.parametrize("options,words", [
    ({"seed": -1}, "--seed"), ({"timeout": float("nan")}, "--timeout"),
    ({"study": ""}, "--study must name a study"), ({"n_trails": 3}, "--n-trails: extra")])
def test_bad_options_are_one_sentence(tmp_path, options, words):
    with pytest.raises(UserError, match=words):
        api.search(write_space(tmp_path), storage=f"sqlite:///{tmp_path}/s.db", **options)


def test_import_se_design_stays_light():
    code = "import se_design, sys; print('optuna' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
