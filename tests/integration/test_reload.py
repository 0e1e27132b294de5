"""Changes while running (PRODUCT.md §8): configuration reload, `scale`, `signal`, and `status`.

Real `supervise up` processes, real files saved while they run (in place and
through a rename, as vim and VS Code save), real signals. Commands are shell
lines with a compound one (`cd . && python3 srv.py`) so that "the old one gone
first" is tested where a shell sits between supervise and the program. On
Linux the configuration is watched (inotify) before the first process starts,
so a file saved once a process has printed its first line is seen.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support import UpProcess, pid_gone, run_cli, wait_gone

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

SRV = """\
import os, signal, sys, time

def hup(signum, frame):
    print("got SIGHUP", flush=True)

signal.signal(signal.SIGHUP, hup)
name = os.environ["PS"]
print(f"{name} pid={os.getpid()} port={os.environ['PORT']} debug={os.environ.get('DEBUG')}", flush=True)
while True:
    time.sleep(100)
"""
SERVE = "cd . && python3 srv.py"


def started(up: UpProcess, name: str, start: int = 0) -> tuple[int, str, int]:
    """Wait for instance `name`'s program to say it runs: (its pid, its debug value, where it said so)."""
    match = up.wait_for(rf"{re.escape(name)} +\| \S+ pid=(\d+) port=\d+ debug=(\S+)", start=start)
    return int(match.group(1)), match.group(2), match.end()


def status(root: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("status", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}


def save_by_rename(path: Path, text: str) -> None:
    """What vim and VS Code do: write a new file beside it, then rename it over the old one."""
    temporary = path.with_name(path.name + ".swp~")
    temporary.write_text(text)
    os.replace(temporary, path)


def stop(up: UpProcess) -> None:
    up.signal(signal.SIGINT)
    assert up.finish() == 130, up.output


def test_unchanged_instance_keeps_its_pid_when_another_changes(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SRV, "Procfile": f"web: {SERVE}\nworker: {SERVE}\n"})
    with UpProcess(["--no-color"], root) as up:
        web_pid, _, _ = started(up, "web.1")
        old_worker, _, _ = started(up, "worker.1")
        mark = len(up.output)
        web_leader = status(root)["web.1"]["pid"]
        (root / "Procfile").write_text(f"web: {SERVE}\nworker: cd .. && cd - && python3 srv.py\n")
        line = up.wait_for(r"system +\| Procfile changed: (.*)", start=mark)
        assert line.group(1) == "restarting worker (command); 1 unchanged"
        new_worker, _, _ = started(up, "worker.1", start=line.end())
        assert new_worker != old_worker
        assert wait_gone([old_worker]) == []
        now = status(root)
        assert now["web.1"]["pid"] == web_leader
        assert now["web.1"]["restarts"] == 0
        assert now["worker.1"]["state"] in ("STARTING", "RUNNING")
        stop(up)
    assert up.output.count("web.1 started") == 1
    # The old worker was gone before the new one started.
    assert up.output.index("worker.1 stopped") < up.output.rindex("worker.1 started")
    assert wait_gone([web_pid, new_worker]) == []


def test_env_change_restarts_exactly_the_instances_that_see_it(make_project: MakeProject) -> None:
    pyproject = (
        "[tool.supervise]\nstop_timeout = 5\n"
        f'[tool.supervise.processes.web]\ncommand = "{SERVE}"\nenv = {{ DEBUG = "always" }}\n'
        f'[tool.supervise.processes.worker]\ncommand = "{SERVE}"\n'
        f'[tool.supervise.processes.clock]\ncommand = "{SERVE}"\n'
    )
    root = make_project({"srv.py": SRV, "pyproject.toml": pyproject, ".env": "DEBUG=0\nOTHER=x\n"})
    with UpProcess(["--no-color"], root) as up:
        web_pid, web_debug, _ = started(up, "web.1")
        worker_pid, worker_debug, _ = started(up, "worker.1")
        clock_pid, _, _ = started(up, "clock.1")
        assert (web_debug, worker_debug) == ("always", "0")
        mark = len(up.output)
        save_by_rename(root / ".env", "DEBUG=1\nOTHER=x\n")
        line = up.wait_for(r"system +\| \.env changed: (.*)", start=mark)
        assert line.group(1) == "restarting worker, clock (env DEBUG); 1 unchanged"
        new_worker, debug, _ = started(up, "worker.1", start=line.end())
        new_clock, clock_debug, _ = started(up, "clock.1", start=line.end())
        assert (debug, clock_debug) == ("1", "1")
        assert wait_gone([worker_pid, clock_pid]) == []
        assert not pid_gone(web_pid)
        stop(up)
    assert up.output.count("web.1 started") == 1
    assert up.output.count("worker.1 started") == 2
    assert wait_gone([web_pid, new_worker, new_clock]) == []


