"""`[tool.supervise]` mapping -> validated settings and process options.

Each option has one small converter (`convert.py`) that returns a typed value
or raises `Invalid`; `TableReader` adds the TOML key path, so every message reads
`pyproject.toml: tool.supervise.processes.web.startsecs: expected ...`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from supervise.config.convert import (
    Invalid,
    key_path,
    show,
    to_autorestart,
    to_backups,
    to_bool,
    to_byte_size,
    to_env_value,
    to_exitcodes,
    to_instances,
    to_nonempty_str,
    to_port,
    to_positive_seconds,
    to_retries,
    to_seconds,
    to_signal,
    to_str_list,
    to_tty,
    to_web_address,
)
from supervise.config.model import (
    DEFAULT_LOG_BACKUPS,
    DEFAULT_LOG_MAX_BYTES,
    PREFIX,
    Backoff,
    Probe,
    ProbeKind,
    ProcessSpec,
    RestartPolicy,
    Tty,
    WebAddress,
)
from supervise.config.procfile import name_problem
from supervise.errors import ConfigError

T = TypeVar("T")


# -- the reader: tables with key paths ---------------------------------------


@dataclass
class TableReader:
    """Reads one TOML table, tracking its key path and which keys were used."""

    table: Mapping[str, Any]
    path: str
    filename: str
    allowed: tuple[str, ...] | None
    """The keys this table may have; None for tables keyed by the user (names)."""

    def __post_init__(self) -> None:
        if self.allowed is None:
            return
        for key in self.table:
            if key not in self.allowed:
                import difflib  # only here: not worth its import at every start

                hint = difflib.get_close_matches(key, self.allowed, n=1)
                if hint:
                    raise self.error(key, f'unknown key (did you mean "{hint[0]}"?)')
                raise self.error(key, f"unknown key; expected one of: {', '.join(self.allowed)}")

    def error(self, key: str | None, message: str) -> ConfigError:
        path = f"{self.path}.{key_path(key)}" if key else self.path
        return ConfigError(message, file=self.filename, key=path)

    def get(self, key: str, convert: Callable[[object], T], default: T) -> T:
        if key not in self.table:
            return default
        try:
            return convert(self.table[key])
        except Invalid as invalid:
            raise self.error(key, str(invalid)) from None

    def sub(self, key: str, allowed: tuple[str, ...] | None) -> TableReader:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {show(value)}")
        return TableReader(value, f"{self.path}.{key_path(key)}", self.filename, allowed)


# -- the schema ----------------------------------------------------------------

TOP_KEYS = (
    "procfile",
    "env_files",
    "port_base",
    "stop_timeout",
    "stopasgroup",
    "tty",
    "log_dir",
    "log_max_bytes",
    "log_backups",
    "web",
    "processes",
    "groups",
)
PROCESS_KEYS = (
    "command",
    "directory",
    "env",
    "concurrency",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "backoff",
    "stopsignal",
    "stop_timeout",
    "stopasgroup",
    "watch",
    "watch_ignore",
    "ready",
    "depends_on",
    "tty",
)
PROBE_KINDS = tuple(kind.value for kind in ProbeKind)


@dataclass(frozen=True)
class ProcessOptions:
    """A `processes.NAME` table: a full spec, or options for a Procfile entry."""

    spec: ProcessSpec
    has_command: bool


@dataclass(frozen=True)
class Settings:
    """The whole `[tool.supervise]` table, validated."""

    procfile: str | None = None
    env_files: tuple[str, ...] | None = None
    port_base: int | None = None
    stop_timeout: float | None = None
    stopasgroup: bool | None = None
    tty: Tty | None = None
    """The default for every process, Procfile entries included."""
    log_dir: str | None = None
    """As written: relative to the project root."""
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_backups: int = DEFAULT_LOG_BACKUPS
    web: WebAddress | None = None
    processes: tuple[ProcessOptions, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


def parse_settings(table: Mapping[str, Any], filename: str = "pyproject.toml") -> Settings:
    """Validate `[tool.supervise]`; errors name the file and the key path."""
    top = TableReader(table, PREFIX, filename, TOP_KEYS)
    stop_timeout = top.get("stop_timeout", to_seconds, None)
    stopasgroup = top.get("stopasgroup", to_bool, None)
    tty = top.get("tty", to_tty, None)
    processes_table = top.sub("processes", None)
    processes = []
    for name, value in processes_table.table.items():
        path = f"{PREFIX}.processes.{key_path(name)}"
        problem = name_problem(name)
        if problem:
            raise ConfigError(f"invalid process name: {problem}", file=filename, key=path)
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {show(value)}", file=filename, key=path)
        reader = TableReader(value, path, filename, PROCESS_KEYS)
        processes.append(_parse_process(name, reader, stop_timeout, stopasgroup, tty))
    groups_reader = top.sub("groups", None)
    groups = {}
    for group, members in groups_reader.table.items():
        try:
            groups[group] = to_str_list(members)
        except Invalid as invalid:
            raise groups_reader.error(group, str(invalid)) from None
    return Settings(
        procfile=top.get("procfile", to_nonempty_str, None),
        env_files=top.get("env_files", to_str_list, None),
        port_base=top.get("port_base", to_port, None),
        stop_timeout=stop_timeout,
        stopasgroup=stopasgroup,
        tty=tty,
        log_dir=top.get("log_dir", to_nonempty_str, None),
        log_max_bytes=top.get("log_max_bytes", to_byte_size, DEFAULT_LOG_MAX_BYTES),
        log_backups=top.get("log_backups", to_backups, DEFAULT_LOG_BACKUPS),
        web=top.get("web", to_web_address, None),
        processes=tuple(processes),
        groups=MappingProxyType(groups),
    )


def _parse_process(
    name: str, r: TableReader, stop_timeout: float | None, stopasgroup: bool | None, tty: Tty | None
) -> ProcessOptions:
    defaults = ProcessSpec(name=name, command="")
    policy = RestartPolicy(
        autorestart=r.get("autorestart", to_autorestart, defaults.restart.autorestart),
        exitcodes=r.get("exitcodes", to_exitcodes, defaults.restart.exitcodes),
        startsecs=r.get("startsecs", to_seconds, defaults.restart.startsecs),
        startretries=r.get("startretries", to_retries, defaults.restart.startretries),
        backoff=_parse_backoff(r),
    )
    env = r.sub("env", None)
    env_values = {}
    for key, value in env.table.items():
        if not key or "=" in key or "\0" in key:
            raise env.error(key, 'not a valid environment variable name (no "=" or NUL)')
        try:
            env_values[key] = to_env_value(value)
        except Invalid as invalid:
            raise env.error(key, str(invalid)) from None
    spec = ProcessSpec(
        name=name,
        command=r.get("command", to_nonempty_str, ""),
        directory=r.get("directory", to_nonempty_str, defaults.directory),
        env=MappingProxyType(env_values),
        concurrency=r.get("concurrency", to_instances, defaults.concurrency),
        autostart=r.get("autostart", to_bool, defaults.autostart),
        restart=policy,
        stopsignal=r.get("stopsignal", to_signal, defaults.stopsignal),
        stop_timeout=r.get(
            "stop_timeout",
            to_seconds,
            defaults.stop_timeout if stop_timeout is None else stop_timeout,
        ),
        stopasgroup=r.get("stopasgroup", to_bool, stopasgroup),
        watch=r.get("watch", to_str_list, ()),
        watch_ignore=r.get("watch_ignore", to_str_list, ()),
        ready=_parse_probe(r) if "ready" in r.table else None,
        depends_on=r.get("depends_on", to_str_list, ()),
        tty=r.get("tty", to_tty, defaults.tty if tty is None else tty),
        origin=f"{r.filename}: {r.path}",
    )
    return ProcessOptions(spec=spec, has_command="command" in r.table)


def _parse_backoff(r: TableReader) -> Backoff:
    if "backoff" not in r.table:
        return Backoff()
    b = r.sub("backoff", ("initial", "max"))
    default = Backoff()
    backoff = Backoff(
        initial=b.get("initial", to_positive_seconds, default.initial),
        maximum=b.get("max", to_positive_seconds, default.maximum),
    )
    if backoff.maximum < backoff.initial:
        raise b.error("max", f"must be at least initial ({backoff.initial:g}), got {backoff.maximum:g}")
    return backoff


def _parse_probe(r: TableReader) -> Probe:
    p = r.sub("ready", (*PROBE_KINDS, "interval", "timeout"))
    kinds = [kind for kind in PROBE_KINDS if kind in p.table]
    if len(kinds) != 1:
        given = f", got {' and '.join(kinds)}" if kinds else ""
        raise r.error("ready", f"expected exactly one of {', '.join(PROBE_KINDS)}{given}")
    kind = ProbeKind(kinds[0])
    target = p.get(kind.value, to_nonempty_str, "")
    if kind is ProbeKind.LOG:
        from supervise.config.pattern import PatternError, compile_log_pattern

        try:
            compile_log_pattern(target)
        except PatternError as bad:
            raise p.error("log", str(bad)) from None
    default = Probe(kind, target)
    return Probe(
        kind=kind,
        target=target,
        interval=p.get("interval", to_positive_seconds, default.interval),
        timeout=p.get("timeout", to_positive_seconds, default.timeout),
    )


def check_references(
    processes: tuple[ProcessSpec, ...],
    groups: Mapping[str, tuple[str, ...]],
    filename: str,
) -> None:
    """Cross-checks once Procfile and TOML are merged: names, groups, cycles."""
    names = {spec.name: None for spec in processes}  # ordered, and a dict lookup per check
    known = ", ".join(names)
    for spec in processes:
        for dep in spec.depends_on:
            if dep not in names:
                raise ConfigError(
                    f'unknown process "{dep}" (defined: {known})',
                    file=filename,
                    key=f"{PREFIX}.processes.{spec.name}.depends_on",
                )
    for group, members in groups.items():
        key = f"{PREFIX}.groups.{key_path(group)}"
        if group in names:
            raise ConfigError(f'"{group}" is already a process name', file=filename, key=key)
        for member in members:
            if member not in names:
                raise ConfigError(f'unknown process "{member}" (defined: {known})', file=filename, key=key)
    cycle = find_cycle({spec.name: spec.depends_on for spec in processes})
    if cycle:
        raise ConfigError(
            f"dependency cycle: {' -> '.join(cycle)}",
            file=filename,
            key=f"{PREFIX}.processes.{cycle[0]}.depends_on",
        )


def find_cycle(graph: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts, or None.

    Depth first without recursion, and linear: a chain of 10,000 `depends_on`
    must neither hit the recursion limit nor take quadratic time.
    """
    done: set[str] = set()
    for first in graph:
        if first in done:
            continue
        path = [first]
        position = {first: 0}
        pending = [iter(graph.get(first, ()))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                node = path.pop()
                del position[node]
                done.add(node)
                pending.pop()
            elif dep in position:
                return [*path[position[dep] :], dep]
            elif dep not in done:
                position[dep] = len(path)
                path.append(dep)
                pending.append(iter(graph.get(dep, ())))
    return None
