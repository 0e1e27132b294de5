"""Project + selection + formation -> the concrete instances to run or export.

Pure: the caller's environment and the env files' values come in as
arguments. Both `up` and every exporter read the same Plan, which is what
makes an exported program behave like the process under `up`.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from supervise.config.model import MAX_INSTANCES, PREFIX, Autorestart, Probe, ProbeKind, ProcessSpec, Project
from supervise.errors import ConfigError, UsageError

FORMATION_ITEM = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=\s*(\d+)\s*")


@dataclass(frozen=True)
class Instance:
    """One process to run: `web.2` of process type `web`."""

    name: str
    spec: ProcessSpec
    number: int
    port: int | None
    env: Mapping[str, str]
    """What the project sets: env files, `env`, PORT, PS. The caller's env is not in it."""
    cwd: Path
    ready: Probe | None = None
    """The spec's probe with `$PORT` and `${VAR}` expanded for this instance."""

    @property
    def process(self) -> str:
        return self.spec.name

    @property
    def command(self) -> str:
        return self.spec.command

    def __repr__(self) -> str:
        return f"<Instance {self.name} port={self.port} {self.command!r}>"


@dataclass(frozen=True)
class Plan:
    """The instances selected for this run, in definition order."""

    project: Project
    instances: tuple[Instance, ...]
    base_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The caller's environment: the bottom layer under `up` and `run`."""
    shared_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The env files' values (and PYTHONUNBUFFERED): what every process gets from the project."""

    def environment(self, instance: Instance) -> dict[str, str]:
        """The full environment an instance gets under `up`."""
        return {**self.base_env, **instance.env}

    def command_environment(self) -> dict[str, str]:
        """The environment for a command that is not a process (`run`, `--then`)."""
        return {**self.base_env, **self.shared_env}

    @cached_property
    def specs(self) -> tuple[ProcessSpec, ...]:
        """Process types that have at least one instance, in definition order."""
        return tuple(instances[0].spec for instances in self._by_process.values())

    def instances_of(self, process: str) -> tuple[Instance, ...]:
        """The instances of one process type (none when it has none)."""
        return self._by_process.get(process, ())

    @cached_property
    def _by_process(self) -> Mapping[str, tuple[Instance, ...]]:
        # Built once, so that asking for every type's instances stays linear.
        grouped: dict[str, list[Instance]] = {}
        for instance in self.instances:
            grouped.setdefault(instance.process, []).append(instance)
        return MappingProxyType({name: tuple(group) for name, group in grouped.items()})


def with_path_first(plan: Plan, folder: str, default_path: str) -> Plan:
    """The plan with `folder` first on every instance's PATH (`default_path` where none is set).

    For an export from a virtualenv: a bare `gunicorn` must resolve under a
    supervisord or systemd whose own PATH has no virtualenv in it.
    """
    instances = []
    for instance in plan.instances:
        path = instance.env.get("PATH", default_path)
        if path.split(os.pathsep)[0] != folder:
            path = f"{folder}{os.pathsep}{path}"
        env = MappingProxyType({**instance.env, "PATH": path})
        instances.append(replace(instance, env=env))
    return replace(plan, instances=tuple(instances))


def parse_formation(text: str, label: str = "--formation") -> dict[str, int]:
    """`web=2,worker=0,all=1` -> counts; `all` sets every type not named. `label` starts errors."""
    counts: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        match = FORMATION_ITEM.fullmatch(item)
        if not match:
            raise UsageError(f'{label}: expected NAME=COUNT (e.g. "web=2,worker=0"), got "{item.strip()}"')
        count = int(match.group(2))
        if count > MAX_INSTANCES:
            raise UsageError(f'{label}: "{item.strip()}": at most {MAX_INSTANCES} instances per process')
        counts[match.group(1)] = count
    return counts


