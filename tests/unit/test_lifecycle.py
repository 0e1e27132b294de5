"""The lifecycle state machine, driven by a fake clock: no processes, no sleeping."""

from __future__ import annotations

import signal

import pytest

from supervise.config.model import Autorestart, Backoff, ProcessSpec, RestartPolicy
from supervise.runtime.lifecycle import (
    Action,
    Command,
    Do,
    Event,
    Exited,
    Lifecycle,
    Log,
    Notice,
    Restart,
    SetTimer,
    Signal,
    Spawned,
    SpawnFailed,
    State,
    TransitionError,
    describe_exit,
)


def spec(
    autorestart: Autorestart = Autorestart.UNEXPECTED,
    exitcodes: tuple[int, ...] = (0,),
    startsecs: float = 1.0,
    startretries: int = 3,
    initial: float = 0.5,
    maximum: float = 30.0,
) -> ProcessSpec:
    policy = RestartPolicy(autorestart, exitcodes, startsecs, startretries, Backoff(initial, maximum))
    return ProcessSpec(name="web", command="true", restart=policy, stop_timeout=10.0)


def drive(lc: Lifecycle, steps: list[tuple[float, Event]]) -> list[Action]:
    actions: list[Action] = []
    for now, event in steps:
        actions.extend(lc.handle(event, now))
    return actions


def timers(actions: list[Action]) -> list[float]:
    return [a.delay for a in actions if isinstance(a, SetTimer)]


def logs(actions: list[Action]) -> list[str]:
    return [a.message for a in actions if isinstance(a, Log)]


def failed_start(at: float) -> list[tuple[float, Event]]:
    """Spawned, then an exit 0.3 s later: before startsecs (1 s)."""
    return [(at, Spawned(100)), (at + 0.3, Exited(1))]


def test_start_spawns_and_waits_startsecs() -> None:
    lc = Lifecycle("web.1", spec())
    assert lc.handle(Command.START, 0) == [Do.CANCEL_TIMER, Do.SPAWN]
    assert lc.state is State.STARTING
    actions = lc.handle(Spawned(42), 0)
    assert timers(actions) == [1.0]
    assert logs(actions) == ["web.1 started (pid 42)"]


def test_transition_starting_to_running_after_startsecs() -> None:
    lc = Lifecycle("web.1", spec())
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    assert lc.state is State.RUNNING


def test_startsecs_zero_is_running_at_once() -> None:
    lc = Lifecycle("web.1", spec(startsecs=0))
    drive(lc, [(0, Command.START), (0, Spawned(1))])
    assert lc.state is State.RUNNING


@pytest.mark.parametrize(
    ("retries", "failures_before_fatal"),
    [(0, 1), (1, 2), (3, 4), (5, 6)],
)
def test_transition_backoff_to_fatal_after_one_plus_startretries(
    retries: int, failures_before_fatal: int
) -> None:
    lc = Lifecycle("web.1", spec(startretries=retries))
    lc.handle(Command.START, 0)
    now = 0.0
    for attempt in range(1, failures_before_fatal + 1):
        actions = drive(lc, failed_start(now))
        if attempt < failures_before_fatal:
            assert lc.state is State.BACKOFF
            now += 0.3 + timers(actions)[-1]
            assert lc.handle(Notice.TIMER_FIRED, now) == [Do.SPAWN]
        else:
            assert lc.state is State.FATAL
            assert lc.expected is False
            assert any(f"is FATAL after {failures_before_fatal} failed starts" in m for m in logs(actions))


def test_backoff_doubles_and_caps() -> None:
    lc = Lifecycle("web.1", spec(startretries=6, initial=0.5, maximum=3))
    lc.handle(Command.START, 0)
    delays = []
    now = 0.0
    for _ in range(6):
        actions = drive(lc, failed_start(now))
        delays.append(timers(actions)[-1])
        now += 10
        lc.handle(Notice.TIMER_FIRED, now)
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_retry_message_says_what_comes_next() -> None:
    lc = Lifecycle("web.1", spec())
    lc.handle(Command.START, 0)
    actions = drive(lc, [(0, Spawned(1)), (0.2, Exited(3))])
    assert logs(actions)[-1] == "web.1 exited with code 3 within startsecs; retry 1 of 3 in 0.5 s"


