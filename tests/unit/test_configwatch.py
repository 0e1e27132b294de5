"""Watching configuration files through their folders: writes, editor renames, new files, bursts."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path

import pytest

from supervise.runtime.configwatch import _watchfiles, file_changes

Watch = Callable[[set[str]], AsyncGenerator[set[str], None]]


def linux_inotify(files: set[str]) -> AsyncGenerator[set[str], None]:
    return file_changes(files)


def with_watchfiles(files: set[str]) -> AsyncGenerator[set[str], None]:
    return _watchfiles(sorted({os.path.dirname(f) for f in files}), files)


WATCHERS = [
    pytest.param(
        linux_inotify, marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
    ),
    with_watchfiles,
]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "Procfile").write_text("web: run\n")
    (tmp_path / ".env").write_text("A=1\n")
    yield tmp_path


def run(watch: Watch, files: set[str], change: Callable[[], object]) -> set[str]:
    """Start watching, make `change`, and return the first burst (bounded wait)."""

    async def scenario() -> set[str]:
        batches = watch(files)
        first = asyncio.ensure_future(batches.__anext__())
        for _ in range(3):  # loop turns, not time: both add their watches before their first wait
            await asyncio.sleep(0)
        change()
        try:
            return await asyncio.wait_for(first, 10)
        finally:
            await batches.aclose()

    return asyncio.run(scenario())


@pytest.mark.parametrize("watch", WATCHERS)
def test_a_write_in_place_is_seen(watch: Watch, project: Path) -> None:
    files = {str(project / "Procfile"), str(project / ".env")}
    assert run(watch, files, lambda: (project / ".env").write_text("A=2\n")) == {str(project / ".env")}


@pytest.mark.parametrize("watch", WATCHERS)
def test_a_save_by_rename_is_seen(watch: Watch, project: Path) -> None:
    def vim_save() -> None:
        (project / ".Procfile.swp").write_text("web: run --fast\n")
        os.replace(project / ".Procfile.swp", project / "Procfile")

    assert run(watch, {str(project / "Procfile")}, vim_save) == {str(project / "Procfile")}


@pytest.mark.parametrize("watch", WATCHERS)
def test_a_file_that_appears_is_seen_and_others_are_not(watch: Watch, project: Path) -> None:
    def create() -> None:
        (project / "notes.txt").write_text("not ours\n")
        (project / ".env.local").write_text("B=1\n")

    assert run(watch, {str(project / ".env.local")}, create) == {str(project / ".env.local")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
def test_a_burst_of_saves_is_one_batch(project: Path) -> None:
    files = {str(project / "Procfile"), str(project / ".env")}

    def burst() -> None:
        for n in range(5):
            (project / ".env").write_text(f"A={n}\n")
            (project / "Procfile").write_text(f"web: run {n}\n")

    assert run(linux_inotify, files, burst) == files


def test_no_existing_folder_means_nothing_to_watch(tmp_path: Path) -> None:
    async def scenario() -> list[set[str]]:
        return [batch async for batch in file_changes({str(tmp_path / "gone" / ".env")})]

    assert asyncio.run(scenario()) == []
