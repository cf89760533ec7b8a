"""The import contracts in pyproject.toml (layers one way, no cycles) hold."""

import os

from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports


def test_imports_run_one_way(monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert lint_imports(no_cache=True) == EXIT_STATUS_SUCCESS  # the report says which broke