def test_backoff_resets_after_reaching_running() -> None:
    lc = Lifecycle("web.1", spec(autorestart=Autorestart.ALWAYS))
    lc.handle(Command.START, 0)
    drive(lc, failed_start(0))
    lc.handle(Notice.TIMER_FIRED, 1)
    drive(lc, failed_start(1))
    assert lc.failures == 2
    lc.handle(Notice.TIMER_FIRED, 3)
    drive(lc, [(3, Spawned(5)), (4, Notice.TIMER_FIRED)])
    assert lc.state is State.RUNNING
    assert lc.failures == 0
    # It ran 7 s, so it restarts at once; the next failed start waits `initial`
    # again, not the delay that had grown before.
    assert lc.handle(Exited(1), 10)[-1] == Do.SPAWN
    actions = drive(lc, [(10, Spawned(6)), (10.2, Exited(1))])
    assert lc.state is State.BACKOFF
    assert timers(actions)[-1] == 0.5


@pytest.mark.parametrize(
    ("autorestart", "code", "restarts", "expected"),
    [
        (Autorestart.ALWAYS, 0, True, True),
        (Autorestart.ALWAYS, 3, True, False),
        (Autorestart.NEVER, 0, False, True),
        (Autorestart.NEVER, 3, False, False),
        (Autorestart.UNEXPECTED, 0, False, True),
        (Autorestart.UNEXPECTED, 3, True, False),
        (Autorestart.UNEXPECTED, 2, False, True),  # 2 is in exitcodes below
        (Autorestart.UNEXPECTED, -signal.SIGKILL, True, False),  # a signal is never expected
    ],
)
def test_exit_after_running_follows_autorestart_and_exitcodes(
    autorestart: Autorestart, code: int, restarts: bool, expected: bool
) -> None:
    lc = Lifecycle("web.1", spec(autorestart=autorestart, exitcodes=(0, 2)))
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    actions = lc.handle(Exited(code), 60)
    assert lc.expected is expected
    if restarts:
        assert Do.SPAWN in actions
        assert lc.state is State.STARTING
    else:
        assert lc.state is State.EXITED
        assert Do.SPAWN not in actions
        verdict = "expected" if expected else "not expected"
        assert logs(actions) == [f"web.1 {describe_exit(code)} ({verdict})"]


def test_crash_loop_after_running_waits_initial_between_starts() -> None:
    lc = Lifecycle("web.1", spec(autorestart=Autorestart.ALWAYS, startsecs=0, initial=0.5))
    drive(lc, [(0, Command.START), (0, Spawned(1))])
    assert lc.state is State.RUNNING
    actions = lc.handle(Exited(1), 0.01)
    assert lc.state is State.BACKOFF
    assert timers(actions) == [pytest.approx(0.49)]
    assert lc.handle(Notice.TIMER_FIRED, 0.5) == [Do.SPAWN]
    assert lc.failures == 0  # not a failed start


def test_long_run_then_crash_restarts_at_once() -> None:
    lc = Lifecycle("web.1", spec(autorestart=Autorestart.ALWAYS))
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    actions = lc.handle(Exited(1), 3600)
    assert actions[-1] == Do.SPAWN


def test_stop_sends_stopsignal_then_sigkill_after_timeout() -> None:
    lc = Lifecycle("web.1", spec())
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    actions = lc.handle(Command.STOP, 5)
    assert Signal(signal.SIGTERM, whole_group=False) in actions
    assert timers(actions) == [10.0]
    assert lc.state is State.STOPPING
    actions = lc.handle(Notice.TIMER_FIRED, 15)
    assert Signal(signal.SIGKILL) in actions
    lc.handle(Exited(-signal.SIGKILL), 15.1)
    assert lc.state is State.STOPPED
    assert lc.done and lc.expected


