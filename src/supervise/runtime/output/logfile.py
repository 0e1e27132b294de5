"""`up --log-dir DIR`: each instance's raw output in DIR/NAME.log, rotated as supervisord does.

The files get the bytes exactly as the children wrote them (no prefix, no
decoding), and supervise's own lines go to DIR/supervise.log with a full
timestamp. Like the terminal view, writing is batched: chunks are only queued
as they arrive, and the Printer's once-per-wakeup flush writes each file's
batch with one `os.write`.

Rotation follows supervisord's RotatingFileHandler: past `max_bytes`,
`web.1.log` becomes `web.1.log.1`, `.1` becomes `.2` and so on, keeping
`backups` old files (0: the file is emptied instead; `max_bytes` 0: never
rotated). Unlike supervisord, a batch is cut at a line end, so a file never
holds more than `max_bytes` (unless one line alone is longer) and a line is
never split across two files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from supervise.config.model import LogPolicy
from supervise.errors import UsageError
from supervise.runtime.output.format import IsoTime

SYSTEM_FILE = "supervise.log"
OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC


class LogFile:
    """One log file and its backups: `path`, `path.1` ... `path.N`."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        """Opens (or appends to) `path`; OSError when it cannot."""
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd = os.open(path, OPEN_FLAGS, 0o644)
        self._size = os.fstat(self._fd).st_size
        # A file that ends inside a line (an earlier run's unterminated last line) is
        # not rotated before that line ends.
        self._at_line_end = self._size == 0 or os.pread(self._fd, 1, self._size - 1) == b"\n"
        self._pending: list[bytes] = []
        self._kept = 0
        """Backups that exist (path.1 ... path.N, no gap): only those are shifted on rotation."""
        while self._kept < backups and os.path.exists(f"{path}.{self._kept + 1}"):
            self._kept += 1

    def write(self, data: bytes) -> None:
        """Queue bytes for the next flush."""
        self._pending.append(data)

    @property
    def pending(self) -> bool:
        """Something is queued for the next flush."""
        return bool(self._pending)

    def flush(self) -> None:
        """Write what is queued, rotating between lines; OSError when the disk refuses."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        while data:
            room = self.max_bytes - self._size
            if self.max_bytes <= 0 or len(data) <= room:
                self._write(data)
                return
            cut = data.rfind(b"\n", 0, max(room, 0)) + 1  # the end of the last whole line that fits
            if cut == 0:
                if self._size > 0 and self._at_line_end:
                    self._rotate()
                    continue
                # A line longer than max_bytes, or the rest of one begun in this file: whole, here.
                cut = data.find(b"\n") + 1 or len(data)
            self._write(data[:cut])
            data = data[cut:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)
        self._at_line_end = data.endswith(b"\n")

    def _rotate(self) -> None:
        """supervisord's doRollover: shift the backups up by one, then start an empty file."""
        os.close(self._fd)
        self._fd = -1
        name = str(self.path)
        if self.backups > 0:
            for index in range(min(self._kept, self.backups - 1), 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{name}.{index}", f"{name}.{index + 1}")
            self._kept = min(self._kept + 1, self.backups)
            with contextlib.suppress(FileNotFoundError):  # removed by hand: start a new one
                os.replace(name, f"{name}.1")
            self._fd = os.open(name, OPEN_FLAGS, 0o644)
        else:
            self._fd = os.open(name, OPEN_FLAGS | os.O_TRUNC, 0o644)
        self._size = 0


class LogFiles:
    """The log folder of one `up`: a LogFile per name, opened on its first output."""

    def __init__(self, directory: Path, policy: LogPolicy) -> None:
        self.directory = directory
        self.policy = policy
        self._files: dict[str, LogFile | None] = {}
        """None: the file could not be opened or written; it is left alone from then on."""
        self._dirty: list[LogFile] = []
        self._problems: list[str] = []
        self._time = IsoTime()

    @classmethod
    def open(cls, directory: Path, policy: LogPolicy) -> LogFiles:
        """The folder, created if needed; one that cannot be used is a UsageError, before anything starts."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"log folder {directory}: cannot create it: {error.strerror}") from None
        if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
            raise UsageError(f"log folder {directory}: not a folder supervise can write into")
        return cls(directory, policy)

    def write(self, name: str, data: bytes) -> None:
        """Raw output of instance `name`."""
        self._queue(f"{name}.log", data)

    def system(self, now: float, lines: bytes) -> None:
        """One of supervise's own messages (sanitized UTF-8), each line stamped."""
        stamp = self._time(now).encode() + b" "
        self._queue(SYSTEM_FILE, stamp + lines.replace(b"\n", b"\n" + stamp) + b"\n")

    def flush(self) -> list[str]:
        """Write every queued batch; the problems met, as messages for the terminal (each said once)."""
        dirty, self._dirty = self._dirty, []
        for log in dirty:
            try:
                log.flush()
            except OSError as error:
                self._give_up(log.path.name, log, f"cannot write: {error.strerror or error}")
        problems, self._problems = self._problems, []
        return problems

    def close(self) -> None:
        for log in self._files.values():
            if log is not None:
                log.close()

    def _queue(self, filename: str, data: bytes) -> None:
        if filename in self._files:
            log = self._files[filename]
            if log is None:
                return
        else:
            try:
                log = self._files[filename] = LogFile(
                    self.directory / filename, self.policy.max_bytes, self.policy.backups
                )
            except OSError as error:
                self._give_up(filename, None, f"cannot open: {error.strerror or error}")
                return
        if not log.pending:
            self._dirty.append(log)
        log.write(data)

    def _give_up(self, filename: str, log: LogFile | None, why: str) -> None:
        self._files[filename] = None
        if log is not None:
            log.close()
        self._problems.append(f"log file {self.directory / filename}: {why}; no more output is written to it")
