"""Helpers for tests: temp projects from a dict of files, and the real CLI."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path


def _installed_script() -> str:
    """The console script pip installed next to this Python (not a version-manager shim)."""
    beside = Path(sys.executable).parent / "supervise"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("supervise") or ""


SUPERVISE = _installed_script()

# A private, short runtime dir for the control sockets of the `up`s tests start,
# so they neither meet a developer's real `up` nor leave files in /tmp.
RUNTIME_DIR = tempfile.mkdtemp(prefix="sv-", dir="/tmp")
os.chmod(RUNTIME_DIR, 0o700)
atexit.register(shutil.rmtree, RUNTIME_DIR, True)


def supervise_argv() -> list[str]:
    """The installed console script when there is one, else `python -m supervise`."""
    return [SUPERVISE] if SUPERVISE else [sys.executable, "-m", "supervise"]


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without color or supervise variables leaking in."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "PORT", "PS")}
    env["XDG_RUNTIME_DIR"] = RUNTIME_DIR
    env.update(extra)
    return env


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 20,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `supervise` with `args` and capture its output."""
    return subprocess.run(
        [*supervise_argv(), *args],
        cwd=cwd,
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


class UpProcess:
    """`supervise up` in its own session, its output read with bounded waits.

    A test waits for events (a line, a pid file), never for time to pass.
    """

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
        import subprocess

        self.output = ""
        self._pending = b""
        self.proc = subprocess.Popen(
            [*supervise_argv(), "up", *args],
            cwd=cwd,
            env=dict(env) if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False at EOF."""
        import select

        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        if not ready:
            return True
        data = os.read(fd, 1 << 20)
        if not data:
            return False
        self._pending += data
        text, _, self._pending = self._pending.rpartition(b"\n")
        if text or _:
            self.output += text.decode("utf-8", "replace") + "\n"
        return True

    def wait_for(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """Wait until a line matching `pattern` (a regex) has been printed."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output, start)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                match = regex.search(self.output, start)
                if match:
                    return match
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s; output:\n{self.output}"
                )

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 15.0) -> int:
        """Wait for exit, reading all output; the exit code."""
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"supervise up did not exit within {timeout} s; output:\n{self.output}")
        self.output += self._pending.decode("utf-8", "replace")
        self._pending = b""
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def kill(self) -> None:
        import contextlib
        import signal as signals

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signals.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> UpProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class TerminalProcess:
    """A command on a pseudo-terminal of its own (its controlling terminal), as a user runs it.

    The test keeps the pty's slave open too, so it can compare the terminal's
    settings before and after, and reads the master with bounded waits.
    """

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        size: tuple[int, int] = (100, 30),
    ) -> None:
        import fcntl
        import struct
        import subprocess
        import termios

        self.master, self.slave = os.openpty()
        columns, rows = size
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.settings = self.termios()
        """The terminal's termios settings before the command ran."""
        self.output = b""
        # A session leader opening its terminal by path makes it its controlling terminal.
        script = f'true <>{os.ttyname(self.slave)}; exec "$@"'
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", script, "sh", *argv],
            cwd=cwd,
            env=dict(env) if env is not None else clean_env(),
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            start_new_session=True,
        )

    def resize(self, columns: int, rows: int) -> None:
        """Change the terminal's size, as a window resize does: its foreground group gets SIGWINCH."""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def termios(self) -> list[object]:
        import termios

        return termios.tcgetattr(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, timeout: float) -> bool:
        import select

        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if ready:
            try:
                self.output += os.read(self.master, 1 << 16)
            except OSError:
                return False
        return True

    def expect(self, pattern: bytes, timeout: float = 10.0, start: int = 0) -> re.Match[bytes]:
        """Wait until the terminal has shown something matching `pattern` (a bytes regex)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.output, start)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.1)):
                raise AssertionError(
                    f"no {pattern!r} within {timeout} s; the terminal shows:\n{self.output!r}"
                )

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for exit (reading what it shows meanwhile); the exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout} s; the terminal shows:\n{self.output!r}")
            self._read(0.05)
        while self._read(0) and self._drained() is False:
            pass
        return self.proc.returncode

    def _drained(self) -> bool:
        import select

        return not select.select([self.master], [], [], 0)[0]

    def close(self) -> None:
        import contextlib
        import signal as signals

        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signals.SIGKILL)
            self.proc.wait()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> TerminalProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pid_gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return data[data.rfind(b")") + 2 :].split()[0] == b"Z"


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait (bounded) for every pid to be gone; the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if not pid_gone(pid)]
        if alive:
            time.sleep(0.02)  # processes we do not own give no event to wait on
    return alive


def read_pids(path: Path, count: int, timeout: float = 10.0) -> list[int]:
    """Wait (bounded) until `path` holds `count` pids, one per line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            pids = [int(x) for x in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} pids within {timeout} s")
