"""`supervise status|restart|stop|start`: ask the running `up` over its control socket."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

from supervise.commands.options import CommonOptions, project_root
from supervise.errors import SuperviseError, UsageError
from supervise.runtime.control.client import ACTION_TIMEOUT, STATUS_TIMEOUT, request
from supervise.runtime.control.protocol import InstanceStatus


def run_status(options: CommonOptions, as_json: bool, names: Sequence[str] = ()) -> int:
    """`supervise status [NAME...] [--json]`: the running instances as a table or a JSON list."""
    from supervise.commands.status_table import render_status_table

    root = project_root(options)
    answer = request(root, {"op": "status", "names": list(names)}, STATUS_TIMEOUT, os.environ)
    statuses = [InstanceStatus.from_json(item) for item in answer.get("instances", [])]
    if as_json:
        import json

        print(json.dumps([dataclasses.asdict(status) for status in statuses], indent=2))
    else:
        sys.stdout.write(render_status_table(statuses))
    return 0


def run_action(options: CommonOptions, action: str, names: Sequence[str]) -> int:
    """`supervise restart|stop|start NAME...`: one line per instance; exit 1 if one did not make it."""
    from supervise.commands.status_table import render_action

    if not names:
        raise UsageError(f"{action}: name at least one instance (web.1), process (web) or group")
    root = project_root(options)
    message = {"op": action, "names": list(names)}
    answer = request(root, message, action_timeout(options), os.environ)
    lines, code = render_action(action, [InstanceStatus.from_json(i) for i in answer.get("instances", [])])
    for line in lines:
        print(line)
    return code


def action_timeout(options: CommonOptions) -> float:
    """Long enough for the slowest stop and start the configuration allows."""
    try:
        project = options.load_project()
    except SuperviseError:
        return ACTION_TIMEOUT
    slowest = max((spec.stop_timeout + spec.restart.startsecs for spec in project.processes), default=0.0)
    return ACTION_TIMEOUT + slowest
