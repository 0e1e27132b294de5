"""Find the configuration, read it, and merge Procfile and TOML into a Project.

Source selection: `-f PATH` forces a Procfile (pyproject.toml is then not
read); otherwise `[tool.supervise]` when pyproject.toml has one; otherwise
the Procfile that `PROCFILE` names (in the env files or the caller's
environment, as honcho reads it); otherwise `./Procfile`. This module finds the files; every read goes through
source.py, which refuses what is not a regular file or is too big. Something
that is there but is not a regular file (a folder named Procfile, a FIFO, a
broken link) is read and refused by name, never taken for "no Procfile".
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from supervise.config.model import DEFAULT_PORT_BASE, PREFIX, LogPolicy, ProcessSpec, Project
from supervise.config.procfile import parse_procfile
from supervise.config.release import apply_release_phase
from supervise.config.source import read_source
from supervise.errors import ConfigError, UsageError

if TYPE_CHECKING:
    # Imported when a [tool.supervise] table is there to read: a Procfile project
    # starts without loading the TOML schema.
    from supervise.config.pyproject import Settings


def display_path(path: Path, cwd: Path | None = None) -> str:
    """A path as short as it can be shown: relative to cwd when inside it."""
    base = cwd or Path.cwd()
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def find_root(procfile: str | None, root: str | None, cwd: Path) -> Path:
    """The project root: `-d`, else the forced Procfile's folder, else cwd."""
    if root is not None:
        path = resolve(cwd / root)
        if not path.is_dir():
            raise UsageError(f"--root {root}: not a directory")
        return path
    if procfile is not None:
        return resolve(cwd / procfile).parent
    return cwd.resolve()


def resolve(path: Path) -> Path:
    """`path` with symlinks resolved; as it is (absolute) when they loop.

    A loop is reported, by name, when the file is read; before Python 3.13
    `Path.resolve` raises RuntimeError for one.
    """
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def load_project(
    procfile: str | None = None,
    root: str | None = None,
    env_files: Sequence[str] = (),
    cwd: Path | None = None,
    allow_empty: bool = False,
    caller_env: Mapping[str, str] | None = None,
) -> Project:
    """Read and validate the project's configuration; see the module docstring.

    With `allow_empty` (for `run -- CMD`), a folder with no configuration at all
    is a project with no processes instead of an error; its env files still apply.
    `caller_env` is where `PROCFILE` may come from (besides the env files).
    """
    cwd = cwd or Path.cwd()
    caller_env = caller_env or {}
    project_root = find_root(procfile, root, cwd)
    settings: Settings | None = None
    notices: list[str] = []
    read: Path | None = None  # the Procfile read, if any
    if procfile is not None:
        source = procfile
        if not os.path.lexists(cwd / procfile):
            raise UsageError(f"--procfile {procfile}: no such file")
        read = resolve(cwd / procfile)
        specs = read_procfile(read, source, required=True)
    else:
        pyproject = project_root / "pyproject.toml"
        table = read_tool_table(pyproject, display_path(pyproject, cwd))
        if table is not None:
            from supervise.config.pyproject import parse_settings

            source = display_path(pyproject, cwd)
            settings = parse_settings(table, source)
            specs = _merge(settings, project_root, source, cwd)
            read = project_root / settings.procfile if settings.procfile is not None else None
            if not specs:
                raise ConfigError(
                    "defines no processes; add [tool.supervise.processes.NAME] tables with a command",
                    file=source,
                    key=PREFIX,
                )
            env_paths = _env_files(env_files, settings.env_files, project_root, source, cwd)
            notices += _unread_procfiles(settings, project_root, source, env_paths, caller_env, cwd)
        else:
            env_paths = _env_files(env_files, None, project_root, "", cwd)
            from_env = procfile_from_env(env_paths, caller_env, cwd)
            if from_env is not None:
                value, where = from_env
                path = project_root / value
                source = display_path(path, cwd)
                if not os.path.lexists(path):
                    raise UsageError(f"PROCFILE={value} ({where}): no such file in {project_root}")
                read = path
                specs = read_procfile(path, source, required=True)
            elif os.path.lexists(project_root / "Procfile"):
                # Whatever is there (a directory, a FIFO, a broken link) is read and refused
                # by name: it is not "no Procfile".
                source = display_path(project_root / "Procfile", cwd)
                read = project_root / "Procfile"
                specs = read_procfile(project_root / "Procfile", source, required=True)
            elif allow_empty:
                source, specs = "", []
            else:
                raise UsageError(
                    f"no Procfile and no [tool.supervise] in pyproject.toml in {project_root}; "
                    "create a Procfile (lines of `name: command`) or pass -f PATH"
                )
    if settings is None:
        env_paths = _env_files(env_files, None, project_root, source, cwd)
        return Project(
            root=project_root,
            source=source,
            processes=tuple(apply_release_phase(specs, [spec.name for spec in specs], ())),
            env_files=env_paths,
            config_files=_config_files(procfile is not None, project_root, read, None, env_files, env_paths),
        )
    # Project-wide defaults reach the Procfile entries the TOML never names.
    named = {options.spec.name for options in settings.processes}
    specs = [spec if spec.name in named else _with_defaults(spec, settings) for spec in specs]
    from supervise.config.pyproject import check_references

    # A name with a command in both places is an error: the rest came from the Procfile.
    from_procfile = {spec.name for spec in specs} - {o.spec.name for o in settings.processes if o.has_command}
    specs = apply_release_phase(specs, from_procfile, named)
    check_references(tuple(specs), settings.groups, source)
    return Project(
        root=project_root,
        source=source,
        processes=tuple(specs),
        groups=MappingProxyType(dict(settings.groups)),
        env_files=env_paths,
        port_base=settings.port_base or DEFAULT_PORT_BASE,
        notices=tuple(notices),
        logs=LogPolicy(
            directory=(project_root / settings.log_dir).resolve() if settings.log_dir else None,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        ),
        web=settings.web,
        config_files=_config_files(False, project_root, read, settings, env_files, env_paths),
    )


