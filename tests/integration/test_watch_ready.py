"""Reload on file changes, readiness probes, depends_on ordering, and `--then` smoke runs."""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import UpProcess

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

SERVER = "exec python3 -m http.server $PORT --bind 127.0.0.1"


def free_port_base() -> int:
    """A base port with the next 200 ports free enough for a test (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def pyproject(body: str) -> str:
    return "[tool.supervise]\nstop_timeout = 2\n\n" + body


def test_changed_file_restarts_only_the_affected_instances(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": pyproject(
                '[tool.supervise.processes.web]\ncommand = "echo web up; exec sleep 300"\n'
                'watch = ["src/**/*.py"]\nwatch_ignore = ["**/migrations/**"]\n'
                '[tool.supervise.processes.worker]\ncommand = "echo worker up; exec sleep 300"\n'
            ),
            "src/app/models.py": "",
            "src/app/migrations/0001.py": "",
        }
    )
    with UpProcess([], root) as up:
        up.wait_for(r"system +\| watching src/\*\*/\*\.py \(not \*\*/migrations/\*\*\) for web")
        up.wait_for(r"worker\.1 +\| worker up")
        first = up.wait_for(r"web\.1 +\| web up")
        (root / "src/app/migrations/0001.py").write_text("x = 1\n")  # ignored
        (root / "src/app/models.py").write_text("x = 2\n")
        restart = up.wait_for(r"restarting web\.1 \(src/app/models\.py changed\)", start=first.end())
        up.wait_for(r"web\.1 +\| web up", start=restart.end())
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "migrations" not in up.output.split("watching", 1)[1].split("\n", 1)[1]
    assert up.output.count("worker.1 started") == 1
    assert up.output.count("web.1 started") == 2
    assert "retry" not in up.output  # a reload is not a failed start


def test_one_burst_of_changes_is_one_restart(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": pyproject(
                '[tool.supervise.processes.web]\ncommand = "echo web up; exec sleep 300"\n'
                'watch = ["src/**"]\n'
            ),
            "src/keep": "",
        }
    )
    with UpProcess([], root) as up:
        up.wait_for(r"watching src/\*\* for web")
        up.wait_for(r"web\.1 +\| web up")
        for n in range(20):
            (root / f"src/file{n}.py").write_text("x")
        up.wait_for(r"restarting web\.1 \(src/\S+ and \d+ more changed\)")
        up.wait_for(r"web\.1 started.*\n(.*\n)*.*web\.1 +\| web up", timeout=10)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert up.output.count("restarting web.1") == 1


def test_http_and_tcp_readiness_gate_the_dependents(make_project: MakeProject) -> None:
    base = free_port_base()
    root = make_project(
        {
            "pyproject.toml": pyproject(
                f"port_base = {base}\n"
                f'[tool.supervise.processes.api]\ncommand = "sleep 0.5; {SERVER}"\n'
                'ready = { http = "http://127.0.0.1:$PORT/" }\n'
                '[tool.supervise.processes.cache]\ncommand = "sleep 0.3; '
                'exec python3 -c \\"import socket,os,time; s=socket.socket(); '
                "s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); time.sleep(300)\\\"\"\n"
                'ready = { tcp = "127.0.0.1:$PORT" }\n'
                '[tool.supervise.processes.app]\ncommand = "date +%s.%N > started; exec sleep 300"\n'
                'depends_on = ["api", "cache"]\n'
            ),
        }
    )
    with UpProcess([], root) as up:
        api_ready = up.wait_for(r"api\.1 is ready \(http http://127\.0\.0\.1:\d+/\) after [\d.]+ s")
        cache_ready = up.wait_for(r"cache\.1 is ready \(tcp 127\.0\.0\.1:\d+\) after [\d.]+ s")
        app_started = up.wait_for(r"app\.1 started")
        assert app_started.start() > max(api_ready.start(), cache_ready.start())
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
    out = up.output
    assert out.index("stopping app.1") < out.index("stopping api.1")


def test_log_and_cmd_readiness(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": pyproject(
                '[tool.supervise.processes.queue]\ncommand = "echo booting; sleep 0.2; echo accepting jobs; '
                'exec sleep 300"\nready = { log = "^accepting jobs$" }\n'
                '[tool.supervise.processes.flag]\ncommand = "sleep 0.2; touch flag; exec sleep 300"\n'
                'ready = { cmd = "test -f flag", interval = 0.05 }\n'
            ),
        }
    )
    with UpProcess(["--then", "echo all good"], root) as up:
        assert up.finish() == 0
    assert re.search(r"queue\.1 is ready \(log \^accepting jobs\$\)", up.output)
    assert re.search(r"flag\.1 is ready \(cmd test -f flag\)", up.output)
    assert re.search(r"then +\| all good", up.output)


def test_then_runs_after_readiness_with_the_project_env_and_exits_with_its_code(
    make_project: MakeProject,
) -> None:
    base = free_port_base()
    root = make_project(
        {
            ".env": "GREETING=hello from .env\n",
            "pyproject.toml": pyproject(
                f"port_base = {base}\n"
                f'[tool.supervise.processes.web]\ncommand = "{SERVER}"\n'
                'ready = { http = "http://127.0.0.1:$PORT/" }\n'
            ),
        }
    )
    check = (
        f"python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{base}/')\" "
        '&& echo "$GREETING" && exit 3'
    )
    with UpProcess(["--then", check], root) as up:
        assert up.finish() == 3
    out = up.output
    assert out.index("web.1 is ready") < out.index("running --then command")
    assert re.search(r"then +\| hello from \.env", out)
    assert "--then command exited with code 3; stopping" in out
    assert "stopping web.1" in out


def test_then_zero_exit(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "idle: exec sleep 300\n"})
    with UpProcess(["--then", "true"], root) as up:
        assert up.finish() == 0
    assert "idle.1 stopped" in up.output


def test_ready_timeout_names_what_is_not_ready_with_its_last_lines(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": pyproject(
                '[tool.supervise.processes.slow]\ncommand = "echo still warming up; exec sleep 300"\n'
                'ready = { log = "never printed" }\n'
                '[tool.supervise.processes.quick]\ncommand = "exec sleep 300"\n'
            ),
        }
    )
    with UpProcess(["--then", "echo should not run", "--ready-timeout", "1"], root) as up:
        assert up.finish() == 1
    assert (
        "--ready-timeout 1 s: not ready: slow.1 (STARTING; last output: still warming up)" in up.output
        or "--ready-timeout 1 s: not ready: slow.1 (RUNNING; last output: still warming up)" in up.output
    )
    assert "should not run" not in up.output


def test_fatal_while_waiting_fails_at_once_not_at_the_timeout(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": pyproject(
                '[tool.supervise.processes.broken]\ncommand = "echo config missing; exit 2"\n'
                "startretries = 0\n"
                '[tool.supervise.processes.fine]\ncommand = "exec sleep 300"\n'
            ),
        }
    )
    with UpProcess(["--then", "echo should not run", "--ready-timeout", "60"], root) as up:
        assert up.finish(timeout=20) == 1
    assert re.search(
        r"not ready, and will not be: broken\.1 \(FATAL; last output: config missing\)", up.output
    )
