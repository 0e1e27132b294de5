"""A runner started on a Procfile in a throwaway project, and always cleaned up after.

`started` is the one way scenarios start a runner: whatever happens inside the
`with`, the runner is stopped (SIGINT, then SIGKILL to its group) and every
process left below the harness is killed by pid and reported.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import procs
from runners import Runner, launch

STOP_TIMEOUT = 20.0  # longer than honcho's KILL_WAIT (5 s) and supervise's default stop_timeout (10 s)


@dataclass
class Started:
    """A running runner: its process, project folder and where its output goes."""

    proc: subprocess.Popen[bytes]
    root: Path
    t0: float  # perf_counter just before exec
    output: Path | None
    leftovers: list[procs.Proc] = field(default_factory=list)  # filled in on clean-up

    def text(self) -> str:
        """What the runner printed on stdout so far (when it went to a file)."""
        return self.output.read_text(errors="replace") if self.output else ""


def procfile(entries: dict[str, str]) -> str:
    return "".join(f"{name}: {command}\n" for name, command in entries.items())


@contextlib.contextmanager
def started(
    runner: Runner,
    scenario: str,
    entries: dict[str, str],
    pipe: bool = False,
    extra: tuple[str, ...] = (),
    files: dict[str, bytes] | None = None,
) -> Iterator[Started]:
    """Run `runner` on a Procfile of `entries` (with `extra` args, `files` beside it); stdout to a pipe
    (`pipe`) or a file; clean up after.

    Tracebacks on the runner's stderr and processes it left behind are recorded in COMPLAINTS.
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-{runner.name}-") as tmp:
        root = Path(tmp)
        (root / "Procfile").write_text(procfile(entries))
        for name, data in (files or {}).items():
            (root / name).write_bytes(data)
        output = None if pipe else root / "stdout.txt"
        with open(root / "stderr.txt", "wb") as err, open(output or os.devnull, "wb") as out:
            t0 = time.perf_counter()
            proc = launch(
                [*runner.up(root / "Procfile"), *extra], root, subprocess.PIPE if pipe else out, err
            )
        run = Started(proc, root, t0, output)
        try:
            yield run
        finally:
            drain = _drain(proc.stdout) if proc.stdout is not None else None
            stop(proc, signal.SIGINT)
            run.leftovers = procs.reap_orphans()
            if drain is not None and proc.stdout is not None:
                drain.join(timeout=5)
                proc.stdout.close()
            errors = (root / "stderr.txt").read_text(errors="replace").strip()
            if proc.returncode not in (0, 129, 130, 143) and errors:
                print(f"[{runner.name} stderr] {errors[-2000:]}", file=sys.stderr, flush=True)
            _complain(f"{scenario}: {runner.name}", errors, run.leftovers)


COMPLAINTS: list[str] = []
"""What runners did that no figure shows: tracebacks on stderr, processes left behind."""


def _complain(who: str, errors: str, leftovers: list[procs.Proc]) -> None:
    tracebacks = errors.count("Traceback (most recent call last)")
    if tracebacks:
        last = [line for line in errors.splitlines() if line and not line[0].isspace()][-1]
        COMPLAINTS.append(f"{who} wrote {tracebacks} traceback(s) on stderr (last line: `{last.strip()}`).")
    if leftovers:
        names = ", ".join(sorted({p.comm for p in leftovers}))
        COMPLAINTS.append(f"{who} left {len(leftovers)} process(es) behind after SIGINT ({names}); killed.")


def _drain(stream: IO[bytes]) -> threading.Thread:
    """Keep reading a pipe nobody reads any more, so a runner writing its goodbyes is not blocked."""

    def read() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(stream.fileno(), 1 << 16):
                pass

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def stop(proc: subprocess.Popen[bytes], sig: int, timeout: float = STOP_TIMEOUT) -> float | None:
    """Send `sig` to the runner and wait; SIGKILL its group past `timeout`. Seconds to exit (None: killed)."""
    if proc.poll() is not None:
        return 0.0
    t0 = time.perf_counter()
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    return wait_or_kill(proc, t0, timeout)


def wait_or_kill(proc: subprocess.Popen[bytes], t0: float, timeout: float = STOP_TIMEOUT) -> float | None:
    """Wait for the runner until `timeout` after `t0`; past it, SIGKILL its group and return None."""
    try:
        proc.wait(timeout=max(0.0, t0 + timeout - time.perf_counter()))
        return time.perf_counter() - t0
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Poll `predicate()` until true; seconds it took, or None after `timeout`."""
    t0 = time.perf_counter()
    while True:
        if predicate():
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(interval)