def _config_files(
    forced: bool,
    root: Path,
    procfile: Path | None,
    settings: Settings | None,
    given_env: Sequence[str],
    env_paths: Sequence[Path],
) -> tuple[Path, ...]:
    """Files whose change can change the project: the ones read, and defaults not there yet.

    `forced`: `-f` named the Procfile, so pyproject.toml plays no part.
    """
    files = [] if forced else [root / "pyproject.toml"]  # a [tool.supervise] added later takes over
    if procfile is not None:
        files.append(resolve(procfile))
    if not forced and settings is None:
        files.append(root / "Procfile")  # (PROCFILE may name another one; then this one appears)
    configured = settings is not None and settings.env_files is not None
    if not given_env and not configured:
        files.append(root / ".env")
    files += env_paths
    return tuple(dict.fromkeys(files))


def procfile_from_env(
    env_paths: Sequence[Path], caller_env: Mapping[str, str], cwd: Path
) -> tuple[str, str] | None:
    """`PROCFILE` as honcho reads it: (value, where it was set), env files first, else None."""
    for path in reversed(env_paths):  # the last file that sets it wins, as when they are merged
        shown = display_path(path, cwd)
        if "PROCFILE" not in read_source(path, shown):
            continue  # most .env files: no need to parse them twice
        from supervise.config.envfile import read_env_file

        value = read_env_file(path, shown, caller_env).get("PROCFILE")
        if value:
            return value, f"from {shown}"
    value = caller_env.get("PROCFILE")
    return (value, "from the environment") if value else None


def _unread_procfiles(
    settings: Settings,
    root: Path,
    source: str,
    env_paths: Sequence[Path],
    caller_env: Mapping[str, str],
    cwd: Path,
) -> list[str]:
    """One line per Procfile the user may expect to be read, but [tool.supervise] does not read."""
    notices = []
    if settings.procfile is None and (root / "Procfile").is_file():
        shown = display_path(root / "Procfile", cwd)
        notices.append(
            f"{shown} is not read: the processes come from [tool.supervise] in {source} "
            '(set procfile = "Procfile" there to take its commands)'
        )
    named = procfile_from_env(env_paths, caller_env, cwd)
    if named is not None:
        notices.append(
            f"PROCFILE={named[0]} ({named[1]}) is not used: [tool.supervise] in {source} "
            "defines the processes (use -f to run a Procfile instead)"
        )
    return notices


