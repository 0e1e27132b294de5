"""Orphans: adopted while `up` runs, collected as they die, and none left when it ends.

On Linux `up` is a child subreaper, so orphans from the instances' trees
become its children instead of init's: their zombies are collected
(coalesced, one /proc scan per burst of SIGCHLD), and at the very end
anything still alive below us is killed. Stopping instances is not done
here: that is the lifecycle's, through group.py.
"""

from __future__ import annotations

import asyncio
import os

from supervise.runtime import proctree

ORPHAN_REAP_DELAY = 0.5
"""Zombie orphans are collected at most this long after a SIGCHLD."""


class Reaper:
    """The subreaper role, and the last net for processes that left every instance's tree."""

    def __init__(self) -> None:
        self.subreaper = proctree.become_subreaper()
        self._pending: asyncio.TimerHandle | None = None

    def on_sigchld(self) -> None:
        if self.subreaper and self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(ORPHAN_REAP_DELAY, self._reap)

    def _reap(self) -> None:
        self._pending = None
        proctree.reap_orphans(proctree.process_table())

    def leftovers(self) -> set[int]:
        """Live processes below us; zombie orphans are reaped on the way."""
        table = proctree.process_table()
        proctree.reap_orphans(table)
        return proctree.descendants(table, os.getpid())

    def kill_all(self) -> None:
        """SIGKILL every process still below us (a bug elsewhere, or a crash of `up`)."""
        leftovers = self.leftovers()
        if leftovers:
            proctree.kill_all(leftovers)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
