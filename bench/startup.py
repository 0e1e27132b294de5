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
    """Median seconds: exec -> first process line, and `--version` wall time (None: no run succeeded)."""

    first_line: float | None
    version: float | None


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


def direct_first_line() -> float | None:
    t0 = time.perf_counter()
    child = subprocess.Popen(["/bin/sh", "-c", "echo hi"], stdout=subprocess.PIPE, env=bench_env())
    assert child.stdout is not None
    took = first_line(child.stdout.fileno(), t0, b"hi")
    child.wait()
    child.stdout.close()
    return took


def runner_first_line(runner: Runner) -> float | None:
    with project.started(runner, ENTRIES, pipe=True) as run:
        assert run.proc.stdout is not None
        return first_line(run.proc.stdout.fileno(), run.t0, b"| hi")  # then stopped by `started`


def wall(argv: list[str]) -> float | None:
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=bench_env(), timeout=TIMEOUT)
    took = time.perf_counter() - t0
    procs.reap_orphans()
    return took if done.returncode == 0 else None


def median(values: list[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return statistics.median(good) if good else None


def measure(runners: list[Runner], repeat: int) -> dict[str, Startup]:
    """Every runner `repeat` times in turn; medians per runner, `direct` included."""
    lines: dict[str, list[float | None]] = {"direct": []} | {r.name: [] for r in runners}
    versions: dict[str, list[float | None]] = {"direct": []} | {r.name: [] for r in runners}
    for _ in range(repeat):
        lines["direct"].append(direct_first_line())
        versions["direct"].append(wall(python_floor()))
        for runner in runners:
            lines[runner.name].append(runner_first_line(runner))
            versions[runner.name].append(wall(runner.version_argv()))
    return {name: Startup(median(lines[name]), median(versions[name])) for name in lines}
