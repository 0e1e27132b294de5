"""One process's life, as supervisord defines it: states, events, and actions.

Pure: `Lifecycle.handle(event, now)` returns the actions the caller must carry
out (spawn, signal, timer, log line); the clock comes in as `now` and timers
go out as actions, so tests drive it with a fake clock and never sleep.

    STOPPED/EXITED/FATAL --Start--> STARTING --startsecs--> RUNNING
    STARTING --exit--> BACKOFF --delay--> STARTING ...  (FATAL after 1 + startretries failed starts)
    RUNNING  --exit--> EXITED, or BACKOFF and a restart per autorestart/exitcodes
    STARTING/RUNNING --Stop--> STOPPING --exit--> STOPPED (SIGKILL after stop_timeout)

Unlike supervisord, the retry delay doubles (`backoff.initial` up to
`backoff.maximum`), and a process that keeps dying soon after reaching
RUNNING is restarted no sooner than `backoff.initial` after its last start.
"""

from __future__ import annotations

import enum
import signal

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


class Message:
    """Events and actions: small values compared by kind and fields.

    Plain slotted classes rather than frozen dataclasses: defining thirteen
    dataclasses cost 10 ms of `supervise up`'s start-up. Treat them as immutable.
    """

    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        same = (getattr(self, name) == getattr(other, name) for name in self.__slots__)
        return type(other) is type(self) and all(same)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


# -- events: what happened ------------------------------------------------------


class Start(Message):
    """Start requested (first start, `supervise start`)."""


class Restart(Message):
    """Restart requested (`supervise restart`, a watched file): not a failure."""

    __slots__ = ("reason",)

    def __init__(self, reason: str = "") -> None:
        self.reason = reason


class Stop(Message):
    """Stop requested (shutdown, `supervise stop`)."""


class Kill(Message):
    """Stop at once with SIGKILL (a second Ctrl-C)."""


class Spawned(Message):
    __slots__ = ("pid",)

    def __init__(self, pid: int) -> None:
        self.pid = pid


class SpawnFailed(Message):
    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


class Exited(Message):
    """The process exited: `returncode` as asyncio reports it (-N for signal N)."""

    __slots__ = ("returncode",)

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode


class TimerFired(Message):
    """The one pending timer fired; what it means depends on the state."""


Event = Start | Restart | Stop | Kill | Spawned | SpawnFailed | Exited | TimerFired


# -- actions: what the caller must do -------------------------------------------


class Spawn(Message):
    """Start the process (in a new session, with the instance's env and directory)."""


class Signal(Message):
    """Send `signum` to the instance's process group."""

    __slots__ = ("signum",)

    def __init__(self, signum: int) -> None:
        self.signum = signum


class SetTimer(Message):
    """(Re)arm the instance's single timer; it replaces any pending one."""

    __slots__ = ("delay",)

    def __init__(self, delay: float) -> None:
        self.delay = delay


class CancelTimer(Message):
    """Drop the pending timer, if any."""


class Log(Message):
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


