"""Every descendant accounted for while `up` runs and when it ends.

On Linux `up` is a child subreaper, so orphans from the instances' trees
become its children: each of their deaths is a SIGCHLD, their zombies are
collected (coalesced, one /proc scan per burst), and at shutdown whatever
is still alive below us, or in an instance's process group, gets a short
grace and then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

from supervise.runtime import proctree

ORPHAN_REAP_DELAY = 0.5
"""Zombie orphans are collected at most this long after a SIGCHLD."""


class Reaper:
    """The subreaper role, SIGCHLD, and the final sweep of leftovers."""

    def __init__(self, groups: Callable[[], set[int]], clock: Callable[[], float]) -> None:
        """`groups`: the process groups of the instances (they may outlive their leaders)."""
        self.groups = groups
        self.clock = clock
        self.subreaper = proctree.become_subreaper()
        self.child_exited = asyncio.Event()
        self.reaping = True
        """Collect orphan zombies as they appear (off at shutdown: the sweep does it)."""
        self._pending: asyncio.TimerHandle | None = None

    def on_sigchld(self) -> None:
        self.child_exited.set()
        if self.subreaper and self.reaping and self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(ORPHAN_REAP_DELAY, self._reap)

    def _reap(self) -> None:
        self._pending = None
        proctree.reap_orphans(proctree.process_table())

    def leftovers(self) -> set[int]:
        """Live processes below us, or in an instance's group; zombie orphans are reaped."""
        table = proctree.process_table()
        found = proctree.descendants(table, os.getpid())
        groups = self.groups()
        # Without a subreaper, orphans are not below us; their group still names them.
        found |= {pid for pid, proc in table.items() if proc.pgid in groups and proc.state != "Z"}
        proctree.reap_orphans(table)
        return found

    async def drain(self, grace: float, forced: Callable[[], bool], log: Callable[[str], None]) -> None:
        """SIGTERM what is left, wait up to `grace` (woken by SIGCHLD), then SIGKILL the rest."""
        self.reaping = False
        leftovers = self.leftovers()
        if not leftovers:
            return
        for pid in leftovers:
            proctree.kill_quietly(pid, signal.SIGTERM)
        deadline = self.clock() + grace
        while leftovers and not forced() and (remaining := deadline - self.clock()) > 0:
            self.child_exited.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.child_exited.wait(), remaining)
            leftovers = self.leftovers()
        if leftovers:
            log(f"killing {len(leftovers)} leftover process(es): {sorted(leftovers)}")
            proctree.kill_all(leftovers)

    def kill_all(self) -> None:
        """SIGKILL every leftover now (a second Ctrl-C, or the last resort)."""
        leftovers = self.leftovers()
        if leftovers:
            proctree.kill_all(leftovers)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
