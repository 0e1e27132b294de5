"""What `supervise up` prints: bytes from the children -> whole, prefixed lines.

Formatting is per chunk, not per line (DESIGN.md "Performance notes"): a
chunk is split at its last newline, the whole-lines part is prefixed with one
`bytes.replace` (decoded and encoded again only when it is not ASCII, so that
bytes that are not UTF-8 show as U+FFFD), the tail waits for its newline, and
all that one event-loop wakeup produced goes out in one `os.write`. Only whole lines
ever reach the buffer, so lines of different instances cannot interleave.

A line is held until its newline, but never past LINE_LIMIT bytes: a child
printing a 200 MB line with no newline must not take 200 MB (and several
copies of it) of `up`'s memory. Such a line is printed in LINE_LIMIT pieces.

Every line is sanitized first (`sanitize.py`): a child cannot move the cursor,
erase, or fake a line of supervise's.

The Printer is also where output fans out, chunk by chunk: the raw bytes to
the log files, the raw whole lines with their timestamp to the recent-output
ring (`supervise logs`, which sanitizes as it prints), and the view (prefixed
lines, or JSON lines with `--json`) to the terminal. A broken terminal stops
the view only.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from supervise.runtime.output.format import SYSTEM, JsonFormat, LineFormat
from supervise.runtime.output.sanitize import sanitize

if TYPE_CHECKING:
    import asyncio

    from supervise.runtime.output.logfile import LogFiles
    from supervise.runtime.output.ring import RecentOutput

Writer = Callable[[int, memoryview], int]

LINE_LIMIT = 16 * 1024 * 1024
"""16 MiB: longer lines are printed in pieces of this size (cut between UTF-8 characters)."""
JOIN_BYTES = 1 << 16
"""A line cut by a read and no longer than this is printed in one batch with the lines after it."""
FLUSH_BYTES = 1 << 20
"""Queued this much in one wakeup, the view is written at once: batches, and `up`'s memory, stay small."""


