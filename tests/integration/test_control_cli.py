"""The real `supervise status|restart|stop|start` against a control server in another process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import clean_env, run_cli, write_files

SERVER = """\
import asyncio, signal, sys
from dataclasses import replace
from pathlib import Path

from supervise.errors import UsageError
from supervise.runtime.control import ControlServer, InstanceStatus


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


class Server:
    """The control server process, and its stdout read line by line with bounded waits."""

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
            assert ready, f"no line from the control server within {timeout} s"
            chunk = os.read(self._fd, 4096)
            assert chunk, "the control server exited"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return clean_env(XDG_RUNTIME_DIR=str(runtime))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", {"Procfile": "web: sleep 100\nworker: sleep 100\n"})


@pytest.fixture
def server(tmp_path: Path, project: Path, env: dict[str, str]) -> Iterator[Server]:
    script = write_files(tmp_path, {"serve.py": SERVER}) / "serve.py"
    process = subprocess.Popen([sys.executable, str(script), str(project)], env=env, stdout=subprocess.PIPE)
    try:
        server = Server(process)
        assert server.read_line() == "serving"
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_status_prints_a_table_of_every_instance(server: Server, project: Path, env: dict[str, str]) -> None:
    result = run_cli("status", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "INSTANCE  STATE    PID   UPTIME   RESTARTS  PORT  READY",
        "web.1     RUNNING  4001  0:01:23  0         5000  yes",
        "web.2     RUNNING  4002  0:01:23  0         5001  yes",
        "worker.1  RUNNING  4003  0:00:12  2         5100  -",
    ]


def test_status_json_is_a_list_for_scripts(server: Server, project: Path, env: dict[str, str]) -> None:
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
        }
    ]


def test_restart_prints_one_line_per_instance_with_its_new_pid(
    server: Server, project: Path, env: dict[str, str]
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


def test_stop_then_start_an_instance(server: Server, project: Path, env: dict[str, str]) -> None:
    stopped = run_cli("stop", "worker.1", cwd=project, env=env)
    assert (stopped.returncode, stopped.stdout) == (0, "worker.1: stopped (STOPPED)\n")
    table = run_cli("status", cwd=project, env=env).stdout
    assert "worker.1  STOPPED  -     -        2         5100  -" in table.splitlines()
    started = run_cli("start", "worker", cwd=project, env=env)
    assert (started.returncode, started.stdout) == (0, "worker.1: started (RUNNING, pid 4020)\n")


def test_unknown_name_is_one_line_listing_what_exists(
    server: Server, project: Path, env: dict[str, str]
) -> None:
    result = run_cli("restart", "wbe", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        'supervise: unknown instance, process or group "wbe"; '
        "instances: web.1, web.2, worker.1; processes: web, worker\n"
    )


def test_root_is_found_from_the_procfile_option(
    server: Server, project: Path, env: dict[str, str], tmp_path: Path
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
    server: Server, project: Path, env: dict[str, str]
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
