"""The event loop's owner for `supervise up`: start, watch over, and stop everything.

Signal handlers only record (`loop.add_signal_handler` defers them into the
loop) and dispatch to one method per signal. Shutdown stops dependents before
their dependencies: each instance is stopped by its lifecycle (stop signal
once, SIGKILL after stop_timeout) and counts as stopped only once its whole
process group is gone, so a dependency is never signalled while its
dependent's program still runs. Nothing we started outlives us.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supervise.plan import Instance, Plan, dependency_order, stop_waves
from supervise.runtime import proctree
from supervise.runtime.dependencies import StrandedReport, completed_task, final_code
from supervise.runtime.group import GroupWatch
from supervise.runtime.instance import RunningInstance, use_pidfd_child_watcher
from supervise.runtime.lifecycle import Command, Restart, State
from supervise.runtime.output import Printer
from supervise.runtime.reaper import Reaper

if TYPE_CHECKING:
    from supervise.runtime.terminal import Terminal, Terminals

EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
SAME_SIGNAL_WINDOW = 0.5
"""A signal repeated this soon is the same Ctrl-C (a forwarding parent and the terminal both sent it)."""
WAITING_FIRST_REPORT = 5.0
WAITING_REPORT_EVERY = 30.0


@dataclass(frozen=True)
class RunSettings:
    """How this run ends, besides signals: values from `up`'s options."""

    abort_on_exit: bool = False
    """The first instance to end stops everything (the plan already has no restarts)."""
    timeout: float | None = None
    """Stop everything after this many seconds; exit 124."""
    hold: bool = False
    """Keep running when every instance has ended (a --then command decides the end)."""
    tty: bool | None = None
    """`up --tty` (True) or `--no-tty` (False) over every process's `tty`; None: each process's own."""
    on_terminal: bool = False
    """`up`'s stdout is a terminal: what `tty = "auto"` follows."""


