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
"""

from __future__ import annotations

import asyncio
import os
import selectors
import time
from collections.abc import Callable, Mapping, Sequence

from supervise.runtime.sanitize import sanitize

SYSTEM = "system"
"""The name on supervise's own lines."""

RESET = "\x1b[0m"
PALETTE = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
"""SGR colors, one per process type by its place in the project; red is left for nobody."""
SYSTEM_STYLE = "1"
"""Bold in the terminal's own color: not in the palette, so never mistaken for a process."""

Writer = Callable[[int, memoryview], int]

LINE_LIMIT = 16 * 1024 * 1024
"""16 MiB: longer lines are printed in pieces of this size (cut between UTF-8 characters)."""


def use_color(*, isatty: bool, environ: Mapping[str, str], no_color_flag: bool) -> bool:
    """--no-color or NO_COLOR (non-empty) -> off; FORCE_COLOR (non-empty, not "0") -> on; else isatty."""
    if no_color_flag or environ.get("NO_COLOR", ""):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force and force != "0":
        return True
    return isatty


def process_type(name: str) -> str:
    """`web.1` -> `web`: the part that picks the color."""
    return name.rpartition(".")[0] or name


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
    ) -> None:
        """`kinds`: every process type of the project, in order, so that a type's color
        does not depend on what is selected. `write` is a seam for tests (count the writes).

        With a loop, a full non-blocking fd never blocks it: what is left waits
        for the fd to drain, and `on_stalled(True)` asks the caller to stop
        feeding until `on_stalled(False)`. `on_closed` hears once that the
        output is gone for good (EPIPE: `supervise up | head`). `prefix=False`
        (`--no-prefix`) prints the lines bare; `timestamp=False`
        (`--no-timestamp`) keeps `web.1 | ` without the time.
        """
        self._fd = fd
        self._color = color
        self._show_prefix = prefix
        self._show_time = timestamp
        self._clock = clock
        self._loop = loop
        self._write = write
        self._width = max(len(n) for n in [*names, SYSTEM])
        self._styles: dict[str, str] = {}
        for kind in kinds:
            self._style(kind)
        for name in names:
            self._style(name)
        self._tails: dict[str, list[bytes]] = {}
        self._tail_sizes: dict[str, int] = {}
        self._stamps: dict[str, tuple[int, bytes, bytes, bytes]] = {}  # name -> (second, *_prefix())
        self._queue: list[bytes] = []
        self._scheduled = False
        self._broken = False
        self._on_closed = on_closed
        self._on_stalled = on_stalled
        self._backlog: memoryview | None = None
        """What a full fd did not take yet; written when it drains, before anything newer."""

    @property
    def width(self) -> int:
        """Columns the prefix `HH:MM:SS name | ` takes (less without the time, 0 without a prefix)."""
        if not self._show_prefix:
            return 0
        return len("00:00:00 " if self._show_time else "") + self._width + len(" | ")

    @property
    def broken(self) -> bool:
        """True once the output is gone (EPIPE, e.g. `supervise up | head -1`); nothing more is written."""
        return self._broken

    def feed(self, name: str, data: bytes) -> None:
        """A chunk from instance `name`'s pipe: queue its whole lines, keep the partial tail."""
        if self._broken or not data:
            return
        last = data.rfind(b"\n")  # only the new chunk is searched: a long line costs O(n) in all
        if last < 0:
            self._hold(name, data)
            return
        if name in self._tails:
            first = data.find(b"\n")
            self._hold(name, data[:first])  # the line that began in earlier chunks ends here
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
        if tail and not self._broken:
            self._queue_safe(name, self._sanitized(tail))

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
            self._queue_safe(name, self._sanitized(held[start:cut]))
            start = cut
        self._tails[name] = [held[start:]]
        self._tail_sizes[name] = len(held) - start

    def _take_tail(self, name: str) -> bytes:
        """The held start of `name`'s current line (empty when none), no longer held."""
        self._tail_sizes.pop(name, None)
        pieces = self._tails.pop(name, None)
        return b"".join(pieces) if pieces else b""

    def _queue_lines(self, name: str, whole: bytes) -> None:
        """Queue whole lines (joined by newlines); a line over LINE_LIMIT goes in pieces."""
        if len(whole) <= LINE_LIMIT:
            self._queue_safe(name, self._sanitized(whole))
            return
        for line in whole.split(b"\n"):  # rare: a chunk bigger than the limit
            self._hold(name, line)
            self._queue_safe(name, self._sanitized(self._take_tail(name)))

    def _sanitized(self, lines: bytes) -> bytes:
        """`lines` as they may be shown (`sanitize.py`), in UTF-8: what is not shows as U+FFFD."""
        lines = sanitize(lines, color=self._color)
        return lines if lines.isascii() else lines.decode("utf-8", "replace").encode("utf-8")

    def system(self, message: str) -> None:
        """One of supervise's own lines, under the name `system`."""
        if not self._broken:
            # Sanitized too: a message may quote a file name, and file names can hold escapes.
            self._queue_safe(SYSTEM, sanitize(message.rstrip("\n").encode("utf-8", "replace"), color=False))

    def flush(self) -> None:
        """Write everything queued in one os.write (more only on a partial write)."""
        self._scheduled = False
        if not self._queue or self._backlog is not None:
            return  # a stalled fd: the queue waits for `_drain`
        data = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
        self._queue.clear()
        if not self._broken:
            self._write_all(data)

    def close(self, grace: float = 1.0) -> None:
        """Write what is left, waiting at most `grace` seconds for a stalled reader."""
        if self._loop is not None and self._backlog is not None:
            self._loop.remove_writer(self._fd)
        backlog, self._backlog = self._backlog, None
        pending = b"".join([bytes(backlog or b""), *self._queue])
        self._queue.clear()
        self._loop = None  # from here on, writes wait (boundedly) instead of deferring
        if pending and not self._broken:
            self._write_all(pending, grace=grace)

    def _queue_safe(self, name: str, lines: bytes) -> None:
        """Prefix every line of sanitized UTF-8 `lines` (newlines inside, none at the end); queue them."""
        first, separator, line_end = self._prefix(name)
        # Three parts, not one concatenated string: a 16 MiB line is then copied once less.
        self._queue += (first, lines.replace(b"\n", separator), line_end)
        if self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def _prefix(self, name: str) -> tuple[bytes, bytes, bytes]:
        """(first line's prefix, line end + prefix as the separator, line end); one clock read."""
        if not self._show_prefix:
            return b"", b"\n", b"\n"
        now = int(self._clock()) if self._show_time else 0
        cached = self._stamps.get(name)
        if cached is not None and cached[0] == now:
            return cached[1], cached[2], cached[3]
        stamp = time.strftime("%H:%M:%S ", time.localtime(now)) if self._show_time else ""
        prefix = f"{stamp}{name.ljust(self._width)} | "
        if self._color:
            # Color the prefix only; reset before the child's text and at the end of the
            # line so neither our color nor an unterminated one of the child's bleeds.
            first, line_end = f"\x1b[{self._style(name)}m{prefix}{RESET}".encode(), f"{RESET}\n".encode()
        else:
            first, line_end = prefix.encode(), b"\n"
        self._stamps[name] = (now, first, line_end + first, line_end)
        return first, line_end + first, line_end

    def _style(self, name: str) -> str:
        """The SGR code for `name`: one per process type, in project order."""
        if name == SYSTEM:
            return SYSTEM_STYLE
        kind = process_type(name)
        style = self._styles.get(kind)
        if style is None:
            style = self._styles[kind] = PALETTE[len(self._styles) % len(PALETTE)]
        return style

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
                self._tails.clear()
                self._tail_sizes.clear()
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
