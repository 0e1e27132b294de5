"""Production configs from the same Plan: each format is `render(plan, options)`.

A renderer is pure: `Plan, ExportOptions -> {relative file name: text}`. This
module owns the registry and the one place files are written (`--force`,
`-o DIR`, stdout). A new format is one module and one line in FORMATS.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from supervise.errors import UsageError
from supervise.plan import Instance, Plan

FORMATS: Mapping[str, str] = {
    "supervisord": "supervise.export.supervisord",
    "systemd": "supervise.export.systemd",
    "kubernetes": "supervise.export.kubernetes",
    "compose": "supervise.export.compose",
}
"""Format name -> module with `render`; imported only when that format is asked for."""
HOST_FORMATS = frozenset({"supervisord", "systemd"})
"""Formats whose processes run on a machine like this one: their PATH must find the programs.
(The container formats run in an image with a PATH of its own.)"""


@dataclass(frozen=True)
class ExportOptions:
    """What the exporters need besides the Plan."""

    app: str
    user: str | None = None
    log_dir: Path | None = None
    """Absolute folder for log files (supervisord); None: the format's default."""
    image: str | None = None
    """Container image (kubernetes, compose)."""
    secret_env: tuple[str, ...] = ()
    """Env keys to put in a Secret instead of a ConfigMap (kubernetes)."""


Renderer = Callable[[Plan, ExportOptions], dict[str, str]]

APP_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
"""What `--app` may be: it names files and units, so no `/`, and no leading `.` (supervisord's
`*.conf` include and systemd skip hidden files); 64 characters at most."""


def app_problem(app: str) -> str | None:
    """Why `app` cannot name the exported app, or None when it can."""
    if APP_NAME.fullmatch(app):
        return None
    if len(app) > 64:
        return "longer than 64 characters"
    return 'use letters, digits, "_", "-" and ".", not starting with "."'


def checked_env(instance: Instance) -> Mapping[str, str]:
    """The instance's environment, refused if it holds a NUL: no config file format can carry one."""
    for key, value in instance.env.items():
        if "\0" in key or "\0" in value:
            raise UsageError(f'{instance.name}: environment variable "{key}" contains a NUL byte')
    return instance.env


def renderer(format_name: str) -> Renderer:
    """The `render` function of a format; an unknown format is a usage error."""
    module_name = FORMATS.get(format_name)
    if module_name is None:
        raise UsageError(f'--format: unknown format "{format_name}"; choose one of: {", ".join(FORMATS)}')
    render: Renderer = importlib.import_module(module_name).render
    return render
