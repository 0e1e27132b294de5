"""What "ready" means for what depends on an instance, and what can then never start (§3 One-shot tasks).

The pure rules of runtime/dependencies.py, driven through real Lifecycles
with a fake clock; `up` itself is tested with real processes in
tests/integration/test_tasks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from supervise.config.model import Autorestart, ProcessSpec, Project, RestartPolicy
from supervise.plan import Instance, Plan, without_restarts
from supervise.runtime.dependencies import StrandedReport, final_code, ready_by_state, stranded
from supervise.runtime.lifecycle import Command, Exited, Lifecycle, Notice, Spawned, State

TASK = RestartPolicy(autorestart=Autorestart.NEVER, startsecs=0, startretries=0)
SERVICE = RestartPolicy(startsecs=0)


@dataclass
class Fake:
    """The part of a RunningInstance the rules read."""

    name: str
    instance: Instance
    lifecycle: Lifecycle
    was_ready: bool = False
    deps: list[Fake] = field(default_factory=list)

    def run(self, code: int | None = None) -> Fake:
        """Start it; with `code`, let it exit with that code (its group gone too)."""
        self.lifecycle.handle(Command.START, 0)
        self.lifecycle.handle(Spawned(100), 0)
        if code is not None:
            self.lifecycle.handle(Exited(code), 1)
            if self.lifecycle.state is State.STOPPING:
                self.lifecycle.handle(Notice.GROUP_GONE, 1)
        self.was_ready = self.was_ready or ready_by_state(self.instance, self.lifecycle)
        return self


def fake(name: str, policy: RestartPolicy, *deps: Fake) -> Fake:
    spec = ProcessSpec(
        name=name, command="x", restart=policy, depends_on=tuple(d.instance.process for d in deps)
    )
    instance = Instance(f"{name}.1", spec, 1, None, {}, Path("/"))
    return Fake(instance.name, instance, Lifecycle(instance.name, spec), deps=list(deps))


def deps_of(running: Fake) -> list[Fake]:
    return running.deps


def test_a_task_is_ready_once_it_exited_with_an_expected_code_not_when_running() -> None:
    task = fake("release", TASK)
    task.lifecycle.handle(Command.START, 0)
    task.lifecycle.handle(Spawned(1), 0)
    assert task.lifecycle.state is State.RUNNING
    assert not ready_by_state(task.instance, task.lifecycle)
    task.lifecycle.handle(Exited(0), 1)
    if task.lifecycle.state is State.STOPPING:
        task.lifecycle.handle(Notice.GROUP_GONE, 1)
    assert task.lifecycle.state is State.EXITED
    assert ready_by_state(task.instance, task.lifecycle)


@pytest.mark.parametrize("code", [1, 3, -9])
def test_a_task_that_failed_is_never_ready(code: int) -> None:
    task = fake("release", TASK).run(code)
    assert task.lifecycle.state is State.EXITED
    assert not ready_by_state(task.instance, task.lifecycle)


def test_a_service_is_ready_when_running() -> None:
    service = fake("db", SERVICE)
    service.lifecycle.handle(Command.START, 0)
    service.lifecycle.handle(Spawned(1), 0)
    assert ready_by_state(service.instance, service.lifecycle)


def test_a_failed_task_strands_its_dependents_and_theirs() -> None:
    db = fake("db", SERVICE).run()
    migrate = fake("migrate", TASK, db).run(4)
    web = fake("web", SERVICE, migrate)
    proxy = fake("proxy", SERVICE, web)
    other = fake("other", SERVICE, db)
    instances = {r.name: r for r in (db, migrate, web, proxy, other)}
    waiting = {"web.1", "proxy.1", "other.1"}
    assert stranded(instances, waiting, deps_of) == {"web.1": migrate, "proxy.1": migrate}
    # other.1 waits on db, which runs: up goes on.
    assert final_code(instances, waiting, deps_of) is None
    # Once nothing else may start, up ends with the task's code.
    assert final_code(instances, waiting - {"other.1"}, deps_of) == 4


@pytest.mark.parametrize(("code", "expected"), [(3, 3), (-15, 143)])
def test_up_ends_with_the_failed_tasks_code(code: int, expected: int) -> None:
    task = fake("release", TASK).run(code)
    web = fake("web", SERVICE, task)
    assert final_code({"release.1": task, "web.1": web}, {"web.1"}, deps_of) == expected


def test_exit_zero_that_exitcodes_does_not_expect_still_fails_the_run() -> None:
    task = fake("release", RestartPolicy(autorestart=Autorestart.NEVER, startsecs=0, exitcodes=(2,))).run(0)
    web = fake("web", SERVICE, task)
    assert final_code({"release.1": task, "web.1": web}, {"web.1"}, deps_of) == 1


def test_a_failed_task_without_dependents_ends_up_with_1_as_any_unexpected_exit() -> None:
    task = fake("lint", TASK).run(3)
    assert final_code({"lint.1": task}, set(), deps_of) == 1
    ok = fake("lint", TASK).run(0)
    assert final_code({"lint.1": ok}, set(), deps_of) == 0


def test_the_stranded_line_is_said_once_per_failure() -> None:
    said: list[str] = []
    report = StrandedReport(said.append)
    task = fake("release", TASK).run(2)
    web, worker = fake("web", SERVICE, task), fake("worker", SERVICE, task)
    instances = {"release.1": task, "web.1": web, "worker.1": worker}
    for _ in range(3):
        report.on_change(task, instances, {"web.1", "worker.1"}, deps_of)
    assert said == ["release.1 exited with code 2, so web.1 and worker.1 will not start"]


def test_a_fatal_service_strands_its_dependents_too() -> None:
    said: list[str] = []
    db = fake("db", RestartPolicy(startsecs=1, startretries=0))
    db.lifecycle.handle(Command.START, 0)
    db.lifecycle.handle(Spawned(1), 0)
    db.lifecycle.handle(Exited(1), 0.1)
    if db.lifecycle.state is State.STOPPING:
        db.lifecycle.handle(Notice.GROUP_GONE, 0.1)
    assert db.lifecycle.state is State.FATAL
    web = fake("web", SERVICE, db)
    StrandedReport(said.append).on_change(db, {"db.1": db, "web.1": web}, {"web.1"}, deps_of)
    assert said == ["db.1 is FATAL and was never ready, so web.1 will not start"]


def test_abort_on_exit_keeps_a_long_running_process_with_startsecs_zero_a_service() -> None:
    service = ProcessSpec(name="db", command="x", restart=SERVICE)
    task = ProcessSpec(name="release", command="x", restart=TASK)
    project = Project(root=Path("/"), source="Procfile", processes=(service, task))
    instances = tuple(Instance(f"{s.name}.1", s, 1, None, {}, Path("/")) for s in (service, task))
    plan = without_restarts(Plan(project=project, instances=instances))
    assert [i.spec.restart.autorestart for i in plan.instances] == [Autorestart.NEVER] * 2
    assert [i.spec.is_task for i in plan.instances] == [False, True]


def test_timer_events_after_the_end_do_not_make_a_task_ready_again() -> None:
    task = fake("release", TASK).run(1)
    task.lifecycle.handle(Notice.TIMER_FIRED, 2)
    assert not ready_by_state(task.instance, task.lifecycle)