def read_tool_table(path: Path, display: str) -> Mapping[str, Any] | None:
    """`[tool.supervise]` from pyproject.toml, or None when there is none."""
    if not os.path.lexists(path):
        return None
    tool = parse_toml(read_source(path, display), display).get("tool", {})
    table = tool.get("supervise") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        from supervise.config.convert import show

        raise ConfigError(f"expected a table, got {show(table)}", file=display, key=PREFIX)
    return table


def parse_toml(text: str, display: str) -> dict[str, Any]:
    """TOML text as data (stdlib parser); a syntax error names `display:LINE`."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line: int | None = None
        match = re.search(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)", message)
        if match:
            line = int(match.group(1)) if match.group(1) else text.count("\n") + 1
            message = message[: match.start()] + message[match.end() :]
        raise ConfigError(f"invalid TOML: {message.strip()}", file=display, line=line) from None
    return data


def read_procfile(path: Path, display: str, required: bool = False) -> list[ProcessSpec]:
    """The Procfile's entries; `required`: it is the only source, so it must define some."""
    specs = parse_procfile(read_source(path, display), display)
    if required and not specs:
        raise ConfigError("defines no processes; add lines of `name: command`", file=display)
    return specs


def _merge(settings: Settings, root: Path, source: str, cwd: Path) -> list[ProcessSpec]:
    """Procfile entries (if any) first, then TOML-only processes, in order."""
    specs: list[ProcessSpec] = []
    if settings.procfile is not None:
        path = root / settings.procfile
        if not os.path.lexists(path):
            raise ConfigError(
                f'Procfile "{settings.procfile}" not found in {root}',
                file=source,
                key=f"{PREFIX}.procfile",
            )
        specs = read_procfile(path, display_path(path, cwd))
    from_procfile = {spec.name: i for i, spec in enumerate(specs)}
    for options in settings.processes:
        name = options.spec.name
        key = f"{PREFIX}.processes.{name}"
        if name in from_procfile:
            original = specs[from_procfile[name]]
            if options.has_command:
                raise ConfigError(
                    f'"{name}" already has a command in {original.origin}; set it in one place only',
                    file=source,
                    key=f"{key}.command",
                )
            specs[from_procfile[name]] = dataclasses.replace(
                options.spec, command=original.command, origin=original.origin
            )
        elif options.has_command:
            specs.append(options.spec)
        else:
            if settings.procfile:
                where = f" or in {settings.procfile}"
            elif (root / "Procfile").is_file():
                # A Procfile next to [tool.supervise] is only read when `procfile` names it.
                where = f', or add procfile = "Procfile" to [{PREFIX}] to use its entry'
            else:
                where = ""
            raise ConfigError(f"no command (set command here{where})", file=source, key=key)
    return specs


def _with_defaults(spec: ProcessSpec, settings: Settings) -> ProcessSpec:
    """A Procfile entry with the project-wide `stop_timeout`, `stopasgroup` and `tty`, where set."""
    return dataclasses.replace(
        spec,
        stop_timeout=spec.stop_timeout if settings.stop_timeout is None else settings.stop_timeout,
        stopasgroup=settings.stopasgroup,
        tty=spec.tty if settings.tty is None else settings.tty,
    )


def _env_files(
    given: Sequence[str], configured: tuple[str, ...] | None, root: Path, source: str, cwd: Path
) -> tuple[Path, ...]:
    """`-e` files replace the configured list; the default `.env` only if present."""
    if given:
        paths = []
        for name in given:
            path = cwd / name
            if not os.path.lexists(path):
                raise UsageError(f"--env-file {name}: no such file")
            if path.is_dir():
                raise UsageError(f"--env-file {name}: is a directory")
            paths.append(resolve(path))
        return tuple(paths)
    if configured is not None:
        paths = []
        for name in configured:
            path = root / name
            if not os.path.lexists(path):
                raise ConfigError(
                    f'env file "{name}" not found in {root}',
                    file=source,
                    key=f"{PREFIX}.env_files",
                )
            paths.append(resolve(path))
        return tuple(paths)
    default = root / ".env"
    # A `.env` folder is a virtualenv (python -m venv .env), not an env file; anything
    # else there (a FIFO, a device, a broken link) is read and refused by name.
    return (default,) if os.path.lexists(default) and not default.is_dir() else ()
