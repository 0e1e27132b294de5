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
from collections.abc import Iterable, Iterator
from typing import NamedTuple

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


class Proc(NamedTuple):
    """One row of the process table."""

    ppid: int
    pgid: int
    sid: int
    state: str
    """R, S, D, Z (zombie), ..."""


ProcessTable = dict[int, Proc]


def process_table() -> ProcessTable:
    """Every process's parent and state, read once (from /proc, or `ps`)."""
    if IS_LINUX:
        return _proc_table()
    return _ps_table()


STAT_BYTES = 4096
"""More than a /proc/PID/stat line can hold (52 numbers and a 16-byte name)."""


def proc_stats(pids: Iterable[int] | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """Each process's /proc/PID/stat fields after the command name (state is field 0);
    of every process, or of `pids` only.

    Read with os.open/os.read: open() would add an fstat, an isatty ioctl and a
    seek per process, and the page of `up --web` reads the table every second.
    """
    if pids is None:
        pids = (int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit())
    for pid in pids:
        data = _read_proc(f"/proc/{pid}/stat", whole=False)
        if data is None:
            continue  # exited while we looked
        # The command name is in parentheses and may itself contain ") ".
        yield pid, data[data.rfind(b")") + 2 :].split()


def subtree(root: int) -> list[int] | None:
    """`root` and its descendants, from /proc/PID/task/TID/children; None where the kernel
    keeps no such file (before 3.5, or built without it).

    A snapshot: a child born or gone while it is read may be missed, which a CPU
    figure can bear; what must see every process (the sweeps) reads all of /proc.
    """
    found = [root]
    for pid in found:  # grows while it is walked: breadth first
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone
        for tid in threads:
            data = _read_proc(f"/proc/{pid}/task/{tid}/children", whole=True)
            if data is None and pid == root and not os.path.exists(f"/proc/{pid}/task/{tid}/children"):
                return None
            found.extend(int(child) for child in (data or b"").split())
    return found


def _read_proc(path: str, *, whole: bool) -> bytes | None:
    """A /proc file: its first STAT_BYTES, or all of it (`whole`: a list of a thousand
    children is longer); None when it (or its process) is gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, STAT_BYTES)
        while whole and data and (more := os.read(fd, STAT_BYTES)):
            data += more
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def _proc_table() -> ProcessTable:
    return {
        pid: Proc(int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode())
        for pid, fields in proc_stats()
    }


def _ps_table() -> ProcessTable:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,pgid=,sess=,stat="], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return {}
    table: ProcessTable = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and all(part.isdigit() for part in parts[:4]):
            table[int(parts[0])] = Proc(int(parts[1]), int(parts[2]), int(parts[3]), parts[4][:1])
    return table


def descendants(table: ProcessTable, root: int) -> set[int]:
    """Every live process below `root` in the table (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {pid for pid in found if table[pid].state != "Z"}


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


def reap_orphans(table: ProcessTable) -> None:
    """Collect zombies re-parented to us (as subreaper), never a child asyncio waits for.

    Everything we spawn ourselves leads its own session (sid == pid); an
    orphan from an instance's tree does not, so it is ours to reap. (A
    double-forked daemon that called setsid looks like our own child and is
    reaped by the final sweep instead.)
    """
    me = os.getpid()
    for pid, proc in table.items():
        if proc.ppid == me and proc.state == "Z" and proc.sid != pid:
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
        row = table.get(pid)
        if row is not None and row.ppid == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
