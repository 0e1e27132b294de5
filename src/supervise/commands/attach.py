"""`supervise attach NAME`: this terminal becomes the instance's terminal until Ctrl-] detaches.

A short blocking client (no asyncio): it asks the running `up` for the
instance's stream over the control socket, puts this terminal in raw mode,
and then copies keystrokes one way and output the other (`runtime/control/attach.py`
has the frames). Whatever ends it (Ctrl-], the instance ending, `up` ending,
SIGHUP, SIGTERM, an error), the terminal gets back the exact termios settings
it had.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
from collections.abc import Iterator
from dataclasses import dataclass

from supervise.commands.options import CommonOptions, project_root
from supervise.errors import UsageError
from supervise.runtime.control import attach
from supervise.runtime.control.client import STATUS_TIMEOUT, connect

DETACH = b"\x1d"
"""Ctrl-], as telnet and docker attach use it."""
SIGNALS = (signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
EXIT_BY_SIGNAL = {signal.SIGHUP: 129, signal.SIGTERM: 143, signal.SIGINT: 130}


@dataclass(frozen=True)
class Ending:
    """How a session ended: the line to print (None: say nothing) and the exit code."""

    message: str | None
    code: int


def run_attach(options: CommonOptions, name: str) -> int:
    """Attach until detached or the instance ends; the exit code."""
    if not (os.isatty(0) and os.isatty(1)):
        raise UsageError("attach needs a terminal: run it in one, not with its input or output redirected")
    root = project_root(options)
    request = {"op": "attach", "names": [name], "size": list(_size())}
    with connect(root, request, STATUS_TIMEOUT, os.environ) as (sock, answer, rest):
        sock.settimeout(None)
        session = Session(sock, str(answer.get("instance", name)))
        with _raw_terminal(0) as wakeup:
            session.show(f"attached to {session.instance}; Ctrl-] detaches\r\n".encode())
            ending = session.run(rest, wakeup)
            if ending.message is not None and not session.at_line_start:
                session.show(b"\r\n")
    if ending.message is not None:
        print(ending.message, file=sys.stdout if ending.code == 0 else sys.stderr)
    return ending.code


class Session:
    """One attached terminal: keystrokes to `up`, frames from it to the screen."""

    def __init__(self, sock: socket.socket, instance: str) -> None:
        self.sock = sock
        self.instance = instance
        self.frames = attach.FrameReader()
        self.at_line_start = True
        """Whether the cursor is at the start of a line (so the last message starts a line of its own)."""

    def run(self, first: bytes, wakeup: int) -> Ending:
        """Copy both ways until something ends it."""
        poller = select.poll()
        for fd in (0, self.sock.fileno(), wakeup):
            poller.register(fd, select.POLLIN)
        data = first
        while True:
            ending = self.received(data) if data else None
            data = b""
            for fd, _events in [] if ending else poller.poll():
                if fd == wakeup:
                    ending = self.signals(wakeup)
                elif fd == 0:
                    ending = self.keys()
                else:
                    try:
                        data = self.sock.recv(1 << 16)
                    except OSError as error:
                        return Ending(f"supervise: lost the connection to supervise up: {error.strerror}", 1)
                    ending = None if data else Ending("supervise up went away", 1)
                if ending is not None:
                    break
            if ending is not None:
                return ending

    def received(self, data: bytes) -> Ending | None:
        try:
            frames = self.frames.feed(data)
        except ValueError as error:
            return Ending(f"supervise: broken attach stream ({error})", 1)
        for kind, payload in frames:
            if kind == attach.OUTPUT:
                try:
                    self.show(payload)
                except OSError:
                    return Ending(None, 129)  # the terminal is gone
            elif kind == attach.END:
                return Ending(payload.decode("utf-8", "replace"), 0)
        return None

    def keys(self) -> Ending | None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            return Ending(None, 129)  # the terminal is gone (its SIGHUP may still be on its way)
        keys, detach, _ = data.partition(DETACH)
        try:
            if keys:
                self.sock.sendall(attach.frame(attach.INPUT, keys))
        except OSError:
            return Ending("supervise up went away", 1)
        return Ending(f"detached from {self.instance}", 0) if detach else None

    def signals(self, wakeup: int) -> Ending | None:
        for signum in os.read(wakeup, 64):
            if signum == signal.SIGWINCH:
                with contextlib.suppress(OSError):
                    self.sock.sendall(attach.size_frame(_size()))
            elif signum in EXIT_BY_SIGNAL:
                sig = signal.Signals(signum)
                message = None if sig is signal.SIGHUP else f"detached by {sig.name}"
                return Ending(message, EXIT_BY_SIGNAL[sig])
        return None

    def show(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]
        self.at_line_start = data.endswith(b"\n")


def _size() -> tuple[int, int]:
    """This terminal's columns and rows; 80 x 24 for one that does not say (a fresh pty says 0 x 0)."""
    columns, rows = os.get_terminal_size(1)
    return (columns or 80, rows or 24)


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[int]:
    """Raw mode on `fd` and signals delivered to a pipe (yielded); both undone on the way out."""
    import tty

    saved = termios.tcgetattr(fd)
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    old_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    old_handlers = {signum: signal.signal(signum, _record) for signum in SIGNALS}
    try:
        tty.setraw(fd, termios.TCSADRAIN)
        yield read_end
    finally:
        with contextlib.suppress(termios.error, OSError):  # a terminal that is gone keeps no settings
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(read_end)
        os.close(write_end)


def _record(signum: int, frame: object) -> None:
    """The wakeup fd carries the signal number; the loop acts on it."""
