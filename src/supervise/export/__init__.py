"""Production configs from the same Plan: each format is `render(plan, options)`.

A renderer is pure: `Plan, ExportOptions -> {relative file name: text}`. This
module owns the registry and the one place files are written (`--force`,
`-o DIR`, stdout). A new format is one module and one line in FORMATS.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from supervise.errors import OutputExistsError, UsageError
from supervise.options import CommonOptions
from supervise.plan import Instance, Plan

FORMATS: Mapping[str, str] = {
    "supervisord": "supervise.export.supervisord",
    "systemd": "supervise.export.systemd",
    "kubernetes": "supervise.export.kubernetes",
    "compose": "supervise.export.compose",
}
"""Format name -> module with `render`; imported only when that format is asked for."""


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


def export_plan(options: CommonOptions, names: Sequence[str]) -> Plan:
    """The plan to export: every process (not only autostart ones), no caller env.

    The caller's shell is not production's, so it is left out; autostart=false
    processes are exported with autostart off rather than dropped.
    """
    project = options.load_project()
    return options.load_plan(names or project.names, project=project, caller_env={})


def run_export(
    options: CommonOptions,
    format_name: str,
    names: Sequence[str],
    output: str | None,
    force: bool,
    app: str | None,
    user: str | None,
    log_dir: str | None,
    image: str | None,
    secret_env: Sequence[str],
) -> int:
    """Render the plan and write it to `output` (or stdout when it is one file)."""
    render = renderer(format_name)
    plan = export_plan(options, names)
    export_options = ExportOptions(
        app=app or plan.project.root.name,
        user=user,
        log_dir=Path(log_dir).resolve() if log_dir else None,
        image=image,
        secret_env=tuple(key for item in secret_env for key in item.split(",") if key),
    )
    files = render(plan, export_options)
    if output is None:
        if len(files) != 1:
            raise UsageError(f"--format {format_name} writes {len(files)} files; give -o DIR")
        sys.stdout.write(next(iter(files.values())))
        return 0
    written = write_files(Path(output), files, force)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def write_files(directory: Path, files: Mapping[str, str], force: bool) -> list[Path]:
    """Write every file, or none: existing files are refused without `force`."""
    targets = {directory / name: text for name, text in files.items()}
    if not force:
        for path in targets:
            if path.exists():
                raise OutputExistsError(f"{path}: already exists; use --force to overwrite it")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"-o {directory}: cannot write: {error.strerror or error}") from None
    return list(targets)
