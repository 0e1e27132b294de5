"""Scenario 6, hostile input (issue 19): `check` of a 10,000-line Procfile, and one 200 MB line.

- check: wall time of `check -f Procfile` on 10,000 lines of `pN: sleep N`
  (median of `repeat` runs; honcho has a `check` command too). It was
  quadratic (37 s and more) before; the target is a couple of seconds.
- long line: one process prints a 200 MB line with no newline before its end
  (`head -c | tr`, so the producer itself stays small), output to /dev/null.
  The figure is the runner's peak RSS (`ru_maxrss` from wait4: the runner and
  the descendants it reaped, which for supervise are a shell, head and tr),
  taken by a small launcher (peakrss.py), not by the harness: a child's
  ru_maxrss counts what the process that forked it held.
  Before, `up` held the whole line and several copies of it (about 1 GB).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import project
from runners import Runner, launch

PEAK_RSS = Path(__file__).with_name("peakrss.py")
CHECK_LINES = 10_000
LINE_BYTES = 200_000_000
TIMEOUT = 300.0


@dataclass(frozen=True)
class Hostile:
    """One runner's figures (None: not measured, or it failed; `why` says how)."""

    check_seconds: float | None
    peak_rss_mib: float | None
    line_bytes: int
    why: str = ""


def measure_runner(runner: Runner, repeat: int = 3, size: int = LINE_BYTES) -> Hostile:
    check, why_check = measure_check(runner, repeat)
    peak, why_line = measure_long_line(runner, size)
    return Hostile(check, peak, size, "; ".join(w for w in (why_check, why_line) if w))


def measure_check(runner: Runner, repeat: int) -> tuple[float | None, str]:
    """Median seconds of `check -f Procfile` on CHECK_LINES processes."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{runner.name}-check-") as tmp:
        procfile = Path(tmp) / "Procfile"
        procfile.write_text(project.procfile({f"p{i}": f"sleep {i}" for i in range(CHECK_LINES)}))
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            with open(os.devnull, "wb") as null:
                check = launch([*runner.command, "check", "-f", str(procfile)], Path(tmp), null, null)
            try:
                code = check.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(check.pid, signal.SIGKILL)
                check.wait()
                return None, f"check did not finish within {TIMEOUT:.0f} s"
            if code != 0:
                return None, f"check exited {code}"
            times.append(time.perf_counter() - t0)
    return statistics.median(times), ""


def measure_long_line(runner: Runner, size: int) -> tuple[float | None, str]:
    """Peak RSS in MiB of the runner while one process prints a `size`-byte line."""
    # `sleep 1.5` keeps the process past supervise's startsecs, so its exit ends `up` (exit 0).
    command = f"head -c {size} /dev/zero | tr '\\0' x; echo; sleep 1.5"
    with tempfile.TemporaryDirectory(prefix=f"bench-{runner.name}-line-") as tmp:
        procfile = Path(tmp) / "Procfile"
        procfile.write_text(project.procfile({"blob": command}))
        code, maxrss_kib = _peak_rss(runner.up(procfile), Path(tmp))
    if code is None:
        return None, f"did not finish within {TIMEOUT:.0f} s"
    return maxrss_kib / 1024, "" if code == 0 else f"up exited {code}"


def _peak_rss(argv: list[str], cwd: Path) -> tuple[int | None, int]:
    """Run to its end with output to /dev/null: (exit code, None when killed at TIMEOUT; ru_maxrss KiB).

    The peak comes from peakrss.py, a small launcher: wait4 in the harness itself
    would count the harness's own memory at the fork (see there).
    """
    with tempfile.NamedTemporaryFile(prefix="bench-peakrss-") as report:
        launcher = [sys.executable, "-S", str(PEAK_RSS), report.name, *argv]
        with open(os.devnull, "wb") as null:
            proc = launch(launcher, cwd, null, null)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(TIMEOUT, kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        peak = report.read().strip()
    return (None if killed.is_set() else proc.returncode), int(peak or 0)
