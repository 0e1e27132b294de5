"""The command line: options and help text only; each command calls one function.

Heavy modules are imported inside the commands, so `--help` loads typer and
nothing else, and only the command being run gets its parser built (building
all of them costs more than the rest of `supervise up`'s start-up).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from supervise import __version__
from supervise.errors import SuperviseError

if TYPE_CHECKING:
    from supervise.commands.options import CommonOptions

Procfile = Annotated[
    str | None,
    typer.Option("-f", "--procfile", metavar="PATH", help="Use this Procfile (ignores pyproject.toml)."),
]
Root = Annotated[
    str | None,
    typer.Option("-d", "--root", metavar="DIR", help="Project root (default: the Procfile's folder, or .)."),
]
EnvFile = Annotated[
    list[str] | None,
    typer.Option(
        "-e",
        "--env-file",
        metavar="FILE",
        help="Env file to load instead of .env; repeatable or comma-separated (-e .env,.env.local).",
    ),
]
Formation = Annotated[
    str | None,
    typer.Option(
        "-m",
        "--formation",
        "-c",
        "--concurrency",
        metavar="web=2,worker=0",
        help="Instances per process (all=N for every one); -c/--concurrency as in honcho.",
    ),
]
Port = Annotated[
    int | None,
    typer.Option(
        "-p",
        "--port",
        metavar="N",
        help="Base PORT (default: PORT from the env files or environment, else port_base or 5000); "
        "+100 per process type.",
    ),
]
StopTimeout = Annotated[
    float | None,
    typer.Option(
        "-t",
        "--stop-timeout",
        metavar="S",
        help="Seconds from the stop signal to SIGKILL, for every process.",
    ),
]
NoColor = Annotated[bool, typer.Option("--no-color", "--no-colour", help="Plain output, no colors.")]
NoPrefix = Annotated[bool, typer.Option("--no-prefix", help="Print the processes' lines without a prefix.")]
NoTimestamp = Annotated[bool, typer.Option("--no-timestamp", help="Prefix lines with the name only.")]


def _complete_processes(ctx: typer.Context, incomplete: str) -> list[str]:
    from supervise.commands.completion import project_names

    return project_names(ctx.params, incomplete, instances=False)


def _complete_instances(ctx: typer.Context, incomplete: str) -> list[str]:
    from supervise.commands.completion import project_names

    return project_names(ctx.params, incomplete, instances=True, extra=("all",))


def _complete_logs(ctx: typer.Context, incomplete: str) -> list[str]:
    from supervise.commands.completion import project_names

    return project_names(ctx.params, incomplete, instances=True, extra=("system",))


def _complete_formats(incomplete: str) -> list[str]:
    from supervise.commands.completion import export_formats

    return export_formats(incomplete)


Names = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[NAME]...",
        help="Processes or groups (default: every autostart process).",
        autocompletion=_complete_processes,
    ),
]
Targets = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="NAME...",
        help="Instances (web.1), processes (web) or groups.",
        autocompletion=_complete_instances,
    ),
]


def _common(
    procfile: str | None = None,
    root: str | None = None,
    env_file: list[str] | None = None,
    formation: str | None = None,
    port: int | None = None,
    no_color: bool = False,
    stop_timeout: float | None = None,
    no_prefix: bool = False,
    no_timestamp: bool = False,
) -> CommonOptions:
    from supervise.commands.options import CommonOptions

    return CommonOptions.from_command_line(
        procfile, root, env_file or (), formation, port, no_color, stop_timeout, no_prefix, no_timestamp
    )


def _version(value: bool) -> None:
    if value:
        print(f"supervise {__version__}")
        raise typer.Exit(0)


def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run a Procfile or [tool.supervise] in the foreground; export it for supervisord."""


def up(
    names: Names = None,
    abort_on_exit: Annotated[
        bool, typer.Option("--abort-on-exit", help="Stop everything when any instance exits (foreman's way).")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", metavar="S", help="Stop everything after S seconds; exit 124."),
    ] = None,
    then: Annotated[
        str | None,
        typer.Option("--then", metavar="CMD", help="Once all are ready, run CMD, stop, exit with its code."),
    ] = None,
    ready_timeout: Annotated[
        float | None,
        typer.Option("--ready-timeout", metavar="S", help="Fail (exit 1) if not all ready within S seconds."),
    ] = None,
    tty: Annotated[
        bool | None,
        typer.Option(
            "--tty/--no-tty",
            help="Give every process a pseudo-terminal, or none (default: each process's tty setting).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON lines (time, name, text) instead of prefixed lines.")
    ] = False,
    log_dir: Annotated[
        str | None,
        typer.Option("--log-dir", metavar="DIR", help="Also write each instance's output to DIR/NAME.log."),
    ] = None,
    web: Annotated[
        str | None,
        typer.Option(
            "--web",
            metavar="[HOST:]PORT",
            help="Serve a live page of this up (HOST: 127.0.0.1); needs supervise[web].",
        ),
    ] = None,
    procfile: Procfile = None,
    root: Root = None,
    env_file: EnvFile = None,
    formation: Formation = None,
    port: Port = None,
    stop_timeout: StopTimeout = None,
    no_color: NoColor = False,
    no_prefix: NoPrefix = False,
    no_timestamp: NoTimestamp = False,
) -> int:
    """Run processes in the foreground with restarts; Ctrl-C stops them all."""
    from supervise.commands.up import UpOptions, run_up

    common = _common(
        procfile, root, env_file, formation, port, no_color, stop_timeout, no_prefix, no_timestamp
    )
    up_options = UpOptions(abort_on_exit, timeout, then, ready_timeout, as_json, log_dir, web)
    return run_up(common, names or [], up_options, tty)


