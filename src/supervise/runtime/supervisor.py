"""The event loop's owner for `supervise up`: start, watch over, and stop everything.

Signal handlers only record (`loop.add_signal_handler` defers them into the
loop) and dispatch to one method per signal. Shutdown stops dependents before
their dependencies, waits for each wave, and ends with a sweep of every
descendant still alive: nothing we started outlives us.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supervise.plan import Plan, dependency_order, stop_waves
from supervise.runtime import proctree
from supervise.runtime.instance import RunningInstance, use_pidfd_child_watcher
from supervise.runtime.lifecycle import Kill, Restart, Start, State, Stop
from supervise.runtime.output import Printer
from supervise.runtime.reaper import Reaper

if TYPE_CHECKING:
    from supervise.runtime.control import ControlServer

EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
LEFTOVER_GRACE = 1.0
"""Seconds left to processes still alive after their instance stopped, before SIGKILL."""


@dataclass(frozen=True)
class UpOptions:
    """`up`'s own options, besides the common ones."""

    abort_on_exit: bool = False
    timeout: float | None = None
    then: str | None = None
    ready_timeout: float | None = None


class Supervisor:
    """Runs a Plan until everything has ended or a signal stops it."""

    def __init__(
        self, plan: Plan, options: UpOptions, *, color: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.plan = plan
        self.options = options
        self.color = color
        self.clock = clock
        self.instances: dict[str, RunningInstance] = {}
        self.waiting: set[str] = set()
        """Instances whose start waits for their dependencies."""
        self.held: set[str] = set()
        """Instances stopped through the control socket: `up` waits for a `start`."""
        self._stopping = False
        self._forced = False
        self._exit_code: int | None = None
        self._changed: asyncio.Event | None = None
        self._finished: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._crash: BaseException | None = None
        self._watch_stop: asyncio.Event | None = None
        self._by_process: dict[str, list[RunningInstance]] | None = None

    # -- running ------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        use_pidfd_child_watcher()
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()
        names = [i.name for i in self.plan.instances]
        self.printer = Printer(sys.stdout.fileno(), names, color=self.color, loop=loop)
        self.reaper = Reaper(lambda: {r.pgid for r in self.instances.values() if r.pgid}, self.clock)
        for instance in self.plan.instances:
            self.instances[instance.name] = RunningInstance(
                instance,
                self.plan.environment(instance),
                self.printer,
                clock=self.clock,
                on_change=self._on_change,
                on_task_done=self._task_done,
            )
        handlers = {
            signal.SIGINT: self.handle_int,
            signal.SIGTERM: self.handle_term,
            signal.SIGHUP: self.handle_hup,
            signal.SIGCHLD: self.reaper.on_sigchld,
        }
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)
        # A burst of SIGCHLDs (200 children stopping) can fill the loop's wakeup
        # socket while the loop is busy; a full socket already means "wake up", so
        # the overflow is harmless and must not print a traceback per signal.
        wakeup = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
        if self.options.timeout is not None:
            loop.call_later(self.options.timeout, self.handle_timeout)
        self.waiting = set(self.instances)
        control = await self._serve_control()
        self._watch_stop = asyncio.Event()
        try:
            self._spawn_task(self._start_all())
            self._spawn_task(self._watch())
            if self.options.then is not None or self.options.ready_timeout is not None:
                self._spawn_task(self._smoke())
            await self._finished.wait()
        finally:
            for signum in handlers:
                loop.remove_signal_handler(signum)
            await self._cleanup()
            await control.close()
        if self._crash is not None:
            raise self._crash
        assert self._exit_code is not None
        return self._exit_code

    async def _serve_control(self) -> ControlServer:
        """The control socket; a second `up` for the project stops here, before spawning."""
        from supervise.runtime.control import ControlServer
        from supervise.runtime.target import SupervisorTarget

        server = ControlServer(self.plan.project.root, SupervisorTarget(self))
        await server.start()
        return server

    async def wait_until(
        self, instances: Sequence[RunningInstance], done: Callable[[RunningInstance], bool]
    ) -> None:
        """Wait (on state changes, not time) until `done` holds for every instance."""
        assert self._changed is not None
        while not all(done(r) for r in instances):
            self._changed.clear()
            await self._changed.wait()

    async def _start_all(self) -> None:
        """Start each process type once every instance it depends on is ready."""
        for process in dependency_order(self.plan.specs):
            self._spawn_task(self._start_type(process))

    async def _watch(self) -> None:
        """One watcher for the run; each burst restarts the instances whose globs matched."""
        if not any(spec.watch for spec in self.plan.specs):
            return
        from supervise.runtime.watch import Watcher, WatchTarget

        targets = [WatchTarget(s.name, s.watch, s.watch_ignore) for s in self.plan.specs if s.watch]
        assert self._watch_stop is not None
        watcher = Watcher(self.plan.project.root, targets)
        started = asyncio.Event()
        announce = asyncio.ensure_future(started.wait())
        announce.add_done_callback(
            lambda f: None if f.cancelled() else self.printer.system(watcher.describe())
        )
        try:
            async for batch in watcher.reloads(self._watch_stop, started=started):
                for reload in batch:
                    more = f" and {reload.count - 1} more" if reload.count > 1 else ""
                    self.reload(reload.process, f"{reload.path}{more} changed")
        except Exception as error:  # a watch limit or a vanished folder must not stop `up`
            self.printer.system(f"file watching stopped: {error}")
        finally:
            announce.cancel()

    async def _smoke(self) -> None:
        from supervise.runtime.smoke import readiness_then

        code = await readiness_then(self, self.options.then, self.options.ready_timeout)
        if code >= 0:
            self._begin_shutdown(code, quiet=True)

    def reload(self, process: str, reason: str) -> None:
        """Restart every instance of `process` (a reload, not a failure); held ones stay down."""
        if self._stopping:
            return
        for running in self.of_process(process):
            if running.name not in self.held and running.name not in self.waiting:
                running.handle(Restart(reason))

    def of_process(self, process: str) -> list[RunningInstance]:
        """The instances of one process type (built once: 200 types x 200 instances adds up)."""
        if self._by_process is None:
            self._by_process = {}
            for running in self.instances.values():
                self._by_process.setdefault(running.instance.process, []).append(running)
        return self._by_process.get(process, [])

    def dependencies(self, running: RunningInstance) -> list[RunningInstance]:
        return [r for dep in running.instance.spec.depends_on for r in self.of_process(dep)]

    async def _start_type(self, process: str) -> None:
        instances = self.of_process(process)
        for dependency in self.dependencies(instances[0]):
            await dependency.ready.wait()
        if self._stopping:
            return
        for running in instances:
            self.waiting.discard(running.name)
            running.handle(Start())

    def _on_change(self, running: RunningInstance) -> None:
        assert self._changed is not None
        self._changed.set()
        code = running.lifecycle.returncode
        ended = running.state in (State.EXITED, State.BACKOFF, State.FATAL)
        if self.options.abort_on_exit and not self._stopping and code is not None and ended:
            self.printer.system(f"{running.name} ended; stopping everything (--abort-on-exit)")
            self._begin_shutdown(code if code >= 0 else 128 - code)
            return
        self._check_done()

    def _check_done(self) -> None:
        if self._stopping:
            return
        started = [r for name, r in self.instances.items() if name not in self.waiting]
        if self.held or self.options.then is not None or not all(r.lifecycle.done for r in started):
            return
        # Whatever still waits can only start once a dependency is ready; if a
        # dependency has ended without ever being ready, it never will.
        for name in sorted(self.waiting):
            running = self.instances[name]
            blocked = [d.name for d in self.dependencies(running) if d.lifecycle.done and not d.was_ready]
            if not blocked:
                return
            self.printer.system(f"{name} was not started: {', '.join(blocked)} ended without being ready")
        ok = not self.waiting and all(r.lifecycle.expected for r in self.instances.values())
        self._begin_shutdown(0 if ok else 1, quiet=True)

    # -- signals ------------------------------------------------------------------

    def handle_int(self) -> None:
        if self._stopping:
            self._force("second Ctrl-C")
        else:
            self._begin_shutdown(EXIT_BY_SIGNAL[signal.SIGINT], reason="SIGINT")

    def handle_term(self) -> None:
        if self._stopping:
            self._force("second SIGTERM")
        else:
            self._begin_shutdown(EXIT_BY_SIGNAL[signal.SIGTERM], reason="SIGTERM")

    def handle_hup(self) -> None:
        if not self._stopping:
            self._begin_shutdown(EXIT_BY_SIGNAL[signal.SIGHUP], reason="SIGHUP")

    def handle_timeout(self) -> None:
        if self._stopping:
            return
        alive = [r.name for r in self.instances.values() if not r.lifecycle.done]
        self.printer.system(
            f"--timeout {self.options.timeout:g} s reached; still running: {', '.join(alive) or 'none'}"
        )
        self._begin_shutdown(124)

    # -- stopping -----------------------------------------------------------------

    def _begin_shutdown(self, code: int, reason: str = "", quiet: bool = False) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._exit_code = code
        if self._watch_stop is not None:
            self._watch_stop.set()
        if reason:
            self.printer.system(f"{reason} received, stopping")
        elif not quiet:
            self.printer.system("stopping")
        self._spawn_task(self._stop_all())

    async def _stop_all(self) -> None:
        """Stop in waves, dependents first, then sweep what is left; then finish."""
        assert self._finished is not None
        table = proctree.process_table()
        for names in stop_waves(self.plan.specs):
            wave = [running for name in names for running in self.of_process(name)]
            for running in wave:
                running.process_table = table
                running.handle(Stop())
                running.kill_leftovers(running.instance.spec.stop_signal_number)
            await self.wait_until(wave, lambda r: r.lifecycle.done)
        grace = min(LEFTOVER_GRACE, max(s.stop_timeout for s in self.plan.specs))
        await self.reaper.drain(grace, lambda: self._forced, self.printer.system)
        self._finished.set()

    def _force(self, reason: str) -> None:
        if self._forced:
            return
        self._forced = True
        self.printer.system(f"{reason}: killing everything now")
        for running in self.instances.values():
            running.handle(Kill())
        self.reaper.kill_all()

    async def _cleanup(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for running in self.instances.values():
            if running.pid is not None:
                proctree.killpg_quietly(running.pid, signal.SIGKILL)
        self.reaper.kill_all()
        self.reaper.close()
        for running in self.instances.values():
            running.close()
        self.printer.flush()

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A bug in a task must not leave children behind: stop, then re-raise from run()."""
        self._tasks.discard(task)  # (instance tasks were never in it: discard is a no-op)
        if task.cancelled() or task.exception() is None:
            return
        self._crash = task.exception()
        assert self._finished is not None
        self._finished.set()
