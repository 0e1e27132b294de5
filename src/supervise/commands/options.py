"""The options every command shares, and the one path from them to a Plan.

This is the edge where the environment, `.foreman` and the env files are
read; what it hands on (`Project`, `Plan`) is pure data.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from supervise.config.model import MAX_SECONDS, Project
from supervise.errors import UsageError
from supervise.plan import Plan, build_plan, parse_formation

FOREMAN_FILE = ".foreman"
"""foreman's option file (config/foreman.py reads it)."""


@dataclass(frozen=True)
class CommonOptions:
    """`-f`, `-d`, `-e`, `-m`, `-p`, `-t` and the display flags, as typed by the user
    (or defaulted by `.foreman`)."""

    procfile: str | None = None
    root: str | None = None
    env_files: tuple[str, ...] = ()
    formation: str | None = None
    port: int | None = None
    no_color: bool = False
    stop_timeout: float | None = None
    """`-t`: replaces every process's stop_timeout."""
    no_prefix: bool = False
    no_timestamp: bool = False

    @classmethod
    def from_command_line(
        cls,
        procfile: str | None = None,
        root: str | None = None,
        env_files: Sequence[str] = (),
        formation: str | None = None,
        port: int | None = None,
        no_color: bool = False,
        stop_timeout: float | None = None,
        no_prefix: bool = False,
        no_timestamp: bool = False,
    ) -> CommonOptions:
        """The options as typed, over the defaults of a `.foreman` file (its notices go to stderr)."""
        if stop_timeout is not None and not 0 <= stop_timeout <= MAX_SECONDS:
            shown = f"{stop_timeout:g}" if math.isfinite(stop_timeout) else str(stop_timeout)
            raise UsageError(f"--stop-timeout {shown}: expected seconds from 0 to {MAX_SECONDS:g}")
        # honcho takes `-e .env,.env.local`; foreman and supervise take -e twice: both work.
        files = tuple(part.strip() for item in env_files for part in item.split(",") if part.strip())
        options = cls(procfile, root, files, formation, port, no_color, stop_timeout, no_prefix, no_timestamp)
        return options.over_foreman(Path.cwd())

    def over_foreman(self, cwd: Path) -> CommonOptions:
        """These options with `.foreman`'s defaults filled in where the command line is silent."""
        folder = (cwd / self.root) if self.root is not None else cwd
        if not folder.is_dir():
            return self  # `-d` names no folder: find_root says so
        path = folder / FOREMAN_FILE
        if not os.path.lexists(path):
            return self  # as in most projects: the reader is not even loaded
        from supervise.config.foreman import read_foreman
        from supervise.config.load import display_path

        defaults = read_foreman(path, display_path(path, cwd))
        if defaults is None:
            return self
        for notice in defaults.notices:
            print(f"supervise: {notice}", file=sys.stderr)

        def near(path: str) -> str:
            """A path in `.foreman` is relative to its folder; ours are relative to cwd."""
            return path if folder == cwd else str(folder / path)

        return dataclasses.replace(
            self,
            procfile=self.procfile or (near(defaults.procfile) if defaults.procfile else None),
            env_files=self.env_files or tuple(near(name) for name in defaults.env_files),
            formation=self.formation if self.formation is not None else defaults.formation,
            port=self.port if self.port is not None else defaults.port,
            stop_timeout=self.stop_timeout if self.stop_timeout is not None else defaults.stop_timeout,
        )

    def load_project(self, allow_empty: bool = False) -> Project:
        """The validated configuration; `allow_empty`: no source is an empty project."""
        from supervise.config.load import load_project

        project = load_project(
            self.procfile, self.root, self.env_files, allow_empty=allow_empty, caller_env=os.environ
        )
        if self.stop_timeout is None:
            return project
        timeout = self.stop_timeout
        specs = tuple(dataclasses.replace(spec, stop_timeout=timeout) for spec in project.processes)
        return dataclasses.replace(project, processes=specs)

    def load_plan(
        self,
        names: Sequence[str] = (),
        project: Project | None = None,
        caller_env: Mapping[str, str] | None = None,
        formation: Mapping[str, int] | None = None,
        also: Sequence[str] = (),
    ) -> Plan:
        """Project, env files, formation and selection resolved into a Plan.

        `formation` replaces `-m` and `also` extends the selection (`supervise scale`).
        """
        from supervise.config.envfile import read_env_files
        from supervise.config.load import display_path

        project = project or self.load_project()
        caller_env = dict(os.environ) if caller_env is None else caller_env
        # `${VAR}` in env files sees the same caller environment the plan is built on.
        file_env = read_env_files([(p, display_path(p)) for p in project.env_files], caller_env)
        return build_plan(
            project,
            names=names,
            formation=self.parsed_formation() if formation is None else formation,
            port_base=self.port,
            caller_env=caller_env,
            file_env=file_env,
            also=also,
        )

    def parsed_formation(self) -> dict[str, int]:
        """`-m web=2,worker=0` as counts."""
        return parse_formation(self.formation or "")


def project_root(options: CommonOptions) -> Path:
    """The root a command acts on, without reading the configuration."""
    from supervise.config.load import find_root

    return find_root(options.procfile, options.root, Path.cwd())