def build_plan(
    project: Project,
    names: Sequence[str] = (),
    formation: Mapping[str, int] | None = None,
    port_base: int | None = None,
    caller_env: Mapping[str, str] | None = None,
    file_env: Mapping[str, str] | None = None,
    also: Sequence[str] = (),
) -> Plan:
    """Resolve the selection into instances with their environment and PORT.

    Named processes and groups are run with what they depend on; no names
    means every `autostart` process. `also`: process types added to that
    selection (`supervise scale` of a type the command line did not name).
    PORT follows foreman: base + 100 * the type's definition index +
    instance number - 1, unless the process's `env` sets PORT. The base is
    `port_base` (`-p`), else a PORT in the env files, else the caller's PORT,
    else the project's `port_base`, as foreman and honcho read it.
    """
    caller_env = caller_env or {}
    file_env = file_env or {}
    formation = dict(formation or {})
    _check_formation(project, formation)
    if port_base is not None and not 1 <= port_base <= 65535:
        raise UsageError(f"--port {port_base}: expected a port number from 1 to 65535")
    selected = select(project, names, also)
    base = port_base if port_base is not None else _inherited_base(project, file_env, caller_env)
    # The env files' PORT is the base, not every instance's port (both peers agree).
    instance_files_env = {key: value for key, value in file_env.items() if key != "PORT"}
    instances = []
    folders: dict[str, Path] = {}  # one Path per `directory`: path arithmetic is most of a plan's cost
    for index, spec in enumerate(project.processes):
        if spec.name not in selected:
            continue
        if spec.directory not in folders:
            folders[spec.directory] = Path(os.path.normpath(project.root / spec.directory))
        count = formation.get(spec.name, formation.get("all", spec.concurrency))
        for number in range(1, count + 1):
            port = base + 100 * index + number - 1
            instance = _instance(
                project, spec, number, port, folders[spec.directory], caller_env, instance_files_env
            )
            instances.append(instance)
    shared = dict(file_env)
    if "PYTHONUNBUFFERED" not in shared and "PYTHONUNBUFFERED" not in caller_env:
        shared["PYTHONUNBUFFERED"] = "1"
    return Plan(
        project=project,
        instances=tuple(instances),
        base_env=MappingProxyType(dict(caller_env)),
        shared_env=MappingProxyType(shared),
    )


def _inherited_base(project: Project, file_env: Mapping[str, str], caller_env: Mapping[str, str]) -> int:
    """The PORT base when `-p` is not given: an env file's PORT, the caller's, or `port_base`."""
    for env, where in ((file_env, "in the env files"), (caller_env, "in the environment")):
        value = env.get("PORT")
        if value is None:
            continue
        if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
            raise UsageError(
                f'PORT="{value}" {where}: expected a port number from 1 to 65535 (the PORT base)'
            )
        return int(value)
    return project.port_base


def start_waves(specs: Iterable[ProcessSpec]) -> list[list[str]]:
    """Process names in start order: each wave once what it depends on is ready (for `check`)."""
    by_name = {spec.name: spec for spec in specs}
    depth: dict[str, int] = {}
    for name in dependency_order(by_name.values()):  # dependencies come first in this order
        deps = [d for d in by_name[name].depends_on if d in by_name]
        depth[name] = 1 + max((depth[d] for d in deps), default=-1)
    waves: dict[int, list[str]] = {}
    for name in by_name:
        waves.setdefault(depth[name], []).append(name)
    return [waves[d] for d in sorted(waves)]


def select(project: Project, names: Sequence[str], also: Sequence[str] = ()) -> set[str]:
    """Process types to run: the named ones and groups (and `also`), plus their dependencies."""
    if not names:
        wanted = {spec.name for spec in project.processes if spec.autostart}
    else:
        wanted = set()
        for name in names:
            if name in project.groups:
                wanted.update(project.groups[name])
            elif project.has_process(name):
                wanted.add(name)
            else:
                raise UsageError(f'unknown process or group "{name}"; {_known(project)}')
    wanted.update(name for name in also if name in project.names)
    pending = list(wanted)
    while pending:
        for dep in project.process(pending.pop()).depends_on:
            if dep not in wanted:
                wanted.add(dep)
                pending.append(dep)
    return wanted


def without_restarts(plan: Plan) -> Plan:
    """The plan with no restarts or retries: foreman's `--abort-on-exit`, where any exit ends the run."""
    instances = []
    for instance in plan.instances:
        policy = replace(instance.spec.restart, autorestart=Autorestart.NEVER, startretries=0)
        # A long-running process with startsecs = 0 stays one: no restarts does not make it a task.
        spec = replace(instance.spec, restart=policy, oneshot=instance.spec.is_task)
        instances.append(replace(instance, spec=spec))
    return replace(plan, instances=tuple(instances))


def dependency_order(specs: Iterable[ProcessSpec]) -> list[str]:
    """Process names with every dependency before its dependents (start order)."""
    by_name = {spec.name: spec for spec in specs}
    order: list[str] = []
    entered: set[str] = set()
    for first in by_name:
        if first in entered:
            continue
        entered.add(first)
        # Depth first without recursion: a chain of 10,000 depends_on is valid input.
        stack = [(first, iter(by_name[first].depends_on))]
        while stack:
            name, deps = stack[-1]
            dep = next((d for d in deps if d in by_name and d not in entered), None)
            if dep is None:
                stack.pop()
                order.append(name)
            else:
                entered.add(dep)
                stack.append((dep, iter(by_name[dep].depends_on)))
    return order


