"""Scenario 5, shutdown: a tree with grandchildren and a SIGTERM-trapping child, stopped four ways.

`tree` is a shell with two `sleep 1000` children; `trap` answers SIGTERM with
`echo bye` and exit 0. Once both run, the harness sends SIGINT to the runner,
SIGTERM to the runner, or SIGINT to the runner's whole process group, as a
terminal's Ctrl-C does (the runner is started in a session of its own). It
reports the time to exit, the exit code, how many SIGTERMs the trap answered,
whether `bye` was printed, and the
orphans: supervised processes alive 0.2 s after the runner exited.

The fourth way is SIGKILL to the runner's pid (`kill -9`, the OOM killer, an
IDE's stop button): there the orphans are every process below the runner, its
own helpers included, still alive 2 s later (shared/PRODUCT.md §9), and the
time is how long it took until none was left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

import procs
import project
from runners import Runner

ENTRIES = {
    "tree": "sleep 1000 & sleep 1000 & wait",
    "trap": 'trap "echo got-TERM; sleep 0.2; echo bye; exit 0" TERM; while :; do sleep 0.1; done',
}
MODES = ("SIGINT", "SIGTERM", "Ctrl-C", "SIGKILL")
SETTLE = 1.5  # past supervise's default startsecs (1 s)
GRACE = 0.2
START_TIMEOUT = 30.0
KILL_DEADLINE = 2.0  # after a SIGKILL, everything must be gone within this (PRODUCT.md §9)


@dataclass(frozen=True)
class Shutdown:
    """How one stop went (exit_seconds None: did not exit within the stop timeout and was killed;
    after a SIGKILL, seconds until every process was gone, None: not within KILL_DEADLINE)."""

    exit_seconds: float | None
    exit_code: int | None
    orphans: int | None
    bye: bool
    terms: int = 0
    """SIGTERMs the trapping child answered: one stop should send exactly one."""


def _ready(pid: int) -> bool:
    table = procs.snapshot()
    found = [procs.cmdline(p.pid) for p in procs.supervised(pid, table)]
    sleeps = sum(1 for argv in found if argv == ["sleep", "1000"])
    trap = any("trap" in " ".join(argv) for argv in found)
    return sleeps >= 2 and trap


def send(pid: int, mode: str) -> None:
    with contextlib.suppress(ProcessLookupError):
        if mode == "SIGINT":
            os.kill(pid, signal.SIGINT)
        elif mode == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        elif mode == "SIGKILL":
            os.kill(pid, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGINT)


def measure_runner(runner: Runner, mode: str) -> Shutdown:
    if mode == "SIGKILL":
        return measure_sigkill(runner)
    with project.started(runner, f"shutdown ({mode})", ENTRIES) as run:
        pid = run.proc.pid
        if project.wait_until(lambda: _ready(pid), START_TIMEOUT) is None:
            return Shutdown(None, None, None, False)
        time.sleep(SETTLE)
        # The trap loop's `sleep 0.1` come and go; everything else must be gone after the runner.
        children = [p for p in procs.supervised(pid) if procs.cmdline(p.pid) != ["sleep", "0.1"]]
        t0 = time.perf_counter()
        send(pid, mode)
        took = project.wait_or_kill(run.proc, t0)
        time.sleep(GRACE)
        orphans = procs.alive(children)
        code = run.proc.returncode if took is not None else None
        text = run.text()
        return Shutdown(took, code, len(orphans), "| bye" in text, text.count("| got-TERM"))


def measure_sigkill(runner: Runner) -> Shutdown:
    """SIGKILL to the runner's pid: how long until every process below it is gone, and how many never go."""
    with project.started(runner, "shutdown (SIGKILL)", ENTRIES) as run:
        pid = run.proc.pid
        if project.wait_until(lambda: _ready(pid), START_TIMEOUT) is None:
            return Shutdown(None, None, None, False)
        time.sleep(SETTLE)
        # What it supervises and its own helpers: after a SIGKILL nothing of the run may stay.
        everything = [p for p in procs.descendants(pid) if procs.cmdline(p.pid) != ["sleep", "0.1"]]
        t0 = time.perf_counter()
        send(pid, "SIGKILL")
        run.proc.wait()
        gone = project.wait_until(lambda: not procs.alive(everything), KILL_DEADLINE, interval=0.005)
        took = None if gone is None else time.perf_counter() - t0
        left = procs.alive(everything)
        procs.kill_all(left)  # the harness's clean-up, not the runner's: counted as orphans
        return Shutdown(took, run.proc.returncode, len(left), "| bye" in run.text())
