"""Scenarios 7 and 8, terminals: output through ptys, and `supervise attach`'s round trip.

`tty`: the throughput producers (4 x 200,000 numbered lines, precomputed bytes)
each on a pseudo-terminal. `direct` is the producers writing through ptys
straight to the harness, which reads the four masters: the physical floor of a
pty (the kernel's line discipline turns every `\\n` into `\\r\\n`). supervise
runs them with `up --tty`, its stdout a pipe to the harness, and must deliver
whole, prefixed lines without a `\\r`; every line is checked as in scenario 1.

`attach`: a keystroke typed into the attached terminal -> its echo shown there.
The instance is `cat` with `tty = true`; its pty echoes what it is sent. The
harness owns the attached terminal (a pty running `supervise attach`), writes
one byte, and times until that byte comes back. `direct` is the same keystroke
through one pty straight to `cat`: the kernel's share of the round trip.
honcho has neither ptys nor attach: supervise only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import procs
import project
import throughput
from runners import Runner, bench_env

KEYSTROKES = 200
WAIT = 10.0  # longest wait for one echo or one line before the run counts as failed


def run_direct(count: int) -> throughput.Run:
    """The producers each writing through a pty of its own, the harness reading the masters."""
    masters: list[int] = []
    children = []
    t0 = time.perf_counter()
    for p in range(1, throughput.PRODUCERS + 1):
        master, slave = os.openpty()
        children.append(
            subprocess.Popen(
                [sys.executable, "-S", str(throughput.PRODUCER), str(p), str(count)],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=bench_env(),
                start_new_session=True,
            )
        )
        os.close(slave)
        masters.append(master)
    try:
        streams, first, last = _collect_ptys(masters, count)
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait()
        for master in masters:
            os.close(master)
        procs.reap_orphans()
    # A pty read ends anywhere in a line: check each producer's stream whole, with the
    # line discipline's line ends made plain again (the check wants the producer's bytes).
    data = b"".join(stream.replace(b"\r\n", b"\n") for stream in streams)
    check, _, _ = throughput.check_lines(data, throughput.PRODUCERS, count, prefixed=False)
    if first is None or last is None:
        return throughput.Run(None, None, check)
    return throughput.Run(last - t0, last - first, check)


def _collect_ptys(masters: list[int], count: int) -> tuple[list[bytes], float | None, float | None]:
    """Each master's bytes until its producer's last line (and line end) came; first and last times."""
    finals = {master: f"{p} {count - 1:08d} ".encode() for p, master in enumerate(masters, 1)}
    streams = {master: bytearray() for master in masters}
    poller = select.poll()
    for master in masters:
        poller.register(master, select.POLLIN)
    first = last = None
    deadline = time.perf_counter() + throughput.TIMEOUT
    while finals and time.perf_counter() < deadline:
        ready = poller.poll(throughput.IDLE_LIMIT * 1000)
        if not ready:
            break
        for fd, _events in ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                poller.unregister(fd)
                finals.pop(fd, None)
                continue
            now = time.perf_counter()
            first = first or now
            stream = streams[fd]
            stream += chunk
            final = finals.get(fd)
            if final is not None and stream.endswith(b"\n") and final in stream[-200:]:
                del finals[fd]
                poller.unregister(fd)
                last = now
    return [bytes(streams[m]) for m in masters], first, last


def run_supervise(runner: Runner, count: int) -> throughput.Run:
    """`supervise up --tty`: the same producers, each on a pty of supervise's."""
    tty_runner = dataclasses.replace(runner, up_args=(*runner.up_args, "--tty"))
    return throughput.run_runner(tty_runner, count)


@dataclass(frozen=True)
class Latency:
    """Seconds from a keystroke to its echo, one per keystroke that came back."""

    seconds: list[float]
    sent: int

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def p95(self) -> float | None:
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def attach_direct(keystrokes: int = KEYSTROKES) -> Latency:
    """A keystroke through one pty to `cat` and its echo back: the kernel's part."""
    master, slave = os.openpty()
    child = subprocess.Popen(["cat"], stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        return _round_trips(master, keystrokes)
    finally:
        child.kill()
        child.wait()
        os.close(master)


def attach_supervise(runner: Runner, keystrokes: int = KEYSTROKES) -> Latency:
    """A keystroke into a terminal running `supervise attach`, to `cat` under `up`, and back."""
    with tempfile.TemporaryDirectory(prefix="bench-attach-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text('[tool.supervise.processes.echo]\ncommand = "cat"\ntty = true\n')
        with open(root / "up.txt", "wb") as out:
            up = subprocess.Popen(
                [*runner.command, "up", "--no-color"],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=bench_env(),
                start_new_session=True,
            )
        try:
            project.wait_until(lambda: "echo.1 started" in (root / "up.txt").read_text(), WAIT)
            with _on_a_terminal([*runner.command, "attach", "echo"], root) as (master, _attach):
                _read_until(master, b"Ctrl-] detaches\r\n")
                latency = _round_trips(master, keystrokes)
                os.write(master, b"\x1d")
                _read_until(master, b"detached")
            return latency
        finally:
            project.stop(up, signal.SIGTERM)
            procs.reap_orphans()


@contextlib.contextmanager
def _on_a_terminal(argv: list[str], cwd: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`argv` with a pty of its own as its controlling terminal; yields (master, process)."""
    master, slave = os.openpty()
    script = f'true <>{os.ttyname(slave)}; exec "$@"'  # a session leader opening a tty: its terminal
    proc = subprocess.Popen(
        ["/bin/sh", "-c", script, "sh", *argv],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=bench_env(),
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield master, proc
    finally:
        project.stop(proc, signal.SIGTERM, timeout=5)
        os.close(master)


def _round_trips(master: int, keystrokes: int) -> Latency:
    """Type a letter, time until it is shown; a carriage return every 40 keeps lines short."""
    seconds = []
    for k in range(keystrokes):
        key = b"abcdefghijklmnopqrstuvwxyz"[k % 26 : k % 26 + 1]
        t0 = time.perf_counter()
        os.write(master, key)
        if _read_until(master, key) is None:
            break
        seconds.append(time.perf_counter() - t0)
        if k % 40 == 39:
            os.write(master, b"\r")
            _read_until(master, b"\n")
    return Latency(seconds, keystrokes)


def _read_until(fd: int, wanted: bytes) -> bytes | None:
    """Read `fd` until `wanted` shows up (bounded); what was read, or None on timeout or EOF."""
    data = b""
    deadline = time.perf_counter() + WAIT
    while wanted not in data:
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data
