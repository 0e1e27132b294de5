"""A chatty process for the rings scenario: COUNT lines of 60 bytes, one write per line, then quiet.

Usage: chatty.py ID COUNT

The lines are built before the first write, so the producer writes as fast as
the pipe takes them (one small write per line: the most chunks a runner can be
handed), then sleeps until killed.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> None:
    ident, count = int(argv[1]), int(argv[2])
    head = b"%03d " % ident
    lines = [head + b"%08d " % k + b"c" * 46 + b"\n" for k in range(count)]  # 60 bytes each
    for data in lines:
        os.write(1, data)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv)
