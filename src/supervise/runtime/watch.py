"""File watching: changed paths -> which process types to reload.

One `watchfiles.awatch` serves the whole run. It watches only the
directories the globs can reach, drops the default ignores (VCS folders,
caches, virtual envs, `node_modules`, editor swap files) through
`WatchFilter`, and hands each debounced burst to `Watcher.match`, which
turns it into at most one `Reload` per process type without any I/O (but a
cached `pyvenv.cfg` lookup per new folder).

Globs are relative to the project root, with a real recursive `**`. A glob
that matches a directory matches everything inside it, so `watch = ["src"]`
means the whole `src` tree, as in `.gitignore`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from supervise.runtime.pathmatch import MAGIC, WatchFilter, compile_glob, normalize_glob

if TYPE_CHECKING:
    from watchfiles import Change


@dataclass(frozen=True)
class WatchTarget:
    """What one process type watches: globs and ignore globs relative to the root."""

    process: str
    globs: tuple[str, ...]
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reload:
    """Restart every instance of `process`: `count` files matched, `path` is the first."""

    process: str
    path: str
    count: int


class ReloadRate:
    """Notices a process reloaded by file changes more than `limit` times within `window` seconds.

    That is nearly always a process writing into its own watch set (a log, a
    database, a generated file): it starts, writes, is reloaded, writes again.
    `note` gives one system line naming the files when the rate is first
    exceeded, and another only after it has calmed down and flared up again.
    Pure: the caller passes the clock's time.
    """

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._recent: dict[str, collections.deque[tuple[float, str]]] = {}
        self._warned: set[str] = set()

    def note(self, reload: Reload, now: float) -> str | None:
        """Count one reload of `reload.process`; the line to print when it is one too many."""
        recent = self._recent.setdefault(reload.process, collections.deque())
        recent.append((now, reload.path))
        while recent and recent[0][0] <= now - self.window:
            recent.popleft()
        if len(recent) <= self.limit:
            self._warned.discard(reload.process)
            return None
        if reload.process in self._warned:
            return None
        self._warned.add(reload.process)
        files = list(dict.fromkeys(path for _, path in recent))
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        return (
            f"{reload.process} was reloaded {len(recent)} times within {self.window:g} s by changes to "
            f"{shown}; if {reload.process} writes these itself, add them to its watch_ignore"
        )


@dataclass(frozen=True)
class _Compiled:
    process: str
    globs: tuple[re.Pattern[str], ...]
    ignore: tuple[re.Pattern[str], ...]

    def wants(self, rel: str) -> bool:
        return any(g.match(rel) for g in self.globs) and not any(g.match(rel) for g in self.ignore)


class Watcher:
    """The run's file watcher: globs compiled once, one `awatch` over the folders they reach."""

    def __init__(
        self,
        root: Path,
        targets: Sequence[WatchTarget],
        *,
        debounce_ms: int = 1_600,
        step_ms: int = 100,
    ) -> None:
        """`step_ms`: how long a burst must stay quiet before it is reported; `debounce_ms` caps a burst.

        watchfiles' wait thread wakes every `step_ms` to look at what inotify or
        FSEvents collected: 100 ms costs about 0.05% of a core at idle (50 ms, its
        default, twice that) and still restarts within a fraction of a second.
        """
        self.root = Path(os.path.abspath(root))
        self._real_root = self.root.resolve()
        self.targets = tuple(t for t in targets if t.globs)
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._compiled = tuple(
            _Compiled(
                process=t.process,
                globs=tuple(compile_glob(self._relative_glob(g)) for g in t.globs),
                ignore=tuple(compile_glob(self._relative_glob(g)) for g in t.ignore),
            )
            for t in self.targets
        )
        self.filter = WatchFilter(self._real_root)
        self._roots = tuple({str(self._real_root), str(self.root)})

    def _relative_glob(self, pattern: str) -> str:
        """Globs are root-relative; an absolute one is made relative so it still matches."""
        if pattern.startswith("/"):
            return os.path.relpath(pattern, self._real_root)
        return pattern

    def describe(self) -> str:
        """`watching src/**/*.py (not **/migrations/**) for web; templates for web, worker`."""
        by_globs: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
        for t in self.targets:
            by_globs.setdefault((t.globs, t.ignore), []).append(t.process)
        parts = []
        for (globs, ignore), processes in by_globs.items():
            text = ", ".join(globs)
            if ignore:
                text += f" (not {', '.join(ignore)})"
            parts.append(f"{text} for {', '.join(processes)}")
        return "watching " + "; ".join(parts) if parts else "watching nothing"

    def watch_paths(self) -> tuple[list[Path], bool]:
        """The existing folders to hand to watchfiles, and whether they need watching recursively."""
        bases: set[Path] = set()
        recursive = False
        for t in self.targets:
            for glob in t.globs:
                base, deep = self._base(normalize_glob(self._relative_glob(glob)))
                bases.add(base)
                recursive = recursive or deep
        if recursive:
            # One recursive watch on a folder covers every folder inside it.
            bases = {b for b in bases if not any(o != b and o in b.parents for o in bases)}
        return sorted(bases), recursive

    def _base(self, glob: str) -> tuple[Path, bool]:
        """The folder a glob's matches live under (its non-magic prefix), and if it needs recursion."""
        segments = glob.split("/") if glob else []
        literal = 0
        while literal < len(segments) and not MAGIC.search(segments[literal]):
            literal += 1
        if literal == len(segments):
            # No magic: a folder (watch all of it) or a file (watch its folder).
            whole = self._real_root.joinpath(*segments)
            if whole.is_dir():
                return self._existing(whole, deep=True)
            literal -= 1
        rest = segments[literal:]
        deep = len(rest) > 1 or "**" in rest[0]
        base = self._real_root.joinpath(*segments[:literal])
        return self._existing(Path(os.path.normpath(base)), deep)

    @staticmethod
    def _existing(folder: Path, deep: bool) -> tuple[Path, bool]:
        """The nearest existing folder; watching a parent instead needs recursion to see what appears."""
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
            deep = True
        return folder, deep

    def _relative(self, path: str) -> str | None:
        for root in self._roots:
            if path.startswith(root + "/"):
                return path[len(root) + 1 :]
        rel = os.path.relpath(path, self._real_root)
        return None if rel == "." else rel

    def match(self, changes: Iterable[tuple[Change, str]]) -> list[Reload]:
        """One watchfiles batch (absolute paths) -> at most one Reload per process, in target order."""
        paths = sorted({path for change, path in changes if self.filter(change, path)})
        hits: dict[str, list[str]] = {}
        for path in paths:
            rel = self._relative(path)
            if rel is None:
                continue
            for target in self._compiled:
                if target.wants(rel):
                    hits.setdefault(target.process, []).append(rel)
        return [
            Reload(process=t.process, path=hits[t.process][0], count=len(hits[t.process]))
            for t in self._compiled
            if t.process in hits
        ]

    async def reloads(
        self, stop_event: asyncio.Event, *, started: asyncio.Event | None = None
    ) -> AsyncIterator[list[Reload]]:
        """One list of reloads per burst of changes, until `stop_event` is set (or the consumer stops).

        `started` is set once the file system watch is in place: changes made
        after it are seen (say "watching ..." then). Nothing to watch: ends at
        once. Closing or cancelling the consumer stops the watch within `step_ms`.

        The folders to watch are looked at again after every burst. inotify
        forgets a deleted folder and would not see it come back, so the watch
        is then moved: to the nearest parent while the folder is gone, to the
        folder itself once it is back. What changed while the watch was being
        moved (`rm -rf build && mkdir build && cp ...` is one burst) is found by
        its modification time and reported as a burst of its own.
        """
        if not self.targets:
            if started is not None:
                started.set()
            return
        moved_at: float | None = None
        while not stop_event.is_set():
            last_seen = time.time()
            where = self.watch_paths()
            async with contextlib.aclosing(self._bursts(where, stop_event)) as bursts:
                async for changes in bursts:
                    if changes is None:  # the watch is in place
                        if started is not None:
                            started.set()
                        changes = set() if moved_at is None else self._changed_since(where, moved_at)
                    else:
                        last_seen = time.time()
                    found = self.match(changes)
                    if found:
                        yield found
                    if self.watch_paths() != where:
                        break
                else:
                    return  # stop_event: the watch has ended
            # The last burst came once nothing had changed for `step_ms`: anything newer was missed.
            moved_at = last_seen - self.step_ms / 2000

    def _changed_since(self, where: tuple[list[Path], bool], since: float) -> set[tuple[Change, str]]:
        """Files under the watched folders modified at or after `since`, as watchfiles reports changes."""
        from watchfiles import Change

        folders, recursive = where
        found: set[tuple[Change, str]] = set()
        for folder in folders:
            for parent, subfolders, files in os.walk(folder):
                if not recursive:
                    subfolders.clear()
                subfolders[:] = [d for d in subfolders if self.filter(Change.added, os.path.join(parent, d))]
                for name in files:
                    path = os.path.join(parent, name)
                    with contextlib.suppress(OSError):
                        if os.stat(path).st_mtime >= since:
                            found.add((Change.added, path))
        return found

    async def _bursts(
        self,
        where: tuple[list[Path], bool],
        stop_event: asyncio.Event,
    ) -> AsyncGenerator[set[tuple[Change, str]] | None, None]:
        """None once the watch of `where` (folders, recursive) is in place, then watchfiles' bursts."""
        from watchfiles import awatch

        paths, recursive = where
        # awatch waits in a worker thread that checks its stop event every step;
        # `halt` lets us end that thread when the consumer goes away, not only on stop_event.
        halt = asyncio.Event()
        batches: asyncio.Queue[set[tuple[Change, str]] | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for changes in awatch(
                    *paths,
                    watch_filter=self.filter,
                    stop_event=halt,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    recursive=recursive,
                    ignore_permission_denied=True,
                ):
                    batches.put_nowait(changes)
            finally:
                batches.put_nowait(None)

        async def relay() -> None:
            await stop_event.wait()
            halt.set()

        pumping = asyncio.ensure_future(pump())
        relaying = asyncio.ensure_future(relay())
        try:
            # pump's first step runs awatch up to its wait thread, and awatch adds the
            # inotify/FSEvents watches synchronously before that: one loop turn is enough.
            await asyncio.sleep(0)
            yield None
            while (changes := await batches.get()) is not None:
                yield changes
            await pumping  # re-raise what ended the watch, if it failed
        finally:
            halt.set()
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pumping
            with contextlib.suppress(asyncio.CancelledError):
                await relaying

    def __repr__(self) -> str:
        return f"Watcher(root={str(self.root)!r}, {self.describe()!r})"