def test_stop_during_backoff_cancels_the_pending_start() -> None:
    lc = Lifecycle("web.1", spec())
    lc.handle(Command.START, 0)
    drive(lc, failed_start(0))
    assert lc.state is State.BACKOFF
    actions = lc.handle(Command.STOP, 0.4)
    assert Do.CANCEL_TIMER in actions
    assert lc.state is State.STOPPED
    # The timer that was cancelled may still be delivered late: it must not spawn.
    assert lc.handle(Notice.TIMER_FIRED, 0.8) == []


def test_stop_while_starting_then_exit_is_stopped_not_a_failure() -> None:
    lc = Lifecycle("web.1", spec())
    drive(lc, [(0, Command.START), (0, Spawned(1)), (0.1, Command.STOP), (0.2, Exited(-signal.SIGTERM))])
    assert lc.state is State.STOPPED
    assert lc.failures == 0


def test_restart_from_running_stops_then_spawns_and_resets_failures() -> None:
    lc = Lifecycle("web.1", spec())
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    actions = lc.handle(Restart("src/app.py changed"), 5)
    assert logs(actions)[0] == "restarting web.1 (src/app.py changed)"
    assert Signal(signal.SIGTERM, whole_group=False) in actions
    actions = lc.handle(Exited(-signal.SIGTERM), 5.1)
    assert Do.SPAWN in actions
    assert lc.state is State.STARTING
    assert lc.restarts == 1


def test_restart_from_fatal_starts_again() -> None:
    lc = Lifecycle("web.1", spec(startretries=0))
    lc.handle(Command.START, 0)
    drive(lc, failed_start(0))
    assert lc.state is State.FATAL
    assert Do.SPAWN in lc.handle(Restart(), 5)


def test_kill_escalates_at_once() -> None:
    lc = Lifecycle("web.1", spec())
    drive(lc, [(0, Command.START), (0, Spawned(1)), (0.1, Command.STOP)])
    assert Signal(signal.SIGKILL) in lc.handle(Command.KILL, 0.2)


def test_spawn_failure_is_a_failed_start() -> None:
    lc = Lifecycle("web.1", spec(startretries=0))
    lc.handle(Command.START, 0)
    actions = lc.handle(SpawnFailed("No such file or directory"), 0)
    assert lc.state is State.FATAL
    assert "could not be started: No such file or directory" in logs(actions)[0]


def test_quick_expected_exit_hints_at_startsecs_zero() -> None:
    lc = Lifecycle("web.1", spec(startretries=0))
    lc.handle(Command.START, 0)
    actions = drive(lc, [(0, Spawned(1)), (0.1, Exited(0))])
    assert "give it startsecs = 0" in logs(actions)[-1]


def test_impossible_event_is_a_loud_bug() -> None:
    lc = Lifecycle("web.1", spec())
    with pytest.raises(TransitionError, match=r"web\.1: event in STOPPED"):
        lc.handle(Exited(0), 0)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "was killed by SIGKILL"),
        (-15, "was killed by SIGTERM"),
    ],
)
def test_describe_exit(code: int, text: str) -> None:
    assert describe_exit(code) == text


def test_stop_while_spawning_lets_the_spawn_finish_then_stops_it() -> None:
    lc = Lifecycle("web.1", spec())
    lc.handle(Command.START, 0)  # Spawn is under way: no pid yet
    actions = lc.handle(Command.STOP, 0.01)
    assert Signal(signal.SIGTERM, whole_group=False) in actions  # the runtime delivers it once the pid exists
    assert lc.handle(Spawned(7), 0.02) == [Log("web.1 started (pid 7)")]  # no startsecs timer
    assert lc.state is State.STOPPING
    lc.handle(Exited(-signal.SIGTERM), 0.03)
    assert lc.state is State.STOPPED


def test_restart_while_spawning_stops_the_new_process_then_starts_again() -> None:
    lc = Lifecycle("web.1", spec())
    lc.handle(Command.START, 0)
    lc.handle(Restart("src/app.py changed"), 0.01)
    lc.handle(Spawned(7), 0.02)
    assert Do.SPAWN in lc.handle(Exited(-signal.SIGTERM), 0.03)


