"""CPU % and resident memory of each instance's whole process tree, for `status`.

An instance's tree is its process group plus every descendant of a group
member (a grandchild that called `setsid` still counts). CPU % is the
user+system time the tree used between two samples of the process table,
over the wall time between them (100 = one core); memory is the sum of the
trees' resident set sizes. Linux reads /proc; elsewhere (macOS) `ps`.

Samples are taken when `status` asks, never on a timer: the first request
waits one short window (`MIN_WINDOW`) between two samples; later requests
measure since the previous one (up to `MAX_WINDOW` ago).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from supervise.runtime import proctree

MIN_WINDOW = 0.25
"""Shortest measuring window, seconds: the kernel counts CPU time in 10 ms ticks."""
MAX_WINDOW = 10.0
"""A previous sample older than this is too old to average over: measure afresh."""


class ProcUsage(NamedTuple):
    """One process's share of the machine, as read from the process table."""

    ppid: int
    pgid: int
    cpu: float
    """User + system CPU seconds since the process started."""
    rss: int
    """Resident memory, bytes."""
    start: int
    """When it started (clock ticks since boot on Linux, 0 where unknown): a reused pid has another."""


UsageTable = dict[int, ProcUsage]


@dataclass(frozen=True)
class Sample:
    at: float
    table: UsageTable


@dataclass(frozen=True)
class TreeUsage:
    cpu: float | None
    """Percent of one core over the window; None with no window yet."""
    memory: int
    """Bytes."""


def usage_table(root: int | None = None) -> UsageTable:
    """Every process's parent, group, CPU time and memory, read once.

    `root`: only it and its descendants, where Linux can list a process's
    children (a busy desktop has hundreds of processes that are none of ours).
    """
    if sys.platform.startswith("linux"):
        return _proc_usage(root)
    return _ps_usage()


def _proc_usage(root: int | None) -> UsageTable:
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    table: UsageTable = {}
    pids = proctree.subtree(root) if root is not None else None
    for pid, fields in proctree.proc_stats(pids):
        if fields[0] == b"Z":
            continue
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        table[pid] = ProcUsage(int(fields[1]), int(fields[2]), cpu, int(fields[21]) * page, int(fields[19]))
    return table


def _ps_usage() -> UsageTable:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,pgid=,rss=,time=,stat="],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return {}
    table: UsageTable = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6 or not all(part.isdigit() for part in parts[:4]) or parts[5].startswith("Z"):
            continue
        cpu = parse_cpu_time(parts[4])
        if cpu is not None:
            table[int(parts[0])] = ProcUsage(int(parts[1]), int(parts[2]), cpu, int(parts[3]) * 1024, 0)
    return table


def parse_cpu_time(text: str) -> float | None:
    """`ps`'s cumulative CPU time: `[[DD-]HH:]MM:SS[.cc]` -> seconds; None if unreadable."""
    days, _, clock = text.rpartition("-")
    try:
        seconds = 0.0
        for part in clock.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds + (int(days) * 86400 if days else 0)
    except ValueError:
        return None


def children_of(table: UsageTable) -> dict[int, list[int]]:
    """Each pid's children in `table`."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    return children


def tree(table: UsageTable, pgid: int, children: dict[int, list[int]] | None = None) -> set[int]:
    """The members of process group `pgid` and all their descendants (`children`: children_of(table))."""
    if children is None:
        children = children_of(table)
    members = [pid for pid, proc in table.items() if proc.pgid == pgid]
    found = set(members)
    stack = list(members)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def tree_usage(before: Sample | None, after: Sample, pids: Iterable[int]) -> TreeUsage:
    """CPU % between the samples and memory now, of the processes `pids` (as found in `after`).

    A process new since `before` counts all its CPU time (it was spent in
    the window); one that exited in the window is not counted for it.
    """
    used = 0.0
    memory = 0
    for pid in pids:
        now = after.table.get(pid)
        if now is None:
            continue
        memory += now.rss
        then = before.table.get(pid) if before is not None else None
        same = then is not None and then.start == now.start
        used += now.cpu - then.cpu if then is not None and same else now.cpu
    if before is None or after.at <= before.at:
        return TreeUsage(None, memory)
    return TreeUsage(max(0.0, 100.0 * used / (after.at - before.at)), memory)


class UsageMeter:
    """Samples the process table when asked; see the module docstring."""

    def __init__(self, clock: Callable[[], float], read: Callable[[], UsageTable] = usage_table) -> None:
        self.clock = clock
        self.read = read
        self._last: Sample | None = None
        self._pair: tuple[Sample, Sample] | None = None
        self._children: dict[int, list[int]] | None = None
        """children_of the latest sample: one map for every instance's tree."""

    def _take(self) -> Sample:
        return Sample(self.clock(), self.read())

    async def measure(self) -> None:
        """Make a fresh window ready: at most MIN_WINDOW of waiting, and none when one is fresh."""
        now = self.clock()
        if self._pair is not None and now - self._pair[1].at < MIN_WINDOW:
            return
        if self._last is None or now - self._last.at > MAX_WINDOW:
            self._last = self._take()
            await asyncio.sleep(MIN_WINDOW)
        current = self._take()
        self._pair = (self._last, current)
        self._children = None
        self._last = current

    def of_group(self, pgid: int | None) -> TreeUsage | None:
        """Usage of the tree of group `pgid` in the latest window; None without a live process."""
        if pgid is None or self._pair is None:
            return None
        before, after = self._pair
        if self._children is None:
            self._children = children_of(after.table)
        pids = tree(after.table, pgid, self._children)
        if not pids:
            return None
        return tree_usage(before, after, pids)
