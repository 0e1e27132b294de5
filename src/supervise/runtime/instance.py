"""One running instance: spawn it in its own session, feed its lifecycle, carry out its actions.

This is where lifecycle actions become system calls. Each spawn gets a new
session (so its process group is ours to signal and the terminal's Ctrl-C
does not reach it), stdin from /dev/null, and one pipe for stdout and stderr
that goes straight to the Printer, chunk by chunk; or, for a tty instance, a
pty of its own for all three (`terminal.py`), read into the same protocol.
Signals go through the spawn's ProcessGroup (group.py), and the lifecycle
hears of an exit together with whether the group still has processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from supervise.config.model import ProbeKind
from supervise.plan import Instance
from supervise.runtime.dependencies import ready_by_state
from supervise.runtime.group import GroupWatch, ProcessGroup
from supervise.runtime.lifecycle import (
    Action,
    Do,
    Event,
    Exited,
    Lifecycle,
    Log,
    Notice,
    SetTimer,
    Signal,
    Spawned,
    SpawnFailed,
    State,
    describe_exit,
)
from supervise.runtime.output import Printer

if TYPE_CHECKING:
    from supervise.runtime.probes import LogMatcher
    from supervise.runtime.pseudoterminal import Pty
    from supervise.runtime.terminal import Terminal

# After the leader exits, how long to wait for its pipe to reach EOF so its
# last lines print before the "exited" line (a grandchild may hold the pipe).
PIPE_GRACE = 0.05


def use_pidfd_child_watcher() -> None:
    """Before 3.12, asyncio waits for each child in a thread of its own; a pidfd per child
    (Linux 5.3+) is one more fd in the loop instead. 3.12+ does this by itself."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return  # an older kernel: keep asyncio's threads
    watcher = asyncio.PidfdChildWatcher()
    asyncio.set_child_watcher(watcher)
    watcher.attach_loop(asyncio.get_running_loop())


