"""The real `supervise status|restart|stop|start` against a control server in another process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervise.errors import NotRunningError
from supervise.runtime.control.client import request
from supervise.runtime.control.rundir import socket_path
from tests.support import clean_env, run_cli, supervise_argv, write_files

SERVER = """\
import asyncio, signal, sys
from dataclasses import replace
from pathlib import Path

from supervise.errors import UsageError
from supervise.runtime.control.protocol import InstanceStatus
from supervise.runtime.control.server import ControlServer


class Target:
    def __init__(self):
        self.pid = 4000
        self.instances = {
            "web.1": InstanceStatus("web.1", "web", "RUNNING", 4001, 83.0, 0, 5000, True),
            "web.2": InstanceStatus("web.2", "web", "RUNNING", 4002, 83.0, 0, 5001, True),
            "worker.1": InstanceStatus("worker.1", "worker", "RUNNING", 4003, 12.0, 2, 5100, None),
        }

    def statuses(self):
        return list(self.instances.values())

    async def measure(self):
        pass

    def resolve(self, names):
        found = []
        for name in names:
            matches = [i for i, s in self.instances.items() if name in (i, s.process)]
            if not matches:
                raise UsageError(
                    f'unknown instance, process or group "{name}"; '
                    f"instances: {', '.join(self.instances)}; processes: web, worker"
                )
            found += matches
        return found

    def _set(self, names, state, running):
        for name in names:
            self.pid += 10
            self.instances[name] = replace(
                self.instances[name],
                state=state,
                pid=self.pid if running else None,
                uptime=0.0 if running else None,
                restarts=self.instances[name].restarts + (name in names and running),
            )
            print(f"{name} {state} {self.pid if running else '-'}", flush=True)

    async def restart(self, names):
        self._set(names, "RUNNING", True)

    async def stop(self, names):
        self._set(names, "STOPPED", False)

    async def start(self, names):
        self._set(names, "RUNNING", True)


async def main():
    server = ControlServer(Path(sys.argv[1]), Target())
    await server.start()
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    print("serving", flush=True)
    await done.wait()
    await server.close()


