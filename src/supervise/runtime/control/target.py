"""The control socket's view of a running supervisor: status, restart, stop, start, signal, reload, scale.

Requests arrive in the supervisor's own loop, so they are plain lifecycle
events; each call returns once the instances have reached the state asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING

from supervise.config.shell import is_simple_command
from supervise.errors import ControlError, UsageError
from supervise.runtime.control.protocol import InstanceStatus
from supervise.runtime.lifecycle import Command, Restart, State

if TYPE_CHECKING:
    from supervise.runtime.instance import RunningInstance
    from supervise.runtime.output.ring import RecentOutput
    from supervise.runtime.reload import Reloader
    from supervise.runtime.supervisor import Supervisor
    from supervise.runtime.terminal import Terminal
    from supervise.runtime.usage import UsageMeter


class SupervisorTarget:
    """Implements `control.ControlTarget` over a Supervisor (and its Reloader, for reload and scale)."""

    def __init__(self, supervisor: Supervisor, recent: RecentOutput, changes: Reloader | None = None) -> None:
        self.supervisor = supervisor
        self.recent = recent
        self.changes = changes

    @cached_property
    def meter(self) -> UsageMeter:
        """Made at the first `status` that asks: `up` starts without the process-table reader."""
        from supervise.runtime.usage import UsageMeter, usage_table

        # As a subreaper, we are an ancestor of every process an instance started:
        # reading our own subtree is enough, and costs what we run, not what the machine runs.
        root = os.getpid() if self.supervisor.reaper.subreaper else None
        return UsageMeter(self.supervisor.clock, read=partial(usage_table, root))

    def instance_names(self) -> list[str]:
        return list(self.supervisor.instances)

    def process_types(self) -> list[str]:
        return [spec.name for spec in self.supervisor.plan.project.processes]

    def recent_output(self) -> RecentOutput:
        return self.recent

    def groups(self) -> dict[str, list[str]]:
        """Each process and configured group -> its instances: the page's per-group buttons."""
        instances = self.supervisor.instances
        found: dict[str, list[str]] = {}
        for name, running in instances.items():
            found.setdefault(running.instance.process, []).append(name)
        for group, members in self.supervisor.plan.project.groups.items():
            found[group] = [n for n, r in instances.items() if r.instance.process in members]
        return found

    async def measure(self) -> None:
        await self.meter.measure()

    def statuses(self) -> list[InstanceStatus]:
        now = self.supervisor.clock()
        result = []
        for running in self.supervisor.instances.values():
            lc = running.lifecycle
            group = running.group
            usage = None if group is None or lc.done else self.meter.of_group(group.pgid)
            result.append(
                InstanceStatus(
                    name=running.name,
                    process=running.instance.process,
                    state="WAITING" if running.name in self.supervisor.waiting else lc.state.value,
                    pid=running.pid,
                    uptime=now - lc.started_at
                    if running.pid is not None and lc.started_at is not None
                    else None,
                    restarts=lc.restarts,
                    port=running.instance.port,
                    ready=running.ready.is_set() if running.instance.ready is not None else None,
                    waiting_for=self.supervisor.waiting_for(running),
                    last_exit=lc.returncode,
                    cpu=None if usage is None or usage.cpu is None else round(usage.cpu, 1),
                    memory=None if usage is None else usage.memory,
                )
            )
        return result

    def resolve(self, names: Sequence[str]) -> list[str]:
        plan = self.supervisor.plan
        instances = self.supervisor.instances
        found: list[str] = []
        for name in names:
            if name == "all":
                matches = list(instances)
            elif name in instances:
                matches = [name]
            elif name in plan.project.groups:
                members = plan.project.groups[name]
                matches = [n for n, r in instances.items() if r.instance.process in members]
            else:
                matches = [n for n, r in instances.items() if r.instance.process == name]
            if not matches:
                raise UsageError(
                    _unknown(name, [*instances, *self.supervisor.by_process, *plan.project.groups])
                )
            found.extend(m for m in matches if m not in found)
        return found

    async def restart(self, instances: Sequence[str]) -> None:
        self._refuse_when_stopping("restart", instances)
        targets = self._take(instances)
        for running in targets:
            running.handle(Restart("requested by supervise restart"))
        await self.supervisor.wait_until(targets, _started)

    async def stop(self, instances: Sequence[str]) -> None:
        targets = self._take(instances)
        self.supervisor.held.update(r.name for r in targets)
        for running in targets:
            running.handle(Command.STOP)
        await self.supervisor.wait_until(targets, lambda r: r.lifecycle.done)

    async def start(self, instances: Sequence[str]) -> None:
        self._refuse_when_stopping("start", instances)
        targets = self._take(instances)
        for running in targets:
            running.handle(Command.START)
        await self.supervisor.wait_until(targets, _started)

    async def signal(self, instances: Sequence[str], signum: int) -> list[tuple[str, list[int]]]:
        """Send `signum` as `supervise signal` does; (name, pids it went to), no pids when nothing runs.

        A simple command's program gets it (and its group too with `stopasgroup`),
        as supervisorctl sends it to the program; for a compound line, every
        process of the group but the shell, which would die of HUP or USR1 and
        take the instance down where its program was meant.
        """
        table = self.supervisor.groups.table()
        sent: list[tuple[str, list[int]]] = []
        for name in instances:
            running = self.supervisor.instances[name]
            if running.pid is None or running.group is None:
                sent.append((name, []))
                continue
            spec = running.instance.spec
            shell = not is_simple_command(spec.command)
            whole = shell or spec.stops_as_group
            sent.append(
                (name, running.group.send(signum, whole_group=whole, spare_leader=shell, table=table))
            )
        return sent

    async def reload(self) -> str:
        return await self._changes().reload()

    async def scale(self, formation: Mapping[str, int]) -> str:
        return await self._changes().scale(formation)

    def _changes(self) -> Reloader:
        if self.changes is None:
            raise ControlError("this supervise up cannot change its configuration while it runs")
        return self.changes

    def _refuse_when_stopping(self, action: str, instances: Sequence[str]) -> None:
        if self.supervisor.stopping:
            raise ControlError(f"supervise up is stopping; not going to {action} {', '.join(instances)}", 1)

    def terminal(self, name: str) -> Terminal:
        names = self.resolve([name])
        if len(names) > 1:
            raise UsageError(f'"{name}" has {len(names)} instances; attach to one: {", ".join(names)}')
        running = self.supervisor.instances[names[0]]
        if running.terminal is None:
            process = running.instance.process
            raise ControlError(
                f"{running.name} has no terminal to attach to: set tty = true in "
                f"[tool.supervise.processes.{process}] (or run supervise up --tty)"
            )
        if running.pid is None:
            raise ControlError(f"{running.name} is not running ({running.state.value})")
        return running.terminal

    def _take(self, names: Sequence[str]) -> list[RunningInstance]:
        """The instances, released from anything that held them back (a stop, a dependency)."""
        targets = [self.supervisor.instances[name] for name in names]
        for running in targets:
            self.supervisor.held.discard(running.name)
            self.supervisor.waiting.discard(running.name)
        return targets


def _started(running: RunningInstance) -> bool:
    """RUNNING (and ready, when it has a probe), or given up on: what `restart` and `start` wait for."""
    state = running.lifecycle.state
    if state is State.RUNNING:
        return running.ready.is_set() or running.lifecycle.done
    return state in (State.BACKOFF, State.FATAL, State.EXITED, State.STOPPED)


def _unknown(name: str, known: Sequence[str]) -> str:
    """`unknown name "wbe"; did you mean "web"?`, or the names there are."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f'unknown instance, process or group "{name}"; did you mean "{close[0]}"?'
    return f'unknown instance, process or group "{name}"; known: {", ".join(dict.fromkeys(known))}, all'
