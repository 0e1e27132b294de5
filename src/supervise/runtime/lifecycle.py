"""One process's life, as supervisord defines it: states, events, and actions.

Pure: `Lifecycle.handle(event, now)` returns the actions the caller must carry
out (spawn, signal, timer, watch the group, log line); the clock comes in as
`now` and timers go out as actions, so tests drive it with a fake clock and
never sleep.

    STOPPED/EXITED/FATAL --Start--> STARTING --startsecs--> RUNNING
    STARTING --exit--> BACKOFF --delay--> STARTING ...  (FATAL after 1 + startretries failed starts)
    RUNNING  --exit--> EXITED, or BACKOFF and a restart per autorestart/exitcodes
    STARTING/RUNNING --Stop--> STOPPING --gone--> STOPPED (SIGKILL after stop_timeout)

An exit is final only once the instance's whole process group is gone
(DESIGN.md principle 2): when the main process exits and leaves processes in
its group, the instance is STOPPING until they are gone too (they get the stop
signal once, SIGKILL after stop_timeout), and only then is the exit reported
and a restart decided. So a restart never overlaps the previous run, and a
dependency is never stopped before its dependent's program has exited.

Unlike supervisord, the retry delay doubles (`backoff.initial` up to
`backoff.maximum`), and a process that keeps dying soon after reaching
RUNNING is restarted no sooner than `backoff.initial` after its last start.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from supervise.config.model import Autorestart, ProcessSpec


class State(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


STOPPED_STATES = frozenset({State.STOPPED, State.EXITED, State.FATAL})
"""Nothing runs and nothing is scheduled: the instance is done until started again."""
RUNNING_STATES = frozenset({State.STARTING, State.RUNNING, State.STOPPING})
"""A process exists (or is being spawned)."""


# -- events: what happened ------------------------------------------------------


class Command(enum.Enum):
    """A request that carries nothing more."""

    START = "start"
    """First start, `supervise start`."""
    STOP = "stop"
    """Shutdown, `supervise stop`."""
    KILL = "kill"
    """Stop at once with SIGKILL (a second Ctrl-C)."""


class Notice(enum.Enum):
    """Something the instance saw that carries nothing more."""

    GROUP_GONE = "group gone"
    """The last process of the group (and every escapee) is gone."""
    TIMER_FIRED = "timer fired"
    """The one pending timer fired; what it means depends on the state."""


@dataclass(frozen=True)
class Restart:
    """Restart requested (`supervise restart`, a watched file): not a failure."""

    reason: str = ""


@dataclass(frozen=True)
class Spawned:
    """The process exists now."""

    pid: int


@dataclass(frozen=True)
class SpawnFailed:
    """The process could not be started (no such program, no such folder)."""

    error: str


@dataclass(frozen=True)
class Exited:
    """The main process exited: `returncode` as asyncio reports it (-N for signal N).

    `leftovers`: processes of its group (or escapees) still run.
    """

    returncode: int
    leftovers: bool = False


Event = Command | Notice | Restart | Spawned | SpawnFailed | Exited


# -- actions: what the caller must do -------------------------------------------


class Do(enum.Enum):
    """An action that carries nothing more."""

    SPAWN = "spawn"
    """Start the process (in a new session, with the instance's env and directory)."""
    CANCEL_TIMER = "cancel timer"
    """Drop the pending timer, if any."""
    WATCH_GROUP = "watch group"
    """Report GROUP_GONE once nothing of the group runs any more."""


@dataclass(frozen=True)
class Signal:
    """Send `signum` to the main process alone, or to its whole group and escapees."""

    signum: int
    whole_group: bool = True


@dataclass(frozen=True)
class SetTimer:
    """(Re)arm the instance's single timer; it replaces any pending one."""

    delay: float


@dataclass(frozen=True)
class Log:
    """A system line for the output."""

    message: str


Action = Do | Signal | SetTimer | Log


class TransitionError(RuntimeError):
    """An event that cannot happen in the current state: a bug, never user input."""


def describe_exit(returncode: int) -> str:
    """`exited with code 3` or `was killed by SIGKILL`."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


class Lifecycle:
    """The state machine for one instance; see the module docstring."""

    def __init__(self, name: str, spec: ProcessSpec) -> None:
        self.name = name
        self.spec = spec
        self.state = State.STOPPED
        self.failures = 0
        """Consecutive failed starts (exits before startsecs)."""
        self.started_at: float | None = None
        self.returncode: int | None = None
        """The main process's last exit, once reported."""
        self.expected = True
        """Whether the last end was expected: EXITED with a code in exitcodes, or STOPPED."""
        self.starts = 0
        """Spawns so far: 0 until the first start."""
        self._stop_requested = False
        """The current STOPPING was asked for (a stop or restart), not caused by an exit."""
        self._restart_after_stop = False
        self._exit: tuple[int, State] | None = None
        """The main process's exit code and the state it exited in, while its group drains."""

    def __repr__(self) -> str:
        return f"<Lifecycle {self.name} {self.state.value} failures={self.failures}>"

    @property
    def restarts(self) -> int:
        """Starts after the first one, for `status`."""
        return max(0, self.starts - 1)

    @property
    def done(self) -> bool:
        """Nothing runs and nothing will start by itself."""
        return self.state in STOPPED_STATES

    @property
    def main_exited(self) -> bool:
        """The main process is gone and what it left in its group is being stopped."""
        return self._exit is not None

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event; return what the caller must do, in order."""
        match event:
            case Command.START:
                return self._on_start()
            case Restart(reason=reason):
                return self._on_restart(reason)
            case Command.STOP:
                return self._on_stop()
            case Command.KILL:
                return self._on_kill()
            case Spawned(pid=pid):
                return self._on_spawned(pid, now)
            case SpawnFailed(error=error):
                return self._on_spawn_failed(error)
            case Exited():
                return self._on_exited(event, now)
            case Notice.GROUP_GONE:
                return self._on_group_gone(now)
            case Notice.TIMER_FIRED:
                return self._on_timer_fired()
        raise TransitionError(f"{self.name}: unknown event {event!r}")

    # -- requests ---------------------------------------------------------------

    def _on_start(self) -> list[Action]:
        if self.state in (State.STARTING, State.RUNNING):
            return []
        return self._start_again([])

    def _on_restart(self, reason: str) -> list[Action]:
        reason = f" ({reason})" if reason else ""
        if self.state in (State.STARTING, State.RUNNING):
            self.failures = 0
            self._restart_after_stop = True
            return [Log(f"restarting {self.name}{reason}"), *self._stop()]
        return self._start_again([Log(f"starting {self.name}{reason}")])

    def _start_again(self, logs: list[Action]) -> list[Action]:
        """No process to stop: spawn now, or as soon as the stop under way ends."""
        if self.state is State.STOPPING:
            self._stop_requested = True  # an exit being drained ends as a stop, then the start
            self._restart_after_stop = True
            return logs
        self.failures = 0
        return [*logs, Do.CANCEL_TIMER, *self._spawn()]

    def _on_stop(self) -> list[Action]:
        self._restart_after_stop = False
        if self.state in (State.STARTING, State.RUNNING):
            return self._stop()
        if self.state is State.STOPPING:
            self._stop_requested = True  # its signal is already sent: never a second one
            return []
        if self.state is State.BACKOFF:
            # A pending retry is cancelled: no start can race the stop.
            self.state = State.STOPPED
            self.expected = True
            return [Do.CANCEL_TIMER, Log(f"{self.name} stopped (a pending restart was cancelled)")]
        return []

    def _on_kill(self) -> list[Action]:
        if self.state not in RUNNING_STATES:
            return self._on_stop()
        self._restart_after_stop = False
        self._stop_requested = True
        self.state = State.STOPPING
        return [Do.CANCEL_TIMER, Signal(signal.SIGKILL)]

    # -- what the process did ---------------------------------------------------

    def _on_spawned(self, pid: int, now: float) -> list[Action]:
        self._require(State.STARTING, State.STOPPING)
        self.started_at = now
        actions: list[Action] = [Log(f"{self.name} started (pid {pid})")]
        if self.state is State.STOPPING:
            return actions  # stopped while it was being spawned: the stop signal follows
        startsecs = self.spec.restart.startsecs
        if startsecs <= 0:
            return [*actions, *self._running()]
        return [*actions, SetTimer(startsecs)]

    def _on_spawn_failed(self, error: str) -> list[Action]:
        self._require(State.STARTING, State.STOPPING)
        if self.state is State.STOPPING:
            self.state = State.STOPPED
            return [Do.CANCEL_TIMER, Log(f"{self.name} stopped before it could start ({error})")]
        return self._failed_start(f"{self.name} could not be started: {error}")

    def _on_exited(self, event: Exited, now: float) -> list[Action]:
        self._require(*RUNNING_STATES)
        exited_in = self.state
        self._exit = (event.returncode, exited_in)
        if not event.leftovers:
            return self._finish(now)
        if exited_in is State.STOPPING:
            # A stop is under way: its signal was sent once, its SIGKILL timer runs.
            return [Do.WATCH_GROUP]
        # implies STARTING/RUNNING -> STOPPING: it exited by itself, leaving processes behind
        self.state = State.STOPPING
        how = describe_exit(event.returncode)
        return [
            Log(f"{self.name} {how}; stopping what it left in its process group"),
            Signal(self.spec.stop_signal_number),
            SetTimer(self.spec.stop_timeout),
            Do.WATCH_GROUP,
        ]

    def _on_group_gone(self, now: float) -> list[Action]:
        self._require(State.STOPPING)
        if self._exit is None:
            return []  # the group emptied before its main process was reaped: Exited follows
        return self._finish(now)

    def _on_timer_fired(self) -> list[Action]:
        if self.state is State.STARTING:
            return self._running()
        if self.state is State.BACKOFF:
            return self._spawn()
        if self.state is State.STOPPING:
            what = f"what {self.name} left" if self.main_exited else self.name
            return [
                Log(f"{what} did not stop within {self.spec.stop_timeout:g} s; sending SIGKILL"),
                Signal(signal.SIGKILL),
            ]
        return []  # a timer that raced a state change: nothing to do

    # -- outcomes ---------------------------------------------------------------

    def _finish(self, now: float) -> list[Action]:
        """Everything of this run is gone: report the main process's exit and decide what next."""
        assert self._exit is not None
        code, exited_in = self._exit
        self._exit = None
        self.returncode = code
        how = describe_exit(code)
        if self._stop_requested:
            # implies STOPPING -> STOPPED (or STARTING again after a restart)
            self.state = State.STOPPED
            self.expected = True
            self._stop_requested = False
            actions: list[Action] = [Do.CANCEL_TIMER, Log(f"{self.name} stopped ({how})")]
            if self._restart_after_stop:
                self._restart_after_stop = False
                actions += self._spawn()
            return actions
        actions = [Do.CANCEL_TIMER]
        if exited_in is State.STARTING:
            # implies STARTING -> BACKOFF: it did not stay up for startsecs
            return [*actions, *self._failed_start(f"{self.name} {how} within startsecs")]
        # implies RUNNING -> EXITED, then maybe a restart
        self.expected = code >= 0 and self.spec.restart.is_expected(code)
        self.state = State.EXITED
        policy = self.spec.restart.autorestart
        restart = policy is Autorestart.ALWAYS or (policy is Autorestart.UNEXPECTED and not self.expected)
        verdict = "expected" if self.expected else "not expected"
        if not restart:
            return [*actions, Log(f"{self.name} {how} ({verdict})")]
        # A crash loop after RUNNING must not spin: no start sooner than
        # backoff.initial after the previous one.
        since = now - self.started_at if self.started_at is not None else 0.0
        delay = max(0.0, self.spec.restart.backoff.initial - since)
        if delay <= 0:
            return [*actions, Log(f"{self.name} {how} ({verdict}); restarting"), *self._spawn()]
        self.state = State.BACKOFF
        return [
            *actions,
            Log(f"{self.name} {how} ({verdict}); restarting in {delay:.2g} s"),
            SetTimer(delay),
        ]

    def _spawn(self) -> list[Action]:
        self.state = State.STARTING
        self.starts += 1
        self._stop_requested = False
        return [Do.SPAWN]

    def _running(self) -> list[Action]:
        self.state = State.RUNNING
        self.failures = 0  # the backoff resets after a start that reached RUNNING
        return []

    def _stop(self) -> list[Action]:
        self.state = State.STOPPING
        self._stop_requested = True
        sig = self.spec.stop_signal_number
        return [
            Log(f"stopping {self.name} ({sig.name})"),
            Signal(sig, whole_group=self.spec.stops_as_group),
            SetTimer(self.spec.stop_timeout),
        ]

    def _failed_start(self, what: str) -> list[Action]:
        self.failures += 1
        retries = self.spec.restart.startretries
        if self.failures > retries:
            self.state = State.FATAL
            self.expected = False
            hint = ""
            if self.returncode is not None and self.spec.restart.is_expected(self.returncode):
                hint = " (a one-shot task? give it startsecs = 0 and autorestart = false)"
            fatal = f"{self.name} is FATAL after {self.failures} failed starts{hint}"
            return [Do.CANCEL_TIMER, Log(f"{what}; {fatal}; see its output above")]
        self.state = State.BACKOFF
        delay = self.spec.restart.backoff.delay(self.failures)
        return [
            Log(f"{what}; retry {self.failures} of {retries} in {delay:g} s"),
            SetTimer(delay),
        ]

    def _require(self, *states: State) -> None:
        if self.state not in states:
            allowed = ", ".join(s.value for s in states)
            raise TransitionError(f"{self.name}: event in {self.state.value}, expected one of {allowed}")
