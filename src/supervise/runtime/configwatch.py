"""Watching the few files a configuration comes from, through their folders.

Editors save in two ways: writing the file in place, or writing a new file
and renaming it over the old one (vim, VS Code). Watching the folder (not
recursively) and keeping the events whose name is one of ours sees both, and
a file that appears later (a new `.env`).

On Linux this is inotify, read by the event loop itself: no thread, and no
wakeup while nothing changes (`up`'s idle cost stays at zero). Elsewhere it
is watchfiles, whose waiting thread wakes every `STEP_MS`.

A burst of events (an editor's save is several) is reported once, after
`QUIET` seconds without another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import sys
from collections.abc import AsyncGenerator, Callable, Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchfiles import Change

EVENT_DRIVEN = sys.platform.startswith("linux")
"""inotify: watching costs nothing until a file changes, and starts with `up` (no import to wait for)."""
QUIET = 0.1
"""Seconds without a new event that end a burst."""
STEP_MS = 100
"""watchfiles (not Linux): how often its thread looks at what changed."""

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
EVENTS = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
"""Everything that can change what a file holds, or which file a name is."""
HEADER = struct.Struct("iIII")
"""struct inotify_event: wd, mask, cookie, len; then `len` bytes of NUL-padded name."""


async def file_changes(files: Collection[str]) -> AsyncGenerator[set[str], None]:
    """The paths among `files` (absolute) that changed, one set per burst, until the consumer stops."""
    folders = sorted({os.path.dirname(path) for path in files if os.path.isdir(os.path.dirname(path))})
    if not folders:
        return
    inotify = None
    if EVENT_DRIVEN:
        with contextlib.suppress(OSError):  # out of inotify watches: watchfiles may still cope
            inotify = _Inotify(folders, set(files))
    if inotify is None:
        async for burst in _watchfiles(folders, set(files)):
            yield burst
        return
    try:
        while True:
            yield await inotify.next_burst()
    finally:
        inotify.close()


class _Inotify:
    """One inotify fd on the folders, read by the loop; events on our names make bursts."""

    def __init__(self, folders: Collection[str], files: set[str]) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self._files = files
        self._fd = int(self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._folders: dict[int, str] = {}
        try:
            for folder in folders:
                wd = int(self._libc.inotify_add_watch(self._fd, os.fsencode(folder), EVENTS))
                if wd < 0:
                    raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
                self._folders[wd] = folder
        except OSError:
            os.close(self._fd)
            raise
        self._loop = asyncio.get_running_loop()
        self._pending: set[str] = set()
        self._quiet: asyncio.TimerHandle | None = None
        self._bursts: asyncio.Queue[set[str]] = asyncio.Queue()
        self._loop.add_reader(self._fd, self._read)

    async def next_burst(self) -> set[str]:
        return await self._bursts.get()

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + HEADER.size <= len(data):
            wd, _mask, _cookie, length = HEADER.unpack_from(data, offset)
            name = data[offset + HEADER.size : offset + HEADER.size + length].rstrip(b"\0")
            offset += HEADER.size + length
            folder = self._folders.get(wd)
            if folder is not None and name:
                path = os.path.join(folder, os.fsdecode(name))
                if path in self._files:
                    self._pending.add(path)
        if self._pending:
            if self._quiet is not None:
                self._quiet.cancel()
            self._quiet = self._loop.call_later(QUIET, self._burst)

    def _burst(self) -> None:
        self._quiet = None
        burst, self._pending = self._pending, set()
        self._bursts.put_nowait(burst)

    def close(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


async def _watchfiles(folders: Collection[str], files: set[str]) -> AsyncGenerator[set[str], None]:
    from watchfiles import awatch

    batches = awatch(
        *folders,
        watch_filter=_only(files),
        step=STEP_MS,
        recursive=False,
        ignore_permission_denied=True,
    )
    async with contextlib.aclosing(batches):
        async for batch in batches:
            yield {path for _change, path in batch}


def _only(files: set[str]) -> Callable[[Change, str], bool]:
    """A watchfiles filter that keeps events on `files` (absolute paths) only."""

    def wanted(_change: Change, path: str) -> bool:
        return path in files

    return wanted
