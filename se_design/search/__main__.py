"""A `--workers` child: `python -m se_design.search REQUEST_JSON` runs one worker of the
search the request describes (se_design.search.request), joining its study."""

from __future__ import annotations

import sys
import threading

from rich.markup import escape

from se_design.consoles import console
from se_design.errors import Interrupted, UserError
from se_design.search import quiet_pool
from se_design.search.request import SearchRequest
from se_design.search.run import search


def main(request_json: str) -> int:
    err = console(stderr=True)
    try:
        search(SearchRequest.model_validate_json(request_json), console())
    except (Interrupted, KeyboardInterrupt):
        quiet_exit()
        return 130  # the parent says what was kept
    except UserError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)  # as typed
        return 2
    return 0


def quiet_exit() -> None:
    """A worker stopped by Ctrl-C exits at once: a storage thread (Optuna's heartbeat) or a
    collected connection failing on a connection the signal cut says nothing the parent's one
    sentence does not, so neither prints a traceback into the parent's output."""
    quiet_pool()
    threading.excepthook = lambda args: None
    sys.unraisablehook = lambda unraisable: None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
