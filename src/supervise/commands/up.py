"""`supervise up`: turn the options into a Plan and run it in the foreground.

This is where `up`'s collaborators are built and wired: the Printer on our
stdout, the Supervisor, the control socket (taken before anything spawns, so
a second `up` for the project stops there) and the --then smoke run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from supervise.commands.options import CommonOptions
from supervise.errors import UsageError
from supervise.plan import Plan, without_restarts
from supervise.runtime import guardian
from supervise.runtime.output import Printer, use_color
from supervise.runtime.output.ring import RecentOutput
from supervise.runtime.reload import PlanSource
from supervise.runtime.supervisor import EXIT_OUTPUT_CLOSED, RunSettings, Supervisor

if TYPE_CHECKING:
    from supervise.config.model import WebAddress
    from supervise.runtime.output.logfile import LogFiles


@dataclass(frozen=True)
class UpOptions:
    """`up`'s own options, besides the common ones."""

    abort_on_exit: bool = False
    timeout: float | None = None
    then: str | None = None
    ready_timeout: float | None = None
    as_json: bool = False
    """--json: JSON lines instead of the prefixed view."""
    log_dir: str | None = None
    """--log-dir, as typed (relative to the current folder); else log_dir from the configuration."""
    web: str | None = None
    """--web [HOST:]PORT, as typed; else `web` from the configuration."""


def run_up(options: CommonOptions, names: Sequence[str], up: UpOptions, tty: bool | None = None) -> int:
    """`supervise up`: run the plan in the foreground; the process's exit code.

    `tty`: `--tty` (True) or `--no-tty` (False) over every process's `tty` setting.
    """
    guardian.protect()  # done already when `up` came first on the command line (see __main__)
    _check_seconds("--timeout", up.timeout)
    _check_seconds("--ready-timeout", up.ready_timeout)
    caller_env = dict(os.environ)  # `up`'s own environment does not change while it runs

    def build(formation: Mapping[str, int] | None = None, also: Sequence[str] = ()) -> Plan:
        """The plan as this command line makes it from the files as they are now (reloads too)."""
        plan = options.load_plan(names, caller_env=caller_env, formation=formation, also=also)
        # --abort-on-exit is foreman's way: the first exit ends the run, so nothing restarts.
        return without_restarts(plan) if up.abort_on_exit else plan

    plan = build()
    for notice in plan.project.notices:
        print(f"supervise: warning: {notice}", file=sys.stderr)
    if not plan.instances:
        raise UsageError("nothing to run: every selected process has 0 instances or autostart = false")
    if not _stdout_open():
        # `up >&-`: the output is gone before anything started, as if `up | head` had
        # lost its reader; nothing is started, and the exit code says so the same way.
        print("supervise: stdout is closed; nothing started", file=sys.stderr)
        return EXIT_OUTPUT_CLOSED
    terminal = os.isatty(1)
    # JSON lines carry text, not a terminal's colors: --json sanitizes as --no-color does.
    color = not up.as_json and use_color(isatty=terminal, environ=os.environ, no_color_flag=options.no_color)
    if color and sys.platform == "win32":  # elsewhere terminals read ANSI codes as they are
        import colorama

        colorama.just_fix_windows_console()
    web = _web_address(plan, up.web)  # without aiohttp, `up --web` stops here: nothing started
    files = _log_files(plan, up.log_dir)  # an unusable folder stops `up` here, before anything runs
    source = PlanSource(build=build, formation=options.parsed_formation())
    _widen_pipe(sys.stdout.fileno())
    try:
        with _nonblocking(sys.stdout.fileno()):
            return asyncio.run(
                _up(
                    plan,
                    up,
                    color,
                    files,
                    web,
                    source,
                    tty=tty,
                    on_terminal=terminal,
                    prefix=not options.no_prefix,
                    timestamp=not options.no_timestamp,
                )
            )
    finally:
        if files is not None:
            files.close()


WEB_EXTRA_MISSING = "--web needs the web extra: pip install 'supervise[web]' (it adds aiohttp)"


def _web_address(plan: Plan, typed: str | None) -> WebAddress | None:
    """--web or `web` from the configuration, checked, with the server's module imported; None for neither."""
    if typed is None:
        address = plan.project.web
    else:
        from supervise.config.convert import Invalid, to_web_address

        try:
            address = to_web_address(typed)
        except Invalid as invalid:
            raise UsageError(f"--web: {invalid}") from None
    if address is None:
        return None
    try:
        import supervise.runtime.web  # noqa: F401  (aiohttp comes with the extra only)
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "aiohttp":
            raise
        raise UsageError(WEB_EXTRA_MISSING) from None
    return address


