"""Scenario 4, scale: 200 x `sleep 1000`; start time, the runner's memory, SIGINT -> exit, survivors.

"All running" is the moment 200 `sleep` processes are found below the runner
(the clock starts just before exec; /proc is scanned every 50 ms). Memory is the PSS of the runner's own
processes (itself and its helpers in its session: honcho forks one
multiprocessing worker per child, and they count as honcho's). After SIGINT,
survivors are the supervised processes still alive 0.2 s after the runner
exited; they are then killed by pid. `direct` is the harness itself spawning the
same 200 `sh -c 'sleep 1000'` with `subprocess.Popen`, a floor for the start time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

import procs
import project
from runners import Runner, bench_env

COUNT = 200
SETTLE = 2.0  # past supervise's default startsecs (1 s)
GRACE = 0.2  # a process still alive this long after its runner exited has survived it
START_TIMEOUT = 120.0
POLL = 0.05  # a scan of /proc costs a few ms with 600 processes: poll gently, the runner needs the CPU


@dataclass(frozen=True)
class Scale:
    """Figures for one runner (None: not measured or not reached)."""

    all_running: float | None
    pss_bytes: int | None = None
    processes: int = 0
    threads: int = 0
    sigint_exit: float | None = None
    exit_code: int | None = None
    survivors: int | None = None


def entries(count: int) -> dict[str, str]:
    return {f"s{i:03d}": "sleep 1000" for i in range(1, count + 1)}


def measure_direct(count: int = COUNT) -> Scale:
    """The harness spawning the sleeps itself, each in its own session as the runners do."""
    t0 = time.perf_counter()
    children = [
        subprocess.Popen(
            ["/bin/sh", "-c", "sleep 1000"], stdin=subprocess.DEVNULL, env=bench_env(), start_new_session=True
        )
        for _ in range(count)
    ]
    me = os.getpid()
    took = project.wait_until(lambda: procs.count_supervised(me, "sleep") >= count, START_TIMEOUT, POLL)
    all_running = None if took is None else time.perf_counter() - t0
    for child in children:
        child.send_signal(signal.SIGKILL)
    for child in children:
        child.wait()
    procs.reap_orphans()
    return Scale(all_running)


def measure_runner(runner: Runner, count: int = COUNT) -> Scale:
    with project.started(runner, "scale", entries(count)) as run:
        pid = run.proc.pid
        took = project.wait_until(lambda: procs.count_supervised(pid, "sleep") >= count, START_TIMEOUT, POLL)
        if took is None:
            return Scale(None)
        all_running = time.perf_counter() - run.t0
        time.sleep(SETTLE)
        table = procs.snapshot()
        own = procs.own_processes(pid, table)
        children = procs.supervised(pid, table)
        pss = procs.pss_bytes(own)
        threads = procs.threads(own)
        took_exit = project.stop(run.proc, signal.SIGINT)
        time.sleep(GRACE)
        survivors = len(procs.alive(children))
        return Scale(all_running, pss, len(own), threads, took_exit, run.proc.returncode, survivors)