def test_invalid_toml_saved_while_running_is_one_line_and_stops_nothing(make_project: MakeProject) -> None:
    good = f'[tool.supervise]\n[tool.supervise.processes.web]\ncommand = "{SERVE}"\n'
    root = make_project({"srv.py": SRV, "pyproject.toml": good})
    with UpProcess(["--no-color"], root) as up:
        pid, _, _ = started(up, "web.1")
        mark = len(up.output)
        leader = status(root)["web.1"]["pid"]
        (root / "pyproject.toml").write_text(good + "[tool.supervise.processes.worker\n")
        line = up.wait_for(r"system +\| pyproject\.toml changed: (.*)", start=mark)
        assert re.fullmatch(
            r"pyproject\.toml:4: invalid TOML: .*; the running configuration stays", line.group(1)
        ), line.group(1)
        # `reload` says the same and exits 2; nothing was stopped or started meanwhile.
        result = run_cli("reload", cwd=root)
        assert result.returncode == 2
        assert re.fullmatch(r"supervise: pyproject\.toml:4: invalid TOML: .*\n", result.stderr), result.stderr
        assert status(root)["web.1"]["pid"] == leader
        assert "stopping" not in up.output[mark:]
        # Fixed again: back to normal, still without a restart.
        (root / "pyproject.toml").write_text(good)
        up.wait_for(r"system +\| pyproject\.toml changed: no changes \(1 unchanged\)", start=line.end())
        stop(up)
    assert up.output.count("invalid TOML") == 2  # the watcher's line and the reload's, nothing more
    assert up.output.count("web.1 started") == 1
    assert wait_gone([pid]) == []


def test_scale_up_and_down_with_ports_from_the_scheme(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SRV, "Procfile": f"web: {SERVE}\nworker: {SERVE}\n", ".env": "DEBUG=a\n"})
    with UpProcess(["--no-color", "-p", "6000"], root) as up:
        started(up, "web.1")
        started(up, "worker.1")
        result = run_cli("scale", "web=3", "worker=0", cwd=root)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "scale web=3 worker=0: starting web.2, web.3; stopping worker; 1 unchanged\n"
        ports = {}
        for name in ("web.2", "web.3"):
            ports[name] = up.wait_for(rf"{name} +\| {name} pid=\d+ port=(\d+)").group(1)
        assert ports == {"web.2": "6001", "web.3": "6002"}
        assert set(status(root)) == {"web.1", "web.2", "web.3"}

        result = run_cli("scale", "web=1", cwd=root)
        assert result.stdout == "scale web=1: stopping web.2, web.3; 1 unchanged\n"
        up.wait_for(r"web\.2 stopped")
        up.wait_for(r"web\.3 stopped")
        assert up.output.index("stopping web.3 (") < up.output.index("stopping web.2 (")  # highest first
        assert set(status(root)) == {"web.1"}

        # The next reload keeps the formation: web stays at 2 when .env changes.
        run_cli("scale", "web=2", cwd=root)
        mark = up.wait_for(r"web\.2 +\| web\.2 pid=\d+ port=6001 debug=a").end()
        (root / ".env").write_text("DEBUG=b\n")
        up.wait_for(r"\.env changed: restarting web \(env DEBUG\)$", start=mark)
        up.wait_for(r"web\.2 +\| web\.2 pid=\d+ port=6001 debug=b", start=mark)
        assert set(status(root)) == {"web.1", "web.2"}
        stop(up)


def test_scale_errors_are_exit_2(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SRV, "Procfile": f"web: {SERVE}\n"})
    with UpProcess(["--no-color"], root) as up:
        started(up, "web.1")
        unknown = run_cli("scale", "nope=2", cwd=root)
        assert (unknown.returncode, unknown.stderr) == (
            2,
            'supervise: scale: unknown process "nope"; processes: web\n',
        )
        malformed = run_cli("scale", "web=two", cwd=root)
        assert malformed.returncode == 2
        assert malformed.stderr.startswith(
            'supervise: scale: expected NAME=COUNT (e.g. "web=2,worker=0"), got'
        )
        stop(up)


