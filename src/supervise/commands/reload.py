"""`supervise reload` and `supervise scale`: change the running `up`'s plan (PRODUCT.md §8)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from supervise.commands.control import action_timeout
from supervise.commands.options import CommonOptions, project_root
from supervise.errors import UsageError
from supervise.runtime.control.client import request


def run_reload(options: CommonOptions) -> int:
    """Apply the configuration files as they are now; print what changed (the `up`'s own line)."""
    root = project_root(options)
    answer = request(root, {"op": "reload"}, action_timeout(options), os.environ)
    print(answer.get("summary", ""))
    return 0


def run_scale(options: CommonOptions, counts: Sequence[str]) -> int:
    """`supervise scale web=3 worker=0`: the running `up`'s new formation; print what changed."""
    from supervise.plan import parse_formation

    formation = parse_formation(",".join(counts), label="scale")
    if not formation:
        raise UsageError('scale: give at least one NAME=COUNT (e.g. "supervise scale web=3 worker=0")')
    root = project_root(options)
    answer = request(root, {"op": "scale", "formation": formation}, action_timeout(options), os.environ)
    print(answer.get("summary", ""))
    return 0
