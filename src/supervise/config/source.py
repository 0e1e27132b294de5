"""Reading one configuration file (Procfile, pyproject.toml, env file) safely.

A source is read only when it is a regular file of at most MAX_SOURCE_BYTES.
Anything else is one ConfigError naming the file: a FIFO would block `check`
forever, `/dev/zero` would fill memory, a directory is not "no Procfile", and
a symlink loop is not a traceback. The kind is checked with `stat` before the
file is opened (opening some devices has effects), and again on the opened
descriptor, which is non-blocking so that a FIFO swapped in meanwhile cannot
hang us; the read itself is capped, so a file that grows is still bounded.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from supervise.errors import ConfigError

MAX_SOURCE_BYTES = 10 * 1024 * 1024
"""10 MiB: a configuration file is never this big; past it, it is a mistake or an attack."""

KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_problem(mode: int) -> str | None:
    """Why a file of this `st_mode` cannot be a source, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in KINDS if test(mode)), "not a file")
    return f"is {kind}, not a regular file"


def size_problem(size: int) -> str | None:
    """Why a file of `size` bytes is refused, or None when it is small enough."""
    if size <= MAX_SOURCE_BYTES:
        return None
    return f"is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB; a configuration file never is"


def read_source(path: Path, display: str) -> str:
    """The UTF-8 text of a configuration file; a ConfigError naming `display` otherwise.

    Line endings are kept as they are (no newline translation): the parsers count them.
    """
    try:
        problem = kind_problem(os.stat(path).st_mode)
        if problem:
            raise ConfigError(problem, file=display)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        fd = os.open(path, flags)
        try:
            data = _read_capped(fd, display)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ConfigError("no such file", file=display) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ConfigError("cannot read: a symbolic link loop", file=display) from None
        raise ConfigError(f"cannot read: {error.strerror or error}", file=display) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=display) from None


def _read_capped(fd: int, display: str) -> bytes:
    """At most MAX_SOURCE_BYTES from an open descriptor that must be a regular file."""
    info = os.fstat(fd)
    problem = kind_problem(info.st_mode) or size_problem(info.st_size)
    if problem:
        raise ConfigError(problem, file=display)
    chunks: list[bytes] = []
    left = MAX_SOURCE_BYTES + 1  # one byte more tells a file that grew past the cap
    while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
        chunks.append(chunk)
        left -= len(chunk)
    if left <= 0:
        raise ConfigError(size_problem(MAX_SOURCE_BYTES + 1) or "", file=display)
    return b"".join(chunks)
