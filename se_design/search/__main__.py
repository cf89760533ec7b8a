"""A `--workers` child: `python -m se_design.search REQUEST_JSON` runs one worker of the
search the request describes (se_design.search.request), joining its study."""

from __future__ import annotations

import sys

from rich.console import Console

from se_design.errors import Interrupted, UserError
from se_design.search.request import SearchRequest
from se_design.search.run import search


def main(request_json: str) -> int:
    err = Console(stderr=True)
    try:
        search(SearchRequest.model_validate_json(request_json), Console())
    except (Interrupted, KeyboardInterrupt):
        return 130  # the parent says what was kept
    except UserError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