def test_spawn_failure_after_a_stop_request_is_just_stopped() -> None:
    lc = Lifecycle("web.1", spec())
    lc.handle(Command.START, 0)
    lc.handle(Command.STOP, 0.01)
    lc.handle(SpawnFailed("No such file or directory"), 0.02)
    assert lc.state is State.STOPPED
    assert lc.failures == 0


# -- a process lives as long as its group ----------------------------------------


def compound() -> ProcessSpec:
    """A shell line whose program is the shell's child: the shell leads the group."""
    return ProcessSpec(name="web", command="cd . && python srv.py", restart=spec().restart, stop_timeout=10.0)


def running(lc: Lifecycle) -> Lifecycle:
    drive(lc, [(0, Command.START), (0, Spawned(1)), (1, Notice.TIMER_FIRED)])
    assert lc.state is State.RUNNING
    return lc


def test_a_compound_line_stops_as_a_group_and_a_simple_command_alone() -> None:
    assert Signal(signal.SIGTERM, whole_group=True) in running(Lifecycle("web.1", compound())).handle(
        Command.STOP, 2
    )
    assert Signal(signal.SIGTERM, whole_group=False) in running(Lifecycle("web.1", spec())).handle(
        Command.STOP, 2
    )


def test_stop_is_reported_only_once_the_group_is_gone() -> None:
    lc = running(Lifecycle("web.1", compound()))
    lc.handle(Command.STOP, 2)
    actions = lc.handle(Exited(0, leftovers=True), 3)
    assert actions == [Do.WATCH_GROUP]  # no second signal, no report yet
    assert lc.state is State.STOPPING and not lc.done
    actions = lc.handle(Notice.GROUP_GONE, 4)
    assert lc.state is State.STOPPED and logs(actions) == ["web.1 stopped (exited with code 0)"]


def test_each_stop_sends_the_stop_signal_once_then_sigkill_to_the_group() -> None:
    lc = running(Lifecycle("web.1", spec()))
    actions = drive(
        lc, [(2, Command.STOP), (3, Command.STOP), (4, Exited(0, leftovers=True)), (12, Notice.TIMER_FIRED)]
    )
    signals = [a for a in actions if isinstance(a, Signal)]
    assert signals == [Signal(signal.SIGTERM, whole_group=False), Signal(signal.SIGKILL, whole_group=True)]


def test_an_exit_that_leaves_processes_stops_them_before_it_is_reported() -> None:
    lc = running(Lifecycle("web.1", compound()))
    actions = lc.handle(Exited(1, leftovers=True), 5)
    assert lc.state is State.STOPPING
    assert Signal(signal.SIGTERM, whole_group=True) in actions and SetTimer(10.0) in actions
    assert Do.WATCH_GROUP in actions and Do.SPAWN not in actions
    actions = lc.handle(Notice.GROUP_GONE, 6)
    # Only now: reported as the main process's exit, and restarted (autorestart = unexpected).
    assert logs(actions) == ["web.1 exited with code 1 (not expected); restarting"]
    assert Do.SPAWN in actions and lc.state is State.STARTING


def test_a_restart_spawns_only_after_the_old_group_is_gone() -> None:
    lc = running(Lifecycle("web.1", compound()))
    assert Do.SPAWN not in lc.handle(Restart("app.py changed"), 2)
    assert Do.SPAWN not in lc.handle(Exited(-15, leftovers=True), 3)
    actions = lc.handle(Notice.GROUP_GONE, 4)
    assert Do.SPAWN in actions and lc.failures == 0


def test_a_stop_while_leftovers_drain_ends_as_a_stop() -> None:
    lc = running(Lifecycle("web.1", compound()))
    lc.handle(Exited(1, leftovers=True), 5)
    assert lc.handle(Command.STOP, 6) == []  # the drain's signal was the one stop signal
    actions = lc.handle(Notice.GROUP_GONE, 7)
    assert lc.state is State.STOPPED and Do.SPAWN not in actions


def test_exit_reports_say_what_happened_to_the_main_process() -> None:
    lc = running(Lifecycle("web.1", spec()))
    lc.handle(Command.STOP, 2)
    assert logs(lc.handle(Exited(-9), 3)) == ["web.1 stopped (was killed by SIGKILL)"]
