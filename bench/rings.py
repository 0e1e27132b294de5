"""Scenario 6, rings: 200 chatty instances whose recent-output rings are full; the runner's memory.

Each instance writes 2,000 lines of 60 bytes, one `write` per line, then stays
quiet: twice what a ring keeps (1,000 lines), so every ring is full and has
dropped its oldest blocks. Once every line has reached the runner's stdout (a
file), the runner settles and the PSS of its own processes is read, as in the
scale scenario; `supervise logs -n 1000` then shows that one ring holds its
1,000 lines. supervise only: honcho keeps no recent output.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import procs
import project
from runners import Runner, bench_env

COUNT = 200
LINES = 2000
LINE_BYTES = 60
SETTLE = 2.0
TIMEOUT = 300.0
CHATTY = Path(__file__).resolve().parent / "chatty.py"


@dataclass(frozen=True)
class Rings:
    """Figures for one runner (None: not measured or not reached)."""

    all_output: float | None  # exec -> every line on the runner's stdout, s
    pss_bytes: int | None = None
    processes: int = 0
    ring_lines: int | None = None  # what `supervise logs -n 1000` printed for one instance


def entries(count: int) -> dict[str, str]:
    return {f"c{i:03d}": f"exec {sys.executable} -S {CHATTY} {i} {LINES}" for i in range(1, count + 1)}


def measure_runner(runner: Runner, count: int = COUNT) -> Rings:
    with project.started(runner, "rings", entries(count)) as run:
        assert run.output is not None
        # Each line arrives as `HH:MM:SS cNNN.1 | ` + the 60 bytes: 18 + 60.
        expected = count * LINES * (18 + LINE_BYTES)
        took = project.wait_until(lambda: _size(run.output) >= expected, TIMEOUT, 0.1)
        if took is None:
            return Rings(None)
        all_output = time.perf_counter() - run.t0
        time.sleep(SETTLE)
        own = procs.own_processes(run.proc.pid)
        pss = procs.pss_bytes(own)
        shown = subprocess.run(
            [*runner.command, "logs", "-n", "1000", "c001.1"],
            cwd=run.root,
            env=bench_env(),
            capture_output=True,
            timeout=60,
        )
        ring_lines = len(shown.stdout.splitlines()) if shown.returncode == 0 else None
        return Rings(all_output, pss, len(own), ring_lines)


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0
