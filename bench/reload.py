"""Scenario 6, reload: a watched file saved -> the new server listening, for a server whose
graceful shutdown takes 1 s, under a compound line (`cd . && python srv.py`).

The new server can bind its port only once the old one has exited, so the floor
is the grace (1 s) plus the watcher's debounce plus a spawn. honcho has no file
watching: supervise only. Each save is timed from the write to the new server's
"listening" line; the harness waits on the output file's lines, bounded.
"""

from __future__ import annotations

import signal
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import procs
import project
from runners import Runner, launch

SERVER = """\
import os, signal, socket, sys, time
sock = socket.socket()
sock.bind(("127.0.0.1", int(os.environ["PORT"])))
sock.listen()
def bye(signum, frame):
    time.sleep(1.0)  # a graceful shutdown that takes a second
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("listening", flush=True)
while True:
    time.sleep(3600)
"""
SAVES = 3
LINE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Reload:
    """Seconds from each save to the new server listening; `in_use`: a bind failed on the way."""

    seconds: list[float]
    in_use: bool

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(runner: Runner) -> Reload:
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as tmp:
        root = Path(tmp)
        (root / "srv.py").write_text(SERVER)
        (root / "app.py").write_text("v = 0\n")
        (root / "pyproject.toml").write_text(
            "[tool.supervise]\n"
            f"port_base = {_free_port()}\n"
            "[tool.supervise.processes.web]\n"
            'command = "cd . && python srv.py"\n'
            'watch = ["app.py"]\nstartsecs = 0.2\nstop_timeout = 5\n'
        )
        out_path = root / "stdout.txt"
        with open(out_path, "wb") as out, open(root / "stderr.txt", "wb") as err:
            proc = launch([*runner.command, "up"], root, out, err)
        try:
            seconds = []
            if project.wait_until(lambda: _count(out_path, b"| listening") >= 1, LINE_TIMEOUT) is None:
                return Reload([], False)
            if project.wait_until(lambda: _count(out_path, b"watching") >= 1, LINE_TIMEOUT) is None:
                return Reload([], False)
            for save in range(1, SAVES + 1):
                t0 = time.perf_counter()
                (root / "app.py").write_text(f"v = {save}\n")
                took = project.wait_until(lambda n=save: _count(out_path, b"| listening") > n, LINE_TIMEOUT)
                if took is None:
                    break
                seconds.append(time.perf_counter() - t0)
            return Reload(seconds, _count(out_path, b"Address already in use") > 0)
        finally:
            project.stop(proc, signal.SIGINT)
            procs.reap_orphans()


def _count(path: Path, needle: bytes) -> int:
    try:
        return path.read_bytes().count(needle)
    except OSError:
        return 0
