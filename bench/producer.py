"""A throughput producer: numbered ~60-byte lines, written in whole-line batches <= PIPE_BUF.

Usage: producer.py ID COUNT

Line `seq` of producer `ID` is `line(ID, seq)`; the harness recomputes it to find
lines that were lost, torn, reordered or duplicated. Every `os.write` carries whole
lines and at most PIPE_BUF bytes, so the kernel keeps each write atomic and the
only way a line can tear is in the runner. After the last line the producer stays
alive (until killed) so that a runner which stops everything when one process
exits (honcho does) cannot cut the other producers short.
"""

from __future__ import annotations

import os
import select
import signal
import sys

LINE_BYTES = 60
FILLER_CHARS = 48  # 60 = id (1) + space + seq (8) + space + filler (48) + newline
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2


def filler(producer: int, seq: int) -> str:
    """The 48 letters that line `seq` of `producer` must carry (varies per line)."""
    start = (seq * 7 + producer) % 52
    return _ALPHABET[start : start + FILLER_CHARS]


def line(producer: int, seq: int) -> bytes:
    """Line `seq` of `producer`, newline included: exactly LINE_BYTES bytes."""
    return f"{producer} {seq:08d} {filler(producer, seq)}\n".encode()


def produce(producer: int, count: int, fd: int = 1) -> None:
    """Write `count` lines to `fd`, as many whole lines per write as fit in PIPE_BUF."""
    per_write = select.PIPE_BUF // LINE_BYTES
    for first in range(0, count, per_write):
        chunk = b"".join(line(producer, seq) for seq in range(first, min(first + per_write, count)))
        view = memoryview(chunk)
        while view:  # a blocking pipe write <= PIPE_BUF is complete; this guards other fds
            view = view[os.write(fd, view) :]


def main(argv: list[str]) -> None:
    producer, count = int(argv[1]), int(argv[2])
    produce(producer, count)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # die quietly, no KeyboardInterrupt trace
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv)
