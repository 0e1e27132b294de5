"""A pseudo-terminal per tty instance: its controlling terminal, sized to `up`'s view.

A tty process gets the slave side of a fresh pty as stdin, stdout and stderr,
in a session of its own with the pty as its controlling terminal, as under a
terminal emulator: tools keep their colors, progress bars and line buffering,
a debugger can prompt, and a watcher that exits on stdin EOF keeps running.
supervise keeps the master side: it reads the output into the Printer (which
sanitizes and prefixes it like any other), keeps the recent raw bytes for
`supervise attach`, and writes what an attached terminal types.

Each spawn has a pty pair of its own (`pseudoterminal.py`); this module keeps what lasts
across spawns: reading, the attach screenful, prompts and attached terminals.
"""

from __future__ import annotations

import asyncio
import collections
import os
from collections.abc import Callable
from typing import Protocol

from supervise.plan import Instance
from supervise.runtime.output import Printer
from supervise.runtime.pseudoterminal import Pty, Size, window_size

PROMPT_WAIT = 0.5
"""Seconds a partial line of a tty instance waits before it is shown (a prompt)."""
RECENT_BYTES = 64 * 1024
"""Raw output kept per instance, for the screenful `attach` shows first."""
READ_MAX = 1 << 16
"""Bytes asked of one read of a pty, and the most a batch of full reads holds before it is passed on."""
LINE_DISCIPLINE_BUFFER = 4095
"""The most one read of a pty master returns on Linux (N_TTY_BUF_SIZE - 1): a read this long was full."""
HOLD_WAIT = 0.01
"""Seconds a batch of full reads waits, at most, for the short read that ends it."""
MIN_COLUMNS = 20
DEFAULT_SIZE = (80, 24)
"""(columns, rows) when `up`'s stdout is not a terminal."""
DEFAULT_TERM = "xterm-256color"
"""TERM for a tty process when `up`'s environment has none (CI, a service manager): its colors are
shown, and an attached terminal is near enough to one."""


class Viewer(Protocol):
    """An attached terminal, as the Terminal sees it (`attach.Session`)."""

    size: Size

    def output(self, data: bytes) -> None: ...

    def end(self, message: str) -> None: ...