def stop_waves(specs: Iterable[ProcessSpec]) -> list[list[str]]:
    """Process names in the order they stop: each wave once every dependent has stopped.

    A process with no dependents is in the first wave; a dependency waits for
    the waves of everything that depends on it (a web server goes before the
    database it talks to, and unrelated processes do not wait at all).
    """
    specs = list(specs)
    names = {spec.name for spec in specs}
    dependents: dict[str, list[str]] = {name: [] for name in names}
    for spec in specs:
        for dep in spec.depends_on:
            if dep in names:
                dependents[dep].append(spec.name)
    height: dict[str, int] = {}
    for name in reversed(dependency_order(specs)):  # dependents come first in this order
        height[name] = 1 + max((height[d] for d in dependents[name]), default=-1)
    waves: dict[int, list[str]] = {}
    for spec in specs:
        waves.setdefault(height[spec.name], []).append(spec.name)
    return [waves[h] for h in sorted(waves)]


class Change(enum.Enum):
    """What a reload does to one instance."""

    ADDED = "added"
    """New in the plan: start it once what it depends on is ready."""
    REMOVED = "removed"
    """Gone from the plan: stop it."""
    CHANGED = "changed"
    """Its definition or environment differs: stop it, then start the new one."""
    UNCHANGED = "unchanged"
    """Left running as it is (same pid)."""


@dataclass(frozen=True)
class InstanceChange:
    """One instance across a reload: what happens to it, and why."""

    name: str
    change: Change
    what: tuple[str, ...] = ()
    """CHANGED: what differs (`command`, `env DEBUG`, `directory`, `startsecs`, ...).
    UNCHANGED: settings that apply without a restart (`watch`, `depends_on`, ...)."""
    old: Instance | None = None
    new: Instance | None = None

    @property
    def process(self) -> str:
        instance = self.new or self.old
        assert instance is not None
        return instance.process


@dataclass(frozen=True)
class PlanDiff:
    """Every instance of the old and the new plan, in the new plan's order, then the removed ones."""

    changes: tuple[InstanceChange, ...]

    def of(self, change: Change) -> tuple[InstanceChange, ...]:
        return tuple(c for c in self.changes if c.change is change)

    @property
    def touches_processes(self) -> bool:
        """Whether anything starts, stops or restarts."""
        return any(c.change is not Change.UNCHANGED for c in self.changes)

    def summary(self) -> str:
        """One line for people: `restarting web (env DEBUG); starting web.3; stopping clock; 2 unchanged`."""
        parts = []
        for verb, change in (
            ("restarting", Change.CHANGED),
            ("starting", Change.ADDED),
            ("stopping", Change.REMOVED),
        ):
            if self.of(change):
                parts.append(f"{verb} {self._labels(self.of(change))}")
        unchanged = self.of(Change.UNCHANGED)
        updated = tuple(c for c in unchanged if c.what)
        if updated:
            parts.append(f"updated in place {self._labels(updated)}")
        if unchanged:
            parts.append(f"{len(unchanged)} unchanged")
        if not parts:
            return "no instances before or after"
        if not self.touches_processes and not updated:
            return f"no changes ({parts[-1]})"
        return "; ".join(parts)

    def _labels(self, group: Sequence[InstanceChange]) -> str:
        """Names grouped by what changed; a process whose every instance is in a group is named once."""
        total = collections.Counter(c.process for c in self.changes)
        by_what: dict[tuple[str, ...], list[InstanceChange]] = {}
        for item in group:
            by_what.setdefault(item.what, []).append(item)
        texts = []
        for what, items in by_what.items():
            here = collections.Counter(item.process for item in items)
            names = dict.fromkeys(i.process if here[i.process] == total[i.process] else i.name for i in items)
            texts.append(", ".join(names) + (f" ({_describe(what)})" if what else ""))
        return " and ".join(texts)


IN_PLACE_FIELDS = ("autostart", "watch", "watch_ignore", "depends_on")
"""ProcessSpec fields about what `up` does around a process, not the process itself: no restart."""
NOT_COMPARED = frozenset({"name", "origin", "concurrency", "command", "env", "directory", "ready", "restart"})
"""Fields compared elsewhere (on the Instance, or one by one) or that do not concern one instance."""


