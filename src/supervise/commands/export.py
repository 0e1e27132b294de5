"""`supervise export`: build the plan to export, render it, write the files.

The renderers in export/ are pure; this module owns the command's options,
stdout and the file writes.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from supervise.commands.options import CommonOptions
from supervise.errors import OutputExistsError, UsageError
from supervise.export import ExportOptions, renderer
from supervise.plan import Plan


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