class Supervisor:
    """Runs a Plan until everything has ended or a signal stops it."""

    def __init__(
        self,
        plan: Plan,
        settings: RunSettings,
        *,
        printer: Printer,
        clock: Callable[[], float],
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.printer = printer
        self.clock = clock
        loop = asyncio.get_running_loop()
        self.groups = GroupWatch(loop)
        self.reaper = Reaper()
        self.terminals: Terminals | None = None
        """The pseudo-terminals of the tty instances; made for the first one (a reload may add it)."""
        self.instances: dict[str, RunningInstance] = {
            instance.name: self.new_running(instance, plan) for instance in plan.instances
        }
        self.by_process: dict[str, list[RunningInstance]] = {}
        self._index()
        self.waiting: set[str] = set(self.instances)
        """Instances whose start waits for their dependencies."""
        self.held: set[str] = set()
        """Instances stopped through the control socket: `up` waits for a `start`."""
        self.stopping = False
        """Shutdown has begun: nothing starts any more."""
        self._forced = False
        self._exit_code: int | None = None
        self._last_signal: tuple[int, float] | None = None
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._crash: BaseException | None = None
        self._watch_stop = asyncio.Event()
        self._stranded = StrandedReport(printer.system)
        self._changing = 0

    # -- running ------------------------------------------------------------------

    async def run(
        self,
        smoke: Callable[[Supervisor], Awaitable[int]] | None = None,
        *,
        also: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> int:
        """Start everything, run until the end; the exit code. `smoke`'s code >= 0 ends the run.

        `also`: more work of the run (watching the configuration), started with
        it and cancelled at its end; a bug in one ends the run as in our own tasks.
        """
        loop = asyncio.get_running_loop()
        use_pidfd_child_watcher()
        handlers = {
            signal.SIGINT: self.handle_int,
            signal.SIGTERM: self.handle_term,
            signal.SIGHUP: self.handle_hup,
            signal.SIGCHLD: self._on_sigchld,
            signal.SIGWINCH: self._on_sigwinch,
        }
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)
        # A burst of SIGCHLDs (200 children stopping) can fill the loop's wakeup
        # socket while the loop is busy; a full socket already means "wake up", so
        # the overflow is harmless and must not print a traceback per signal.
        wakeup = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
        if self.settings.timeout is not None:
            loop.call_later(self.settings.timeout, self.handle_timeout)
        try:
            self._spawn_task(self._start_all())
            self._spawn_task(self._watch())
            if smoke is not None:
                self._spawn_task(self._smoke(smoke))
            for work in also:
                self._spawn_task(work())
            await self._finished.wait()
        finally:
            for signum in handlers:
                loop.remove_signal_handler(signum)
            self._cleanup()
        if self._crash is not None:
            raise self._crash
        assert self._exit_code is not None
        return self._exit_code

    async def wait_until(
        self, instances: Sequence[RunningInstance], done: Callable[[RunningInstance], bool]
    ) -> None:
        """Wait (on state changes, not time) until `done` holds for every instance."""
        while not all(done(r) for r in instances):
            self._changed.clear()
            await self._changed.wait()

    async def _start_all(self) -> None:
        """Start each process type once every instance it depends on is ready."""
        for process in dependency_order(self.plan.specs):
            self._spawn_task(self._start_type(process))

    async def _start_type(self, process: str, names: Sequence[str] | None = None) -> None:
        """Start the waiting instances of `process` (or these of them) once their dependencies are ready.

        Instances and dependencies are looked up by name at each state change:
        a reload may replace or remove any of them meanwhile.
        """
        if names is None:
            names = [running.name for running in self.of_process(process)]

        def current() -> list[RunningInstance]:
            return [self.instances[name] for name in names if name in self.instances]

        def dependencies_ready() -> bool:
            instances = current()
            return not instances or all(_is_ready(d) for d in self.dependencies(instances[0]))

        delay = WAITING_FIRST_REPORT
        while True:
            try:
                await asyncio.wait_for(self._wait_for(dependencies_ready), delay)
                break
            except asyncio.TimeoutError:
                if self.stopping or not current():
                    return
                self.printer.system(f"{process} is still waiting for {self.waiting_for(current()[0])}")
                delay = WAITING_REPORT_EVERY
        if self.stopping:
            return
        for running in current():
            if running.name in self.waiting:
                self.waiting.discard(running.name)
                running.handle(Command.START)

    async def _wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait (on state changes, not time) until `condition` holds."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    # -- changes while running (reload, scale: runtime/reload.py) --------------------

    def new_running(self, instance: Instance, plan: Plan) -> RunningInstance:
        """An instance of `plan` under this supervisor, not started."""
        env = plan.environment(instance)
        return RunningInstance(
            instance,
            env,
            self.printer,
            groups=self.groups,
            clock=self.clock,
            on_change=self._on_change,
            on_task_done=self._task_done,
            terminal=self._terminal(instance, env),
        )

    def _terminal(self, instance: Instance, env: dict[str, str]) -> Terminal | None:
        """The pty side of `instance` when its process has a tty (and TERM in `env`); None: pipes.

        Asked for every new instance, from its own spec: a reload can add a tty process, or turn one on.
        """
        if not instance.spec.tty.resolve(self.settings.tty, self.settings.on_terminal):
            return None
        from supervise.runtime.terminal import DEFAULT_TERM, Terminals  # only a run with a tty imports it

        env.setdefault("TERM", DEFAULT_TERM)  # up's own TERM, or the process's `env`, when set
        if self.terminals is None:
            self.terminals = Terminals(self.printer)
        return self.terminals.terminal(instance)

    def replace_plan(self, plan: Plan, instances: dict[str, RunningInstance]) -> None:
        """A reload's new plan and its instances (in its order), swapped in at once."""
        self.plan = plan
        self.instances = instances
        self._index()
        self._changed.set()

    def start_later(self, names: Sequence[str]) -> None:
        """Start these waiting instances (of one process type) once their dependencies are ready."""
        if names:
            self._spawn_task(self._start_type(self.instances[names[0]].instance.process, names))

    def restart_watch(self) -> None:
        """Watch what the current plan's processes watch (a reload changed it)."""
        if not self.stopping:
            self._watch_stop.set()
            self._watch_stop = asyncio.Event()
            self._spawn_task(self._watch())

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """While a reload stops and swaps instances, `up` does not conclude that everything ended."""
        self._changing += 1
        try:
            yield
        finally:
            self._changing -= 1
            self._check_done()

    def _index(self) -> None:
        self.by_process = {}
        for running in self.instances.values():
            self.by_process.setdefault(running.instance.process, []).append(running)

    def waiting_for(self, running: RunningInstance) -> str | None:
        """What a waiting instance waits for: the first dependency not ready, and why."""
        if running.name not in self.waiting:
            return None
        for dependency in self.dependencies(running):
            if dependency.ready.is_set():
                continue
            probe = dependency.instance.ready
            if probe is not None and dependency.probe_error is not None:
                return f"{dependency.name}: {probe.describe()}: {dependency.probe_error}"
            return f"{dependency.name}: {dependency.state.value}"
        return "its start"

    async def _watch(self) -> None:
        """One watcher for the run; each burst restarts the instances whose globs matched."""
        if not any(spec.watch for spec in self.plan.specs):
            return
        from supervise.runtime.watch import ReloadRate, Watcher, WatchTarget

        targets = [WatchTarget(s.name, s.watch, s.watch_ignore) for s in self.plan.specs if s.watch]
        watcher = Watcher(self.plan.project.root, targets)
        rate = ReloadRate()
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
                    too_often = rate.note(reload, self.clock())
                    if too_often:
                        self.printer.system(too_often)
        except Exception as error:  # a watch limit or a vanished folder must not stop `up`
            self.printer.system(f"file watching stopped: {error}")
        finally:
            announce.cancel()

    async def _smoke(self, smoke: Callable[[Supervisor], Awaitable[int]]) -> None:
        code = await smoke(self)
        if code >= 0:
            self._begin_shutdown(code, quiet=True)

    def reload(self, process: str, reason: str) -> None:
        """Restart every instance of `process` (a reload, not a failure); held ones stay down."""
        if self.stopping:
            return
        for running in self.of_process(process):
            if running.name not in self.held and running.name not in self.waiting:
                running.handle(Restart(reason))

    def of_process(self, process: str) -> list[RunningInstance]:
        """The instances of one process type."""
        return self.by_process.get(process, [])

    def dependencies(self, running: RunningInstance) -> list[RunningInstance]:
        return [r for dep in running.instance.spec.depends_on for r in self.of_process(dep)]

    def _on_change(self, running: RunningInstance) -> None:
        self._changed.set()
        code = running.lifecycle.returncode
        # A task that completed has not "exited" in --abort-on-exit's sense: it did its job.
        ended = running.state in (State.EXITED, State.BACKOFF, State.FATAL) and not completed_task(running)
        if self.settings.abort_on_exit and not self.stopping and code is not None and ended:
            self.printer.system(f"{running.name} ended; stopping everything (--abort-on-exit)")
            self._begin_shutdown(code if code >= 0 else 128 - code)
            return
        if not self.stopping:
            self._stranded.on_change(running, self.instances, self.waiting, self.dependencies)
        self._check_done()

    def _check_done(self) -> None:
        if self.stopping or self.held or self.settings.hold or self._changing or not self.instances:
            return  # (no instances: a reload or scale left none; the next one may bring some)
        started = [r for name, r in self.instances.items() if name not in self.waiting]
        if not all(r.lifecycle.done for r in started):
            return
        # Whatever still waits can only start once a dependency is ready; if a
        # dependency has ended without ever being ready, it never will.
        code = final_code(self.instances, self.waiting, self.dependencies)
        if code is not None:
            self._begin_shutdown(code, quiet=True)

    # -- signals ------------------------------------------------------------------

    def handle_int(self) -> None:
        self._on_stop_signal(signal.SIGINT, "Ctrl-C")

    def handle_term(self) -> None:
        self._on_stop_signal(signal.SIGTERM, "SIGTERM")

    def handle_hup(self) -> None:
        self._on_stop_signal(signal.SIGHUP, "SIGHUP")

    def _on_stop_signal(self, signum: signal.Signals, what: str) -> None:
        """The first one stops gracefully; a second, later one kills at once."""
        now = self.clock()
        last, self._last_signal = self._last_signal, (signum, now)
        if last is not None and last[0] == signum and now - last[1] < SAME_SIGNAL_WINDOW:
            return  # the same Ctrl-C, delivered twice (`npm run` forwards what the terminal sent)
        if not self.stopping:
            self._begin_shutdown(EXIT_BY_SIGNAL[signum], reason=signum.name)
        elif signum is not signal.SIGHUP:
            self._force(f"second {what}")

    def handle_timeout(self) -> None:
        if self.stopping:
            return
        alive = [r.name for r in self.instances.values() if not r.lifecycle.done]
        self.printer.system(
            f"--timeout {self.settings.timeout:g} s reached; still running: {', '.join(alive) or 'none'}"
        )
        self._begin_shutdown(124)

    def handle_output_closed(self) -> None:
        """Nobody reads our output any more (`supervise up | head`): stop as for SIGTERM."""
        self._begin_shutdown(EXIT_OUTPUT_CLOSED, quiet=True)

    def handle_output_stalled(self, stalled: bool) -> None:
        """Our output cannot be written: stop reading children's pipes, so they wait, not us."""
        for running in self.instances.values():
            running.pause_output(stalled)

    def _on_sigwinch(self) -> None:
        """`up`'s window changed: the ptys nobody is attached to take its new size."""
        if self.terminals is not None:
            self.terminals.window_changed()

    def _on_sigchld(self) -> None:
        self.groups.on_sigchld()
        self.reaper.on_sigchld()

    # -- stopping -----------------------------------------------------------------

    def _begin_shutdown(self, code: int, reason: str = "", quiet: bool = False) -> None:
        if self.stopping:
            return
        self.stopping = True
        self._exit_code = code
        self._watch_stop.set()
        if reason:
            self.printer.system(f"{reason} received, stopping")
        elif not quiet:
            self.printer.system("stopping")
        self._spawn_task(self._stop_all())

    async def _stop_all(self) -> None:
        """Stop in waves, dependents first; each wave is done when its groups are gone."""
        for names in stop_waves(self.plan.specs):
            wave = [running for name in names for running in self.of_process(name)]
            for running in wave:
                running.handle(Command.STOP)
            await self.wait_until(wave, lambda r: r.lifecycle.done)
        strays = self.reaper.leftovers()
        if strays:
            # Descendants that left their instance's tree (double-forked daemons): the
            # instances are stopped, so nothing is left to ask them gracefully.
            self.printer.system(f"killing {len(strays)} process(es) left behind: {sorted(strays)}")
            proctree.kill_all(strays)
        self._finished.set()

    def _force(self, reason: str) -> None:
        if self._forced:
            return
        self._forced = True
        self.printer.system(f"{reason}: killing everything now")
        for running in self.instances.values():
            running.handle(Command.KILL)

    def _cleanup(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for running in self.instances.values():
            if running.group is not None and not running.lifecycle.done:
                running.group.signal(signal.SIGKILL, whole_group=True, table=self.groups.table())
            running.close()
        self.reaper.kill_all()
        self.reaper.close()
        self.groups.close()

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
        self._finished.set()


def _is_ready(running: RunningInstance) -> bool:
    return running.ready.is_set()
