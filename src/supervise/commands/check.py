"""`supervise check`: the resolved plan as text, and warnings that do not fail it."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from supervise.commands.options import CommonOptions
from supervise.config.load import display_path
from supervise.config.model import Autorestart, ProcessSpec, Tty
from supervise.config.shell import SHELL_WORDS
from supervise.plan import Instance, Plan, start_waves


def run_check(options: CommonOptions, names: Sequence[str]) -> int:
    """Print the plan to stdout and warnings to stderr; errors raise (exit 2)."""
    plan = options.load_plan(names)
    sys.stdout.write(render_plan(plan))
    for warning in [*plan.project.notices, *plan_warnings(plan, shutil.which)]:
        print(f"supervise: warning: {warning}", file=sys.stderr)
    return 0


def render_plan(plan: Plan) -> str:
    """Every instance with its command, directory, PORT and policies."""
    project = plan.project
    env_files = ", ".join(display_path(p) for p in project.env_files) or "none"
    lines = [
        f"source: {project.source} (root {project.root})",
        f"env files: {env_files}",
        f"{len(plan.instances)} instance(s) of {len(plan.specs)} process type(s)",
    ]
    planned = {spec.name for spec in plan.specs}
    not_started = [name for name in project.names if name not in planned]
    if not_started:
        lines.append(f"not started: {', '.join(not_started)}")
    waves = start_waves(plan.specs)
    if len(waves) > 1:
        lines.append(f"start order: {'; then '.join(', '.join(wave) for wave in waves)}")
    for instance in plan.instances:
        lines.append("")
        lines.extend(describe_instance(instance, project.root))
    return "\n".join(lines) + "\n"


def describe_instance(instance: Instance, root: Path) -> list[str]:
    spec = instance.spec
    port = instance.env.get("PORT", "-")
    directory = display_path(instance.cwd, root)
    lines = [
        f"{instance.name}  PORT={port}",
        f"  command  {spec.command}",
        f"  dir      {directory}",
        f"  restart  {describe_restart(spec)}",
        f"  stop     SIG{spec.stopsignal}, then SIGKILL after {spec.stop_timeout:g}s",
    ]
    if spec.watch:
        ignore = f" (ignoring {', '.join(spec.watch_ignore)})" if spec.watch_ignore else ""
        lines.append(f"  watch    {', '.join(spec.watch)}{ignore}")
    if instance.ready:
        lines.append(f"  ready    {instance.ready.describe()}")
    if spec.depends_on:
        lines.append(f"  after    {', '.join(spec.depends_on)}")
    if not spec.autostart:
        lines.append("  autostart false (started only when named)")
    if spec.tty is not Tty.AUTO:
        lines.append(f"  tty      {spec.tty.value}")
    return lines


def describe_restart(spec: ProcessSpec) -> str:
    policy = spec.restart
    if spec.is_task:
        codes = ",".join(str(c) for c in policy.exitcodes)
        return f"never: a one-shot task; what depends on it starts once it exits with {codes}"
    codes = ",".join(str(c) for c in policy.exitcodes)
    when = {
        Autorestart.ALWAYS: "always",
        Autorestart.NEVER: "never",
        Autorestart.UNEXPECTED: f"when the exit code is not in {codes}",
    }[policy.autorestart]
    return (
        f"{when}; startsecs {policy.startsecs:g}, startretries {policy.startretries}, "
        f"backoff {policy.backoff.initial:g}s doubling to {policy.backoff.maximum:g}s"
    )


def plan_warnings(plan: Plan, which: Callable[..., str | None]) -> list[str]:
    """Shared PORTs and programs missing from PATH: worth a look, not an error."""
    warnings = []
    by_port: dict[str, list[str]] = {}
    for instance in plan.instances:
        port = instance.env.get("PORT")
        if port is not None:
            by_port.setdefault(port, []).append(instance.name)
    for port, names in by_port.items():
        if len(names) > 1:
            warnings.append(f"PORT {port} is shared by {', '.join(names)}")
        if port.isdigit() and int(port) > 65535:
            warnings.append(f"PORT {port} of {', '.join(names)} is above 65535; lower the base (-p)")
    found: dict[tuple[str, str | None], str | None] = {}  # 10,000 `sleep`s: one PATH search
    for spec in plan.specs:
        instance = plan.instances_of(spec.name)[0]
        if not instance.cwd.is_dir():
            warnings.append(f'{spec.name}: directory "{spec.directory}" does not exist ({spec.origin})')
            continue
        path_var = instance.env.get("PATH", plan.base_env.get("PATH"))
        missing = missing_program(instance, path_var, partial(_cached_which, found, which))
        if missing is not None and "/" in missing:
            warnings.append(f'{spec.name}: "{missing}" is not an executable file ({spec.origin})')
        elif missing is not None:
            warnings.append(f'{spec.name}: "{missing}" not found on PATH ({spec.origin})')
    return warnings


def missing_program(instance: Instance, path: str | None, which: Callable[..., str | None]) -> str | None:
    """The program the command runs first when it cannot be run: not on `path`, or (with a `/`
    in it) not an executable file in the instance's directory; else None."""
    program = command_program(instance.command)
    if program is None:
        return None
    if "/" in program:
        return None if os.access(os.path.join(instance.cwd, program), os.X_OK) else program
    return program if which(program, path=path) is None else None


def _cached_which(
    found: dict[tuple[str, str | None], str | None],
    which: Callable[..., str | None],
    program: str,
    path: str | None,
) -> str | None:
    """`which(program, path=path)`, asked once per program and PATH."""
    key = (program, path)
    if key not in found:
        found[key] = which(program, path=path)
    return found[key]


def command_program(command: str) -> str | None:
    """The program a shell line runs first, or None when the shell decides."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    for word in words:
        if "=" in word.split("/")[0] and not word.startswith("="):
            continue  # VAR=value prefix
        if word in ("exec", "command", "nohup", "env"):
            continue
        if word in SHELL_WORDS or "$" in word or "`" in word or word.startswith("~"):
            return None
        return word
    return None