class Terminal:
    """The terminal side of one tty instance across its spawns.

    It owns the pty of the current spawn (and of earlier ones a leftover
    process still holds), the recent raw output, the prompt timer, and the
    terminals attached through `supervise attach`.
    """

    def __init__(self, name: str, printer: Printer, base_size: Callable[[], Size]) -> None:
        self.name = name
        self.printer = printer
        self.base_size = base_size
        """`up`'s view for this instance: its window minus the prefix."""
        self.pty: Pty | None = None
        """The current spawn's pty; None before the first spawn."""
        self.viewers: list[Viewer] = []
        """Attached terminals, the latest last: its size is the pty's."""
        self._recent: collections.deque[bytes] = collections.deque()
        """The latest raw chunks as read, RECENT_BYTES or a little more: kept, never copied."""
        self._recent_size = 0
        self._open: set[Pty] = set()
        """Every pty not closed yet: the current one, and earlier ones a leftover still holds."""
        self._readers: dict[Pty, asyncio.SubprocessProtocol] = {}
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._prompt: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._batch: asyncio.TimerHandle | None = None
        """Armed when a batch of full reads begins (`_readable`)."""
        self.closed = False
        """`up` is done with this instance (`close`)."""

    def __repr__(self) -> str:
        return f"<Terminal {self.name} {self.pty!r} viewers={len(self.viewers)}>"

    @property
    def size(self) -> Size:
        return self.viewers[-1].size if self.viewers else self.base_size()

    def open(self) -> Pty:
        """A new pty for a spawn, at the current size."""
        pty = Pty(self.size)
        self._open.add(pty)
        return pty

    def discard(self, pty: Pty) -> None:
        """A pty whose spawn failed."""
        self._open.discard(pty)
        pty.close()

    def connect(self, pty: Pty, protocol: asyncio.SubprocessProtocol) -> None:
        """Read the spawned child's pty into its protocol, as asyncio reads a stdout pipe (fd 1)."""
        pty.spawned()
        self.pty = pty
        self._readers[pty] = protocol
        if not self._paused:
            self._loop.add_reader(pty.master, self._readable, pty, protocol)

    def pause_reading(self, paused: bool) -> None:
        """`up`'s output is stalled (or flows again): stop reading, so the child blocks, as on a pipe."""
        if paused == self._paused:
            return
        self._paused = paused
        for pty, protocol in self._readers.items():
            if paused:
                self._loop.remove_reader(pty.master)
            else:
                self._loop.add_reader(pty.master, self._readable, pty, protocol)

    def _readable(self, pty: Pty, protocol: asyncio.SubprocessProtocol) -> None:
        """One read of `pty`; what it got is passed on, or held for a bigger batch.

        A read returns at most what the line discipline holds (4 KiB on Linux).
        A full one means more is waiting, but reading again at once would wait
        for the kernel to refill that buffer (a kworker's turn, then ours, with
        the loop idle meanwhile). So a full read is held, the other ptys take
        their turn, and this one is read again on the loop's next pass. The
        batch is passed on when a read comes back short, when it reaches
        READ_MAX, or HOLD_WAIT after it began (a child that stopped right at a
        full read): the Printer works once per batch, not once per 4 KiB.
        """
        try:
            data = os.read(pty.master, READ_MAX)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: every slave fd is closed, which is how a pty says EOF on Linux
        if data:
            pty.held.append(data)
            pty.held_size += len(data)
            if len(data) >= LINE_DISCIPLINE_BUFFER and pty.held_size < READ_MAX:
                if self._batch is None:
                    self._batch = self._loop.call_later(HOLD_WAIT, self._batch_due)
                return
        self._pass_on(pty, protocol)
        if not data:
            self._loop.remove_reader(pty.master)
            self._open.discard(pty)
            self._readers.pop(pty, None)
            pty.close()
            self._cancel_prompt()
            protocol.pipe_connection_lost(1, None)

    def _batch_due(self) -> None:
        """HOLD_WAIT after a batch began: what the ptys hold is passed on, however much."""
        self._batch = None
        for pty, protocol in list(self._readers.items()):
            self._pass_on(pty, protocol)

    def _pass_on(self, pty: Pty, protocol: asyncio.SubprocessProtocol) -> None:
        """What `pty` holds, to the Printer, the attached terminals and the attach screenful."""
        if pty.held:
            held = pty.held
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            pty.held_size = 0
            self._received(protocol, data)

    def _received(self, protocol: asyncio.SubprocessProtocol, data: bytes) -> None:
        self._remember(data)
        for viewer in self.viewers:
            viewer.output(data)
        protocol.pipe_data_received(1, data)
        self._last_data = self._loop.time()
        if self._prompt is None and self.printer.pending(self.name):
            self._prompt = self._loop.call_later(PROMPT_WAIT, self._prompt_due)

    def _remember(self, data: bytes) -> None:
        if len(data) > RECENT_BYTES:
            data = data[-RECENT_BYTES:]
        self._recent.append(data)
        self._recent_size += len(data)
        while self._recent_size - len(self._recent[0]) >= RECENT_BYTES:
            self._recent_size -= len(self._recent.popleft())

    def _prompt_due(self) -> None:
        """Show a partial line nothing was added to for PROMPT_WAIT (a prompt waits for input)."""
        self._prompt = None
        if not self.printer.pending(self.name):
            return
        wait = self._last_data + PROMPT_WAIT - self._loop.time()
        if wait > 0:
            self._prompt = self._loop.call_later(wait, self._prompt_due)
        else:
            self.printer.end(self.name)

    def _cancel_prompt(self) -> None:
        if self._prompt is not None:
            self._prompt.cancel()
            self._prompt = None

    def recent_screen(self, rows: int) -> bytes:
        """The last `rows` lines of raw output (the last one may be a prompt)."""
        data = b"".join(self._recent)[-RECENT_BYTES:]
        cut = len(data)
        for _ in range(rows):
            cut = data.rfind(b"\n", 0, cut)
            if cut < 0:
                return data
        return data[cut + 1 :]

    # -- attached terminals --------------------------------------------------------

    def attach(self, viewer: Viewer) -> None:
        """`viewer` sees the recent screen, then the live output; the pty takes its size."""
        _, rows = viewer.size
        screen = self.recent_screen(max(1, rows - 1))
        if screen:
            viewer.output(screen)
        self.viewers.append(viewer)
        self.resize()

    def detach(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            self.resize()

    def viewer_resized(self, viewer: Viewer) -> None:
        """An attached terminal changed size: it is now the one the pty follows."""
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            self.viewers.append(viewer)
            self.resize()

    def type(self, data: bytes) -> None:
        """What an attached terminal typed, for the current spawn."""
        if self.pty is not None:
            self.pty.write(data, self._loop)

    def resize(self) -> None:
        """Give the current pty the size it should have now (SIGWINCH, attach, detach)."""
        if self.pty is not None:
            self.pty.resize(self.size)

    def ended(self, message: str) -> None:
        """The instance's process is gone: every attached terminal is told, and let go."""
        viewers, self.viewers = self.viewers, []
        for viewer in viewers:
            viewer.end(message)

    def close(self) -> None:
        """`up` is done with this instance: close every pty it still has."""
        self.closed = True
        for pty, protocol in list(self._readers.items()):
            self._pass_on(pty, protocol)  # read already: shown, not dropped
        if self._batch is not None:
            self._batch.cancel()
            self._batch = None
        self._cancel_prompt()
        self.ended(f"{self.name} is gone")
        for pty in self._open:
            if pty.master >= 0:
                self._loop.remove_reader(pty.master)
            pty.close()
        self._open.clear()
        self._readers.clear()
        self.pty = None


class Terminals:
    """The Terminal of every tty instance, sized from `up`'s own window (resized on SIGWINCH)."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.terminals: list[Terminal] = []
        self._base: Size | None = None

    def terminal(self, instance: Instance) -> Terminal:
        """A new Terminal for `instance`, whose process has a tty."""
        self.terminals = [t for t in self.terminals if not t.closed]  # gone with a reload's old instances
        terminal = Terminal(instance.name, self.printer, self.base_size)
        self.terminals.append(terminal)
        return terminal

    def base_size(self) -> Size:
        """`up`'s window minus the prefix `HH:MM:SS name | `, so lines fit as the child wraps them."""
        if self._base is None:
            columns, rows = window_size(self.printer.fd) or DEFAULT_SIZE
            self._base = (max(MIN_COLUMNS, columns - self.printer.width), rows)
        return self._base

    def window_changed(self) -> None:
        """SIGWINCH to `up`: every pty nobody is attached to takes the new size."""
        self._base = None
        for terminal in self.terminals:
            terminal.resize()