def test_signal_hup_reaches_the_program(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SRV, "Procfile": f"web: {SERVE}\nworker: {SERVE}\n"})
    with UpProcess(["--no-color"], root) as up:
        pid, _, mark = started(up, "web.1")
        started(up, "worker.1")
        result = run_cli("signal", "HUP", "web", cwd=root)
        assert result.returncode == 0, result.stderr
        leader = status(root)["web.1"]["pid"]
        # The program got it; the shell of the compound line did not (it would have died of it).
        assert result.stdout == f"web.1: sent SIGHUP to pid {pid}\n"
        up.wait_for(r"web\.1 +\| got SIGHUP", start=mark)
        assert not re.search(r"worker\.1 +\| got SIGHUP", up.output)

        assert run_cli("signal", "SIGUSR2", "nope", cwd=root).returncode == 2
        bad = run_cli("signal", "NOPE", "web", cwd=root)
        assert (bad.returncode, bad.stderr) == (
            2,
            'supervise: signal: unknown signal "NOPE"; use a name such as HUP, USR1, SIGTERM, or a number\n',
        )
        by_number = run_cli("signal", str(int(signal.SIGHUP)), "web.1", cwd=root)
        assert by_number.returncode == 0
        up.wait_for(r"web\.1 +\| got SIGHUP[\s\S]*web\.1 +\| got SIGHUP", start=mark)
        assert not pid_gone(pid)  # the program handled it and runs on
        after = status(root)["web.1"]
        assert (after["pid"], after["restarts"]) == (leader, 0)  # its shell was spared: no restart
        stop(up)


def test_signal_to_a_simple_command_goes_to_its_program(make_project: MakeProject) -> None:
    """The shell execs a simple command: the program is the instance's pid, and it gets the signal."""
    root = make_project({"srv.py": SRV, "Procfile": "web: python3 srv.py\n"})
    with UpProcess(["--no-color"], root) as up:
        pid, _, mark = started(up, "web.1")
        assert status(root)["web.1"]["pid"] == pid
        result = run_cli("signal", "sighup", "web.1", cwd=root)
        assert (result.returncode, result.stdout) == (0, f"web.1: sent SIGHUP to pid {pid}\n")
        up.wait_for(r"web\.1 +\| got SIGHUP", start=mark)
        stop(up)
    assert up.output.count("web.1 started") == 1


def test_status_shows_waiting_usage_and_last_exit(make_project: MakeProject) -> None:
    pyproject = (
        "[tool.supervise]\nstop_timeout = 2\n"
        '[tool.supervise.processes.db]\ncommand = "exec sleep 300"\n'
        'ready = { cmd = "test -e ready-now" }\n'
        '[tool.supervise.processes.web]\ncommand = "cd . && python3 srv.py"\ndepends_on = ["db"]\n'
        '[tool.supervise.processes.once]\ncommand = "exit 3"\nstartsecs = 0\nautorestart = false\n'
        "exitcodes = [3]\n"
    )
    root = make_project({"srv.py": SRV, "pyproject.toml": pyproject})
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"once\.1 exited with code 3 \(expected\)")
        up.wait_for(r"db\.1 started")
        now = status(root)
        assert now["web.1"]["state"] == "WAITING"
        assert now["web.1"]["waiting_for"].startswith("db.1: ")
        assert now["once.1"]["state"] == "EXITED" and now["once.1"]["last_exit"] == 3
        assert now["db.1"]["cpu"] is not None and now["db.1"]["memory"] > 0
        table = run_cli("status", cwd=root).stdout
        assert re.search(r"^web\.1 +WAITING +- .*\(for db\.1: .*\)$", table, re.MULTILINE), table
        assert re.search(r"^once\.1 +EXITED +- +- +0 +3 ", table, re.MULTILINE), table
        (root / "ready-now").write_text("")
        started(up, "web.1")
        assert status(root)["web.1"]["waiting_for"] is None
        stop(up)


def test_an_added_process_starts_after_its_dependency_is_ready(make_project: MakeProject) -> None:
    base = (
        "[tool.supervise]\nstop_timeout = 2\n"
        '[tool.supervise.processes.db]\ncommand = "exec sleep 300"\nready = { cmd = "test -e db-ready" }\n'
    )
    api = f'[tool.supervise.processes.api]\ncommand = "{SERVE}"\ndepends_on = ["db"]\n'
    root = make_project({"srv.py": SRV, "pyproject.toml": base})
    with UpProcess(["--no-color"], root) as up:
        up.wait_for(r"db\.1 started")
        result = run_cli("reload", cwd=root)
        assert result.stdout == "supervise reload: no configuration file changed: no changes (1 unchanged)\n"
        mark = len(up.output)
        (root / "pyproject.toml").write_text(base + api)
        up.wait_for(r"pyproject\.toml changed: starting api; 1 unchanged", start=mark)
        assert status(root)["api.1"]["state"] == "WAITING"
        (root / "db-ready").write_text("")
        ready = up.wait_for(r"db\.1 is ready", start=mark)
        pid, _, _ = started(up, "api.1", start=ready.end())
        stop(up)
    assert wait_gone([pid]) == []