def check(
    names: Names = None,
    procfile: Procfile = None,
    root: Root = None,
    env_file: EnvFile = None,
    formation: Formation = None,
    port: Port = None,
    stop_timeout: StopTimeout = None,
    no_color: NoColor = False,
) -> int:
    """Validate the configuration and print the resolved plan."""
    from supervise.commands.check import run_check

    common = _common(procfile, root, env_file, formation, port, no_color, stop_timeout)
    return run_check(common, names or [])


def run(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="CMD...",
            help="A command (after --), or the name of a process.",
            autocompletion=_complete_processes,
        ),
    ],
    procfile: Procfile = None,
    root: Root = None,
    env_file: EnvFile = None,
    port: Port = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", "--no-colour", help="Accepted; run adds no colors.")
    ] = False,
    no_prefix: Annotated[bool, typer.Option("--no-prefix", help="Accepted; run adds no prefix.")] = False,
    no_timestamp: Annotated[
        bool, typer.Option("--no-timestamp", help="Accepted; run adds no timestamps.")
    ] = False,
) -> int:
    """Run one command with the project's environment; exit with its code."""
    from supervise.commands.run import run_oneshot

    return run_oneshot(_common(procfile, root, env_file, None, port), command)


def export(
    format_name: Annotated[
        str,
        typer.Option(
            "--format",
            "-F",
            metavar="FORMAT",
            help="supervisord, systemd, kubernetes or compose.",
            autocompletion=_complete_formats,
        ),
    ],
    names: Names = None,
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", metavar="DIR", help="Write files into DIR (default: stdout)."),
    ] = None,
    app_name: Annotated[
        str | None, typer.Option("--app", metavar="NAME", help="App name (default: the root folder's name).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", metavar="USER", help="Run processes as USER.")] = None,
    log_dir: Annotated[
        str | None, typer.Option("--log-dir", metavar="DIR", help="Folder for log files (supervisord).")
    ] = None,
    image: Annotated[
        str | None, typer.Option("--image", metavar="IMAGE", help="Container image (kubernetes, compose).")
    ] = None,
    secret_env: Annotated[
        list[str] | None,
        typer.Option("--secret-env", metavar="KEY,...", help="Env keys to put in a Secret (kubernetes)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
    procfile: Procfile = None,
    root: Root = None,
    env_file: EnvFile = None,
    formation: Formation = None,
    port: Port = None,
    stop_timeout: StopTimeout = None,
) -> int:
    """Write a production configuration for the same processes."""
    from supervise.commands.export import run_export

    common = _common(procfile, root, env_file, formation, port, stop_timeout=stop_timeout)
    return run_export(
        common, format_name, names or [], output, force, app_name, user, log_dir, image, secret_env or []
    )


def init(
    procfile: Procfile = None,
    root: Root = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing [tool.supervise].")] = False,
) -> int:
    """Write [tool.supervise] into pyproject.toml from the Procfile."""
    from supervise.commands.init import run_init

    return run_init(_common(procfile, root), force=force)


def status(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...",
            help="Only these instances, processes or groups.",
            autocompletion=_complete_instances,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, for scripts.")] = False,
    procfile: Procfile = None,
    root: Root = None,
) -> int:
    """Show the instances of the supervise up running for this project."""
    from supervise.commands.control import run_status

    return run_status(_common(procfile, root), as_json, names or [])


def restart(names: Targets = None, procfile: Procfile = None, root: Root = None) -> int:
    """Restart instances of the running supervise up (resets their backoff)."""
    from supervise.commands.control import run_action

    return run_action(_common(procfile, root), "restart", names or [])


def stop(names: Targets = None, procfile: Procfile = None, root: Root = None) -> int:
    """Stop instances of the running supervise up; they stay stopped until started."""
    from supervise.commands.control import run_action

    return run_action(_common(procfile, root), "stop", names or [])


def start(names: Targets = None, procfile: Procfile = None, root: Root = None) -> int:
    """Start stopped instances of the running supervise up."""
    from supervise.commands.control import run_action

    return run_action(_common(procfile, root), "start", names or [])


def attach(
    name: Annotated[str, typer.Argument(metavar="NAME", help="An instance (web.1), or a process with one.")],
    procfile: Procfile = None,
    root: Root = None,
) -> int:
    """Connect this terminal to a running instance's terminal; Ctrl-] detaches."""
    from supervise.commands.attach import run_attach

    return run_attach(_common(procfile, root), name)


def logs(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME]...",
            help="Instances, processes, groups or system (default: all).",
            autocompletion=_complete_logs,
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("-n", "--lines", metavar="N", min=0, help="How many recent lines (default 100).")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Then print new lines until Ctrl-C.")
    ] = False,
    grep: Annotated[
        str | None, typer.Option("--grep", metavar="RE", help="Only lines this Python regex finds.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (time, name, text).")
    ] = False,
    procfile: Annotated[
        str | None,
        typer.Option("--procfile", metavar="PATH", help="The Procfile of the project (-f is --follow)."),
    ] = None,
    root: Root = None,
    no_color: NoColor = False,
    no_prefix: NoPrefix = False,
    no_timestamp: NoTimestamp = False,
) -> int:
    """Show the recent output of the running supervise up, merged in time order."""
    from supervise.commands.logs import run_logs

    common = _common(procfile, root, no_color=no_color, no_prefix=no_prefix, no_timestamp=no_timestamp)
    return run_logs(common, names or [], count, follow, grep, as_json)


