"""The plan (PRODUCT.md §1, §2): selection, formation, PORT and the environment, all pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from supervise.config.model import Probe, ProbeKind, ProcessSpec, Project
from supervise.errors import UsageError
from supervise.plan import (
    Plan,
    build_plan,
    dependency_order,
    parse_formation,
    start_waves,
    stop_waves,
    with_path_first,
)

ROOT = Path("/srv/app")


def spec(name: str, **options: Any) -> ProcessSpec:
    env = options.pop("env", {})
    return ProcessSpec(
        name=name, command=options.pop("command", f"run-{name}"), env=MappingProxyType(env), **options
    )


def project(
    *specs: ProcessSpec, groups: Mapping[str, tuple[str, ...]] | None = None, port_base: int = 5000
) -> Project:
    return Project(
        root=ROOT,
        source="pyproject.toml",
        processes=specs,
        groups=MappingProxyType(dict(groups or {})),
        port_base=port_base,
    )


WEB_WORKER_CLOCK = project(spec("web"), spec("worker"), spec("clock"))


def plan_of(
    proj: Project = WEB_WORKER_CLOCK,
    names: Sequence[str] = (),
    formation: str = "",
    port_base: int | None = None,
    caller_env: Mapping[str, str] | None = None,
    file_env: Mapping[str, str] | None = None,
) -> Plan:
    return build_plan(
        proj,
        names=names,
        formation=parse_formation(formation),
        port_base=port_base,
        caller_env=caller_env or {},
        file_env=file_env or {},
    )


def ports(plan: Plan) -> dict[str, str]:
    return {instance.name: instance.env["PORT"] for instance in plan.instances}


# -- environment precedence ---------------------------------------------------------------


def test_env_precedence_caller_then_files_then_process_env_then_port_and_ps() -> None:
    proj = project(spec("web", env={"C": "process", "D": "process", "PS": "process"}))
    caller = {"A": "caller", "B": "caller", "C": "caller", "D": "caller", "PS": "x"}
    files = {"B": "file", "C": "file"}
    plan = plan_of(proj, caller_env=caller, file_env=files)
    env = plan.environment(plan.instances[0])
    assert {key: env[key] for key in "ABCD"} == {"A": "caller", "B": "file", "C": "process", "D": "process"}
    assert (env["PORT"], env["PS"]) == ("5000", "web.1")


def test_instance_env_holds_only_what_the_project_sets() -> None:
    plan = plan_of(project(spec("web", env={"X": "1"})), caller_env={"HOME": "/h"}, file_env={"F": "2"})
    assert dict(plan.instances[0].env) == {
        "F": "2",
        "X": "1",
        "PORT": "5000",
        "PS": "web.1",
        "PYTHONUNBUFFERED": "1",
    }


def test_command_environment_has_files_but_no_port() -> None:
    plan = plan_of(caller_env={"HOME": "/h", "A": "caller"}, file_env={"A": "file"})
    assert plan.command_environment() == {"HOME": "/h", "A": "file", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    ("where", "value"),
    [("caller", "0"), ("file", "0"), ("process", "")],
)
def test_pythonunbuffered_is_set_unless_the_user_sets_it(where: str, value: str) -> None:
    user = {"PYTHONUNBUFFERED": value}
    proj = project(spec("web", env=user if where == "process" else {}))
    plan = plan_of(
        proj, caller_env=user if where == "caller" else {}, file_env=user if where == "file" else {}
    )
    assert plan.environment(plan.instances[0])["PYTHONUNBUFFERED"] == value


def test_pythonunbuffered_defaults_to_1() -> None:
    plan = plan_of()
    assert all(plan.environment(i)["PYTHONUNBUFFERED"] == "1" for i in plan.instances)


# -- PORT ---------------------------------------------------------------------------------


def test_port_scheme_is_base_plus_100_per_type_plus_instance() -> None:
    plan = plan_of(formation="web=2,worker=3,clock=1")
    assert ports(plan) == {
        "web.1": "5000",
        "web.2": "5001",
        "worker.1": "5100",
        "worker.2": "5101",
        "worker.3": "5102",
        "clock.1": "5200",
    }
    assert [i.port for i in plan.instances] == [5000, 5001, 5100, 5101, 5102, 5200]


def test_port_index_counts_types_that_are_not_selected() -> None:
    assert ports(plan_of(names=["clock"])) == {"clock.1": "5200"}


def test_dash_p_sets_the_base() -> None:
    assert ports(plan_of(port_base=8000)) == {"web.1": "8000", "worker.1": "8100", "clock.1": "8200"}


def test_port_base_from_the_configuration() -> None:
    proj = project(spec("web"), spec("worker"), port_base=7000)
    assert ports(plan_of(proj)) == {"web.1": "7000", "worker.1": "7100"}
    assert ports(plan_of(proj, port_base=9000)) == {"web.1": "9000", "worker.1": "9100"}


@pytest.mark.parametrize("bad", [0, -1, 65536])
def test_dash_p_out_of_range(bad: int) -> None:
    with pytest.raises(UsageError) as caught:
        plan_of(port_base=bad)
    assert str(caught.value) == f"--port {bad}: expected a port number from 1 to 65535"


def test_port_from_an_env_file_sets_the_base_as_foreman_and_honcho_read_it() -> None:
    plan = plan_of(file_env={"PORT": "8080"}, formation="web=2")
    assert ports(plan) == {"web.1": "8080", "web.2": "8081", "worker.1": "8180", "clock.1": "8280"}
    assert plan.instances[1].port == 8081


def test_port_from_an_env_file_wins_over_the_callers_and_dash_p_over_both() -> None:
    caller, files = {"PORT": "3000"}, {"PORT": "9000"}
    assert ports(plan_of(caller_env=caller, file_env=files))["worker.1"] == "9100"
    assert ports(plan_of(port_base=8000, caller_env=caller, file_env=files))["worker.1"] == "8100"


def test_port_from_the_environment_beats_port_base() -> None:
    proj = project(spec("web"), spec("worker"), port_base=7000)
    assert ports(plan_of(proj, caller_env={"PORT": "3000"})) == {"web.1": "3000", "worker.1": "3100"}


@pytest.mark.parametrize(
    ("caller", "files", "message"),
    [
        ({"PORT": "abc"}, {}, 'PORT="abc" in the environment'),
        ({}, {"PORT": "70000"}, 'PORT="70000" in the env files'),
    ],
)
def test_a_port_base_that_is_not_a_port_is_one_clear_line(
    caller: dict[str, str], files: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        plan_of(caller_env=caller, file_env=files)
    assert str(caught.value) == f"{message}: expected a port number from 1 to 65535 (the PORT base)"


def test_port_from_process_env_wins() -> None:
    proj = project(spec("web", env={"PORT": "3000"}), spec("worker"))
    assert ports(plan_of(proj)) == {"web.1": "3000", "worker.1": "5100"}


def test_port_from_the_caller_sets_the_base() -> None:
    assert ports(plan_of(caller_env={"PORT": "3000"})) == {
        "web.1": "3000",
        "worker.1": "3100",
        "clock.1": "3200",
    }


def test_port_that_is_not_a_number_has_no_port_number() -> None:
    plan = plan_of(project(spec("web", env={"PORT": "unix:/tmp/s"})))
    assert (plan.instances[0].port, plan.instances[0].env["PORT"]) == (None, "unix:/tmp/s")


# -- formation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("web=2", {"web": 2}),
        ("web=2,worker=0", {"web": 2, "worker": 0}),
        (" web = 2 , all=3 ", {"web": 2, "all": 3}),
        ("web=2,", {"web": 2}),
    ],
)
def test_parse_formation(text: str, expected: dict[str, int]) -> None:
    assert parse_formation(text) == expected


@pytest.mark.parametrize("bad", ["web", "web=", "=2", "web=-1", "web=two", "web:2", "a b=1"])
def test_bad_formation_syntax(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_formation(bad)
    assert str(caught.value) == f'--formation: expected NAME=COUNT (e.g. "web=2,worker=0"), got "{bad}"'


def test_formation_count_is_capped() -> None:
    with pytest.raises(UsageError, match=r'^--formation: "web=5000000": at most 1000 instances per process$'):
        parse_formation("web=5000000")


def test_formation_sets_counts_and_all_sets_the_rest() -> None:
    plan = plan_of(formation="web=2,worker=0,all=3")
    assert [i.name for i in plan.instances] == ["web.1", "web.2", "clock.1", "clock.2", "clock.3"]


def test_formation_naming_an_unknown_process() -> None:
    with pytest.raises(UsageError) as caught:
        plan_of(formation="web=1,wrker=2")
    assert str(caught.value) == '--formation: unknown process "wrker"; processes: web, worker, clock'


def test_concurrency_is_the_default_count() -> None:
    plan = plan_of(project(spec("web", concurrency=2), spec("off", concurrency=0)))
    assert [i.name for i in plan.instances] == ["web.1", "web.2"]


# -- selection ----------------------------------------------------------------------------


def test_no_names_means_every_autostart_process() -> None:
    proj = project(spec("web"), spec("shell", autostart=False))
    assert [i.name for i in plan_of(proj).instances] == ["web.1"]


def test_names_select_processes_in_definition_order() -> None:
    assert [i.name for i in plan_of(names=["clock", "web"]).instances] == ["web.1", "clock.1"]


def test_a_name_may_be_a_process_that_is_not_autostarted() -> None:
    proj = project(spec("web"), spec("shell", autostart=False))
    assert [i.name for i in plan_of(proj, names=["shell"]).instances] == ["shell.1"]


def test_groups_select_their_members() -> None:
    proj = project(spec("web"), spec("worker"), spec("clock"), groups={"backend": ("worker", "clock")})
    assert [i.name for i in plan_of(proj, names=["backend"]).instances] == ["worker.1", "clock.1"]


def test_dependencies_are_pulled_in_transitively() -> None:
    proj = project(
        spec("db", autostart=False),
        spec("cache"),
        spec("api", depends_on=("db",)),
        spec("web", depends_on=("api", "cache")),
    )
    assert [i.name for i in plan_of(proj, names=["web"]).instances] == ["db.1", "cache.1", "api.1", "web.1"]


def test_unknown_name_lists_processes_and_groups() -> None:
    proj = project(spec("web"), spec("worker"), groups={"backend": ("web", "worker")})
    with pytest.raises(UsageError) as caught:
        plan_of(proj, names=["wbe"])
    assert str(caught.value) == 'unknown process or group "wbe"; processes: web, worker; groups: backend'


def test_unknown_name_without_groups() -> None:
    with pytest.raises(UsageError, match=r'^unknown process or group "x"; processes: web, worker, clock$'):
        plan_of(names=["x"])


def test_plan_specs_and_instances_of() -> None:
    plan = plan_of(formation="web=2,worker=0")
    assert [s.name for s in plan.specs] == ["web", "clock"]
    assert [i.name for i in plan.instances_of("web")] == ["web.1", "web.2"]


def test_instance_directory_is_relative_to_the_root() -> None:
    plan = plan_of(project(spec("web", directory="app/../srv")))
    assert plan.instances[0].cwd == ROOT / "srv"


# -- ready targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (Probe(ProbeKind.HTTP, "http://127.0.0.1:$PORT/health"), "http://127.0.0.1:5001/health"),
        (Probe(ProbeKind.TCP, "127.0.0.1:${PORT}"), "127.0.0.1:5001"),
        (Probe(ProbeKind.HTTP, "http://$HOST:$PORT/$NOPE"), "http://box:5001/$NOPE"),
        (Probe(ProbeKind.LOG, r"port \d+$PORT$"), r"port \d+$PORT$"),
        (Probe(ProbeKind.CMD, "curl -f localhost:$PORT"), "curl -f localhost:$PORT"),
    ],
)
def test_port_is_expanded_in_http_and_tcp_targets_only(probe: Probe, expected: str) -> None:
    proj = project(spec("web", ready=probe, concurrency=2))
    plan = plan_of(proj, caller_env={"HOST": "box"})
    ready = plan.instances[1].ready
    assert ready is not None
    assert ready.target == expected
    assert proj.process("web").ready == probe  # the spec keeps what the user wrote


# -- dependency order ---------------------------------------------------------------------


def test_dependency_order_puts_dependencies_first() -> None:
    specs = [
        spec("web", depends_on=("api", "cache")),
        spec("api", depends_on=("db",)),
        spec("cache"),
        spec("db"),
        spec("clock"),
    ]
    order = dependency_order(specs)
    assert sorted(order) == sorted(s.name for s in specs)
    for s in specs:
        for dep in s.depends_on:
            assert order.index(dep) < order.index(s.name)
    assert order == ["db", "api", "cache", "web", "clock"]


def test_dependency_order_ignores_dependencies_outside_the_set() -> None:
    assert dependency_order([spec("web", depends_on=("db",))]) == ["web"]


def test_stop_waves_stop_dependents_before_their_dependencies() -> None:
    specs = [
        spec("web", depends_on=("api", "cache")),
        spec("api", depends_on=("db",)),
        spec("cache"),
        spec("db"),
        spec("clock"),
    ]
    # web depends on api, which depends on db: three waves; clock depends on nothing
    # and nothing on it, so it stops at once, with web.
    assert stop_waves(specs) == [["web", "clock"], ["api", "cache"], ["db"]]


def test_stop_waves_without_dependencies_is_one_wave() -> None:
    assert stop_waves([spec("a"), spec("b")]) == [["a", "b"]]


def test_start_waves_put_the_release_first_and_what_waits_on_waiters_after() -> None:
    specs = [
        spec("web", depends_on=("release", "db")),
        spec("release", depends_on=("db",)),
        spec("db"),
        spec("proxy", depends_on=("web",)),
        spec("clock"),
    ]
    assert start_waves(specs) == [["db", "clock"], ["release"], ["web"], ["proxy"]]


def test_with_path_first_puts_the_folder_first_once() -> None:
    proj = project(
        spec("web"), spec("tools", env={"PATH": "/opt/bin:/bin"}), spec("again", env={"PATH": "/v/bin"})
    )
    plan = with_path_first(plan_of(proj), "/v/bin", "/usr/bin:/bin")
    assert [i.env["PATH"] for i in plan.instances] == [
        "/v/bin:/usr/bin:/bin",
        "/v/bin:/opt/bin:/bin",
        "/v/bin",
    ]
    assert "PATH" not in plan_of(proj).instances[0].env  # the plan it came from is untouched
