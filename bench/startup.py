"""Scenario 2, startup: exec -> the first line of a process (`echo hi`), and `--version` wall time.

Medians of several runs, the runners taking turns so that noise hits both alike.
`direct` is `sh -c 'echo hi'` read straight from its pipe, and for `--version`
the interpreter's own floor, `python -c pass`.
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import time
from dataclasses import dataclass

import procs
import project
from runners import Runner, bench_env, python_floor

TIMEOUT = 30.0
ENTRIES = {"hi": "echo hi"}


@dataclass(frozen=True)
class Startup:
    """Medians in seconds (None: no run succeeded): wall time, and the CPU the runner used meanwhile.

    CPU time is steadier than wall time on a busy machine, so it is shown beside it.
    """

    first_line: float | None
    first_line_cpu: float | None
    version: float | None
    version_cpu: float | None


Sample = tuple[float | None, float | None]  # (wall, cpu)


def first_line(fd: int, t0: float, wanted: bytes) -> float | None:
    """Seconds from `t0` until a line ending in `wanted` arrives on `fd` (None: EOF or timeout)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    buffer = b""
    while time.perf_counter() - t0 < TIMEOUT:
        if not poller.poll(1000):
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        now = time.perf_counter()
        buffer += chunk
        if any(line.endswith(wanted) for line in buffer.split(b"\n")[:-1]):
            return now - t0
    return None


def direct_first_line() -> Sample:
    t0 = time.perf_counter()
    child = subprocess.Popen(["/bin/sh", "-c", "echo hi"], stdout=subprocess.PIPE, env=bench_env())
    assert child.stdout is not None
    took = first_line(child.stdout.fileno(), t0, b"hi")
    child.wait()
    child.stdout.close()
    return took, None


def runner_first_line(runner: Runner) -> Sample:
    with project.started(runner, "startup", ENTRIES, pipe=True) as run:  # stopped by `started` afterwards
        assert run.proc.stdout is not None
        took = first_line(run.proc.stdout.fileno(), run.t0, b"| hi")
        cpu = procs.cpu_time(procs.own_processes(run.proc.pid))
    return took, cpu if took is not None else None


def wall(argv: list[str]) -> Sample:
    """Wall and CPU (user + system, from wait4) seconds of one run of `argv` (None: it failed)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=bench_env()
    )
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    procs.reap_orphans()
    if child.returncode != 0:
        return None, None
    return took, usage.ru_utime + usage.ru_stime


def median(values: list[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return statistics.median(good) if good else None


def measure(runners: list[Runner], repeat: int) -> dict[str, Startup]:
    """Every runner `repeat` times in turn; medians per runner, `direct` included."""
    names = ["direct", *(r.name for r in runners)]
    lines: dict[str, list[Sample]] = {name: [] for name in names}
    versions: dict[str, list[Sample]] = {name: [] for name in names}
    for _ in range(repeat):
        lines["direct"].append(direct_first_line())
        versions["direct"].append(wall(python_floor()))
        for runner in runners:
            lines[runner.name].append(runner_first_line(runner))
            versions[runner.name].append(wall(runner.version_argv()))
    return {
        name: Startup(
            median([s[0] for s in lines[name]]),
            median([s[1] for s in lines[name]]),
            median([s[0] for s in versions[name]]),
            median([s[1] for s in versions[name]]),
        )
        for name in names
    }
