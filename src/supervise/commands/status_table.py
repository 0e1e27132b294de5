"""What `supervise status` and `restart|stop|start` print: pure text from instance statuses."""

from __future__ import annotations

import signal
from collections.abc import Sequence

from supervise.runtime.control.protocol import InstanceStatus

COLUMNS = ("INSTANCE", "STATE", "PID", "UPTIME", "RESTARTS", "EXIT", "CPU", "MEM", "PORT", "READY")

SUCCESS_STATES = {
    "start": frozenset({"STARTING", "RUNNING"}),
    "restart": frozenset({"STARTING", "RUNNING"}),
    "stop": frozenset({"STOPPED", "EXITED", "FATAL"}),
}
"""States an instance may be in once an action on it has succeeded."""

PAST_TENSE = {"start": "started", "restart": "restarted", "stop": "stopped"}


def format_uptime(seconds: float | None) -> str:
    """`0:01:23`, as supervisorctl shows it; hours keep counting past a day (`49:00:01`)."""
    if seconds is None:
        return "-"
    hours, rest = divmod(int(max(seconds, 0)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_ready(ready: bool | None) -> str:
    """`yes`, `no`, or `-` for an instance without a readiness probe."""
    return "-" if ready is None else ("yes" if ready else "no")


def format_exit(code: int | None) -> str:
    """The last exit: `0`, `3`, `SIGKILL` for a process killed by a signal, `-` before any exit."""
    if code is None:
        return "-"
    if code >= 0:
        return str(code)
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"SIG{-code}"


def format_cpu(cpu: float | None) -> str:
    """`12.5%` of one core (a busy tree can pass 100%), `-` when nothing runs."""
    return "-" if cpu is None else f"{cpu:.1f}%"


def format_memory(size: int | None) -> str:
    """Resident memory as `ps` users read it: `812K`, `45.2M`, `1.3G`."""
    if size is None:
        return "-"
    value = size / 1024
    for unit in ("K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "K" or value >= 100 else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def status_row(status: InstanceStatus) -> tuple[str, ...]:
    """One instance as table cells, in COLUMNS order."""
    return (
        status.name,
        status.state,
        "-" if status.pid is None else str(status.pid),
        format_uptime(status.uptime),
        str(status.restarts),
        format_exit(status.last_exit),
        format_cpu(status.cpu),
        format_memory(status.memory),
        "-" if status.port is None else str(status.port),
        format_ready(status.ready),
    )


def render_status_table(statuses: Sequence[InstanceStatus]) -> str:
    """Aligned columns under a header, one instance per line (no spaces inside a cell)."""
    if not statuses:
        return "no instances\n"
    rows = [COLUMNS, *(status_row(status) for status in statuses)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    notes = ["", *(f"  (for {s.waiting_for})" if s.waiting_for else "" for s in statuses)]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + note
        for row, note in zip(rows, notes, strict=True)
    )
    return "".join(f"{line}\n" for line in lines)


def render_action(action: str, statuses: Sequence[InstanceStatus]) -> tuple[list[str], int]:
    """One line per instance acted on (`web.1: restarted (RUNNING, pid 4242)`) and the exit code.

    An instance that did not end up where the action should have put it (a
    start that went to BACKOFF or FATAL) is reported as failed, and exit is 1.
    """
    lines = []
    code = 0
    for status in statuses:
        detail = status.state if status.pid is None else f"{status.state}, pid {status.pid}"
        if status.state in SUCCESS_STATES[action]:
            lines.append(f"{status.name}: {PAST_TENSE[action]} ({detail})")
        else:
            lines.append(f"{status.name}: {action} failed ({detail})")
            code = 1
    return lines, code
