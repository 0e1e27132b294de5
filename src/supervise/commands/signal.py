"""`supervise signal SIG NAME...`: send a signal to instances' process groups (supervisorctl's `signal`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from supervise.commands.options import CommonOptions, project_root
from supervise.config.model import signal_number
from supervise.errors import UsageError
from supervise.runtime.control.client import STATUS_TIMEOUT, request


def run_signal(options: CommonOptions, sig: str, names: Sequence[str]) -> int:
    """One line per instance; exit 1 when one of them had no process to signal."""
    signum = signal_number(sig)
    if signum is None:
        raise UsageError(
            f'signal: unknown signal "{sig}"; use a name such as HUP, USR1, SIGTERM, or a number'
        )
    if not names:
        raise UsageError("signal: name at least one instance (web.1), process (web) or group")
    root = project_root(options)
    message = {"op": "signal", "signal": str(signum), "names": list(names)}
    answer = request(root, message, STATUS_TIMEOUT, os.environ)
    shown = describe_signal(signum)
    code = 0
    for item in answer.get("signalled", []):
        pids = [str(pid) for pid in item.get("pids", [])]
        if not pids:
            print(f"{item.get('name')}: not running; {shown} not sent")
            code = 1
        else:
            print(f"{item.get('name')}: sent {shown} to pid{'s' if len(pids) > 1 else ''} {', '.join(pids)}")
    return code


def describe_signal(signum: int) -> str:
    """`SIGHUP`, or `signal 40` for one without a name (a real-time signal)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
