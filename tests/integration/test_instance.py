"""One RunningInstance in a real event loop, with real processes: the races between
a spawn under way and a stop or restart requested in the same loop turn."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from supervise.config.model import ProcessSpec, Project, RestartPolicy
from supervise.plan import build_plan
from supervise.runtime.group import GroupWatch
from supervise.runtime.instance import RunningInstance
from supervise.runtime.lifecycle import Command, Restart, State
from supervise.runtime.output import Printer
from tests.support import wait_gone


def run_instance(tmp_path: Path, script: list[object]) -> tuple[RunningInstance, str]:
    """Drive one instance of `exec sleep 300` through `script` (events, or "wait:STATE")."""
    spec = ProcessSpec(
        name="web", command="echo up; exec sleep 300", restart=RestartPolicy(startsecs=0), stop_timeout=2
    )
    plan = build_plan(Project(root=tmp_path, source="test", processes=(spec,)), caller_env=dict(os.environ))
    out = tmp_path / "out.log"

    async def main() -> RunningInstance:
        changed = asyncio.Event()
        errors: list[BaseException] = []
        with open(out, "wb") as sink:
            printer = Printer(sink.fileno(), ["web.1"], color=False, loop=asyncio.get_running_loop())

            def task_done(task: asyncio.Task[None]) -> None:
                if not task.cancelled() and task.exception() is not None:
                    errors.append(task.exception())  # type: ignore[arg-type]
                    changed.set()

            running = RunningInstance(
                plan.instances[0],
                plan.environment(plan.instances[0]),
                printer,
                groups=GroupWatch(asyncio.get_running_loop()),
                clock=asyncio.get_running_loop().time,
                on_change=lambda _: changed.set(),
                on_task_done=task_done,
            )

            async def drive() -> None:
                for step in script:
                    if isinstance(step, str):
                        state = State[step.removeprefix("wait:")]
                        while running.state is not state and not errors:
                            changed.clear()
                            await changed.wait()
                    else:
                        running.handle(step)  # type: ignore[arg-type]

            await asyncio.wait_for(drive(), 10)
            printer.flush()
            running.close()
        assert not errors, errors
        return running

    running = asyncio.run(main())
    return running, out.read_text()


def test_stop_in_the_same_turn_as_start_stops_the_new_process(tmp_path: Path) -> None:
    running, log = run_instance(tmp_path, [Command.START, Command.STOP, "wait:STOPPED"])
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", log)]
    assert len(pids) == 1
    assert wait_gone(pids) == []
    assert running.lifecycle.state is State.STOPPED


def test_restart_in_the_same_turn_as_start_ends_with_one_running_process(tmp_path: Path) -> None:
    _, log = run_instance(
        tmp_path, [Command.START, Restart("test"), "wait:RUNNING", Command.STOP, "wait:STOPPED"]
    )
    pids = [int(p) for p in re.findall(r"started \(pid (\d+)\)", log)]
    assert len(pids) == 2  # the first spawn was stopped, then it started again
    assert wait_gone(pids) == []