asyncio.run(main())
"""


class Child:
    """A child process, and its stdout read line by line with bounded waits."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process = process
        self.pid = process.pid
        self._fd = process.stdout.fileno()
        self._buffer = b""

    def read_line(self, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"no line from pid {self.pid} within {timeout} s"
            chunk = os.read(self._fd, 4096)
            assert chunk, f"pid {self.pid} exited"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def wait_for(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """Read lines until one matches `pattern`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in {seen}"
            line = self.read_line(remaining)
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """A private runtime dir short enough that the socket never falls back to the shared /tmp one."""
    runtime = tempfile.mkdtemp(prefix="sv-", dir="/tmp")
    try:
        yield clean_env(XDG_RUNTIME_DIR=runtime)
    finally:
        shutil.rmtree(runtime)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", {"Procfile": "web: sleep 100\nworker: sleep 100\n"})


@pytest.fixture
def server(tmp_path: Path, project: Path, env: dict[str, str]) -> Iterator[Child]:
    script = write_files(tmp_path, {"serve.py": SERVER}) / "serve.py"
    process = subprocess.Popen([sys.executable, str(script), str(project)], env=env, stdout=subprocess.PIPE)
    try:
        server = Child(process)
        assert server.read_line() == "serving"
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_status_prints_a_table_of_every_instance(server: Child, project: Path, env: dict[str, str]) -> None:
    result = run_cli("status", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "INSTANCE  STATE    PID   UPTIME   RESTARTS  EXIT  CPU  MEM  PORT  READY",
        "web.1     RUNNING  4001  0:01:23  0         -     -    -    5000  yes",
        "web.2     RUNNING  4002  0:01:23  0         -     -    -    5001  yes",
        "worker.1  RUNNING  4003  0:00:12  2         -     -    -    5100  -",
    ]


def test_status_json_is_a_list_for_scripts(server: Child, project: Path, env: dict[str, str]) -> None:
    result = run_cli("status", "--json", "worker", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "worker.1",
            "process": "worker",
            "state": "RUNNING",
            "pid": 4003,
            "uptime": 12.0,
            "restarts": 2,
            "port": 5100,
            "ready": None,
            "waiting_for": None,
            "last_exit": None,
            "cpu": None,
            "memory": None,
        }
    ]


def test_restart_prints_one_line_per_instance_with_its_new_pid(
    server: Child, project: Path, env: dict[str, str]
) -> None:
    result = run_cli("restart", "web", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "web.1: restarted (RUNNING, pid 4010)",
        "web.2: restarted (RUNNING, pid 4020)",
    ]
    assert [server.read_line(), server.read_line()] == ["web.1 RUNNING 4010", "web.2 RUNNING 4020"]
    status = run_cli("status", "--json", "web.1", cwd=project, env=env)
    assert json.loads(status.stdout)[0]["pid"] == 4010


def test_stop_then_start_an_instance(server: Child, project: Path, env: dict[str, str]) -> None:
    stopped = run_cli("stop", "worker.1", cwd=project, env=env)
    assert (stopped.returncode, stopped.stdout) == (0, "worker.1: stopped (STOPPED)\n")
    table = run_cli("status", cwd=project, env=env).stdout
    assert "worker.1  STOPPED  -     -        2         -     -    -    5100  -" in table.splitlines()
    started = run_cli("start", "worker", cwd=project, env=env)
    assert (started.returncode, started.stdout) == (0, "worker.1: started (RUNNING, pid 4020)\n")


def test_unknown_name_is_one_line_listing_what_exists(
    server: Child, project: Path, env: dict[str, str]
) -> None:
    result = run_cli("restart", "wbe", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        'supervise: unknown instance, process or group "wbe"; '
        "instances: web.1, web.2, worker.1; processes: web, worker\n"
    )


def test_root_is_found_from_the_procfile_option(
    server: Child, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("status", "-f", str(project / "Procfile"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "web.1" in result.stdout
    result = run_cli("status", "-d", str(project), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["restart", "web"], ["stop", "web"]])
def test_no_up_running_is_one_line_and_exit_1(project: Path, env: dict[str, str], command: list[str]) -> None:
    result = run_cli(*command, cwd=project, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"supervise: no supervise up is running for {project.resolve()}\n"


def test_killed_server_leaves_a_stale_socket_that_reads_as_not_running(
    server: Child, project: Path, env: dict[str, str]
) -> None:
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    result = run_cli("status", cwd=project, env=env)
    assert (result.returncode, result.stderr) == (
        1,
        f"supervise: no supervise up is running for {project.resolve()}\n",
    )


def test_restart_without_names_is_a_usage_error(project: Path, env: dict[str, str]) -> None:
    result = run_cli("restart", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("supervise: restart: name at least one instance")


# --- against a real `supervise up` ------------------------------------------------------------

UP_PROCFILE = "web: echo web $PS up; exec sleep 300\nworker: exec sleep 300\n"


def start_up(project: Path, env: dict[str, str], *args: str) -> Child:
    """`supervise up` in `project`, with its output piped to the test."""
    process = subprocess.Popen(
        [*supervise_argv(), "up", "--no-color", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Child(process)


def wait_until_answering(project: Path, env: dict[str, str], timeout: float = 10) -> None:
    """Bounded wait for `up`'s control socket (it is bound while the instances start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            request(project, {"op": "hello"}, 2, env)
            return
        except NotRunningError:
            assert time.monotonic() < deadline, f"supervise up did not answer within {timeout} s"
            time.sleep(0.05)


def stop_up(up: Child) -> None:
    """SIGTERM the whole session of `up`, its instances included, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGTERM)
    try:
        up.process.wait(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(up.pid, signal.SIGKILL)
        up.process.wait()


@pytest.fixture
def up_project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "up-app", {"Procfile": UP_PROCFILE})


@pytest.fixture
def up(up_project: Path, env: dict[str, str]) -> Iterator[tuple[Child, dict[str, int]]]:
    """A running `supervise up -m web=2` and the pid of each instance it started."""
    child = start_up(up_project, env, "-m", "web=2")
    try:
        pids: dict[str, int] = {}
        while len(pids) < 3:
            match = child.wait_for(r"system\s+\| (\S+) started \(pid (\d+)\)")
            pids[match[1]] = int(match[2])
        wait_until_answering(up_project, env)
        yield child, pids
    finally:
        stop_up(child)


def status_json(project: Path, env: dict[str, str], *names: str) -> dict[str, dict[str, object]]:
    result = run_cli("status", "--json", *names, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}


def test_up_status_shows_every_instance_with_its_pid(
    up: tuple[Child, dict[str, int]], up_project: Path, env: dict[str, str]
) -> None:
    _, pids = up
    result = run_cli("status", cwd=up_project, env=env)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "INSTANCE",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "EXIT",
        "CPU",
        "MEM",
        "PORT",
        "READY",
    ]
    cells = {row.split()[0]: row.split() for row in rows}
    assert set(cells) == {"web.1", "web.2", "worker.1"}
    for name, pid in pids.items():
        assert cells[name][2] == str(pid)
    assert [cells[name][8] for name in ("web.1", "web.2", "worker.1")] == ["5000", "5001", "5100"]
    assert {cells[name][1] for name in cells} <= {"STARTING", "RUNNING"}


def test_up_restart_changes_the_pid_and_up_prints_it(
    up: tuple[Child, dict[str, int]], up_project: Path, env: dict[str, str]
) -> None:
    child, pids = up
    result = run_cli("restart", "web.1", cwd=up_project, env=env)
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"web\.1: restarted \((?:STARTING|RUNNING), pid (\d+)\)\n", result.stdout)
    assert match, result.stdout
    new_pid = int(match[1])
    assert new_pid != pids["web.1"]
    child.wait_for(rf"system\s+\| web\.1 started \(pid {new_pid}\)")
    after = status_json(up_project, env)
    assert after["web.1"]["pid"] == new_pid
    assert after["web.2"]["pid"] == pids["web.2"]


def test_up_stop_then_start_a_process_type(
    up: tuple[Child, dict[str, int]], up_project: Path, env: dict[str, str]
) -> None:
    _, pids = up
    stopped = run_cli("stop", "worker", cwd=up_project, env=env)
    assert (stopped.returncode, stopped.stdout) == (0, "worker.1: stopped (STOPPED)\n"), stopped.stderr
    assert status_json(up_project, env, "worker")["worker.1"]["pid"] is None
    with pytest.raises(ProcessLookupError):
        os.kill(pids["worker.1"], 0)
    started = run_cli("start", "worker", cwd=up_project, env=env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("worker.1: started (")
    assert status_json(up_project, env, "worker")["worker.1"]["pid"] not in (None, pids["worker.1"])


def test_up_unknown_name_is_one_line_and_exit_2(
    up: tuple[Child, dict[str, int]], up_project: Path, env: dict[str, str]
) -> None:
    result = run_cli("restart", "wbe", cwd=up_project, env=env)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr == 'supervise: unknown instance, process or group "wbe"; did you mean "web"?\n'


def test_second_up_in_the_same_project_is_refused_naming_the_first(
    up: tuple[Child, dict[str, int]], up_project: Path, env: dict[str, str]
) -> None:
    child, _ = up
    second = run_cli("up", "--no-color", cwd=up_project, env=env)
    assert second.returncode != 0
    assert second.stderr.splitlines()[-1] == (
        f"supervise: another supervise up (pid {child.pid}) is running for this project; "
        "stop it or use supervise status"
    )
    assert status_json(up_project, env)["web.1"]["state"] in ("STARTING", "RUNNING")


def test_socket_left_by_a_killed_up_does_not_block_the_next(up_project: Path, env: dict[str, str]) -> None:
    first = start_up(up_project, env)
    orphans = []
    try:
        while len(orphans) < 2:
            orphans.append(int(first.wait_for(r"system\s+\| \S+ started \(pid (\d+)\)")[1]))
        wait_until_answering(up_project, env)
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        stop_up(first)
        for pid in orphans:  # each instance leads its own session, which SIGKILL of up leaves behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert socket_path(up_project, env).exists()
    result = run_cli("status", cwd=up_project, env=env)
    assert (result.returncode, result.stderr) == (
        1,
        f"supervise: no supervise up is running for {up_project.resolve()}\n",
    )

    second = start_up(up_project, env)
    try:
        second.wait_for(r"worker\.1 started")
        wait_until_answering(up_project, env)
        assert request(up_project, {"op": "hello"}, 5, env)["pid"] == second.pid
    finally:
        stop_up(second)
