"""The search half from Python, as in a notebook: calibrate, search, report rows, export.

    python results/api_example.py      # about 3 minutes on a 2-core CPU

A tiny run (3-epoch proxy on 400 digits, 4 trials) in a throwaway folder: it shows the calls,
not a result worth reading (results/example/ holds a real run)."""

import tempfile
from pathlib import Path

from se_design import api
from se_design.errors import UserError

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "digits_resnet20.yaml"
work = Path(tempfile.mkdtemp())
storage = f"sqlite:///{work}/search.db"
tiny = {"epochs": 3, "max_train": 400}

# 1. the proxy's noise: the two references on 2 seeds (stored with the study)
cal = api.calibrate(SPACE, seeds=2, designs=0, storage=storage, study="demo", log=lambda s: None,
                    **tiny)
print(f"calibration: seed std {100 * cal.seed_std:.2f} points, reference gap "
      f"{100 * cal.reference_gap['mean']:+.2f} points")

# 2. the search, joining the calibrated study (its trials reuse the calibration's seeds)
summary = api.search(SPACE, study="demo", storage=storage, n_trials=4, quiet=True, **tiny)
print(summary.text.replace(str(work), "WORK"))

# 3. the report's rows: the objects `se-design report` renders
rows = api.report_rows(summary.study, summary.storage)
for r in rows:
    print(f"trial {r.number:>2} {r.design:<36} acc {r.values[0]:.3f} ± "
          f"{r.accuracy_ci95 or 0:.3f} ({r.seeds} seed{'s' * (r.seeds != 1)}) params {r.params:,}"
          + ("  front" if r.front else ""))
try:
    print(rows.to_pandas()[["number", "accuracy", "seeds", "params", "front"]].to_string())
except UserError as e:  # pandas is optional
    print(e)

# 4. the knee as a PyTorch file that needs only torch
for line in api.export(work / "knee.py", study=summary.study, storage=summary.storage,
                       pick="knee"):
    print(line.replace(str(work), "WORK"))