def _log_files(plan: Plan, log_dir: str | None) -> LogFiles | None:
    """The log folder from --log-dir or `log_dir`, opened; None when neither is given."""
    policy = plan.project.logs
    if log_dir is not None:
        policy = dataclasses.replace(policy, directory=Path(os.path.abspath(log_dir)))
    if policy.directory is None:
        return None
    from supervise.runtime.output.logfile import LogFiles

    return LogFiles.open(policy.directory, policy)


async def _up(
    plan: Plan,
    up: UpOptions,
    color: bool,
    files: LogFiles | None,
    web: WebAddress | None,
    source: PlanSource,
    *,
    prefix: bool,
    timestamp: bool,
    tty: bool | None,
    on_terminal: bool,
) -> int:
    """`tty`: --tty/--no-tty; `on_terminal`: our stdout is a terminal (what `tty = "auto"` follows)."""
    from supervise.runtime.control.server import ControlServer
    from supervise.runtime.control.target import SupervisorTarget
    from supervise.runtime.reload import Reloader

    loop = asyncio.get_running_loop()
    settings = RunSettings(
        abort_on_exit=up.abort_on_exit,
        timeout=up.timeout,
        hold=up.then is not None,
        tty=tty,
        on_terminal=on_terminal,
    )
    supervisor: Supervisor | None = None

    def output_closed() -> None:
        if supervisor is not None:
            supervisor.handle_output_closed()

    def output_stalled(stalled: bool) -> None:
        if supervisor is not None:
            supervisor.handle_output_stalled(stalled)

    names = [instance.name for instance in plan.instances]
    recent = RecentOutput()
    printer = Printer(
        sys.stdout.fileno(),
        names,
        color=color,
        kinds=[spec.name for spec in plan.project.processes],  # colors do not depend on the selection
        loop=loop,
        on_closed=output_closed,
        on_stalled=output_stalled,
        prefix=prefix,
        timestamp=timestamp,
        as_json=up.as_json,
        recent=recent,
        files=files,
    )
    supervisor = Supervisor(plan, settings, printer=printer, clock=time.monotonic)
    changes = Reloader(supervisor, source)
    target = SupervisorTarget(supervisor, recent, changes)
    page = None
    if web is not None:
        from supervise.runtime.web import WebPage, address_warning, new_token

        page = WebPage(target, web, plan.project.root.name or str(plan.project.root), new_token())
    control = ControlServer(plan.project.root, target, page=page)
    await control.start()
    if page is not None and web is not None:
        try:
            await page.start()
        except BaseException:
            await control.close()
            raise
        printer.system(f"page: {page.url}")
        warning = address_warning(web)
        if warning is not None:
            printer.system(warning)
    smoke = None
    if up.then is not None or up.ready_timeout is not None:
        from supervise.runtime.smoke import readiness_then

        smoke = partial(readiness_then, then=up.then, timeout=up.ready_timeout, recent=recent)
    # Start-up is over: what it loaded stays out of every later collection, which runs again.
    gc.freeze()
    gc.enable()
    try:
        return await supervisor.run(smoke, also=[changes.watch])
    finally:
        if page is not None:
            await page.close()
        await control.close()
        printer.close()


def _check_seconds(option: str, value: float | None) -> None:
    """A duration option is positive and at most a day, as the configuration's are (nan is not)."""
    if value is None:
        return
    from supervise.config.convert import Invalid, to_positive_seconds

    try:
        to_positive_seconds(value)
    except Invalid as invalid:
        raise UsageError(f"{option}: {invalid}") from None


def _stdout_open() -> bool:
    """False when `up` was started with fd 1 closed (Python then has no sys.stdout)."""
    if sys.stdout is None:
        return False
    try:
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
    return True


PIPE_BYTES = 1 << 20
"""What `up`'s stdout pipe is widened to: the most Linux allows an unprivileged process by default."""


def _widen_pipe(fd: int) -> None:
    """When our stdout is a pipe (CI, `| tee`), let it hold PIPE_BYTES, as far as the system allows.

    A loop wakeup's output (4 ptys read at full speed: 200 KiB and more) then
    goes out in one write, and supervise and its reader take turns per MiB,
    not per 64 KiB: measured here, 800,000 lines through ptys took about a
    fifth less time and CPU. A pipe already that big, or not ours to widen,
    stays as it is.
    """
    if sys.platform != "linux":
        return
    import fcntl

    with contextlib.suppress(OSError):  # not a pipe (a terminal, a file), or over the user's limit
        if fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_BYTES:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


@contextlib.contextmanager
def _nonblocking(fd: int) -> Iterator[None]:
    """Our stdout non-blocking while `up` runs: a reader that stalls must not stall the loop."""
    try:
        was_blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
    except OSError:  # closed (`up >&-`), or a kind of file that has no such flag
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.set_blocking(fd, was_blocking)
