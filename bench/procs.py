"""What the benchmarks read from /proc: the process tree, CPU, wakeups, memory, liveness.

A runner's *own* processes are the runner and every descendant still in its
session: the harness starts each runner with `start_new_session=True`, and both
honcho and supervise put every process they supervise in a session of its own,
so honcho's per-child multiprocessing workers count as honcho's while the
supervised commands and their children do not.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Proc:
    """One line of the process table; `start` (in clock ticks since boot) tells reused pids apart."""

    pid: int
    ppid: int
    sid: int
    state: str
    comm: str
    start: int
    cpu_ticks: int  # utime + stime of all its threads


def read_proc(pid: int) -> Proc | None:
    """The process `pid`, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, session, ... utime (14), stime (15), starttime (22)
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        sid=int(fields[3]),
        state=fields[0],
        comm=comm,
        start=int(fields[19]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
    )


def snapshot() -> dict[int, Proc]:
    """Every process on the machine, by pid."""
    table: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                table[proc.pid] = proc
    return table


def descendants(root: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """Every live descendant of `root` (not `root` itself), parents before children."""
    table = snapshot() if table is None else table
    children: dict[int, list[Proc]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: list[Proc] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child.state != "Z":
                found.append(child)
                todo.append(child.pid)
    return found


def own_processes(runner: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """The runner and its own helper processes: itself plus descendants in its session."""
    table = snapshot() if table is None else table
    me = table.get(runner)
    if me is None:
        return []
    return [me, *(p for p in descendants(runner, table) if p.sid == me.sid)]


def supervised(runner: int, table: dict[int, Proc] | None = None) -> list[Proc]:
    """What the runner supervises: descendants outside its session."""
    table = snapshot() if table is None else table
    me = table.get(runner)
    sid = me.sid if me is not None else runner
    return [p for p in descendants(runner, table) if p.sid != sid]


def count_supervised(runner: int, comm: str) -> int:
    """How many processes called `comm` the runner supervises (children or deeper)."""
    return sum(1 for p in supervised(runner) if p.comm == comm)


def threads(procs: Iterable[Proc]) -> int:
    """Threads of these processes, all counted."""
    return sum(len(_tasks(proc)) for proc in procs)


def cmdline(pid: int) -> list[str]:
    """The argv of `pid` ([] when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode("utf-8", "replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def cpu_seconds(procs: Iterable[Proc]) -> float:
    """utime + stime of these processes, now, in seconds (0 for those gone)."""
    ticks = 0
    for proc in procs:
        now = read_proc(proc.pid)
        if now is not None and now.start == proc.start:
            ticks += now.cpu_ticks
    return ticks / CLOCK_TICKS


def _tasks(proc: Proc) -> list[str]:
    try:
        return os.listdir(f"/proc/{proc.pid}/task")
    except OSError:
        return []


def cpu_time(procs: Iterable[Proc]) -> float:
    """Seconds on a CPU of every thread of these processes, to the nanosecond (schedstat).

    utime + stime in /proc/PID/stat count 10 ms ticks, too coarse for 0.1 % of a
    core over 10 s; without schedstat this falls back to them.
    """
    procs = list(procs)
    total = 0
    for proc in procs:
        for task in _tasks(proc):
            try:
                with open(f"/proc/{proc.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return cpu_seconds(procs)
    return total / 1e9


def context_switches(procs: Iterable[Proc]) -> int:
    """Voluntary + involuntary context switches of every thread of these processes."""
    total = 0
    for proc in procs:
        for task in _tasks(proc):
            try:
                with open(f"/proc/{proc.pid}/task/{task}/status") as f:
                    for text in f:
                        if text.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(text.split()[1])
            except OSError:
                continue
    return total


def pss_bytes(procs: Iterable[Proc]) -> int:
    """Proportional set size of these processes, summed (shared pages split between sharers)."""
    total = 0
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/smaps_rollup") as f:
                for text in f:
                    if text.startswith("Pss:"):
                        total += int(text.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def alive(procs: Iterable[Proc]) -> list[Proc]:
    """Those of `procs` still running: same pid and start time, not a zombie."""
    left = []
    for proc in procs:
        now = read_proc(proc.pid)
        if now is not None and now.start == proc.start and now.state != "Z":
            left.append(now)
    return left


def become_subreaper() -> bool:
    """Make orphans of our runners our children (Linux), so none can escape the clean-up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def kill_all(procs: Iterable[Proc]) -> None:
    """SIGKILL each process by pid (if it is still the same process), then reap our own children."""
    procs = list(procs)
    for proc in alive(procs):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    for proc in procs:
        while time.monotonic() < deadline:
            now = read_proc(proc.pid)
            if now is None or now.start != proc.start:
                break
            if now.ppid == os.getpid():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, os.WNOHANG)
            elif now.state == "Z":
                break
            time.sleep(0.005)


def reap_orphans(keep: Iterable[int] = ()) -> list[Proc]:
    """Kill and reap every descendant of the harness except the pids in `keep`; return what was there."""
    keep = set(keep)
    left = [p for p in descendants(os.getpid()) if p.pid not in keep]
    kill_all(left)
    # Zombies of ours that were orphans (adopted as subreaper) and died on their own.
    for proc in snapshot().values():
        if proc.ppid == os.getpid() and proc.state == "Z" and proc.pid not in keep:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
    return left