class RunningInstance:
    """An Instance under supervision; `handle` is the only way its state changes."""

    def __init__(
        self,
        instance: Instance,
        env: Mapping[str, str],
        printer: Printer,
        *,
        groups: GroupWatch,
        clock: Callable[[], float],
        on_change: Callable[[RunningInstance], None],
        on_task_done: Callable[[asyncio.Task[None]], None],
        terminal: Terminal | None = None,
    ) -> None:
        self.instance = instance
        self.name = instance.name
        self.env = dict(env)
        self.lifecycle = Lifecycle(instance.name, instance.spec)
        self.printer = printer
        self.groups = groups
        self.clock = clock
        self.on_change = on_change
        self.on_task_done = on_task_done
        """Sees every task this instance starts: a bug in one must stop `up`, not hang it."""
        self.pid: int | None = None
        """The main process, while it runs."""
        self.group: ProcessGroup | None = None
        """The processes of the latest spawn; kept until they are all gone."""
        self.ready = asyncio.Event()
        self.was_ready = False
        """Ready at least once: enough for dependents that wait on it (a one-shot task counts)."""
        self.probe_error: str | None = None
        """Why the readiness probe has not passed yet (for `status` and waiting dependents)."""
        self.terminal = terminal
        """A tty instance's pseudo-terminals; None: pipes."""
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.SubprocessTransport | None = None
        self._pending_signal: Signal | None = None
        self._spawn_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self.log_matcher: LogMatcher | None = None
        """Set while a `log` readiness probe waits for its line; fed output chunks."""

    def __repr__(self) -> str:
        state = self.lifecycle.state.value
        pid = f" pid {self.pid}" if self.pid else ""
        return f"<RunningInstance {self.name} {state}{pid}>"

    @property
    def state(self) -> State:
        return self.lifecycle.state

    def handle(self, event: Event) -> None:
        """Feed one event to the lifecycle and carry out its actions."""
        for action in self.lifecycle.handle(event, self.clock()):
            self._do(action)
        if not self.ready.is_set() and ready_by_state(self.instance, self.lifecycle):
            self._became_ready()
        self.on_change(self)

    def _do(self, action: Action) -> None:
        match action:
            case Do.SPAWN:
                self._spawn_task = self._loop.create_task(self._spawn())
                self._spawn_task.add_done_callback(self.on_task_done)
            case Signal():
                self._signal(action)
            case Do.WATCH_GROUP:
                if self.group is not None:
                    self.groups.watch(self.group, self._group_gone)
            case SetTimer(delay=delay):
                self._cancel_timer()
                self._timer = self._loop.call_later(delay, self._timer_fired)
            case Do.CANCEL_TIMER:
                self._cancel_timer()
            case Log(message=message):
                self.printer.system(message)

    def _group_gone(self) -> None:
        self.handle(Notice.GROUP_GONE)

    def _timer_fired(self) -> None:
        self._timer = None
        self.handle(Notice.TIMER_FIRED)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _became_ready(self) -> None:
        self.ready.set()
        self.was_ready = True

    async def _await_ready(self, since: float) -> None:
        """Run the readiness probe for this spawn; cancelled when the process exits."""
        from supervise.runtime.probes import wait_until_ready

        probe = self.instance.ready
        assert probe is not None
        await wait_until_ready(
            probe, env=self.env, cwd=self.instance.cwd, log=self.log_matcher, failed=self._probe_failed
        )
        self.log_matcher = None
        self.probe_error = None
        self.printer.system(f"{self.name} is ready ({probe.describe()}) after {self.clock() - since:.1f} s")
        self._became_ready()
        self.on_change(self)

    def _probe_failed(self, why: str) -> None:
        self.probe_error = why

    def feed_output(self, data: bytes) -> None:
        """Output of the current process: to the printer, and to a waiting log probe."""
        self.printer.feed(self.name, data)
        if self.log_matcher is not None:
            self.log_matcher.feed(data)

    async def _spawn(self) -> None:
        spec = self.instance.spec
        probe = self.instance.ready
        if probe is not None and probe.kind is ProbeKind.LOG:
            from supervise.runtime.probes import LogMatcher

            self.log_matcher = LogMatcher(probe.target)
        command, stdin, stdout = spec.shell_line, subprocess.DEVNULL, subprocess.PIPE
        pty = None
        try:
            if self.terminal is not None:
                pty = self.terminal.open()
                command, stdin, stdout = pty.shell_line(command), pty.slave, pty.slave
            transport, _protocol = await self._loop.subprocess_exec(
                lambda: _PipeProtocol(self),
                "/bin/sh",
                "-c",
                command,
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                cwd=self.instance.cwd,
                env=self.env,
                start_new_session=True,
            )
        except OSError as error:
            self._spawn_failed(pty, f"{error.strerror or error} ({self.instance.cwd})")
            return
        except Exception as error:  # anything else must still end in BACKOFF/FATAL, never a hang
            self._spawn_failed(pty, repr(error))
            return
        self._transport = transport
        self.pid = transport.get_pid()
        self.group = ProcessGroup(self.pid)
        self.probe_error = None
        self.handle(Spawned(self.pid))
        if probe is not None and self.state in (State.STARTING, State.RUNNING):
            self._probe_task = self._loop.create_task(self._await_ready(self.clock()))
            self._probe_task.add_done_callback(self.on_task_done)
        if self._pending_signal is not None:
            pending, self._pending_signal = self._pending_signal, None
            self._signal(pending)
        protocol = transport.get_protocol()
        assert isinstance(protocol, _PipeProtocol)
        if pty is not None and self.terminal is not None:
            self.terminal.connect(pty, protocol)
        protocol.spawned = True
        if protocol.exit_pending:
            protocol.finish_exit()

    def _spawn_failed(self, pty: Pty | None, reason: str) -> None:
        if pty is not None and self.terminal is not None:
            self.terminal.discard(pty)
        self.handle(SpawnFailed(reason))

    def _signal(self, action: Signal) -> None:
        """The main process alone, or its group and escapees, as the lifecycle says."""
        if self.group is None or (self.pid is None and not self.lifecycle.main_exited):
            if self.state is State.STOPPING and self._spawn_task is not None:
                self._pending_signal = action  # still spawning: deliver once it exists
            return
        whole = action.whole_group or self.pid is None
        self.group.signal(action.signum, whole_group=whole, table=self.groups.table())

    def _exited(self, returncode: int) -> None:
        """The main process is gone: tell the lifecycle whether its group still has processes."""
        self.pid = None
        self.ready.clear()
        if self._probe_task is not None:
            self._probe_task.cancel()
            self._probe_task = None
        assert self.group is not None
        if self.terminal is not None:
            self.terminal.ended(f"{self.name} {describe_exit(returncode)}")
        self.handle(Exited(returncode, leftovers=self.group.alive_now()))

    def pause_output(self, paused: bool) -> None:
        """Stop (or go on) reading the output pipe: the child then blocks on it, nothing is lost."""
        if self.terminal is not None:
            self.terminal.pause_reading(paused)
        pipe = self._transport.get_pipe_transport(1) if self._transport is not None else None
        if isinstance(pipe, asyncio.ReadTransport) and not pipe.is_closing():
            if paused:
                pipe.pause_reading()
            else:
                pipe.resume_reading()

    def close(self) -> None:
        self._cancel_timer()
        if self.terminal is not None:
            self.terminal.close()
        if self.group is not None:
            self.groups.forget(self.group)
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class _PipeProtocol(asyncio.SubprocessProtocol):
    """Pipe bytes straight to the Printer; report the exit once output has drained."""

    def __init__(self, owner: RunningInstance) -> None:
        self.owner = owner
        self.spawned = False
        self.exit_pending = False
        self.pipe_open = True
        self._grace: asyncio.TimerHandle | None = None
        self._reported = False

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.owner.feed_output(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.owner.printer.end(self.owner.name)
        self.pipe_open = False
        if self.exit_pending and self.spawned:
            self.finish_exit()

    def process_exited(self) -> None:
        self.exit_pending = True
        if not self.spawned:
            return  # `_spawn` has not seen the pid yet; it calls finish_exit
        if self.pipe_open:
            loop = asyncio.get_running_loop()
            self._grace = loop.call_later(PIPE_GRACE, self.finish_exit)
        else:
            self.finish_exit()

    def finish_exit(self) -> None:
        if self._reported:
            return
        if self._grace is not None:
            self._grace.cancel()
        self._reported = True
        transport = self.owner._transport
        code = transport.get_returncode() if transport is not None else None
        if self.pipe_open is False and transport is not None:
            transport.close()
            self.owner._transport = None
        self.owner._exited(code if code is not None else -signal.SIGKILL)

    def connection_lost(self, exc: Exception | None) -> None:
        pass
