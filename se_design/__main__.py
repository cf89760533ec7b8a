"""`python -m se_design`: the same as the `se-design` command (how --workers starts workers)."""

from se_design.cli import run

run()
