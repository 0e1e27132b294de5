"""Scenario 7, reconfigure: one line of a 10-process Procfile edited while it runs.

Each process is `echo NAME v1; exec sleep 1000`. Once all ten run (and the
runner has settled), the harness saves the Procfile as an editor does (a new
file renamed over the old one) with `p05` printing `v2`, and times the save ->
`p05 v2` on the runner's output. supervise reloads by itself: only p05
restarts. honcho has no reload: what its users do is Ctrl-C and start again,
so its figure is stop + start of all ten. "Untouched" counts the other nine
`sleep` processes still running after the change (the same pids).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import procs
import project
from runners import Runner

COUNT = 10
CHANGED = "p05"
SETTLE = 1.5  # past supervise's default startsecs (1 s)
START_TIMEOUT = 30.0
CHANGE_TIMEOUT = 30.0
POLL = 0.005


@dataclass(frozen=True)
class Reconfigure:
    """Medians over the runs (None: never seen)."""

    to_new_line: float | None
    untouched: int | None
    """The other processes still running the same pid after the change."""
    runs: int


def entries(version: str) -> dict[str, str]:
    names = [f"p{i:02d}" for i in range(1, COUNT + 1)]
    return {n: f"echo {n} {version if n == CHANGED else 'v1'}; exec sleep 1000" for n in names}


def _sleeps(runner_pid: int) -> set[tuple[int, int]]:
    """(pid, start) of the `sleep 1000` processes below the runner."""
    table = procs.snapshot()
    return {
        (p.pid, p.start) for p in procs.supervised(runner_pid, table) if procs.cmdline(p.pid)[:1] == ["sleep"]
    }


def _save_by_rename(path: Path, text: str) -> None:
    temporary = path.with_name(".Procfile.swp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _seen(run: project.Started, text: str) -> bool:
    return text in run.text()


def measure_once(runner: Runner) -> tuple[float | None, int | None]:
    """One edit: seconds from the save to the changed process's new line, and the untouched others."""
    with project.started(runner, "reconfigure", entries("v1")) as run:
        pid = run.proc.pid
        if project.wait_until(lambda: len(_sleeps(pid)) >= COUNT, START_TIMEOUT) is None:
            return None, None
        time.sleep(SETTLE)
        before = _sleeps(pid)
        t0 = time.perf_counter()
        _save_by_rename(run.root / "Procfile", project.procfile(entries("v2")))
        if runner.name != "supervise":
            # No reload: the user stops it (Ctrl-C) and starts it again on the edited file.
            project.stop(run.proc, signal.SIGINT)
            with project.started(runner, "reconfigure (restart)", entries("v2")) as again:
                took = project.wait_until(lambda: _seen(again, f"{CHANGED} v2"), CHANGE_TIMEOUT, POLL)
                elapsed = None if took is None else time.perf_counter() - t0
                # Stopped only once all run again: stopping a runner mid-start is not what is measured.
                project.wait_until(lambda: len(_sleeps(again.proc.pid)) >= COUNT, START_TIMEOUT)
                time.sleep(SETTLE)
                return elapsed, 0
        took = project.wait_until(lambda: _seen(run, f"{CHANGED} v2"), CHANGE_TIMEOUT, POLL)
        if took is None:
            return None, None
        elapsed = time.perf_counter() - t0
        return elapsed, len(before & _sleeps(pid))


def measure_runner(runner: Runner, runs: int) -> Reconfigure:
    times, untouched = [], []
    for _ in range(runs):
        took, kept = measure_once(runner)
        if took is not None:
            times.append(took)
        if kept is not None:
            untouched.append(kept)
    return Reconfigure(
        statistics.median(times) if times else None,
        int(statistics.median(untouched)) if untouched else None,
        runs,
    )
