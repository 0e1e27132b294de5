"""One-shot tasks and the Procfile's release phase under `supervise up` (PRODUCT.md §3).

A task (`startsecs = 0`, `autorestart = false`) runs once and its exit code
decides: what depends on it starts only after it exited as expected, and a
failed task leaves its dependents unstarted, says so in one line, and `up`
ends with its code. A Procfile `release:` line is such a task that every
other process depends on, as in Heroku's release phase.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import UpProcess, clean_env, run_cli, wait_gone

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

MIGRATE = """\
import pathlib, sys, time
print("migrating", flush=True)
time.sleep(0.3)  # long enough that a web started too early would see no marker
pathlib.Path("migrated").write_text("yes")
print("migrated", flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

SERVE = """\
import os, pathlib, time
print("web sees migrations:", pathlib.Path("migrated").exists(), "port", os.environ["PORT"], flush=True)
pathlib.Path("serving").touch()
time.sleep(300)
"""

FAST = "[tool.supervise]\nstop_timeout = 2\nprocfile = 'Procfile'\n"


def started_pids(up: UpProcess) -> list[int]:
    return [int(m) for m in re.findall(r"started \(pid (\d+)\)", up.output)]


def test_release_runs_first_and_web_starts_only_after_it_completed(make_project: MakeProject) -> None:
    procfile = "web: cd . && python3 serve.py\nrelease: python3 migrate.py\nworker: exec sleep 300\n"
    root = make_project(
        {"Procfile": procfile, "migrate.py": MIGRATE, "serve.py": SERVE, "pyproject.toml": FAST}
    )
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"web\.1 +\| web sees migrations: True port 5000")
        up.wait_for(r"worker\.1 started")
        out = up.output
        assert out.index("release.1 exited with code 0 (expected)") < out.index("web.1 started")
        assert out.index("release.1 exited with code 0 (expected)") < out.index("worker.1 started")
        pids = started_pids(up)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "FATAL" not in up.output and "restarting" not in up.output  # it ran once
    assert up.output.count("release.1 started") == 1
    assert wait_gone(pids) == []


def test_failed_release_starts_nothing_else_and_up_exits_with_its_code(make_project: MakeProject) -> None:
    procfile = "release: python3 migrate.py 3\nweb: python3 serve.py\nworker: exec sleep 300\n"
    root = make_project({"Procfile": procfile, "migrate.py": MIGRATE, "serve.py": SERVE})
    with UpProcess(["--no-color"], root) as up:
        assert up.finish() == 3
    lines = [line for line in up.output.splitlines() if "system" in line]
    assert "web.1 started" not in up.output and "worker.1 started" not in up.output
    stranded = [line for line in lines if "will not start" in line]
    assert len(stranded) == 1
    assert stranded[0].endswith("release.1 exited with code 3, so web.1 and worker.1 will not start")
    assert up.output.count("release.1 started") == 1  # not retried, not FATAL
    assert "FATAL" not in up.output


def test_a_task_gates_only_what_depends_on_it_and_up_ends_with_its_code(make_project: MakeProject) -> None:
    pyproject = """\
[tool.supervise.processes.db]
command = "echo db up; while [ ! -e stop-db ]; do sleep 0.05; done"
startsecs = 0
[tool.supervise.processes.migrate]
command = "python3 migrate.py 4"
startsecs = 0
autorestart = false
depends_on = ["db"]
[tool.supervise.processes.web]
command = "python3 serve.py"
depends_on = ["migrate"]
[tool.supervise.processes.proxy]
command = "exec sleep 300"
depends_on = ["web"]
"""
    root = make_project({"pyproject.toml": pyproject, "migrate.py": MIGRATE, "serve.py": SERVE})
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"migrate\.1 exited with code 4, so proxy\.1 and web\.1 will not start$")
        # The line comes when the task fails, while db still runs; up waits for db, then ends with 4.
        assert "db.1 exited" not in up.output
        (root / "stop-db").touch()
        assert up.finish() == 4
    assert up.output.index("migrate.1 exited with code 4") < up.output.index("db.1 exited with code 0")
    assert "web.1 started" not in up.output and "proxy.1 started" not in up.output


def test_a_task_that_is_still_running_holds_its_dependents(make_project: MakeProject) -> None:
    pyproject = """\
[tool.supervise.processes.build]
command = "echo building; while [ ! -e go ]; do sleep 0.05; done; echo built"
startsecs = 0
autorestart = false
[tool.supervise.processes.web]
command = "echo web up; exec sleep 300"
startsecs = 0
depends_on = ["build"]
"""
    root = make_project({"pyproject.toml": pyproject})
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"build\.1 +\| building")
        status = run_cli("status", cwd=root)
        assert re.search(r"web\.1 +WAITING", status.stdout), status.stdout
        (root / "go").touch()
        up.wait_for(r"web\.1 +\| web up")
        assert up.output.index("build.1 exited with code 0") < up.output.index("web.1 started")
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


def test_ctrl_c_while_the_release_runs_stops_it_and_starts_nothing(make_project: MakeProject) -> None:
    procfile = "release: echo migrating; exec sleep 300\nweb: exec sleep 301\n"
    root = make_project({"Procfile": procfile, "pyproject.toml": FAST})
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"release\.1 +\| migrating")
        pids = started_pids(up)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "web.1 started" not in up.output
    assert wait_gone(pids) == []


def test_abort_on_exit_lets_a_completed_release_through(make_project: MakeProject) -> None:
    procfile = (
        "release: python3 migrate.py\nweb: python3 serve.py\n"
        "clock: while [ ! -e serving ]; do sleep 0.05; done; exit 5\n"
    )
    root = make_project({"Procfile": procfile, "migrate.py": MIGRATE, "serve.py": SERVE})
    with UpProcess(["--no-color", "--abort-on-exit"], root) as up:
        up.wait_for(r"web sees migrations: True")
        # The release ending is its job done; the clock ending is what stops the run.
        assert up.finish() == 5
    assert "release.1 ended; stopping everything" not in up.output
    assert "clock.1 ended; stopping everything (--abort-on-exit)" in up.output


def test_release_with_options_of_its_own_is_left_as_configured(make_project: MakeProject) -> None:
    pyproject = "[tool.supervise]\nprocfile = 'Procfile'\n[tool.supervise.processes.release]\nstartsecs = 0\n"
    root = make_project({"Procfile": "release: echo r\nweb: echo w\n", "pyproject.toml": pyproject})
    check = run_cli("check", cwd=root)
    assert check.returncode == 0, check.stderr
    assert "start order" not in check.stdout  # nothing depends on it
    assert "  after    release" not in check.stdout
    assert "one-shot task" not in check.stdout  # autorestart stays "unexpected": not a task


def test_check_shows_the_release_phase_and_the_order(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: serve\nrelease: migrate\nworker: work\n"})
    check = run_cli("check", cwd=root, env=clean_env())
    assert check.returncode == 0, check.stderr
    out = check.stdout
    assert "start order: release; then web, worker\n" in out
    release = out[out.index("release.1") :]
    assert "  restart  never: a one-shot task; what depends on it starts once it exits with 0" in release
    assert out.count("  after    release") == 2
