"""Scenario 3, idle: 20 x `sleep 1000`; what the runner itself costs while nothing happens.

Once all 20 sleeps run and the runner has settled (supervise's startsecs timers
have fired), the runner's own processes (itself and its helpers in its session,
not what it supervises) are sampled over 10 s: CPU time of all their threads and
context switches (voluntary + involuntary, all threads) per second. Every
context switch of an idle process is a wakeup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import procs
import project
from runners import Runner

COUNT = 20
SETTLE = 2.0  # past supervise's default startsecs (1 s), so no timer is pending
WINDOW = 10.0
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Idle:
    """The runner's own cost while idle (None: the processes never all ran)."""

    cpu_seconds: float | None
    window: float
    wakeups_per_s: float | None
    processes: int
    threads: int

    @property
    def cpu_percent(self) -> float | None:
        """Percent of one core."""
        return None if self.cpu_seconds is None else 100 * self.cpu_seconds / self.window


def measure_runner(runner: Runner, window: float = WINDOW) -> Idle:
    entries = {f"s{i:02d}": "sleep 1000" for i in range(1, COUNT + 1)}
    with project.started(runner, "idle", entries) as run:
        pid = run.proc.pid
        if project.wait_until(lambda: procs.count_supervised(pid, "sleep") >= COUNT, START_TIMEOUT) is None:
            return Idle(None, window, None, 0, 0)
        time.sleep(SETTLE)
        own = procs.own_processes(pid)
        cpu0, switches0, t0 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
        time.sleep(window)
        cpu1, switches1, t1 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
        return Idle(cpu1 - cpu0, t1 - t0, (switches1 - switches0) / (t1 - t0), len(own), procs.threads(own))
