"""Where `up` keeps its control socket and lock: a folder other local users cannot turn against us.

Candidates, best first: `$XDG_RUNTIME_DIR/supervise` (the login manager makes
that folder private), then `$TMPDIR/supervise-UID` (or `/tmp/supervise-UID`
when TMPDIR is unset or too deep for AF_UNIX), then `~/.cache/supervise`,
inside our home, where nobody else can create anything first.

In a shared temp folder anyone can create `supervise-UID` before us. Such a
folder (someone else's, a symlink, a file) is passed over, not refused: it
must not keep our `up` from starting, and the clients pass it over the same
way, so they find the socket where `up` put it. A folder of ours is made
0700 before anything in it is used; the lock file is opened without
following symlinks and must be a regular file of ours with a single link:
anything else in its place (planted while the folder was open to others) is
removed, never written through.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from supervise.errors import AlreadyRunningError, UsageError

SOCKET_PATH_MAX = 103
"""Longest AF_UNIX path in bytes: macOS's sun_path holds 104 with the NUL, Linux's 108."""


def socket_path(root: Path, environ: Mapping[str, str]) -> Path:
    """The control socket of the project at `root`, in the first folder that is ours or can be."""
    name = hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:16] + ".sock"
    tried = []
    for directory in candidate_dirs(environ, name):
        path = directory / name
        if len(os.fsencode(path)) <= SOCKET_PATH_MAX and _ours_or_absent(directory):
            return path
        tried.append(str(directory))
    raise UsageError(
        f"no private folder for the control socket ({', '.join(tried)} are taken or too long); "
        "set XDG_RUNTIME_DIR to a short folder only you can write"
    )


def candidate_dirs(environ: Mapping[str, str], name: str = "0123456789abcdef.sock") -> list[Path]:
    """The socket folders to try, best first (see the module docstring)."""
    uid = os.getuid()
    candidates = []
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime) and os.path.isdir(runtime) and os.access(runtime, os.W_OK | os.X_OK):
        candidates.append(Path(runtime) / "supervise")
    temp = Path(environ.get("TMPDIR", "") or "/tmp") / f"supervise-{uid}"
    fits = len(os.fsencode(temp / name)) <= SOCKET_PATH_MAX
    if not (temp.is_absolute() and temp.parent.is_dir() and fits):
        temp = Path("/tmp") / f"supervise-{uid}"  # always short enough for AF_UNIX
    candidates.append(temp)
    cache = environ.get("XDG_CACHE_HOME", "")
    home = environ.get("HOME", "")
    if os.path.isabs(cache):
        candidates.append(Path(cache) / "supervise")
    elif os.path.isabs(home):
        candidates.append(Path(home) / ".cache" / "supervise")
    return candidates


def _ours_or_absent(directory: Path) -> bool:
    """A real folder of ours, or nothing yet: anything else there was put by someone else."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def make_private(directory: Path) -> None:
    """Create `directory` (0700) or take the one of ours that is there, and close it to others."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _ours_or_absent(directory):  # taken between socket_path and here
        raise UsageError(f"{directory}: someone else created it just now; start supervise up again")
    os.chmod(directory, 0o700)  # from here on nobody else can add anything inside


def take_lock(path: Path) -> int:
    """Hold `path` locked for the life of this process and write our pid into it.

    A second `up` for the project finds it locked: AlreadyRunningError with the holder's pid.
    """
    while True:
        fd = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).strip()
            os.close(fd)
            raise AlreadyRunningError(int(holder) if holder.isdigit() else None) from None
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # an exiting `up` unlinked the file we locked: lock the new one
    from supervise.runtime.guardian import up_pid  # the pid the user sees, not the supervisor's

    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{up_pid()}\n".encode(), 0)
    return fd


def _open_lock_file(path: Path) -> int:
    """The lock file, opened without following a symlink; whatever else stands there is removed."""
    # O_NONBLOCK: a FIFO planted there must not block the open.
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    for _ in range(3):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as error:
            # ELOOP: a symlink; EISDIR, ENXIO (a socket), EACCES: nothing a lock file of ours would be.
            if error.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EACCES, errno.EPERM):
                raise
        else:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and info.st_nlink == 1:
                return fd
            os.close(fd)  # a hard link to a file elsewhere, or someone else's file
        _remove(path)
    raise UsageError(f"{path}: cannot make it a lock file of ours; remove it and start supervise up again")


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        message = f"{path}: in the way of the lock file and cannot be removed: {error.strerror}"
        raise UsageError(message) from None
