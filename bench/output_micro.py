"""Micro-benchmark of runtime/output/printer.py: how many lines per second the Printer formats.

800,000 lines of ~60 bytes from 4 instances, read in 64 KiB chunks, one flush per
"wakeup" (one chunk from each instance), written to /dev/null. Compared with
writing the same raw chunks and with a per-line print-and-write (honcho's shape);
then with the recent-output ring, with log files (in a temp folder) too, and as JSON.

    python bench/output_micro.py [LINES]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from supervise.config.model import LogPolicy
from supervise.runtime.output import Printer
from supervise.runtime.output.logfile import LogFiles
from supervise.runtime.output.ring import RecentOutput

NAMES = ("web.1", "web.2", "worker.1", "clock.1")
CHUNK = 65536


def make_chunks(lines: int) -> dict[str, list[bytes]]:
    """Each instance's stream, cut every 64 KiB (mid-line, as a pipe read would)."""
    streams: dict[str, list[bytes]] = {}
    for name in NAMES:
        data = b"".join(
            b"%s request %08d handled in 12 ms status=200 path=/api/items\n" % (name.encode(), k)
            for k in range(lines // len(NAMES))
        )
        streams[name] = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    return streams


def rounds(streams: dict[str, list[bytes]]) -> list[list[tuple[str, bytes]]]:
    """One list per wakeup: the next chunk of every instance."""
    count = max(len(c) for c in streams.values())
    return [[(n, streams[n][i]) for n in NAMES if i < len(streams[n])] for i in range(count)]


def timed(run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 800_000
    wakeups = rounds(make_chunks(lines))
    total_bytes = sum(len(c) for w in wakeups for _, c in w)
    fd = os.open(os.devnull, os.O_WRONLY)

    def raw() -> None:
        for wakeup in wakeups:
            os.write(fd, b"".join(chunk for _, chunk in wakeup))

    def printer(
        color: bool, ring: bool = False, files: bool = False, as_json: bool = False
    ) -> Callable[[], None]:
        def run() -> None:
            with tempfile.TemporaryDirectory() as folder:
                logs = LogFiles(Path(folder), LogPolicy(Path(folder))) if files else None
                recent = RecentOutput() if ring else None
                feed(Printer(fd, NAMES, color=color, recent=recent, files=logs, as_json=as_json))
                if logs is not None:
                    logs.close()

        return run

    def feed(p: Printer) -> None:
        for wakeup in wakeups:
            for name, chunk in wakeup:
                p.feed(name, chunk)
            p.flush()
        for name in NAMES:
            p.end(name)
        p.flush()

    def per_line() -> None:
        tails = dict.fromkeys(NAMES, b"")
        for wakeup in wakeups:
            for name, chunk in wakeup:
                *whole, tails[name] = (tails[name] + chunk).split(b"\n")
                for line in whole:
                    stamp = time.strftime("%H:%M:%S")
                    os.write(fd, f"{stamp} {name:8} | {line.decode('utf-8', 'replace')}\n".encode())

    print(f"{lines:,} lines, {total_bytes / 1e6:.1f} MB, {len(wakeups)} wakeups, to {os.devnull}")
    base = timed(raw)
    print(f"  raw chunks       {base * 1000:8.1f} ms")
    for label, run in (
        ("Printer          ", printer(False)),
        ("Printer (color)  ", printer(True)),
        ("+ ring           ", printer(False, ring=True)),
        ("+ ring + files   ", printer(False, ring=True, files=True)),
        ("--json + ring    ", printer(False, ring=True, as_json=True)),
        ("per-line write   ", per_line),
    ):
        took = timed(run)
        print(f"  {label}{took * 1000:8.1f} ms  {lines / took:12,.0f} lines/s  {took / base:7.1f}x raw")
    os.close(fd)


if __name__ == "__main__":
    main()
