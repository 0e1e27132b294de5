"""Changes while running (PRODUCT.md §8): reload the configuration, or scale, and apply the difference.

The plan is rebuilt by the `PlanSource` that `commands/up.py` hands over (the
same command line: names, groups, formation, options; the runtime never sees
options), compared with the running one by the pure `plan.diff`, and applied:

    removed and changed instances stop (dependents first, highest number first),
    then the new plan is swapped in at once: unchanged instances keep running
    (same process, their new definition in place), changed and added ones are
    started once what they depend on is ready.

A configuration that does not load is one system line, and nothing changes.
Reloads and scales are serialized. Configuration files are watched through
their folders (not recursively), so editors that save by writing a new file
and renaming it over the old one (vim, VS Code) are seen like any write (runtime/configwatch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from supervise.config.model import MAX_INSTANCES
from supervise.errors import ControlError, SuperviseError, UsageError
from supervise.plan import Change, Plan, PlanDiff, dependency_order, diff, stop_waves
from supervise.runtime.lifecycle import Command, State

if TYPE_CHECKING:
    from supervise.runtime.instance import RunningInstance
    from supervise.runtime.supervisor import Supervisor

SETTLE_TIMEOUT = 2.0
"""Without inotify, watching starts once the first starts have settled, or after this many seconds."""

Formation = Mapping[str, int]


@dataclass(frozen=True)
class PlanSource:
    """How `up`'s command line builds its plan, for reloads and `scale`."""

    build: Callable[[Formation, Sequence[str]], Plan]
    """(formation, types added by `scale`) -> the plan as the files say now; raises SuperviseError."""
    formation: Formation = field(default_factory=dict)
    """`-m` as given on the command line: where `scale` starts from."""


def merge_formation(current: Formation, counts: Formation) -> dict[str, int]:
    """`scale`'s counts over the formation in force; `all=N` replaces everything set before."""
    if "all" in counts:
        return dict(counts)
    return {**current, **counts}


