"""`supervise attach` on the control socket: the frames, and the session `up` serves.

After the JSON request line (`{"op": "attach", "names": ["web.1"], "size":
[columns, rows]}`) and its answer, the connection carries frames both ways: a
kind byte, a 4-byte big-endian length, then the payload.

    up -> attach    OUTPUT  raw bytes of the instance's pty (the recent screen first)
                    END     one UTF-8 line saying why the stream ends (the instance exited, up stopped)
    attach -> up    INPUT   keystrokes for the instance
                    SIZE    the attached terminal's columns and rows (two unsigned 16-bit numbers)

The frames are all this module shares with the client (`commands/attach.py`),
which imports it without asyncio.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from supervise.runtime.pseudoterminal import Size
    from supervise.runtime.terminal import Terminal

HEADER = struct.Struct("!cI")
SIZE_PAYLOAD = struct.Struct("!HH")
OUTPUT, END, INPUT, SIZE = b"o", b"e", b"i", b"w"
MAX_FRAME = 1 << 20
"""Longest payload either side accepts; a longer one is a broken peer."""
MAX_BEHIND = 4 << 20
"""Bytes an attached terminal may fall behind (a stalled ssh link) before it is let go."""
UP_STOPPED = "supervise up stopped"


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def size_frame(size: tuple[int, int]) -> bytes:
    return frame(SIZE, SIZE_PAYLOAD.pack(*size))


def parse_size(value: object) -> tuple[int, int] | None:
    """`[columns, rows]` from a request, or None when it is not a plausible terminal size."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 0xFFFF for n in value)
    ):
        return value[0], value[1]
    return None


class FrameReader:
    """Frames out of a byte stream as they complete (the client's side; blocking sockets)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """The frames `data` completes; ValueError for one no peer of ours would send."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ValueError(f"a frame of {length} bytes")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((kind, bytes(self._buffer[HEADER.size : end])))
            del self._buffer[:end]
        return frames


class Session:
    """One attached terminal, as `up` serves it: a Terminal viewer over a control connection."""

    def __init__(self, size: Size, writer: asyncio.StreamWriter) -> None:
        self.size = size
        self.writer = writer
        self.closed = False

    def __repr__(self) -> str:
        return f"<attach Session {self.size[0]}x{self.size[1]}{' closed' if self.closed else ''}>"

    def output(self, data: bytes) -> None:
        if self.closed:
            return
        if self.writer.transport.is_closing():  # the client went away; `serve` is about to see it
            self.closed = True
            return
        if self.writer.transport.get_write_buffer_size() > MAX_BEHIND:
            self.end(f"this terminal fell more than {MAX_BEHIND >> 20} MiB behind; detached")
            return
        self.writer.write(frame(OUTPUT, data))

    def end(self, message: str) -> None:
        """Say why, then close: the client restores its terminal and exits."""
        if self.closed:
            return
        self.closed = True
        self.writer.write(frame(END, message.encode("utf-8", "replace")))
        self.writer.close()


async def serve(
    terminal: Terminal, size: Size, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Serve one `supervise attach` until it detaches, the instance ends or `up` stops."""
    import asyncio

    session = Session(size, writer)
    terminal.attach(session)
    try:
        while not session.closed:
            kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
            if length > MAX_FRAME:
                break
            payload = await reader.readexactly(length)
            if kind == INPUT:
                terminal.type(payload)
            elif kind == SIZE and length == SIZE_PAYLOAD.size:
                columns, rows = SIZE_PAYLOAD.unpack(payload)
                if columns and rows:
                    session.size = (columns, rows)
                    terminal.viewer_resized(session)
    except (asyncio.IncompleteReadError, OSError):
        pass  # detached (Ctrl-]), or the client went away: either way, it is gone
    except asyncio.CancelledError:
        session.end(UP_STOPPED)
        raise
    finally:
        terminal.detach(session)