def test_reload_without_an_up_is_exit_1(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: sleep 1\n"})
    result = run_cli("reload", cwd=root)
    assert (result.returncode, result.stderr) == (1, f"supervise: no supervise up is running for {root}\n")


def test_new_watch_globs_apply_without_a_restart(make_project: MakeProject) -> None:
    body = f'[tool.supervise]\nstop_timeout = 2\n[tool.supervise.processes.web]\ncommand = "{SERVE}"\n'
    root = make_project({"srv.py": SRV, "pyproject.toml": body, "src/app.py": ""})
    with UpProcess(["--no-color"], root) as up:
        pid, _, _ = started(up, "web.1")
        mark = len(up.output)
        save_by_rename(root / "pyproject.toml", body + 'watch = ["src/*.py"]\n')
        line = up.wait_for(
            r"pyproject\.toml changed: updated in place web \(watch\); 1 unchanged", start=mark
        )
        watching = up.wait_for(r"system +\| watching src/\*\.py for web", start=line.end())
        (root / "src/app.py").write_text("x = 1\n")
        restart = up.wait_for(r"restarting web\.1 \(src/app\.py changed\)", start=watching.end())
        new_pid, _, _ = started(up, "web.1", start=restart.end())
        assert new_pid != pid
        stop(up)


def test_an_env_file_that_appears_is_read(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SRV, "Procfile": f"web: {SERVE}\n"})
    with UpProcess(["--no-color"], root) as up:
        _, debug, _ = started(up, "web.1")
        assert debug == "None"
        mark = len(up.output)
        (root / ".env").write_text("DEBUG=on\n")
        line = up.wait_for(r"\.env changed: restarting web \(env DEBUG\)", start=mark)
        _, debug, _ = started(up, "web.1", start=line.end())
        assert debug == "on"
        stop(up)


def test_a_change_to_a_dependency_and_its_dependent_keeps_the_order(make_project: MakeProject) -> None:
    pyproject = (
        "[tool.supervise]\nstop_timeout = 5\n"
        f'[tool.supervise.processes.db]\ncommand = "{SERVE}"\nready = {{ log = "pid=" }}\n'
        f'[tool.supervise.processes.web]\ncommand = "{SERVE}"\ndepends_on = ["db"]\n'
    )
    root = make_project({"srv.py": SRV, "pyproject.toml": pyproject, ".env": "DEBUG=1\n"})
    with UpProcess(["--no-color"], root) as up:
        started(up, "web.1")
        mark = len(up.output)
        (root / ".env").write_text("DEBUG=2\n")
        line = up.wait_for(r"\.env changed: restarting db, web \(env DEBUG\)$", start=mark)
        _, debug, _ = started(up, "web.1", start=line.end())
        assert debug == "2"
        stop(up)
    after = up.output[line.end() :]
    # Dependents stop first; the dependency starts first, and the dependent once it is ready.
    assert after.index("stopping web.1") < after.index("stopping db.1")
    assert after.index("db.1 stopped") < after.index("db.1 started")
    assert after.index("db.1 is ready") < after.index("web.1 started")


def test_scale_starts_a_process_not_selected_and_zero_keeps_up_running(make_project: MakeProject) -> None:
    pyproject = (
        "[tool.supervise]\nstop_timeout = 2\n"
        f'[tool.supervise.processes.web]\ncommand = "{SERVE}"\n'
        f'[tool.supervise.processes.worker]\ncommand = "{SERVE}"\nautostart = false\n'
    )
    root = make_project({"srv.py": SRV, "pyproject.toml": pyproject})
    with UpProcess(["--no-color"], root) as up:
        started(up, "web.1")
        assert set(status(root)) == {"web.1"}
        result = run_cli("scale", "worker=2", cwd=root)
        assert result.stdout == "scale worker=2: starting worker; 1 unchanged\n"
        started(up, "worker.2")
        # Everything scaled to zero: up waits for the next scale instead of ending.
        result = run_cli("scale", "all=0", cwd=root)
        assert result.stdout == "scale all=0: stopping web, worker\n"
        assert status(root) == {}
        mark = len(up.output)
        assert run_cli("scale", "web=1", cwd=root).returncode == 0
        started(up, "web.1", start=mark)
        assert up.proc.poll() is None
        stop(up)
