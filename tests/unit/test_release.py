"""The Procfile `release` entry: Heroku's release phase as a one-shot task (PRODUCT.md §3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from supervise.config.load import load_project
from supervise.config.model import Autorestart, Project

MakeProject = Callable[[Mapping[str, str | bytes]], Path]
PROCFILE = "web: serve\nrelease: migrate\nworker: work\n"


def deps(project: Project) -> dict[str, tuple[str, ...]]:
    return {spec.name: spec.depends_on for spec in project.processes}


def test_release_is_a_task_every_other_process_depends_on(make_project: MakeProject) -> None:
    project = load_project(cwd=make_project({"Procfile": PROCFILE}))
    release = project.process("release")
    assert release.is_task
    assert (release.restart.startsecs, release.restart.autorestart) == (0, Autorestart.NEVER)
    assert release.restart.startretries == 0
    assert deps(project) == {"web": ("release",), "release": (), "worker": ("release",)}
    assert not project.process("web").is_task


def test_through_procfile_in_the_table_toml_processes_depend_on_it_too(make_project: MakeProject) -> None:
    pyproject = """\
[tool.supervise]
procfile = "Procfile"
[tool.supervise.processes.web]
depends_on = ["db"]
[tool.supervise.processes.db]
command = "postgres"
"""
    project = load_project(cwd=make_project({"Procfile": PROCFILE, "pyproject.toml": pyproject}))
    assert deps(project) == {
        "web": ("release", "db"),
        "release": (),
        "worker": ("release",),
        "db": ("release",),
    }
    assert project.process("release").is_task


def test_options_of_its_own_leave_release_as_configured(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise]\nprocfile = "Procfile"\n[tool.supervise.processes.release]\nstop_timeout = 60\n'
    )
    project = load_project(cwd=make_project({"Procfile": PROCFILE, "pyproject.toml": pyproject}))
    assert deps(project) == {"web": (), "release": (), "worker": ()}
    assert not project.process("release").is_task


def test_a_toml_process_named_release_is_no_release_phase(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise.processes.release]\ncommand = "x"\n[tool.supervise.processes.web]\ncommand = "y"\n'
    )
    project = load_project(cwd=make_project({"pyproject.toml": pyproject}))
    assert deps(project) == {"release": (), "web": ()}


def test_a_procfile_without_release_is_unchanged(make_project: MakeProject) -> None:
    project = load_project(cwd=make_project({"Procfile": "web: serve\nworker: work\n"}))
    assert deps(project) == {"web": (), "worker": ()}
    assert not any(spec.is_task for spec in project.processes)
