"""The reload difference (PRODUCT.md §8): per instance added, removed, changed (and what) or unchanged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from supervise.config.model import Probe, ProbeKind, ProcessSpec, Project, RestartPolicy
from supervise.plan import Change, Plan, build_plan, diff

ROOT = Path("/srv/app")


def spec(name: str, **options: Any) -> ProcessSpec:
    env = options.pop("env", {})
    return ProcessSpec(
        name=name, command=options.pop("command", f"run-{name}"), env=MappingProxyType(env), **options
    )


def plan(
    *specs: ProcessSpec,
    formation: dict[str, int] | None = None,
    file_env: dict[str, str] | None = None,
    names: tuple[str, ...] = (),
    also: tuple[str, ...] = (),
) -> Plan:
    project = Project(root=ROOT, source="Procfile", processes=specs)
    return build_plan(
        project, names=names, formation=formation, caller_env={"HOME": "/h"}, file_env=file_env, also=also
    )


def kinds(old: Plan, new: Plan) -> dict[str, str]:
    return {c.name: c.change.value for c in diff(old, new).changes}


def test_same_plan_is_all_unchanged() -> None:
    old = plan(spec("web"), spec("worker"))
    new = plan(spec("web"), spec("worker"))
    result = diff(old, new)
    assert kinds(old, new) == {"web.1": "unchanged", "worker.1": "unchanged"}
    assert not result.touches_processes
    assert result.summary() == "no changes (2 unchanged)"


def test_a_changed_command_restarts_only_that_process() -> None:
    old = plan(spec("web"), spec("worker"))
    new = plan(spec("web", command="cd . && python srv.py"), spec("worker"))
    result = diff(old, new)
    assert kinds(old, new) == {"web.1": "changed", "worker.1": "unchanged"}
    assert result.of(Change.CHANGED)[0].what == ("command",)
    assert result.summary() == "restarting web (command); 1 unchanged"


def test_an_env_file_change_restarts_exactly_the_instances_that_see_it() -> None:
    # web sets DEBUG itself, so the env file's DEBUG never reaches it.
    specs = (spec("web", env={"DEBUG": "web"}), spec("worker"), spec("clock"))
    old = plan(*specs, file_env={"DEBUG": "0", "URL": "a"})
    new = plan(*specs, file_env={"DEBUG": "1", "URL": "a"})
    result = diff(old, new)
    assert kinds(old, new) == {"web.1": "unchanged", "worker.1": "changed", "clock.1": "changed"}
    assert {c.name: c.what for c in result.of(Change.CHANGED)} == {
        "worker.1": ("env DEBUG",),
        "clock.1": ("env DEBUG",),
    }
    assert result.summary() == "restarting worker, clock (env DEBUG); 1 unchanged"


def test_env_values_never_appear_in_the_summary() -> None:
    old = plan(spec("web"), file_env={"API_TOKEN": "hunter2"})
    new = plan(spec("web"), file_env={"API_TOKEN": "s3cret", "NEW": "value"})
    summary = diff(old, new).summary()
    assert summary == "restarting web (env API_TOKEN, NEW)"
    assert "hunter2" not in summary and "s3cret" not in summary


def test_a_removed_env_key_is_a_change() -> None:
    old = plan(spec("web"), file_env={"GONE": "1"})
    new = plan(spec("web"))
    assert diff(old, new).changes[0].what == ("env GONE",)


def test_formation_up_adds_instances_with_ports_from_the_scheme() -> None:
    old = plan(spec("web"), spec("worker"))
    new = plan(spec("web"), spec("worker"), formation={"web": 3})
    result = diff(old, new)
    assert kinds(old, new) == {
        "web.1": "unchanged",
        "web.2": "added",
        "web.3": "added",
        "worker.1": "unchanged",
    }
    added = result.of(Change.ADDED)
    assert [(c.name, c.new.port if c.new else None) for c in added] == [("web.2", 5001), ("web.3", 5002)]
    assert result.summary() == "starting web.2, web.3; 2 unchanged"


def test_formation_down_removes_the_highest_numbers() -> None:
    old = plan(spec("web"), spec("worker"), formation={"web": 3})
    new = plan(spec("web"), spec("worker"), formation={"web": 1, "worker": 0})
    result = diff(old, new)
    assert [c.name for c in result.of(Change.REMOVED)] == ["web.2", "web.3", "worker.1"]
    assert result.summary() == "stopping web.2, web.3, worker; 1 unchanged"


def test_a_new_process_type_is_added_and_a_deleted_one_removed() -> None:
    old = plan(spec("web"), spec("clock"))
    new = plan(spec("web"), spec("worker"))
    result = diff(old, new)
    # worker takes clock's place in the definition order, so it gets clock's PORT.
    assert kinds(old, new) == {"web.1": "unchanged", "worker.1": "added", "clock.1": "removed"}
    assert result.of(Change.ADDED)[0].new is not None
    assert result.summary() == "starting worker; stopping clock; 1 unchanged"


def test_a_type_inserted_before_others_shifts_their_port_so_they_restart() -> None:
    old = plan(spec("web"), spec("worker"))
    new = plan(spec("db"), spec("web"), spec("worker"))
    result = diff(old, new)
    assert {c.name: c.what for c in result.of(Change.CHANGED)} == {
        "web.1": ("env PORT",),
        "worker.1": ("env PORT",),
    }


def test_a_moved_procfile_line_alone_changes_nothing() -> None:
    old = plan(spec("web", origin="Procfile:1"))
    new = plan(spec("web", origin="Procfile:3"))
    assert kinds(old, new) == {"web.1": "unchanged"}


def test_policy_signal_directory_and_probe_changes_are_named() -> None:
    base = spec("web", ready=Probe(ProbeKind.TCP, "127.0.0.1:$PORT"))
    changed = replace(
        base,
        directory="srv",
        stopsignal="INT",
        stop_timeout=3.0,
        restart=RestartPolicy(startsecs=0.0, exitcodes=(0, 3)),
        ready=Probe(ProbeKind.HTTP, "http://127.0.0.1:$PORT/health"),
    )
    what = diff(plan(base), plan(changed)).changes[0].what
    assert what == ("directory", "exitcodes", "startsecs", "stopsignal", "stop_timeout", "ready")


def test_watch_and_depends_on_apply_without_a_restart() -> None:
    old = plan(spec("db"), spec("web"))
    new = plan(spec("db"), spec("web", watch=("src/**/*.py",), depends_on=("db",)))
    result = diff(old, new)
    assert kinds(old, new) == {"db.1": "unchanged", "web.1": "unchanged"}
    assert result.changes[1].what == ("watch", "depends_on")
    assert result.summary() == "updated in place web (watch, depends_on); 2 unchanged"


def test_scale_adds_a_type_the_command_line_did_not_select() -> None:
    specs = (spec("web"), spec("worker", autostart=False))
    assert [i.name for i in plan(*specs).instances] == ["web.1"]
    scaled = plan(*specs, formation={"worker": 2}, also=("worker",))
    assert [i.name for i in scaled.instances] == ["web.1", "worker.1", "worker.2"]
    assert kinds(plan(*specs), scaled) == {"web.1": "unchanged", "worker.1": "added", "worker.2": "added"}


def test_groups_of_changes_are_listed_by_what_changed() -> None:
    old = plan(spec("web"), spec("worker"), spec("clock"), formation={"web": 2})
    new = plan(
        spec("web", command="new-web"),
        spec("worker"),
        spec("clock", env={"TZ": "UTC"}),
        formation={"web": 2},
        file_env={},
    )
    assert diff(old, new).summary() == "restarting web (command) and clock (env TZ); 1 unchanged"


def test_part_of_a_type_is_named_by_instance() -> None:
    old = plan(spec("web"), formation={"web": 3})
    new = plan(spec("web"), formation={"web": 2})
    assert diff(old, new).summary() == "stopping web.3; 2 unchanged"
