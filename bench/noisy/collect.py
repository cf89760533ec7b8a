"""Markdown tables of `noisy_search.py --json` outputs, one per cell (landscape, noise), with
the issue's targets for the model-based searches (`model`, and `tool` where it ran) marked
met/MISSED.

Run: python bench/noisy/collect.py results/noisy_bench/*.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from noisy.bench import SUBJECTS, table, verdicts
from noisy.landscapes import LANDSCAPES


def cells(paths: list[str]) -> dict:
    """(landscape, noise) -> {"runs": [...], "paired": [...]} over every file."""
    out = defaultdict(lambda: {"runs": [], "paired": []})
    for path in paths:
        data = json.loads(Path(path).read_text())
        for key in ("runs", "paired"):
            for row in data[key]:
                out[row["landscape"], row["noise"]][key].append(row)
    return out


def main() -> None:
    for (land, noise), cell in cells(sys.argv[1:]).items():
        print(f"\n**{land}, seed noise {noise}**\n\n{table(cell)}\n")
        for subject in SUBJECTS:
            for line in verdicts(getattr(LANDSCAPES.get(land), "additive", False), cell,
                                 subject):
                print(f"- {'' if subject == 'model' else subject + ': '}{line}")


if __name__ == "__main__":
    main()
