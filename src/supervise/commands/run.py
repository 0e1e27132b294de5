"""`supervise run`: one command in the foreground with the project's environment.

The child shares our terminal and process group, so Ctrl-C reaches it
directly; we ignore SIGINT/SIGQUIT while it runs (as `system(3)` does) and
pass on SIGTERM and SIGHUP, then exit with its code, or 128+N for signal N.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from supervise.commands.options import CommonOptions
from supervise.errors import ConfigError

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
IGNORED = (signal.SIGINT, signal.SIGQUIT)


def run_oneshot(options: CommonOptions, argv: Sequence[str]) -> int:
    """Run `argv`, or the command of process `argv[0]` when it names one.

    A folder with no Procfile or [tool.supervise] still runs `argv`, with its
    env files, as `honcho run` does.
    """
    project = options.load_project(allow_empty=True)
    if len(argv) == 1 and argv[0] in project.names:
        # Instance 1 even when the formation or `concurrency` says 0.
        single = dataclasses.replace(options, formation=f"{argv[0]}=1")
        plan = single.load_plan([argv[0]], project=project)
        instance = plan.instances_of(argv[0])[0]
        if not instance.cwd.is_dir():
            raise ConfigError(
                f'"{instance.spec.directory}" is not a directory in {project.root}',
                file=project.source,
                key=f"tool.supervise.processes.{argv[0]}.directory",
            )
        command = ["/bin/sh", "-c", instance.command]
        return run_foreground(command, plan.environment(instance), str(instance.cwd))
    plan = options.load_plan([], project=project)
    return run_foreground(list(argv), plan.command_environment(), None)


def run_foreground(argv: list[str], env: dict[str, str], cwd: str | None) -> int:
    """Run a child in our process group; its exit code, or 128+N for signal N."""
    if not argv:
        print("supervise: run: no command given (supervise run -- CMD ...)", file=sys.stderr)
        return 2
    # Forward from before the spawn: a SIGTERM that comes as soon as the child
    # runs must reach it, not kill us first. Our own handlers are reset to the
    # default in the child when it execs.
    child: subprocess.Popen[bytes] | None = None
    early: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child is None:
            early.append(signum)
        else:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        try:
            child = subprocess.Popen(argv, env=env, cwd=cwd)
        except FileNotFoundError:
            print(f"supervise: run: command not found: {argv[0]}", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"supervise: run: permission denied: {argv[0]}", file=sys.stderr)
            return 126
        except OSError as error:  # not an executable format, too many args, ...
            print(f"supervise: run: cannot run {argv[0]}: {error.strerror}", file=sys.stderr)
            return 126
        # Ignored only now: an ignored signal would stay ignored in the child.
        previous.update({sig: signal.signal(sig, signal.SIG_IGN) for sig in IGNORED})
        for signum in early:
            child.send_signal(signum)
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code
