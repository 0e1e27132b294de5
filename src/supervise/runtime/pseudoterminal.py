"""One pseudo-terminal pair per spawn of a tty instance: the child gets the slave, supervise the master.

The controlling terminal is set without a `preexec_fn`: the child starts as a
session leader (`start_new_session`) and its shell first opens the pty by
path, which makes it the session's controlling terminal (Linux and macOS do
this for a session leader that has none), just as TIOCSCTTY would. A
`preexec_fn` forces a fork instead of a vfork: measured here, 4.7 ms a spawn
instead of 1.2 ms, and 27 ms once `up` has grown to 200 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shlex
import struct
import termios

Size = tuple[int, int]
"""(columns, rows)."""


def window_size(fd: int) -> Size | None:
    """The size of the terminal on `fd`, or None when it is not one."""
    try:
        columns, rows = os.get_terminal_size(fd)
    except OSError:
        return None
    return (columns, rows) if columns > 0 and rows > 0 else None


def set_window_size(fd: int, size: Size) -> None:
    """TIOCSWINSZ: the kernel then sends SIGWINCH to the terminal's foreground group."""
    columns, rows = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Pty:
    """One pty pair for one spawn: the child gets the slave, supervise keeps the master."""

    def __init__(self, size: Size) -> None:
        self.master, self.slave = os.openpty()  # not inheritable (PEP 446): no other child gets them
        try:
            set_window_size(self.master, size)
            self.path = os.ttyname(self.slave)
            os.set_blocking(self.master, False)
        except OSError:
            self.close()
            raise
        self._unwritten = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.held: list[bytes] = []
        """Output read but not passed on yet: a batch of full reads (`Terminal._readable`)."""
        self.held_size = 0

    def __repr__(self) -> str:
        return f"<Pty {self.path} master={self.master}>"

    def shell_line(self, line: str) -> str:
        """`line` for `/bin/sh -c`, first making this pty the session's controlling terminal.

        `true` is a regular built-in: a failed redirection is a message, not the shell's exit.
        """
        return f"true <>{shlex.quote(self.path)}\n{line}"

    def spawned(self) -> None:
        """The child has its copies of the slave: close ours, so EOF comes when the child's are gone."""
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def resize(self, size: Size) -> None:
        if self.master >= 0:
            with contextlib.suppress(OSError):  # the other side is gone: nothing left to tell
                set_window_size(self.master, size)

    def write(self, data: bytes, loop: asyncio.AbstractEventLoop) -> None:
        """Keystrokes for the child; what the pty cannot take yet waits for it (never dropped)."""
        if self.master < 0:
            return
        if not self._unwritten:
            try:
                data = data[os.write(self.master, data) :]
            except BlockingIOError:
                pass
            except OSError:
                return  # EIO: the child closed its terminal; it reads nothing more
            if not data:
                return
            self._loop = loop
            loop.add_writer(self.master, self._write_more)
        self._unwritten += data

    def _write_more(self) -> None:
        try:
            del self._unwritten[: os.write(self.master, self._unwritten)]
        except BlockingIOError:
            return
        except OSError:
            self._unwritten.clear()
        if not self._unwritten and self._loop is not None:
            self._loop.remove_writer(self.master)

    def close(self) -> None:
        if self._loop is not None and self._unwritten:
            self._loop.remove_writer(self.master)
            self._unwritten.clear()
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1
