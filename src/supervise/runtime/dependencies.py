"""When an instance is ready for what depends on it, and what can then never start.

A long-running process is ready once RUNNING (or once its probe passes); a
one-shot task (`startsecs = 0`, `autorestart = false`) once it has exited
with an expected code, as compose's `service_completed_successfully`. A
dependency that ended without ever being ready (a failed task, a FATAL
process) strands what waits on it: one system line names them when it
happens, and `up` ends with the failed task's exit code once the rest is done.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol, TypeVar

from supervise.plan import Instance
from supervise.runtime.lifecycle import Lifecycle, State, describe_exit


class Running(Protocol):
    """What this module reads of a running instance (instance.py's RunningInstance)."""

    name: str
    instance: Instance
    lifecycle: Lifecycle
    was_ready: bool


R = TypeVar("R", bound=Running)


def ready_by_state(instance: Instance, lifecycle: Lifecycle) -> bool:
    """Whether the state alone makes the instance ready (a probe, when it has one, decides otherwise)."""
    if instance.spec.is_task:
        return lifecycle.state is State.EXITED and lifecycle.expected
    return lifecycle.state is State.RUNNING and instance.ready is None


def completed_task(running: Running) -> bool:
    """A task that exited with an expected code: its normal end, not a failure."""
    return running.instance.spec.is_task and running.was_ready


def ended_unready(running: Running) -> bool:
    """Started, failed or finished, and never ready: what depends on it cannot start.

    STOPPED is not an end: it was stopped on request (`supervise stop`) and may be started again.
    """
    lifecycle = running.lifecycle
    ended = lifecycle.state in (State.EXITED, State.FATAL)
    return lifecycle.starts > 0 and ended and not running.was_ready


def stranded(
    instances: Mapping[str, R], waiting: Collection[str], dependencies: Callable[[R], list[R]]
) -> dict[str, R]:
    """Waiting instances that can never start -> the dependency that ended unready and blocks them."""
    found: dict[str, R | None] = {}

    def blocker(running: R) -> R | None:
        if running.name in found:
            return found[running.name]
        found[running.name] = None  # no cycles (config refuses them); this only guards the walk
        for dependency in dependencies(running):
            cause = blocker(dependency) if dependency.name in waiting else None
            if cause is None and dependency.name not in waiting and ended_unready(dependency):
                cause = dependency
            if cause is not None:
                found[running.name] = cause
                break
        return found[running.name]

    out = {}
    for name in waiting:
        cause = blocker(instances[name])
        if cause is not None:
            out[name] = cause
    return out


def stranded_line(failed: Running, names: Collection[str]) -> str:
    """The one system line saying which instances will not start, and why."""
    lifecycle = failed.lifecycle
    if failed.instance.spec.is_task and lifecycle.returncode is not None:
        why = f"{failed.name} {describe_exit(lifecycle.returncode)}"
    else:
        why = f"{failed.name} is {lifecycle.state.value} and was never ready"
    *first, last = sorted(names)
    who = f"{', '.join(first)} and {last}" if first else last
    return f"{why}, so {who} will not start"


def final_code(
    instances: Mapping[str, R], waiting: Collection[str], dependencies: Callable[[R], list[R]]
) -> int | None:
    """`up`'s exit code once nothing runs, or None while something waiting may still start.

    0 when every instance ended as expected; the exit code of the first task
    that failed and so kept others from starting; otherwise 1.
    """
    blocked = stranded(instances, waiting, dependencies)
    if len(blocked) < len(waiting):
        return None
    for running in instances.values():
        code = running.lifecycle.returncode
        if running in blocked.values() and running.instance.spec.is_task and code is not None:
            code = code if code >= 0 else 128 - code
            return code or 1  # exit 0 that exitcodes does not expect is still a failure
    ok = not waiting and all(r.lifecycle.expected for r in instances.values())
    return 0 if ok else 1


class StrandedReport:
    """Says once per failure which waiting instances a dependency that ended unready strands."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._reported: set[tuple[str, int]] = set()

    def on_change(
        self,
        running: R,
        instances: Mapping[str, R],
        waiting: Collection[str],
        dependencies: Callable[[R], list[R]],
    ) -> None:
        """Call after each state change of `running`."""
        key = (running.name, running.lifecycle.starts)
        if not waiting or key in self._reported or not ended_unready(running):
            return
        names = [
            name for name, cause in stranded(instances, waiting, dependencies).items() if cause is running
        ]
        if names:
            self._reported.add(key)
            self._say(stranded_line(running, names))