Action = Spawn | Signal | SetTimer | CancelTimer | Log


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
        self.expected = True
        """Whether the last end was expected: EXITED with a code in exitcodes, or STOPPED."""
        self._restart_after_stop = False
        self.starts = 0
        """Spawns so far: 0 until the first start."""

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

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply one event; return what the caller must do, in order."""
        handler = getattr(self, f"_on_{type(event).__name__.lower()}")
        actions: list[Action] = handler(event, now)
        return actions

    def _on_start(self, _event: Start, now: float) -> list[Action]:
        if self.state in (State.STARTING, State.RUNNING):
            return []
        return self._start_again([])

    def _on_restart(self, event: Restart, now: float) -> list[Action]:
        reason = f" ({event.reason})" if event.reason else ""
        if self.state in (State.STARTING, State.RUNNING):
            self.failures = 0
            self._restart_after_stop = True
            return [Log(f"restarting {self.name}{reason}"), *self._stop()]
        return self._start_again([Log(f"starting {self.name}{reason}")])

    def _start_again(self, logs: list[Action]) -> list[Action]:
        """No process to stop: spawn now, or as soon as the stop under way ends."""
        if self.state is State.STOPPING:
            self._restart_after_stop = True
            return []
        self.failures = 0
        return [*logs, CancelTimer(), *self._spawn()]

    def _on_stop(self, _event: Stop, now: float) -> list[Action]:
        self._restart_after_stop = False
        if self.state in (State.STARTING, State.RUNNING):
            return self._stop()
        if self.state is State.BACKOFF:
            # A pending retry is cancelled: no start can race the stop.
            self.state = State.STOPPED
            self.expected = True
            return [CancelTimer(), Log(f"{self.name} stopped (a pending restart was cancelled)")]
        return []

    def _on_kill(self, _event: Kill, now: float) -> list[Action]:
        if self.state in RUNNING_STATES:
            self._restart_after_stop = False
            self.state = State.STOPPING
            return [CancelTimer(), Signal(signal.SIGKILL)]
        return self._on_stop(Stop(), now)

    def _on_spawned(self, event: Spawned, now: float) -> list[Action]:
        self._require(State.STARTING, State.STOPPING)
        self.started_at = now
        actions: list[Action] = [Log(f"{self.name} started (pid {event.pid})")]
        if self.state is State.STOPPING:
            return actions  # stopped while it was being spawned: the stop signal follows
        startsecs = self.spec.restart.startsecs
        if startsecs <= 0:
            return [*actions, *self._running()]
        return [*actions, SetTimer(startsecs)]

    def _on_spawnfailed(self, event: SpawnFailed, now: float) -> list[Action]:
        self._require(State.STARTING, State.STOPPING)
        if self.state is State.STOPPING:
            self.state = State.STOPPED
            return [CancelTimer(), Log(f"{self.name} stopped before it could start ({event.error})")]
        return self._failed_start(f"{self.name} could not be started: {event.error}")

    def _on_exited(self, event: Exited, now: float) -> list[Action]:
        self._require(*RUNNING_STATES)
        self.returncode = event.returncode
        how = describe_exit(event.returncode)
        if self.state is State.STOPPING:
            # implies STOPPING -> STOPPED (or STARTING again after a restart)
            self.state = State.STOPPED
            self.expected = True
            actions: list[Action] = [CancelTimer(), Log(f"{self.name} stopped ({how})")]
            if self._restart_after_stop:
                self._restart_after_stop = False
                actions += self._spawn()
            return actions
        if self.state is State.STARTING:
            # implies STARTING -> BACKOFF: it did not stay up for startsecs
            return self._failed_start(f"{self.name} {how} within startsecs")
        # implies RUNNING -> EXITED, then maybe a restart
        self.expected = event.returncode >= 0 and self.spec.restart.is_expected(event.returncode)
        self.state = State.EXITED
        policy = self.spec.restart.autorestart
        restart = policy is Autorestart.ALWAYS or (policy is Autorestart.UNEXPECTED and not self.expected)
        verdict = "expected" if self.expected else "not expected"
        if not restart:
            return [Log(f"{self.name} {how} ({verdict})")]
        # A crash loop after RUNNING must not spin: no start sooner than
        # backoff.initial after the previous one.
        since = now - self.started_at if self.started_at is not None else 0.0
        delay = max(0.0, self.spec.restart.backoff.initial - since)
        if delay <= 0:
            return [Log(f"{self.name} {how} ({verdict}); restarting"), *self._spawn()]
        self.state = State.BACKOFF
        return [
            Log(f"{self.name} {how} ({verdict}); restarting in {delay:.2g} s"),
            SetTimer(delay),
        ]

    def _on_timerfired(self, _event: TimerFired, now: float) -> list[Action]:
        if self.state is State.STARTING:
            return self._running()
        if self.state is State.BACKOFF:
            return self._spawn()
        if self.state is State.STOPPING:
            return [
                Log(f"{self.name} did not stop within {self.spec.stop_timeout:g} s; sending SIGKILL"),
                Signal(signal.SIGKILL),
            ]
        return []  # a timer that raced a state change: nothing to do

    def _spawn(self) -> list[Action]:
        self.state = State.STARTING
        self.starts += 1
        return [Spawn()]

    def _running(self) -> list[Action]:
        self.state = State.RUNNING
        self.failures = 0  # the backoff resets after a start that reached RUNNING
        return []

    def _stop(self) -> list[Action]:
        self.state = State.STOPPING
        sig = self.spec.stop_signal_number
        return [
            Log(f"stopping {self.name} ({sig.name})"),
            Signal(sig),
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
                hint = " (a one-shot task? give it startsecs = 0)"
            fatal = f"{self.name} is FATAL after {self.failures} failed starts{hint}"
            return [CancelTimer(), Log(f"{what}; {fatal}; see its output above")]
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
