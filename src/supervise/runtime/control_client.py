"""The client side of the control socket: `supervise status|restart|stop|start`.

A plain blocking socket with a timeout: these are short CLI processes, so they
import neither asyncio nor the server.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supervise.errors import ControlError, NotRunningError, SuperviseError, UsageError
from supervise.options import CommonOptions, project_root
from supervise.runtime.control import PROTOCOL, InstanceStatus, socket_path

STATUS_TIMEOUT = 10.0
ACTION_TIMEOUT = 60.0
"""Client wait for restart/stop/start, on top of the slowest stop_timeout + startsecs."""


def request(root: Path, message: Mapping[str, Any], timeout: float, environ: Mapping[str, str]) -> Any:
    """Send one request to the `up` of `root` and return its answer; errors become SuperviseErrors."""
    import json

    path = socket_path(root, environ)
    data = json.dumps({"v": PROTOCOL, **message}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(os.fsencode(path))
            except (FileNotFoundError, ConnectionRefusedError):
                raise NotRunningError(f"no supervise up is running for {root}") from None
            sock.sendall(data)
            with sock.makefile("rb") as stream:
                reply = stream.readline()
    except TimeoutError:
        raise ControlError(
            f"the supervise up for {root} did not answer within {timeout:g} s (is it suspended?)"
        ) from None
    except OSError as error:
        raise ControlError(f"cannot talk to the supervise up for {root}: {error.strerror or error}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise ControlError(f"the supervise up for {root} closed the connection without an answer") from None
    if not isinstance(answer, dict) or answer.get("v") != PROTOCOL:
        version = answer.get("v") if isinstance(answer, dict) else None
        raise ControlError(
            f"the supervise up for {root} speaks control protocol v{version}, this supervise v{PROTOCOL}; "
            "run the same supervise version for up and for its clients",
            2,
        )
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error")), int(answer.get("exit", 1)))
    return answer


def run_status(options: CommonOptions, as_json: bool, names: Sequence[str] = ()) -> int:
    """`supervise status [NAME...] [--json]`: the running instances as a table or a JSON list."""
    from supervise.runtime.status_table import render_status_table

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
    from supervise.runtime.status_table import render_action

    if not names:
        raise UsageError(f"{action}: name at least one instance (web.1), process (web) or group")
    root = project_root(options)
    message = {"op": action, "names": list(names)}
    answer = request(root, message, _action_timeout(options), os.environ)
    lines, code = render_action(action, [InstanceStatus.from_json(i) for i in answer.get("instances", [])])
    for line in lines:
        print(line)
    return code


def _action_timeout(options: CommonOptions) -> float:
    """Long enough for the slowest stop and start the configuration allows."""
    try:
        project = options.load_project()
    except SuperviseError:
        return ACTION_TIMEOUT
    slowest = max((spec.stop_timeout + spec.restart.startsecs for spec in project.processes), default=0.0)
    return ACTION_TIMEOUT + slowest
