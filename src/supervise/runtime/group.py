"""An instance's processes: its process group and the descendants that left it.

The process supervise spawns is often `/bin/sh`, and the program its child;
an instance lives until every process of its group, and every descendant that
called `setsid` to leave it, is gone (DESIGN.md principle 2). This module is
the one place that signals them and that knows when they are gone; the
lifecycle decides when, and sends each stop signal once.

"Gone" is learnt from SIGCHLD: on Linux `up` is a child subreaper, so a group
member whose parent died is re-parented to us, and its own death wakes us.
A slow re-check covers what no SIGCHLD reports (a member whose parent is an
escapee, or macOS, where there is no subreaper).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from supervise.runtime import proctree

RECHECK_INTERVAL = 1.0
"""Seconds between re-checks of watched groups when no SIGCHLD came."""


class ProcessGroup:
    """The processes of one spawn: the leader's group plus escapees found along the way."""

    def __init__(self, leader: int) -> None:
        self.leader = leader
        self.pgid = leader
        """Each spawn leads a new session, so its group id is its pid."""
        self.escapees: set[int] = set()

    def __repr__(self) -> str:
        escaped = f" +{len(self.escapees)} escaped" if self.escapees else ""
        return f"<ProcessGroup {self.pgid}{escaped}>"

    def signal(self, signum: int, *, whole_group: bool, table: proctree.ProcessTable) -> None:
        """Send `signum` to the leader alone, or to the group and every escapee.

        Escapees are looked up first (descendants of the leader outside its
        group), so a later SIGKILL reaches them even after the leader is gone.
        """
        self.note_escapees(table)
        if not whole_group:
            proctree.kill_quietly(self.leader, signum)
            return
        proctree.killpg_quietly(self.pgid, signum)
        for pid in self.escapees:
            proctree.kill_quietly(pid, signum)

    def send(
        self, signum: int, *, whole_group: bool, spare_leader: bool, table: proctree.ProcessTable
    ) -> list[int]:
        """`supervise signal`: as `signal`, but `spare_leader` keeps it from a shell leader; the pids.

        The shell of a compound line would die of HUP or USR1 and end the
        instance, where the signal is meant for its program. A shell left alone
        in its group gets it, though: then it is the program.
        """
        self.note_escapees(table)
        members = sorted(pid for pid, proc in table.items() if proc.pgid == self.pgid and proc.state != "Z")
        reached = [*members, *sorted(self.escapees)] if whole_group else [self.leader]
        if not (whole_group and spare_leader):
            self.signal(signum, whole_group=whole_group, table=table)
            return reached
        reached = [pid for pid in reached if pid != self.leader] or [self.leader]
        for pid in reached:
            proctree.kill_quietly(pid, signum)
        return reached

    def note_escapees(self, table: proctree.ProcessTable) -> None:
        """Remember the leader's descendants that are in another group (setsid'd daemons)."""
        self.escapees |= {
            pid for pid in proctree.descendants(table, self.leader) if table[pid].pgid != self.pgid
        }

    def alive_now(self) -> bool:
        """`alive` on a fresh look; no table is read when the group is plainly empty."""
        if not self.escapees and not proctree.group_alive(self.pgid):
            return False
        return self.alive(proctree.process_table())

    def alive(self, table: proctree.ProcessTable) -> bool:
        """Whether any process of the group, or an escapee, still runs (zombies do not count)."""
        self.escapees = {pid for pid in self.escapees if pid in table and table[pid].state != "Z"}
        if self.escapees:
            return True
        return any(proc.pgid == self.pgid and proc.state != "Z" for proc in table.values())


class GroupWatch:
    """Calls back once a watched group is gone; woken by SIGCHLD, re-checked now and then."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watched: dict[ProcessGroup, Callable[[], None]] = {}
        self._check: asyncio.Handle | None = None
        self._recheck: asyncio.TimerHandle | None = None
        self._table: proctree.ProcessTable | None = None

    def table(self) -> proctree.ProcessTable:
        """The process table, read at most once per loop turn (200 instances stop in one turn)."""
        if self._table is None:
            self._table = proctree.process_table()
            self._loop.call_soon(self._forget_table)
        return self._table

    def _forget_table(self) -> None:
        self._table = None

    def watch(self, group: ProcessGroup, on_gone: Callable[[], None]) -> None:
        """Call `on_gone` (in the loop) once nothing of `group` runs any more."""
        self._watched[group] = on_gone
        self.on_sigchld()

    def forget(self, group: ProcessGroup) -> None:
        self._watched.pop(group, None)

    def on_sigchld(self) -> None:
        """A child or an adopted orphan died: check the watched groups on the next loop turn."""
        self._table = None
        if self._watched and self._check is None:
            self._check = self._loop.call_soon(self._check_all)

    def _check_all(self) -> None:
        self._check = None
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if not self._watched:
            return
        self._table = None  # someone died since it was read
        table = self.table()
        proctree.reap_orphans(table)
        gone = [group for group in self._watched if not group.alive(table)]
        for group in gone:
            self._watched.pop(group)()
        if self._watched:
            self._recheck = self._loop.call_later(RECHECK_INTERVAL, self._check_all)

    def close(self) -> None:
        for handle in (self._check, self._recheck):
            if handle is not None:
                handle.cancel()
        self._watched.clear()


def kill_group(pgid: int) -> None:
    """SIGKILL a whole group that is not an instance's (a probe, the --then command)."""
    proctree.killpg_quietly(pgid, signal.SIGKILL)
