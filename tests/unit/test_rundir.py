"""The control socket's folder against other local users (PRODUCT.md §5): real files, a real server.

"Another user" is played by files and folders chowned to nobody (65534), so
these tests need root; as another user, they are skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervise.errors import UsageError
from supervise.runtime.control.client import request
from supervise.runtime.control.rundir import socket_path
from supervise.runtime.control.server import ControlServer
from tests.unit.test_control import FakeTarget

NOBODY = 65534
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="plays another user with chown (root only)")


@pytest.fixture
def short() -> Iterator[Path]:
    """A short folder under /tmp, so that every candidate socket path fits AF_UNIX."""
    folder = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def environ(short: Path) -> dict[str, str]:
    """No XDG_RUNTIME_DIR: a shared temp folder first, then the home folder."""
    (short / "tmp").mkdir(mode=0o1777)
    os.chmod(short / "tmp", 0o1777)
    (short / "home").mkdir()
    return {"TMPDIR": str(short / "tmp"), "HOME": str(short / "home")}


def default_dir(environ: dict[str, str]) -> Path:
    return Path(environ["TMPDIR"]) / f"supervise-{os.getuid()}"


def fallback_dir(environ: dict[str, str]) -> Path:
    return Path(environ["HOME"]) / ".cache" / "supervise"


def serve_and_ask(root: Path, environ: dict[str, str]) -> tuple[Path, Any]:
    """Start a server for `root` and ask it for hello from a client; (socket path, answer)."""

    async def main() -> tuple[Path, Any]:
        server = ControlServer(root, FakeTarget(), environ=environ)
        await server.start()
        try:
            hello = await asyncio.to_thread(request, root, {"op": "hello"}, 5, environ)
            return server.path, hello
        finally:
            await server.close()

    return asyncio.run(asyncio.wait_for(main(), 10))


def test_the_default_folder_is_the_temp_one_when_nobody_took_it(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    path, hello = serve_and_ask(tmp_path, environ)
    assert path.parent == default_dir(environ)
    assert hello["ok"] is True
    assert default_dir(environ).stat().st_mode & 0o777 == 0o700


@needs_root
def test_a_default_folder_made_first_by_another_user_is_passed_over(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    default_dir(environ).mkdir(mode=0o777)
    os.chown(default_dir(environ), NOBODY, NOBODY)
    path, hello = serve_and_ask(tmp_path, environ)
    assert path.parent == fallback_dir(environ)
    assert hello["ok"] is True  # the client passes it over the same way
    assert fallback_dir(environ).stat().st_mode & 0o777 == 0o700
    assert list(default_dir(environ).iterdir()) == []


@pytest.mark.parametrize("squatter", ["file", "symlink", "dangling symlink"])
def test_a_default_folder_that_is_not_a_folder_is_passed_over(
    tmp_path: Path, environ: dict[str, str], short: Path, squatter: str
) -> None:
    elsewhere = short / "elsewhere"
    if squatter == "file":
        default_dir(environ).write_text("squatter")
    else:
        if squatter == "symlink":
            elsewhere.mkdir()
        default_dir(environ).symlink_to(elsewhere)
    path, hello = serve_and_ask(tmp_path, environ)
    assert path.parent == fallback_dir(environ)
    assert hello["ok"] is True
    assert not elsewhere.exists() or list(elsewhere.iterdir()) == []


def test_no_usable_folder_at_all_is_one_line(tmp_path: Path, environ: dict[str, str]) -> None:
    default_dir(environ).write_text("squatter")
    del environ["HOME"]
    with pytest.raises(UsageError, match=r"^no private folder for the control socket \("):
        socket_path(tmp_path, environ)


@pytest.mark.parametrize("planted", ["symlink", "hard link", "another user's file", "fifo", "directory"])
def test_a_lock_file_planted_in_a_folder_of_ours_is_never_written_through(
    tmp_path: Path, environ: dict[str, str], short: Path, planted: str
) -> None:
    """Our folder, left open (0777) by an older version or a umask: whatever is in it was not put by us."""
    if planted in ("hard link", "another user's file") and os.getuid() != 0:
        pytest.skip("needs root to play another user")
    folder = default_dir(environ)
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    lock = socket_path(tmp_path, environ).with_suffix(".lock")
    victim = short / "victim"
    victim.write_text("precious\n")
    if planted == "symlink":
        lock.symlink_to(victim)
    elif planted == "hard link":
        os.link(victim, lock)
    elif planted == "another user's file":
        lock.write_text("1\n")
        os.chown(lock, NOBODY, NOBODY)
    elif planted == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    if planted == "directory":  # cannot be removed by unlink: one clear line, no hang
        with pytest.raises(UsageError, match=r"in the way of the lock file"):
            serve_and_ask(tmp_path, environ)
        return
    path, hello = serve_and_ask(tmp_path, environ)
    assert hello["ok"] is True and path.parent == folder
    assert victim.read_text() == "precious\n"
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_socket_symlink_planted_in_a_folder_of_ours_is_replaced_not_followed(
    tmp_path: Path, environ: dict[str, str], short: Path
) -> None:
    folder = default_dir(environ)
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    victim = short / "victim"
    victim.write_text("precious\n")
    socket_path(tmp_path, environ).symlink_to(victim)
    _, hello = serve_and_ask(tmp_path, environ)
    assert hello["ok"] is True
    assert victim.read_text() == "precious\n"
