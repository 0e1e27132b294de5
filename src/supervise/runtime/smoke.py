"""CI smoke runs: wait until every instance is ready, run a command, exit with its code.

`supervise up --then "pytest tests/smoke"` starts the plan, waits for
readiness (fails at once if an instance goes FATAL first, or after
`--ready-timeout` seconds), runs the command with the project's environment,
and stops everything. The command's output goes through the same Printer,
under the name `then`.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import TYPE_CHECKING

from supervise.runtime.group import kill_group

if TYPE_CHECKING:
    from supervise.runtime.instance import RunningInstance
    from supervise.runtime.output.ring import RecentOutput
    from supervise.runtime.supervisor import Supervisor

THEN = "then"
"""The output name of the `--then` command."""


class NotReady(Exception):
    """Readiness failed; the message names the instances and their last lines."""


async def readiness_then(
    supervisor: Supervisor, then: str | None, timeout: float | None, recent: RecentOutput
) -> int:
    """`--ready-timeout` and `--then`: the exit code `up` should end with, or None to go on.

    A report of what is not ready quotes each instance's last lines from `recent`.
    """
    try:
        took = await wait_all_ready(supervisor, timeout, recent)
    except NotReady as problem:
        supervisor.printer.system(str(problem))
        return 1
    supervisor.printer.system(f"all {len(supervisor.instances)} instance(s) ready after {took:.1f} s")
    if then is None:
        return -1
    code = await run_then(supervisor, then)
    supervisor.printer.system(f"--then command exited with code {code}; stopping")
    return code


async def wait_all_ready(supervisor: Supervisor, timeout: float | None, recent: RecentOutput) -> float:
    """Seconds until every instance was ready; NotReady when one can no longer be, or on timeout."""
    began = supervisor.clock()
    instances = list(supervisor.instances.values())

    def ended(running: RunningInstance) -> bool:
        return running.lifecycle.starts > 0 and running.lifecycle.done

    def settled(running: RunningInstance) -> bool:
        """Ready, or never going to be: ended unready, or waiting on a dependency that did."""
        if running.was_ready:
            return True
        if running.name in supervisor.waiting:
            deps = supervisor.dependencies(running)
            return any(ended(d) and not d.was_ready for d in deps)
        return ended(running)

    try:
        await asyncio.wait_for(supervisor.wait_until(instances, settled), timeout)
    except asyncio.TimeoutError:
        pending = [r for r in instances if not r.was_ready]
        raise NotReady(f"--ready-timeout {timeout:g} s: not ready: {_report(pending, recent)}") from None
    failed = [r for r in instances if not r.was_ready]
    if failed:
        raise NotReady(f"not ready, and will not be: {_report(failed, recent)}")
    return supervisor.clock() - began


def _report(instances: list[RunningInstance], recent: RecentOutput) -> str:
    parts = []
    for running in instances:
        last = " / ".join(recent.last_lines(running.name, 3))
        state = running.lifecycle.state.value
        parts.append(f"{running.name} ({state}{'; last output: ' + last if last else ''})")
    return ", ".join(parts)


async def run_then(supervisor: Supervisor, command: str) -> int:
    """Run the `--then` command in its own session; its exit code (128+N for signal N)."""
    printer = supervisor.printer
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=supervisor.plan.project.root,
        env=supervisor.plan.command_environment(),
        start_new_session=True,
    )
    printer.system(f"running --then command (pid {process.pid}): {command}")
    assert process.stdout is not None
    try:
        while chunk := await process.stdout.read(1 << 16):
            printer.feed(THEN, chunk)
        printer.end(THEN)
        code = await process.wait()
    finally:
        # Done, or cancelled because `up` is stopping: nothing it started may stay.
        kill_group(process.pid)
        if process.returncode is None:
            await asyncio.shield(process.wait())
    return code if code >= 0 else 128 - code