class Reloader:
    """Reloads and scales of one `up`; see the module docstring."""

    def __init__(self, supervisor: Supervisor, source: PlanSource) -> None:
        self.supervisor = supervisor
        self.source = source
        self.formation: dict[str, int] = dict(source.formation)
        self.also: tuple[str, ...] = ()
        """Process types `scale` added to the command line's selection."""
        self._lock = asyncio.Lock()
        self._seen = _stats(supervisor.plan.project.config_files)

    # -- requests -----------------------------------------------------------------

    async def reload(self, trigger: str | None = None) -> str:
        """Rebuild the plan from the files and apply the difference; the summary line.

        `trigger`: what the watcher saw (`.env changed`); None for `supervise reload`.
        """
        async with self._lock:
            if trigger is None:
                changed = self._changed_files()
                what = f"{', '.join(changed)} changed" if changed else "no configuration file changed"
                trigger = f"supervise reload: {what}"
            return await self._apply(trigger, self.formation, self.also)

    async def scale(self, counts: Formation) -> str:
        """Change the formation of the running plan (kept by later reloads); the summary line."""
        async with self._lock:
            known = self.supervisor.plan.project.names
            for name, count in counts.items():
                if name != "all" and name not in known:
                    raise UsageError(f'scale: unknown process "{name}"; processes: {", ".join(known)}')
                if count > MAX_INSTANCES:
                    raise UsageError(f"scale: {name}={count}: at most {MAX_INSTANCES} instances per process")
            formation = merge_formation(self.formation, counts)
            kept = tuple(name for name in self.also if formation.get(name, 1) > 0)
            added = tuple(n for n, c in counts.items() if c > 0 and n != "all" and n not in kept)
            text = " ".join(f"{name}={count}" for name, count in counts.items())
            line = await self._apply(f"scale {text}", formation, kept + added)
            self.formation, self.also = formation, kept + added
            return line

    async def _apply(self, trigger: str, formation: Formation, also: Sequence[str]) -> str:
        supervisor = self.supervisor
        if supervisor.stopping:
            raise ControlError("supervise up is stopping; nothing was changed")
        try:
            plan = self.source.build(formation, also)
        except SuperviseError as error:
            supervisor.printer.system(f"{trigger}: {error}; the running configuration stays")
            raise
        difference = diff(supervisor.plan, plan)
        line = f"{trigger}: {difference.summary()}"
        supervisor.printer.system(line)
        before = supervisor.plan
        with supervisor.changing():
            await self._stop_leaving(difference)
            if not supervisor.stopping:
                self._swap(difference, plan)
        self._seen = _stats(plan.project.config_files)
        if _watched(plan) != _watched(before):
            supervisor.restart_watch()
        return line

    # -- applying a difference ------------------------------------------------------

    async def _stop_leaving(self, difference: PlanDiff) -> None:
        """Stop removed and changed instances, dependents first, highest numbers first."""
        supervisor = self.supervisor
        leaving: dict[str, list[RunningInstance]] = {}
        for change in difference.changes:
            if change.change in (Change.REMOVED, Change.CHANGED):
                leaving.setdefault(change.process, []).append(supervisor.instances[change.name])
        if not leaving:
            return
        for wave in stop_waves(supervisor.plan.specs):
            batch = [r for process in wave for r in reversed(leaving.get(process, []))]
            for running in batch:
                running.handle(Command.STOP)
            await supervisor.wait_until(batch, lambda r: r.lifecycle.done)

    def _swap(self, difference: PlanDiff, plan: Plan) -> None:
        """The new plan's instances, in its order, swapped in at once; then the starts."""
        supervisor = self.supervisor
        instances: dict[str, RunningInstance] = {}
        starting: list[str] = []
        for change in difference.changes:
            old = supervisor.instances.get(change.name)
            if change.change in (Change.REMOVED, Change.CHANGED) and old is not None:
                old.close()
                supervisor.waiting.discard(change.name)
            if change.change is Change.REMOVED:
                supervisor.held.discard(change.name)
                continue
            assert change.new is not None
            if change.change is Change.UNCHANGED and old is not None:
                old.instance = change.new  # same process: only what `up` does around it changes
                instances[change.name] = old
                continue
            instances[change.name] = supervisor.new_running(change.new, plan)
            if change.name not in supervisor.held:  # stopped by `supervise stop`: stays stopped
                starting.append(change.name)
        supervisor.waiting.update(starting)
        supervisor.replace_plan(plan, instances)
        for process in dependency_order(plan.specs):
            names = [name for name in starting if instances[name].instance.process == process]
            if names:
                supervisor.start_later(names)

    # -- watching the configuration files -------------------------------------------

    async def watch(self) -> None:
        """Reload when a configuration file changes, until the run ends (the task is cancelled).

        On Linux the watch is in place before the first process starts; no line
        announces it (every `up` has it): the first reload names the file.
        """
        from supervise.runtime.configwatch import EVENT_DRIVEN

        supervisor = self.supervisor
        if not EVENT_DRIVEN:
            # Importing watchfiles takes ~30 ms of the loop: not while the first processes start.
            first = list(supervisor.instances.values())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(supervisor.wait_until(first, self._settled), SETTLE_TIMEOUT)
        while not supervisor.stopping:
            project = supervisor.plan.project
            watched = project.config_files
            try:
                await self._reload_on_changes(watched, project.root)
            except Exception as error:  # a watch limit, a vanished folder: `up` goes on without it
                supervisor.printer.system(f"configuration watching stopped: {error}")
                return
            if set(supervisor.plan.project.config_files) == set(watched):
                return  # nothing left to watch

    async def _reload_on_changes(self, watched: Sequence[Path], root: Path) -> None:
        """Reload on each burst of changes, until the set of configuration files changes."""
        from supervise.runtime.configwatch import file_changes

        batches = file_changes(_paths(watched))
        async with contextlib.aclosing(batches):
            async for batch in batches:
                names = sorted({_display(path, root) for path in batch})
                with contextlib.suppress(SuperviseError):  # already said in one system line
                    await self.reload(f"{', '.join(names)} changed")
                if set(self.supervisor.plan.project.config_files) != set(watched):
                    return  # watch the new set of files

    def _settled(self, running: RunningInstance) -> bool:
        """Started and past STARTING (RUNNING, failed or ended), or waiting for a dependency."""
        if running.lifecycle.starts > 0:
            return running.state is not State.STARTING
        dependencies = self.supervisor.dependencies(running)
        return running.name in self.supervisor.waiting and not all(d.was_ready for d in dependencies)

    def _changed_files(self) -> list[str]:
        """Configuration files whose contents may differ from what the running plan was built from."""
        now = _stats(self.supervisor.plan.project.config_files)
        root = self.supervisor.plan.project.root
        return [_display(str(path), root) for path in now if now[path] != self._seen.get(path)]


def _watched(plan: Plan) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(spec.name, spec.watch, spec.watch_ignore) for spec in plan.specs if spec.watch]


def _paths(files: Sequence[Path]) -> set[str]:
    """Each file as named and, for a symlink, where it points (saving the target changes it too)."""
    paths = set()
    for path in files:
        paths.add(str(path))
        paths.add(os.path.realpath(path))
    return paths


def _stats(files: Sequence[Path]) -> dict[Path, tuple[int, int, int] | None]:
    """What tells a saved file from an untouched one: (inode, size, mtime), None when absent."""
    stats: dict[Path, tuple[int, int, int] | None] = {}
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            stats[path] = None
        else:
            stats[path] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return stats


def _display(path: str, root: Path) -> str:
    """A path relative to the project root when it is inside it."""
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative
