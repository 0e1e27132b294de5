"""The options every command shares, and the one path from them to a Plan.

This is the edge where the environment and the env files are read; what it
hands on (`Project`, `Plan`) is pure data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supervise.config.model import Project
from supervise.plan import Plan, build_plan, parse_formation


@dataclass(frozen=True)
class CommonOptions:
    """`-f`, `-d`, `-e`, `-m`, `-p` and `--no-color`, as typed by the user."""

    procfile: str | None = None
    root: str | None = None
    env_files: tuple[str, ...] = ()
    formation: str | None = None
    port: int | None = None
    no_color: bool = False

    def load_project(self, allow_empty: bool = False) -> Project:
        """The validated configuration; `allow_empty`: no source is an empty project."""
        from supervise.config.load import load_project

        return load_project(self.procfile, self.root, self.env_files, allow_empty=allow_empty)

    def load_plan(
        self,
        names: Sequence[str] = (),
        project: Project | None = None,
        caller_env: dict[str, str] | None = None,
    ) -> Plan:
        """Project, env files, formation and selection resolved into a Plan."""
        from supervise.config.envfile import read_env_files
        from supervise.config.load import display_path

        project = project or self.load_project()
        caller_env = dict(os.environ) if caller_env is None else caller_env
        # `${VAR}` in env files sees the same caller environment the plan is built on.
        file_env = read_env_files([(p, display_path(p)) for p in project.env_files], caller_env)
        return build_plan(
            project,
            names=names,
            formation=parse_formation(self.formation or ""),
            port_base=self.port,
            caller_env=caller_env,
            file_env=file_env,
        )


def project_root(options: CommonOptions) -> Path:
    """The root a command acts on, without reading the configuration."""
    from supervise.config.load import find_root

    return find_root(options.procfile, options.root, Path.cwd())
