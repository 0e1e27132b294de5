"""The control socket: a real unix socket in a temp dir, served from a fake in-memory target."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from supervise.commands.status_table import format_memory, format_uptime, render_action, render_status_table
from supervise.errors import (
    AlreadyRunningError,
    ConfigError,
    ControlError,
    NotRunningError,
    SuperviseError,
    UsageError,
)
from supervise.runtime.control.client import request
from supervise.runtime.control.protocol import InstanceStatus
from supervise.runtime.control.rundir import SOCKET_PATH_MAX, socket_path
from supervise.runtime.control.server import ControlServer


class FakeTarget:
    """Two `web` instances and a `worker`, in a `backend` group; actions change pids."""

    def __init__(self) -> None:
        self.instances = {
            "web.1": InstanceStatus(
                "web.1", "web", "RUNNING", 101, 83.4, 0, 5000, True, cpu=12.5, memory=48_000_000
            ),
            "web.2": InstanceStatus(
                "web.2", "web", "RUNNING", 102, 83.2, 1, 5001, False, last_exit=-9, cpu=0.0, memory=900_000
            ),
            "worker.1": InstanceStatus(
                "worker.1", "worker", "BACKOFF", None, None, 3, 5100, None, last_exit=1
            ),
        }
        self.groups = {"backend": ["web", "worker"]}
        self.calls: list[tuple[str, list[str]]] = []
        self.next_pid = 200
        self.broken_config = False

    def statuses(self) -> list[InstanceStatus]:
        return list(self.instances.values())

    async def measure(self) -> None:
        self.calls.append(("measure", []))

    async def signal(self, instances: Sequence[str], signum: int) -> list[tuple[str, list[int]]]:
        self.calls.append((f"signal {signum}", list(instances)))
        return [(name, [pid] if (pid := self.instances[name].pid) else []) for name in instances]

    async def reload(self) -> str:
        self.calls.append(("reload", []))
        if self.broken_config:
            raise ConfigError(
                "invalid TOML: expected '=' (at line 3, column 5)", file="pyproject.toml", line=3
            )
        return ".env changed: restarting web (env DEBUG); 2 unchanged"

    async def scale(self, formation: Mapping[str, int]) -> str:
        self.calls.append(("scale", [f"{k}={v}" for k, v in formation.items()]))
        return "scale web=3: starting web.3; 3 unchanged"

    def resolve(self, names: Sequence[str]) -> list[str]:
        found: list[str] = []
        for name in names:
            processes = self.groups.get(name, [name])
            matches = [i for i, s in self.instances.items() if i == name or s.process in processes]
            if not matches:
                raise UsageError(f'unknown instance, process or group "{name}"; instances: web.1, web.2, ...')
            found += [m for m in matches if m not in found]
        return found

    def _set(self, names: Sequence[str], state: str, running: bool) -> None:
        for name in names:
            self.next_pid += 1
            pid = self.next_pid if running else None
            uptime = 0.0 if running else None
            self.instances[name] = replace(self.instances[name], state=state, pid=pid, uptime=uptime)

    async def restart(self, instances: Sequence[str]) -> None:
        self.calls.append(("restart", list(instances)))
        self._set(instances, "RUNNING", True)

    async def stop(self, instances: Sequence[str]) -> None:
        self.calls.append(("stop", list(instances)))
        self._set(instances, "STOPPED", False)

    async def start(self, instances: Sequence[str]) -> None:
        self.calls.append(("start", list(instances)))
        self._set(instances, "RUNNING", True)


@pytest.fixture
def environ() -> Iterator[dict[str, str]]:
    """A private runtime dir short enough that the socket never falls back to the shared /tmp one."""
    runtime = tempfile.mkdtemp(prefix="sv-", dir="/tmp")
    try:
        yield {"XDG_RUNTIME_DIR": runtime}
    finally:
        shutil.rmtree(runtime)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    return project


def serve(
    root: Path,
    environ: Mapping[str, str],
    client: Callable[[ControlServer], Any],
    target: FakeTarget | None = None,
) -> Any:
    """Run a ControlServer in a fresh loop while `client` (blocking) talks to it from a thread."""

    async def main() -> Any:
        server = ControlServer(root, target or FakeTarget(), environ=environ)
        await server.start()
        try:
            return await asyncio.wait_for(asyncio.to_thread(client, server), 10)
        finally:
            await server.close()

    return asyncio.run(main())


def ask(root: Path, environ: Mapping[str, str], message: Mapping[str, Any]) -> Any:
    return request(root, message, 5, environ)


def raw_exchange(path: Path, line: bytes) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(line)
        return json.loads(sock.makefile("rb").readline())


def run_async(coroutine: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, 10)

    return asyncio.run(bounded())


def test_status_round_trip_returns_every_instance(root: Path, environ: dict[str, str]) -> None:
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "status"}))
    statuses = [InstanceStatus.from_json(item) for item in answer["instances"]]
    assert statuses == FakeTarget().statuses()
    assert answer["v"] == 1 and answer["ok"] is True


def test_status_with_names_keeps_only_those(root: Path, environ: dict[str, str]) -> None:
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "status", "names": ["worker"]}))
    assert [item["name"] for item in answer["instances"]] == ["worker.1"]


def test_hello_names_pid_and_root(root: Path, environ: dict[str, str]) -> None:
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "hello"}))
    assert answer["pid"] == os.getpid()
    assert answer["root"] == str(root)


@pytest.mark.parametrize("action", ["restart", "stop", "start"])
def test_action_calls_the_target_with_resolved_instances(
    root: Path, environ: dict[str, str], action: str
) -> None:
    target = FakeTarget()
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": action, "names": ["web"]}), target)
    assert target.calls == [(action, ["web.1", "web.2"])]
    assert [item["name"] for item in answer["instances"]] == ["web.1", "web.2"]


def test_restart_answers_with_the_new_pids(root: Path, environ: dict[str, str]) -> None:
    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "restart", "names": ["web.2"]}))
    (item,) = answer["instances"]
    assert item["name"] == "web.2" and item["pid"] == 201 and item["state"] == "RUNNING"


def test_group_name_resolves_to_every_member(root: Path, environ: dict[str, str]) -> None:
    target = FakeTarget()
    serve(root, environ, lambda _: ask(root, environ, {"op": "stop", "names": ["backend"]}), target)
    assert target.calls == [("stop", ["web.1", "web.2", "worker.1"])]


def test_unknown_name_is_one_usage_line_with_exit_2(root: Path, environ: dict[str, str]) -> None:
    target = FakeTarget()

    def client(_: ControlServer) -> SuperviseError:
        with pytest.raises(SuperviseError) as caught:
            ask(root, environ, {"op": "restart", "names": ["nope"]})
        return caught.value

    error = serve(root, environ, client, target)
    assert error.exit_code == 2
    assert str(error).startswith('unknown instance, process or group "nope"; instances: web.1')
    assert "\n" not in str(error)
    assert target.calls == []


def test_action_without_names_is_refused(root: Path, environ: dict[str, str]) -> None:
    def client(_: ControlServer) -> SuperviseError:
        with pytest.raises(SuperviseError) as caught:
            ask(root, environ, {"op": "stop", "names": []})
        return caught.value

    assert serve(root, environ, client).exit_code == 2


def test_protocol_version_mismatch_is_refused_by_the_server(root: Path, environ: dict[str, str]) -> None:
    def client(server: ControlServer) -> Any:
        return raw_exchange(server.path, b'{"v": 2, "op": "status"}\n')

    answer = serve(root, environ, client)
    assert answer["ok"] is False and answer["exit"] == 2 and answer["v"] == 1
    assert "protocol v1" in answer["error"] and "v2" in answer["error"]


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"v": 1, "op": "dance"}\n',
        b'{"v": 1, "op": "stop", "names": "web"}\n',
        b"[" * 50_000 + b"\n",  # json.loads raises RecursionError, not ValueError
        b'{"v": ' * 20_000 + b"1" + b"}" * 20_000 + b"\n",
        b'{"v": 1, "op": {"a": [1]}, "names": [null]}\n',
        b'{"v": 1, "op": "status", "names": ["\\ud800"]}\n',  # a lone surrogate
        b"\xff\xfe not even UTF-8\n",
    ],
)
def test_bad_requests_get_an_error_answer_and_the_server_keeps_serving(
    root: Path, environ: dict[str, str], line: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    def client(server: ControlServer) -> tuple[Any, Any]:
        return raw_exchange(server.path, line), ask(root, environ, {"op": "hello"})

    bad, hello = serve(root, environ, client)
    assert bad["ok"] is False and bad["error"] and bad["exit"] == 2
    assert hello["ok"] is True
    assert "Traceback" not in capfd.readouterr().err


def test_client_refuses_an_answer_in_another_protocol_version(root: Path, environ: dict[str, str]) -> None:
    """A newer `up` answering v2: the client says so instead of misreading it."""
    path = socket_path(root, environ)
    path.parent.mkdir(mode=0o700, parents=True)

    async def main() -> ControlError:
        async def answer_v2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b'{"v": 2, "ok": true}\n')
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(answer_v2, path=str(path))
        async with server:
            with pytest.raises(ControlError) as caught:
                await asyncio.to_thread(ask, root, environ, {"op": "status"})
            return caught.value

    error = run_async(main())
    assert error.exit_code == 2
    assert "protocol v2" in str(error)


def test_socket_is_private_to_the_user(root: Path, environ: dict[str, str]) -> None:
    def modes(server: ControlServer) -> tuple[int, int, bool]:
        info = os.stat(server.path)
        return (
            stat.S_IMODE(info.st_mode),
            stat.S_IMODE(os.stat(server.path.parent).st_mode),
            stat.S_ISSOCK(info.st_mode),
        )

    socket_mode, dir_mode, is_socket = serve(root, environ, modes)
    assert is_socket
    assert socket_mode == 0o600
    assert dir_mode == 0o700


def test_close_removes_the_socket_and_the_lock(root: Path, environ: dict[str, str]) -> None:
    path = serve(root, environ, lambda server: server.path)
    assert list(path.parent.iterdir()) == []


def test_a_server_started_after_a_clean_close_takes_over(root: Path, environ: dict[str, str]) -> None:
    serve(root, environ, lambda _: None)
    assert serve(root, environ, lambda _: ask(root, environ, {"op": "hello"}))["pid"] == os.getpid()


def test_request_in_flight_when_up_closes_gets_a_shutdown_answer(
    root: Path, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """`up` stopping while a restart waits: the client hears why, and nothing is logged."""

    class Slow(FakeTarget):
        async def restart(self, instances: Sequence[str]) -> None:
            entered.set()
            await asyncio.Event().wait()

    async def main() -> str:
        server = ControlServer(root, Slow(), environ=environ)
        await server.start()

        def client() -> str:
            with pytest.raises(ControlError) as caught:
                ask(root, environ, {"op": "restart", "names": ["web"]})
            return str(caught.value)

        answer = asyncio.ensure_future(asyncio.to_thread(client))
        await asyncio.wait_for(entered.wait(), 5)
        await asyncio.wait_for(server.close(), 5)
        return await asyncio.wait_for(answer, 5)

    entered = asyncio.Event()
    assert asyncio.run(main()) == "supervise up is shutting down"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_stale_socket_nobody_listens_on_is_replaced(root: Path, environ: dict[str, str]) -> None:
    """A socket file left by a killed `up`: bound, never listening, so connecting is refused."""
    path = socket_path(root, environ)
    path.parent.mkdir(mode=0o700, parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    with pytest.raises(NotRunningError):
        ask(root, environ, {"op": "status"})

    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "hello"}))
    assert answer["pid"] == os.getpid()


def test_socket_and_lock_left_by_a_killed_up_are_replaced(root: Path, environ: dict[str, str]) -> None:
    """A real `up`-like process holding the lock and socket, then SIGKILLed."""
    import signal
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from supervise.runtime.control.server import ControlServer\n"
        "class Empty:\n"
        "    def statuses(self): return []\n"
        "    def resolve(self, names): return []\n"
        "async def main():\n"
        "    server = ControlServer(Path(sys.argv[1]), Empty(), environ={'XDG_RUNTIME_DIR': sys.argv[2]})\n"
        "    await server.start()\n"
        "    print('serving', flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(root), environ["XDG_RUNTIME_DIR"]],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "serving\n"
        assert ask(root, environ, {"op": "hello"})["pid"] == child.pid
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
        child.wait()
    assert socket_path(root, environ).exists()  # left behind

    answer = serve(root, environ, lambda _: ask(root, environ, {"op": "hello"}))
    assert answer["pid"] == os.getpid()


def test_second_server_on_the_same_root_names_the_running_pid(root: Path, environ: dict[str, str]) -> None:
    def second(_: ControlServer) -> AlreadyRunningError:
        async def start_again() -> None:
            await ControlServer(root, FakeTarget(), environ=environ).start()

        with pytest.raises(AlreadyRunningError) as caught:
            asyncio.run(start_again())
        return caught.value

    error = serve(root, environ, second)
    assert error.pid == os.getpid()
    assert str(error) == (
        f"another supervise up (pid {os.getpid()}) is running for this project; "
        "stop it or use supervise status"
    )


def test_first_server_keeps_answering_after_a_refused_second(root: Path, environ: dict[str, str]) -> None:
    def client(_: ControlServer) -> Any:
        async def start_again() -> None:
            await ControlServer(root, FakeTarget(), environ=environ).start()

        with pytest.raises(AlreadyRunningError):
            asyncio.run(start_again())
        return ask(root, environ, {"op": "status"})

    assert len(serve(root, environ, client)["instances"]) == 3


def test_different_roots_get_different_sockets(tmp_path: Path, environ: dict[str, str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert socket_path(tmp_path / "a", environ) != socket_path(tmp_path / "b", environ)


def test_socket_path_fits_af_unix_for_a_very_deep_root(tmp_path: Path, environ: dict[str, str]) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 20)
    deep.mkdir(parents=True)
    path = socket_path(deep, environ)
    assert len(os.fsencode(path)) <= SOCKET_PATH_MAX
    serve(deep, environ, lambda _: ask(deep, environ, {"op": "hello"}))


def test_long_runtime_dir_falls_back_to_a_short_temp_dir(tmp_path: Path) -> None:
    runtime = tmp_path.joinpath(*["x" * 40] * 3)
    runtime.mkdir(parents=True)
    path = socket_path(tmp_path, {"XDG_RUNTIME_DIR": str(runtime)})
    assert len(os.fsencode(path)) <= SOCKET_PATH_MAX
    assert not str(path).startswith(str(runtime))


def test_without_runtime_dir_the_socket_lives_in_a_per_user_temp_dir(tmp_path: Path) -> None:
    path = socket_path(tmp_path, {"TMPDIR": str(tmp_path)})
    assert path.parent == tmp_path / f"supervise-{os.getuid()}"


def test_client_without_a_server_is_not_running(root: Path, environ: dict[str, str]) -> None:
    with pytest.raises(NotRunningError) as caught:
        ask(root, environ, {"op": "status"})
    assert str(caught.value) == f"no supervise up is running for {root}"
    assert caught.value.exit_code == 1


def test_status_table_looks_like_supervisorctl() -> None:
    waiting = InstanceStatus(
        "mailer.1", "mailer", "WAITING", None, None, 0, 5200, None, waiting_for="web.1: STARTING"
    )
    assert render_status_table([*FakeTarget().statuses(), waiting]) == (
        "INSTANCE  STATE    PID  UPTIME   RESTARTS  EXIT     CPU    MEM    PORT  READY\n"
        "web.1     RUNNING  101  0:01:23  0         -        12.5%  45.8M  5000  yes\n"
        "web.2     RUNNING  102  0:01:23  1         SIGKILL  0.0%   879K   5001  no\n"
        "worker.1  BACKOFF  -    -        3         1        -      -      5100  -\n"
        "mailer.1  WAITING  -    -        0         -        -      -      5200  -  (for web.1: STARTING)\n"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "-"),
        (0, "0K"),
        (900_000, "879K"),
        (48_000_000, "45.8M"),
        (300 << 20, "300M"),
        (3 << 30, "3.0G"),
    ],
)
def test_memory_reads_like_ps(size: int | None, text: str) -> None:
    assert format_memory(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0.4, "0:00:00"), (83.9, "0:01:23"), (176401, "49:00:01")]
)
def test_uptime_is_hours_minutes_seconds(seconds: float | None, text: str) -> None:
    assert format_uptime(seconds) == text


def test_action_report_flags_an_instance_that_did_not_start() -> None:
    web, _, worker = FakeTarget().statuses()
    lines, code = render_action("start", [web, replace(worker, state="FATAL")])
    assert lines == ["web.1: started (RUNNING, pid 101)", "worker.1: start failed (FATAL)"]
    assert code == 1


def test_the_client_imports_neither_the_server_nor_asyncio() -> None:
    """`supervise status` is a short CLI process: it speaks the protocol, nothing more."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import supervise.runtime.control.client\n"
        "print(sorted(m for m in ('asyncio', 'supervise.runtime.control.server') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