def diff(old: Plan, new: Plan) -> PlanDiff:
    """Per instance: added, removed, changed (and what changed) or unchanged. Pure."""
    before = {instance.name: instance for instance in old.instances}
    changes = []
    for instance in new.instances:
        previous = before.pop(instance.name, None)
        if previous is None:
            changes.append(InstanceChange(instance.name, Change.ADDED, new=instance))
            continue
        restart = _restart_reasons(old, previous, new, instance)
        if restart:
            changes.append(InstanceChange(instance.name, Change.CHANGED, restart, previous, instance))
        else:
            in_place = tuple(
                name
                for name in IN_PLACE_FIELDS
                if getattr(previous.spec, name) != getattr(instance.spec, name)
            )
            changes.append(InstanceChange(instance.name, Change.UNCHANGED, in_place, previous, instance))
    changes += [InstanceChange(gone.name, Change.REMOVED, old=gone) for gone in before.values()]
    return PlanDiff(tuple(changes))


def _restart_reasons(old_plan: Plan, old: Instance, new_plan: Plan, new: Instance) -> tuple[str, ...]:
    """What differs in how the process runs: its command, environment, directory, policy..."""
    what = []
    if old.command != new.command:
        what.append("command")
    env_before, env_after = old_plan.environment(old), new_plan.environment(new)
    keys = sorted(k for k in env_before.keys() | env_after.keys() if env_before.get(k) != env_after.get(k))
    what += [f"env {key}" for key in keys]  # keys only: values may be secrets
    if old.cwd != new.cwd:
        what.append("directory")
    for policy in dataclasses.fields(old.spec.restart):
        if getattr(old.spec.restart, policy.name) != getattr(new.spec.restart, policy.name):
            what.append(policy.name)
    # Any other field, including ones added later (tty, stopasgroup...), restarts: the safe default.
    for spec_field in dataclasses.fields(old.spec):
        name = spec_field.name
        compared = name not in NOT_COMPARED and name not in IN_PLACE_FIELDS
        if compared and getattr(old.spec, name) != getattr(new.spec, name):
            what.append(name)
    if old.ready != new.ready:
        what.append("ready")
    return tuple(what)


def _describe(what: Sequence[str]) -> str:
    """`command, env DEBUG, PORT`: env keys share one `env`."""
    keys = [item.removeprefix("env ") for item in what if item.startswith("env ")]
    others = [item for item in what if not item.startswith("env ")]
    if keys:
        others.insert(1 if others[:1] == ["command"] else 0, "env " + ", ".join(keys))
    return ", ".join(others)


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` from `env`; unknown names are left as written."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lookup, text)


def _instance(
    project: Project,
    spec: ProcessSpec,
    number: int,
    scheme_port: int,
    cwd: Path,
    caller_env: Mapping[str, str],
    file_env: Mapping[str, str],
) -> Instance:
    name = f"{spec.name}.{number}"
    env = {**file_env, **spec.env}
    user_port = env.get("PORT")
    port: int | None = scheme_port
    if user_port is not None:
        port = int(user_port) if user_port.strip().isdigit() else None
    else:
        env["PORT"] = str(scheme_port)
    env["PS"] = name
    if "PYTHONUNBUFFERED" not in env and "PYTHONUNBUFFERED" not in caller_env:
        env["PYTHONUNBUFFERED"] = "1"
    ready = spec.ready
    if ready is not None and ready.kind in (ProbeKind.HTTP, ProbeKind.TCP):
        ready = _resolve_probe(project, spec, ready, {**caller_env, **env})
    return Instance(
        name=name,
        spec=spec,
        number=number,
        port=port,
        env=MappingProxyType(env),
        cwd=cwd,
        ready=ready,
    )


def _resolve_probe(project: Project, spec: ProcessSpec, probe: Probe, env: Mapping[str, str]) -> Probe:
    """An http/tcp probe with `$PORT` expanded and its endpoint parsed; a bad one is a config error."""
    from supervise.config.targets import parse_http, parse_tcp  # (only with a probe)

    target = expand_vars(probe.target, env)
    try:
        endpoint = parse_http(target) if probe.kind is ProbeKind.HTTP else parse_tcp(target)
    except ValueError as error:
        key = f"{PREFIX}.processes.{spec.name}.ready.{probe.kind.value}"
        raise ConfigError(f'cannot probe "{probe.target}": {error}', file=project.source, key=key) from None
    return replace(probe, target=target, endpoint=endpoint)


def _check_formation(project: Project, formation: Mapping[str, int]) -> None:
    for name in formation:
        if name != "all" and not project.has_process(name):
            raise UsageError(f'--formation: unknown process "{name}"; processes: {", ".join(project.names)}')


def _known(project: Project) -> str:
    text = f"processes: {', '.join(project.names)}"
    if project.groups:
        text += f"; groups: {', '.join(project.groups)}"
    return text