def web(procfile: Procfile = None, root: Root = None) -> int:
    """Print the URL (with its token) of the running supervise up's page."""
    from supervise.commands.web import run_web

    return run_web(_common(procfile, root))


def signal(
    sig: Annotated[str, typer.Argument(metavar="SIG", help="HUP, USR1, SIGTERM, ... or a number.")],
    names: Targets = None,
    procfile: Procfile = None,
    root: Root = None,
) -> int:
    """Send a signal (HUP, USR1, ...) to instances of the running supervise up."""
    from supervise.commands.signal import run_signal

    return run_signal(_common(procfile, root), sig, names or [])


def reload(procfile: Procfile = None, root: Root = None) -> int:
    """Apply the changed configuration to the running supervise up (only what changed restarts)."""
    from supervise.commands.reload import run_reload

    return run_reload(_common(procfile, root))


def scale(
    counts: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME=COUNT...", help="New instance counts, e.g. web=3 worker=0."),
    ] = None,
    procfile: Procfile = None,
    root: Root = None,
) -> int:
    """Change how many instances of each process the running supervise up runs."""
    from supervise.commands.reload import run_scale

    return run_scale(_common(procfile, root), counts or [])


COMMANDS = (
    up,
    check,
    run,
    export,
    init,
    status,
    restart,
    stop,
    start,
    attach,
    logs,
    web,
    signal,
    reload,
    scale,
)
SETTINGS: dict[str, dict[str, Any]] = {
    "run": {"context_settings": {"allow_interspersed_args": False, "ignore_unknown_options": True}},
}


def build_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with only the one named `only`."""
    app = typer.Typer(
        name="supervise",
        help="Run a Procfile or [tool.supervise] in the foreground; export it for supervisord.",
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_main)
    for function in COMMANDS:
        if only is None or function.__name__ == only:
            app.command(**SETTINGS.get(function.__name__, {}))(function)
    return app


def _command_name(args: list[str]) -> str | None:
    """The command being run: the first word after the common options that may precede it."""
    from supervise.commands.argv import split_leading

    if "_SUPERVISE_COMPLETE" in os.environ:
        return None  # shell completion needs every command
    _, first, _ = split_leading(args)
    return first if first in {f.__name__ for f in COMMANDS} else None


def _options_of(command: Any, name: str | None) -> set[str] | None:
    """The option names command `name` declares (None when it is not known yet)."""
    sub = getattr(command, "commands", {}).get(name) if name else None
    return None if sub is None else {opt for param in sub.params for opt in param.opts}


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: user mistakes become one stderr line and exit 2, never a traceback."""
    from supervise.commands.argv import hoist

    args = sys.argv[1:] if argv is None else argv
    name = _command_name(args)
    command = typer.main.get_command(build_app(name))
    try:
        # `supervise -e .env.test run pytest`: common options before the command, as in honcho.
        args = hoist(args, _options_of(command, name))
        code = command.main(args=args, prog_name="supervise", standalone_mode=False)
    except SuperviseError as error:
        _fail(str(error), error.exit_code)
    except typer.TyperException as error:  # click's usage errors: one line, not three
        ctx = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help(), file=sys.stderr)  # bare `supervise`: the help, exit 2 as click does
            sys.exit(2)
        message = error.format_message()
        if ctx is not None:
            message = f'{message.rstrip(".")} (see "{ctx.command_path} --help")'
        _fail(message, getattr(error, "exit_code", 2))
    except typer.Abort:
        _fail("aborted", 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # stdout closed early (`supervise check | head`): not an error worth a line.
        sys.stderr.close()
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"supervise: {one_line}", file=sys.stderr)
    sys.exit(code)
