"""Never lose a descendant: the process table, the subreaper, and quiet signalling.

A grandchild that calls `setsid` or double-forks leaves its process group,
so `killpg` alone cannot reach it. On Linux we become a child subreaper
(`prctl(PR_SET_CHILD_SUBREAPER)`): orphans of our children are re-parented
to us instead of to init, so "every descendant" is exactly the processes
whose parent chain reaches our pid. Elsewhere (macOS) the table comes from
`ps`, and an orphan whose parent died before we looked is out of reach.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable

PR_SET_CHILD_SUBREAPER = 36
IS_LINUX = sys.platform.startswith("linux")


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); False where it is not available."""
    if not IS_LINUX:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


ProcessTable = dict[int, tuple[int, int, str]]
"""pid -> (parent pid, process group id, state letter: R, S, Z, ...)."""


def process_table() -> ProcessTable:
    """Every process's parent and state, read once (from /proc, or `ps`)."""
    if IS_LINUX:
        return _proc_table()
    return _ps_table()


def _proc_table() -> ProcessTable:
    table: ProcessTable = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue  # exited while we looked
        # The command name is in parentheses and may itself contain ") ".
        fields = data[data.rfind(b")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0].decode())
    return table


def _ps_table() -> ProcessTable:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,pgid=,stat="], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return {}
    table: ProcessTable = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
            table[int(parts[0])] = (int(parts[1]), int(parts[2]), parts[3][:1])
    return table


def descendants(table: ProcessTable, root: int) -> set[int]:
    """Every live process below `root` in the table (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _pgid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {pid for pid in found if table[pid][2] != "Z"}


def kill_quietly(pid: int, signum: int) -> None:
    """Signal a process that may already be gone: ESRCH and EPERM are not errors."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def killpg_quietly(pgid: int, signum: int) -> bool:
    """Signal a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but a member is not ours to signal
    return True


def group_alive(pgid: int) -> bool:
    return killpg_quietly(pgid, 0)


def reap_orphans(table: ProcessTable, keep: Iterable[int]) -> None:
    """Collect zombies re-parented to us, except the children asyncio waits for."""
    me = os.getpid()
    skip = set(keep)
    for pid, (ppid, _pgid, state) in table.items():
        if ppid == me and state == "Z" and pid not in skip:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def kill_all(pids: Iterable[int], keep: Iterable[int] = ()) -> None:
    """SIGKILL each pid, then reap those that were re-parented to us."""
    skip = set(keep)
    victims = [pid for pid in pids if pid not in skip]
    for pid in victims:
        kill_quietly(pid, signal.SIGKILL)
    me = os.getpid()
    table = process_table()
    for pid in victims:
        if table.get(pid, (0, 0, ""))[0] == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
