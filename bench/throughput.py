"""Scenario 1, throughput: 4 producers x 200,000 numbered lines through the runner, every line checked.

`direct` is the same producers writing straight into one pipe that the harness
reads. For honcho and supervise the producers are a Procfile and the harness
reads the runner's stdout pipe. The clock starts just before the first exec and
stops at the arrival of the last line a producer wrote; then every line is
parsed (the runner's `HH:MM:SS name | ` prefix stripped) and compared with
what its producer must have written.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import procs
import project
from producer import FILLER_CHARS, filler, line
from runners import Runner, bench_env

PRODUCER = Path(__file__).resolve().parent / "producer.py"
PRODUCERS = 4
LINES = 200_000
IDLE_LIMIT = 10.0  # no output for this long while lines are still missing: they are lost
TIMEOUT = 600.0

_PREFIX = re.compile(rb"\d\d:\d\d:\d\d (\S+) *\| ")
_LINE = re.compile(rb"(\d) (\d{8}) ([A-Za-z]{%d})\Z" % FILLER_CHARS)


@dataclass(frozen=True)
class Check:
    """What arrived compared with what was written (counts of lines)."""

    received: int
    system: tuple[bytes, ...]  # the runner's own lines, for when something went wrong
    lost: int
    torn: int  # not a whole line of one producer, or a prefix naming another process
    reordered: int  # arrived after a later line of the same producer
    duplicated: int


@dataclass(frozen=True)
class Run:
    """One run: seconds from exec to the last line and from the first to the last line."""

    to_last: float | None
    first_to_last: float | None
    check: Check
    exit_code: int | None = None  # the runner's, after the harness stopped it with SIGINT
    runner_cpu: float | None = None  # CPU seconds of the runner's own processes, start to last line
    file_lost: int | None = None  # with --log-dir: lines missing (or wrong) in the log files


def producer_command(index: int, count: int) -> str:
    return f"{shlex.quote(sys.executable)} -S {shlex.quote(str(PRODUCER))} {index} {count}"


def check_lines(data: bytes, producers: int, count: int, prefixed: bool) -> tuple[Check, int, int]:
    """Parse every line; return the check and the byte offsets ending the first and last data lines."""
    fillers = [filler(start, 0).encode() for start in range(52)]  # a filler depends on (seq * 7 + id) % 52
    seen = [bytearray(count) for _ in range(producers + 1)]
    high = [-1] * (producers + 1)
    received = torn = reordered = duplicated = 0
    system: list[bytes] = []
    first_end = last_end = 0
    offset = 0
    pieces = data.split(b"\n")
    for number, raw in enumerate(pieces):
        offset += len(raw) + 1
        if not raw:
            continue  # only the piece after the last newline can be empty: producers write no blank line
        content = raw
        name = b""
        if prefixed:
            prefix = _PREFIX.match(raw)
            if prefix is None:
                torn += 1
                continue
            name = prefix.group(1)
            if name == b"system":
                system.append(raw)
                continue
            content = raw[prefix.end() :]
        match = _LINE.match(content)
        whole = number < len(pieces) - 1  # the piece after the last newline is a partial line
        if match is None or not whole:
            torn += 1
            continue
        producer, seq = int(match[1]), int(match[2])
        if (
            not 1 <= producer <= producers
            or seq >= count
            or match[3] != fillers[(seq * 7 + producer) % 52]
            or (prefixed and name != b"p%d.1" % producer)
        ):
            torn += 1
            continue
        received += 1
        first_end = first_end or offset
        last_end = offset
        if seen[producer][seq]:
            duplicated += 1
            continue
        seen[producer][seq] = 1
        if seq < high[producer]:
            reordered += 1
        high[producer] = max(high[producer], seq)
    lost = sum(count - sum(seen[p]) for p in range(1, producers + 1))
    return Check(received, tuple(system), lost, torn, reordered, duplicated), first_end, last_end


def collect(fd: int, count: int, producers: int) -> tuple[list[bytes], list[float]]:
    """Read `fd` until every producer's last line came (then drain briefly), idle, EOF or timeout."""
    finals = {f"{p} {count - 1:08d} ".encode() for p in range(1, producers + 1)}
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    times: list[float] = []
    tail = b""
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        if not poller.poll((IDLE_LIMIT if finals else 0.3) * 1000):
            break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        times.append(time.perf_counter())
        chunks.append(chunk)
        if finals:
            window = tail + chunk
            finals = {f for f in finals if f not in window}
            tail = chunk[-40:]
    return chunks, times


def measure(chunks: list[bytes], times: list[float], t0: float, count: int, prefixed: bool) -> Run:
    ends = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        ends.append(total)
    check, first_end, last_end = check_lines(b"".join(chunks), PRODUCERS, count, prefixed)
    if not check.received:
        return Run(None, None, check)
    first = times[bisect.bisect_left(ends, first_end)]
    last = times[bisect.bisect_left(ends, last_end)]
    return Run(last - t0, last - first, check)


def run_direct(count: int) -> Run:
    """The producers writing into one pipe the harness reads: the floor."""
    read_end, write_end = os.pipe()
    t0 = time.perf_counter()
    children = [
        subprocess.Popen(
            [sys.executable, "-S", str(PRODUCER), str(p), str(count)],
            stdout=write_end,
            stdin=subprocess.DEVNULL,
            env=bench_env(),
        )
        for p in range(1, PRODUCERS + 1)
    ]
    os.close(write_end)
    try:
        chunks, times = collect(read_end, count, PRODUCERS)
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait()
        os.close(read_end)
        procs.reap_orphans()
    return measure(chunks, times, t0, count, prefixed=False)


def run_runner(runner: Runner, count: int, log_dir: bool = False) -> Run:
    """The producers under `runner`; with `log_dir`, also writing `--log-dir logs` (supervise only)."""
    entries = {f"p{p}": producer_command(p, count) for p in range(1, PRODUCERS + 1)}
    extra = ("--log-dir", "logs") if log_dir else ()
    file_lost = None
    with project.started(runner, "throughput", entries, pipe=True, extra=extra) as run:
        assert run.proc.stdout is not None
        chunks, times = collect(run.proc.stdout.fileno(), count, PRODUCERS)
        cpu = procs.cpu_seconds(procs.own_processes(run.proc.pid))  # utime + stime count exited threads too
        if log_dir:  # a line reaches stdout only after its log file was written
            file_lost = sum(
                missing_in_files(run.root / "logs" / f"p{p}.1.log", p, count) for p in producers()
            )
    result = measure(chunks, times, run.t0, count, prefixed=True)
    return dataclasses.replace(result, exit_code=run.proc.returncode, runner_cpu=cpu, file_lost=file_lost)


def producers() -> range:
    return range(1, PRODUCERS + 1)


def missing_in_files(path: Path, producer: int, count: int) -> int:
    """Lines of `producer` not found, in order and byte for byte, in `path` and its rotated backups."""
    backups = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    data = b"".join(p.read_bytes() for p in [*backups, path] if p.exists())
    expected = b"".join(line(producer, seq) for seq in range(count))
    if data == expected:
        return 0
    return count - len(set(data.split(b"\n")) & set(expected.split(b"\n")[:-1]))
