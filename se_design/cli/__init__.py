"""`se-design`, the command line: one module per job (cost.py: cost, archs, paper-table;
search.py: search, report, export, calibrate; analysis.py: train, excitation, fold), what
they share in common.py, the app assembled in main.py."""

from se_design.cli.main import app, run

__all__ = ["app", "run"]
