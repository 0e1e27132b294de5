"""File watching: globs, default ignores, one reload per process per burst, and one real watch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from watchfiles import Change

from supervise.runtime.pathmatch import WatchFilter, compile_glob
from supervise.runtime.watch import Reload, ReloadRate, Watcher, WatchTarget

ROOT = Path("/project")


@pytest.mark.parametrize(
    ("glob", "path", "expected"),
    [
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("src/**/*.py", "srcx/a.py", False),
        ("src/**/*.py", "src/a.pyc", False),
        ("src/**/*.py", "lib/src/a.py", False),
        ("**/migrations/**", "migrations/0001.py", True),
        ("**/migrations/**", "app/migrations/0001.py", True),
        ("**/migrations/**", "app/deep/migrations/x/0001.py", True),
        ("**/migrations/**", "app/migrations.py", False),
        ("*.py", "manage.py", True),
        ("*.py", "src/a.py", False),
        ("**/*.py", "manage.py", True),
        ("**/*.py", "src/x/a.py", True),
        ("a?c.txt", "abc.txt", True),
        ("a?c.txt", "a/c.txt", False),
        ("a?c.txt", "abbc.txt", False),
        ("[ab].py", "a.py", True),
        ("[ab].py", "b.py", True),
        ("[ab].py", "c.py", False),
        ("[!ab].py", "c.py", True),
        ("[!ab].py", "a.py", False),
        ("src", "src/a.py", True),  # a folder covers what is inside it, as in .gitignore
        ("src/", "src/x/a.py", True),
        ("./src//*.py", "src/a.py", True),
        ("templates/**", "templates/base.html", True),
        ("templates/**", "templatesx/base.html", False),
        ("config.toml", "config.toml", True),
        ("config.toml", "configXtoml", False),
        ("a+b(1).py", "a+b(1).py", True),
        (".", "anything/at/all", True),
        ("**/*.py", "../elsewhere/a.py", False),
        ("../lib/**/*.py", "../lib/x/a.py", True),
    ],
)
def test_compile_glob(glob: str, path: str, expected: bool) -> None:
    assert bool(compile_glob(glob).match(path)) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/app.py", True),
        ("README.md", True),
        (".git/index", False),
        ("sub/.git/HEAD", False),
        (".hg/store/x", False),
        (".svn/entries", False),
        ("src/__pycache__/app.cpython-311.pyc", False),
        (".venv/lib/python3.11/site-packages/x.py", False),
        ("env/lib/x.py", True),  # a package named env: only a pyvenv.cfg makes a folder a venv
        ("node_modules/react/index.js", False),
        ("web/node_modules/x/y.js", False),
        (".mypy_cache/3.11/x.json", False),
        (".pytest_cache/v/x", False),
        (".ruff_cache/x", False),
        (".tox/py311/x", False),
        ("src/.app.py.swp", False),
        ("src/.app.py.swx", False),
        ("src/.app.py.swo", False),
        ("src/app.py~", False),
        ("src/.#app.py", False),
        ("src/#app.py#", False),
        ("src/4913", False),
        ("src/a4913.py", True),
        ("src/environment.py", True),
        ("src/swap.py", True),
    ],
)
def test_default_filter(path: str, expected: bool) -> None:
    assert WatchFilter(ROOT)(Change.modified, f"{ROOT}/{path}") is expected


def test_filter_checks_only_the_part_below_the_root() -> None:
    inside_env = Path("/home/me/env/project")
    assert WatchFilter(inside_env)(Change.modified, f"{inside_env}/src/app.py")


def test_filter_ignores_a_virtualenv_by_its_pyvenv_cfg(tmp_path: Path) -> None:
    (tmp_path / "py311").mkdir()
    (tmp_path / "py311" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    keep = WatchFilter(tmp_path)
    assert not keep(Change.added, f"{tmp_path}/py311/lib/site.py")
    assert keep(Change.added, f"{tmp_path}/src/app.py")
    assert WatchFilter(tmp_path, detect_venvs=False)(Change.added, f"{tmp_path}/py311/lib/site.py")


def test_filter_repr_shows_its_settings() -> None:
    text = repr(WatchFilter(ROOT))
    assert "node_modules" in text and "/project" in text and "detect_venvs=True" in text


def batch(*paths: str, change: Change = Change.modified) -> set[tuple[Change, str]]:
    return {(change, f"{ROOT}/{p}") for p in paths}


WEB = WatchTarget("web", ("src/**/*.py", "templates/**"), ("**/migrations/**",))
WORKER = WatchTarget("worker", ("src/**/*.py",))


def test_one_reload_per_process_per_burst_names_the_first_file() -> None:
    watcher = Watcher(ROOT, [WEB])
    assert watcher.match(batch("src/b.py", "src/a.py", "templates/x.html")) == [
        Reload(process="web", path="src/a.py", count=3)
    ]


def test_ignore_globs_and_default_ignores_cause_no_reload() -> None:
    watcher = Watcher(ROOT, [WEB])
    changes = batch("src/app/migrations/0002.py", "src/__pycache__/a.py", "src/.a.py.swp", "README.md")
    assert watcher.match(changes) == []


def test_a_file_matching_two_processes_reloads_both() -> None:
    watcher = Watcher(ROOT, [WEB, WORKER])
    assert watcher.match(batch("src/models.py")) == [
        Reload(process="web", path="src/models.py", count=1),
        Reload(process="worker", path="src/models.py", count=1),
    ]


def test_ignore_is_per_process() -> None:
    watcher = Watcher(ROOT, [WEB, WORKER])
    assert watcher.match(batch("src/migrations/0003.py", change=Change.added)) == [
        Reload(process="worker", path="src/migrations/0003.py", count=1)
    ]


def test_the_same_file_twice_in_a_burst_counts_once() -> None:
    watcher = Watcher(ROOT, [WORKER])
    changes = batch("src/a.py", change=Change.added) | batch("src/a.py")
    assert watcher.match(changes) == [Reload(process="worker", path="src/a.py", count=1)]


def test_paths_outside_the_root_are_not_matched() -> None:
    watcher = Watcher(ROOT, [WatchTarget("web", ("**/*.py",))])
    assert watcher.match({(Change.modified, "/elsewhere/a.py")}) == []


def test_describe_says_what_is_watched_for_whom() -> None:
    watcher = Watcher(ROOT, [WEB, WORKER, WatchTarget("beat", ("src/**/*.py",)), WatchTarget("db", ())])
    assert watcher.describe() == (
        "watching src/**/*.py, templates/** (not **/migrations/**) for web; src/**/*.py for worker, beat"
    )


def test_watches_only_the_folders_globs_can_reach(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules").mkdir()
    watcher = Watcher(tmp_path, [WatchTarget("web", ("src/**/*.py", "src/pkg/*.py"))])
    assert watcher.watch_paths() == ([tmp_path / "src"], True)


def test_a_root_level_glob_watches_the_root_without_recursion(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, [WatchTarget("web", ("*.py", "Procfile"))])
    assert watcher.watch_paths() == ([tmp_path], False)


def test_a_missing_folder_is_watched_through_its_nearest_parent(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    watcher = Watcher(tmp_path, [WatchTarget("web", ("app/later/*.py",))])
    assert watcher.watch_paths() == ([tmp_path / "app"], True)


def run_with_timeout(coro: object, timeout: float = 20) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coro, timeout)  # type: ignore[arg-type]

    asyncio.run(bounded())


def test_real_file_change_reloads_and_ignored_tree_does_not(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    watcher = Watcher(tmp_path, [WatchTarget("web", ("src/**/*.py", "**/*.js"))])

    async def scenario() -> None:
        stop, started, arrived = asyncio.Event(), asyncio.Event(), asyncio.Event()
        seen: list[list[Reload]] = []

        async def consume() -> None:
            async for reloads in watcher.reloads(stop, started=started):
                seen.append(reloads)
                arrived.set()

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 5)
        # The ignored file is written first: if it got through, it would be in the first batch.
        (tmp_path / "node_modules" / "pkg" / "index.js").write_text("x")
        (tmp_path / "src" / "app.py").write_text("print('hi')\n")
        await asyncio.wait_for(arrived.wait(), 10)
        assert seen[0] == [Reload(process="web", path="src/app.py", count=1)]
        stop.set()
        await asyncio.wait_for(consumer, 5)  # the iterator ends once stop_event is set

    run_with_timeout(scenario())


def test_cancelling_the_consumer_stops_the_watch_promptly(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, [WatchTarget("web", ("*.py",))])

    async def scenario() -> None:
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in watcher.reloads(asyncio.Event(), started=started):
                pass

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 5)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(consumer, 2)

    run_with_timeout(scenario())


def test_nothing_to_watch_ends_at_once() -> None:
    async def scenario() -> list[list[Reload]]:
        return [r async for r in Watcher(ROOT, [WatchTarget("db", ())]).reloads(asyncio.Event())]

    assert asyncio.run(scenario()) == []


def test_a_watched_folder_deleted_and_created_again_is_watched_again(tmp_path: Path) -> None:
    """inotify forgets a deleted folder; the watch moves to its parent, then back to it, losing nothing."""
    import shutil

    (tmp_path / "src").mkdir()
    watcher = Watcher(tmp_path, [WatchTarget("web", ("src/**/*.py",))], debounce_ms=400, step_ms=50)
    assert watcher.watch_paths() == ([tmp_path / "src"], True)

    async def scenario() -> None:
        stop, started = asyncio.Event(), asyncio.Event()
        batches: asyncio.Queue[list[Reload]] = asyncio.Queue()

        async def consume() -> None:
            async for reloads in watcher.reloads(stop, started=started):
                batches.put_nowait(reloads)

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 5)
        (tmp_path / "src" / "a.py").write_text("1")
        assert await asyncio.wait_for(batches.get(), 10) == [Reload("web", "src/a.py", 1)]
        shutil.rmtree(tmp_path / "src")
        assert await asyncio.wait_for(batches.get(), 10) == [Reload("web", "src/a.py", 1)]  # deleted
        (tmp_path / "src").mkdir()  # at once: perhaps before the watch has moved to the parent
        (tmp_path / "src" / "b.py").write_text("1")
        assert await asyncio.wait_for(batches.get(), 10) == [Reload("web", "src/b.py", 1)]
        (tmp_path / "src" / "c.py").write_text("1")  # src itself is watched again
        assert await asyncio.wait_for(batches.get(), 10) == [Reload("web", "src/c.py", 1)]
        stop.set()
        await asyncio.wait_for(consumer, 5)

    run_with_timeout(scenario())


def test_reloading_more_than_10_times_a_minute_is_said_once_naming_the_files() -> None:
    rate = ReloadRate()
    lines = [rate.note(Reload("web", f"data/{n % 2}.db", 1), now=float(n)) for n in range(12)]
    assert lines[:10] == [None] * 10
    assert lines[10] == (
        "web was reloaded 11 times within 60 s by changes to data/0.db, data/1.db; "
        "if web writes these itself, add them to its watch_ignore"
    )
    assert lines[11] is None  # once per storm
    assert rate.note(Reload("worker", "x.py", 1), now=12.0) is None  # counted per process
    assert rate.note(Reload("web", "a.py", 1), now=200.0) is None  # calmed down: counted afresh
    assert [rate.note(Reload("web", "a.py", 1), now=201.0 + n) for n in range(10)][-1] is not None