class Printer:
    """The one owner of the `HH:MM:SS web.1 | line` format and of the output fd."""

    def __init__(
        self,
        fd: int,
        names: Sequence[str],
        *,
        color: bool,
        kinds: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        loop: asyncio.AbstractEventLoop | None = None,
        write: Writer = os.write,
        on_closed: Callable[[], None] | None = None,
        on_stalled: Callable[[bool], None] | None = None,
        prefix: bool = True,
        timestamp: bool = True,
        as_json: bool = False,
        recent: RecentOutput | None = None,
        files: LogFiles | None = None,
    ) -> None:
        """`kinds`: every process type of the project, in order, so that a type's color
        does not depend on what is selected. `write` is a seam for tests (count the writes).

        With a loop, a full non-blocking fd never blocks it: what is left waits
        for the fd to drain, and `on_stalled(True)` asks the caller to stop
        feeding until `on_stalled(False)`. `on_closed` hears once that the
        output is gone for good (EPIPE: `supervise up | head`). `prefix=False`
        (`--no-prefix`) prints the lines bare; `timestamp=False`
        (`--no-timestamp`) keeps `web.1 | ` without the time.

        `as_json`: JSON lines instead of the prefixed view; `recent` keeps what
        `supervise logs` shows; `files` gets the raw output (`--log-dir`).
        """
        self._fd = fd
        self._color = color
        self._clock = clock
        self._loop = loop
        self._write = write
        self._text = LineFormat(names, color=color, kinds=kinds, prefix=prefix, timestamp=timestamp)
        self._json = JsonFormat() if as_json else None
        self._recent = recent
        self._files = files
        self._timed = timestamp or as_json or recent is not None or files is not None
        """Something shows or keeps the time; else the clock is never read (`--no-timestamp`)."""
        self._tails: dict[str, list[bytes]] = {}
        self._tail_sizes: dict[str, int] = {}
        self._queue: list[bytes] = []
        self._queued = 0
        """Bytes in `_queue`."""
        self._scheduled = False
        self._broken = False
        self._on_closed = on_closed
        self._on_stalled = on_stalled
        self._backlog: memoryview | None = None
        """What a full fd did not take yet; written when it drains, before anything newer."""

    @property
    def fd(self) -> int:
        """Where the view goes: `up`'s stdout."""
        return self._fd

    @property
    def width(self) -> int:
        """Columns the prefix `HH:MM:SS name | ` takes (less without the time, 0 without a prefix)."""
        return self._text.columns

    @property
    def broken(self) -> bool:
        """True once the output is gone (EPIPE, e.g. `supervise up | head -1`); nothing more is written."""
        return self._broken

    def feed(self, name: str, data: bytes) -> None:
        """A chunk from instance `name`'s pipe: queue its whole lines, keep the partial tail."""
        if not data:
            return
        if self._files is not None:
            self._files.write(name, data)  # as written, tail included
            self._schedule()
        last = data.rfind(b"\n")  # only the new chunk is searched: a long line costs O(n) in all
        if last < 0:
            self._hold(name, data)
            return
        if name in self._tails:
            first = data.find(b"\n")
            self._hold(name, data[:first])  # the line that began in earlier chunks ends here
            if self._tail_sizes[name] <= JOIN_BYTES:
                # A line a read cut: it goes out with the chunk's whole lines, as one batch.
                self._queue_lines(name, self._take_tail(name, memoryview(data)[first:last]))
            else:  # a long one goes alone: a 16 MiB piece's end is not cut off by the ring
                self._queue_lines(name, self._take_tail(name))
                if first < last:
                    self._queue_lines(name, data[first + 1 : last])
        else:
            self._queue_lines(name, data[:last])
        if last + 1 < len(data):
            self._hold(name, data[last + 1 :])

    def pending(self, name: str) -> bool:
        """Whether part of a line of `name` waits for its newline."""
        return name in self._tails

    def end(self, name: str) -> None:
        """EOF on `name`'s pipe (or a prompt that waited): print its unterminated line, if any.

        What `name` writes next starts a line of its own."""
        tail = self._take_tail(name)
        if tail:
            self._lines(name, tail)

    def _hold(self, name: str, data: bytes) -> None:
        """Keep the start of a line until its newline; print LINE_LIMIT pieces of one that is longer."""
        self._tails.setdefault(name, []).append(data)
        size = self._tail_sizes[name] = self._tail_sizes.get(name, 0) + len(data)
        if size <= LINE_LIMIT:
            return
        held = self._take_tail(name)  # the chunks are let go: one copy of the line, not two
        start = 0
        while len(held) - start > LINE_LIMIT:
            cut = _character_start(held, start + LINE_LIMIT)
            self._lines(name, memoryview(held)[start:cut])  # a view: the piece is not copied
            start = cut
        self._tails[name] = [held[start:]]
        self._tail_sizes[name] = len(held) - start

    def _take_tail(self, name: str, rest: bytes | memoryview = b"") -> bytes:
        """The held start of `name`'s current line (empty when none), no longer held, then `rest`."""
        self._tail_sizes.pop(name, None)
        pieces = self._tails.pop(name, None)
        if not pieces:
            return bytes(rest)
        return b"".join([*pieces, rest])

    def _queue_lines(self, name: str, whole: bytes) -> None:
        """Queue whole lines (joined by newlines); a line over LINE_LIMIT goes in pieces."""
        if len(whole) <= LINE_LIMIT:
            self._lines(name, whole)
            return
        for line in whole.split(b"\n"):  # rare: a chunk bigger than the limit
            self._hold(name, line)
            self._lines(name, self._take_tail(name))

    def system(self, message: str) -> None:
        """One of supervise's own lines, under the name `system`."""
        # Sanitized everywhere: a message may quote a file name, and file names can hold escapes.
        safe = sanitize(message.rstrip("\n").encode("utf-8", "replace"), color=False)
        now = self._clock() if self._timed else 0.0
        if self._files is not None:
            self._files.system(now, safe)
            self._schedule()
        if self._recent is not None:
            self._recent.add(SYSTEM, now, safe)
        if not self._broken:
            self._show(SYSTEM, now, safe)

    def flush(self) -> None:
        """Write everything queued in one os.write (more only on a partial write), then the log files.

        The log files never wait for the terminal: a stalled fd holds the view's queue only.
        """
        self._scheduled = False
        if self._files is not None:
            self._flush_files()
        if not self._queue or self._backlog is not None:
            return  # a stalled fd: the queue waits for `_drain`
        data = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
        self._queue.clear()
        self._queued = 0
        if not self._broken:
            self._write_all(data)

    def close(self, grace: float = 1.0) -> None:
        """Write what is left, waiting at most `grace` seconds for a stalled reader."""
        if self._loop is not None and self._backlog is not None:
            self._loop.remove_writer(self._fd)
        self._loop = None  # from here on, writes wait (boundedly) instead of deferring
        if self._files is not None:
            self._flush_files()
            self._files.flush()  # what a problem line just queued for supervise.log
        backlog, self._backlog = self._backlog, None
        pending = b"".join([bytes(backlog or b""), *self._queue])
        self._queue.clear()
        self._queued = 0
        if pending and not self._broken:
            self._write_all(pending, grace=grace)

    def _flush_files(self) -> None:
        assert self._files is not None
        for problem in self._files.flush():
            self.system(problem)  # queued for the view; the file lines of it wait for the next flush

    def _lines(self, name: str, whole: bytes | memoryview) -> None:
        """Raw whole lines of `name` (joined by newlines, none at the end): one timestamp, ring and view."""
        now = self._clock() if self._timed else 0.0
        if self._recent is not None:
            self._recent.add(name, now, whole)
        if not self._broken:
            self._show(name, now, self._sanitized(whole))
        if self._queued >= FLUSH_BYTES:
            # A wakeup that read a lot (200 full pipes, a 16 MiB piece) writes as it goes, not
            # all at the end; here, where the sanitized copy is no longer held.
            self.flush()

    def _sanitized(self, lines: bytes | memoryview) -> bytes:
        """`lines` as they may be shown (`sanitize.py`), in UTF-8: what is not shows as U+FFFD."""
        safe = sanitize(bytes(lines), color=self._color)
        return safe if safe.isascii() else safe.decode("utf-8", "replace").encode("utf-8")

    def _show(self, name: str, now: float, safe: bytes) -> None:
        """Queue sanitized UTF-8 lines (newlines inside, none at the end) for the terminal, formatted."""
        if self._json is not None:
            parts: tuple[bytes, ...] = (self._json.lines(name, now, safe.decode()).encode(),)
        else:
            first, separator, line_end = self._text.pieces(name, now)
            # Three parts, not one concatenated string: a 16 MiB line is then copied once less.
            parts = (first, safe.replace(b"\n", separator), line_end)
        self._queue += parts
        self._queued += sum(map(len, parts))
        self._schedule()

    def _schedule(self) -> None:
        if self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def _write_all(self, data: bytes | memoryview, grace: float | None = None) -> None:
        """Loop on partial writes; on EAGAIN wait for the fd (in the loop); stop for good on EPIPE."""
        view = memoryview(data)
        while view:
            try:
                written = self._write(self._fd, view)
            except BlockingIOError:
                if self._loop is not None:
                    self._stall(view)
                    return
                if not self._wait_writable(grace):
                    return  # closing, and nobody reads: what is left is dropped
                continue
            except OSError:
                # EPIPE (reader gone), EIO (terminal gone), ENOSPC: the output is lost
                # either way; stop writing and tell the supervisor once.
                self._broken = True
                self._queue.clear()
                self._queued = 0
                if self._on_closed is not None:
                    self._on_closed()
                return
            view = view[written:]

    def _stall(self, rest: memoryview) -> None:
        """Keep `rest` and write it when the fd drains; meanwhile the producers are paused."""
        assert self._loop is not None
        self._backlog = rest
        self._loop.add_writer(self._fd, self._drain)
        if self._on_stalled is not None:
            self._on_stalled(True)

    def _drain(self) -> None:
        assert self._loop is not None and self._backlog is not None
        self._loop.remove_writer(self._fd)
        rest, self._backlog = self._backlog, None
        self._write_all(rest)
        if self._backlog is None:
            if self._on_stalled is not None and not self._broken:
                self._on_stalled(False)
            if self._queue:
                self.flush()

    def _wait_writable(self, timeout: float | None) -> bool:
        """Block until a full non-blocking fd drains (no loop to wait in); False on timeout."""
        # select(2), not epoll/kqueue: it works on every kind of fd, ttys on macOS included.
        with selectors.SelectSelector() as selector:
            selector.register(self._fd, selectors.EVENT_WRITE)
            return bool(selector.select(timeout))


def _character_start(data: bytes, index: int) -> int:
    """`index`, moved back (at most 3 bytes) to the start of the UTF-8 character it falls in."""
    cut = index
    while cut > index - 3 and data[cut] & 0xC0 == 0x80:  # 0b10xxxxxx: a continuation byte
        cut -= 1
    return cut
