"""`supervise web`: print the URL of the running `up`'s page, token included."""

from __future__ import annotations

import os

from supervise.commands.options import CommonOptions, project_root
from supervise.runtime.control.client import STATUS_TIMEOUT, request


def run_web(options: CommonOptions) -> int:
    """Ask the running `up` for its page's URL; exit 1 (one line) when none runs or it has no page."""
    answer = request(project_root(options), {"op": "web"}, STATUS_TIMEOUT, os.environ)
    print(answer["url"])
    return 0
