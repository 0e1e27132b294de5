"""`supervise export`: build the plan to export, render it, write the files.

The renderers in export/ are pure; this module owns the command's options,
stdout and the file writes. Files are written inside `-o DIR` only, all of
them or none: each goes to a temporary file in DIR first, and only once all
are written are they renamed into place. A symlink where a file goes is
refused without `--force`, and with it the link is replaced, never followed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from supervise.commands.check import missing_program
from supervise.commands.options import CommonOptions
from supervise.errors import OutputExistsError, UsageError
from supervise.export import HOST_FORMATS, ExportOptions, app_problem, renderer
from supervise.plan import Plan, with_path_first

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH supervisord's and systemd's children get on a stock system: no virtualenv in it."""


def export_plan(options: CommonOptions, names: Sequence[str]) -> Plan:
    """The plan to export: every process (not only autostart ones), no caller env.

    The caller's shell is not production's, so it is left out, except for its
    PORT, which is the base of the PORT scheme (as for `check`); autostart=false
    processes are exported with autostart off rather than dropped.
    """
    project = options.load_project()
    port = {"PORT": os.environ["PORT"]} if "PORT" in os.environ else {}
    return options.load_plan(names or project.names, project=project, caller_env=port)


def virtualenv_bin(environ: Mapping[str, str], prefix: str, base_prefix: str) -> Path | None:
    """The `bin` of the virtualenv `export` runs in: the activated one, else our own, else None."""
    if environ.get("VIRTUAL_ENV"):
        return Path(environ["VIRTUAL_ENV"]) / "bin"
    if prefix != base_prefix:
        return Path(prefix) / "bin"
    return None


def host_path(plan: Plan, venv_bin: Path | None) -> Plan:
    """For supervisord and systemd: the virtualenv's `bin` first on every instance's PATH."""
    if venv_bin is None:
        return plan
    return with_path_first(plan, str(venv_bin), SYSTEM_PATH)


def missing_programs(plan: Plan, format_name: str) -> list[str]:
    """One warning per process whose program the exported PATH will not find."""
    warnings = []
    for spec in plan.specs:
        instance = plan.instances_of(spec.name)[0]
        path = instance.env.get("PATH", SYSTEM_PATH)
        program = missing_program(instance, path, shutil.which)
        if program is None:
            continue
        where = "is not an executable file" if "/" in program else f"is not on the exported PATH ({path})"
        warnings.append(
            f'{spec.name}: "{program}" {where} ({spec.origin}); under {format_name} it will not start: '
            "give its absolute path, or export from the virtualenv that has it"
        )
    return warnings


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
    problem = app_problem(app) if app is not None else None
    if problem:
        raise UsageError(f'--app "{app}": {problem}')
    plan = export_plan(options, names)
    warnings: list[str] = []
    if format_name in HOST_FORMATS:
        plan = host_path(plan, virtualenv_bin(os.environ, sys.prefix, sys.base_prefix))
        warnings = missing_programs(plan, format_name)
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
    else:
        for path in write_files(Path(output), files, force):
            print(f"wrote {path}", file=sys.stderr)
    for warning in warnings:  # once written: a usage error comes alone
        print(f"supervise: warning: {warning}", file=sys.stderr)
    return 0


def write_files(directory: Path, files: Mapping[str, str], force: bool) -> list[Path]:
    """Write every file into `directory`, or none; existing files (or links) need `force`."""
    targets = {directory / _plain_name(name): text for name, text in files.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path in targets:
            _check_target(path, force)
        staged = _stage(targets)
    except OSError as error:
        raise UsageError(f"-o {directory}: cannot write: {error.strerror or error}") from None
    try:
        for path, temp in staged.items():
            os.replace(temp, path)  # replaces a symlink itself, never what it points to
    except OSError as error:
        _discard(staged.values())
        raise UsageError(f"-o {directory}: cannot write: {error.strerror or error}") from None
    return list(targets)


def _plain_name(name: str) -> str:
    """A renderer's file name, which must stay inside the output folder (a bug otherwise)."""
    if not name or name in (".", "..") or os.path.basename(name) != name:
        raise UsageError(f"export: refusing to write {name!r}: not a plain file name")
    return name


def _check_target(path: Path, force: bool) -> None:
    """Refuse what is at `path` unless `force` allows replacing it; a folder is never replaced."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a folder; remove it or choose another -o")
    if force:
        return
    if stat.S_ISLNK(info.st_mode):
        raise OutputExistsError(
            f"{path}: is a symbolic link (to {os.readlink(path)}); use --force to replace the link "
            "(what it points to is left alone)"
        )
    raise OutputExistsError(f"{path}: already exists; use --force to overwrite it")


def _stage(targets: Mapping[Path, str]) -> dict[Path, str]:
    """Each text in a new temporary file next to its target: target -> temporary path.

    mkstemp creates with O_EXCL, so nothing planted can be written through; on
    any failure the temporary files written so far are removed.
    """
    mode = _file_mode()
    staged: dict[Path, str] = {}
    try:
        for path, text in targets.items():
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged[path] = temp
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                os.fchmod(handle.fileno(), mode)
    except BaseException:
        _discard(staged.values())
        raise
    return staged


def _file_mode() -> int:
    """0666 less the umask, as a plain `open` would create the file (mkstemp makes 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _discard(temps: Iterable[str]) -> None:
    for temp in temps:
        with contextlib.suppress(OSError):
            os.unlink(temp)
