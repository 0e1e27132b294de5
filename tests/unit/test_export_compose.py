"""`export --format compose`: every file the tests produce passes `docker-compose config`."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from supervise.commands.export import export_plan
from supervise.commands.options import CommonOptions
from supervise.errors import ConfigError, UsageError
from supervise.export import ExportOptions
from supervise.export.compose import render
from tests.unit.test_export_kubernetes import HOSTILE, toml_string

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

DOCKER_COMPOSE = shutil.which("docker-compose")
needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None, reason="docker-compose not installed (.ci/run installs Debian's package)"
)

PROCFILE = "web: gunicorn app:wsgi --bind 0.0.0.0:$PORT\nworker: celery -A app worker\n"


def render_project(
    make_project: MakeProject, files: Mapping[str, str], formation: str | None = None, **options: Any
) -> tuple[str, Path]:
    """Render a temp project's plan; return the text and the folder it was written to."""
    root = make_project(files)
    plan = export_plan(CommonOptions(root=str(root), formation=formation), [])
    options.setdefault("image", "registry.example/shop:1.0")
    files_out = render(plan, ExportOptions(app=options.pop("app", "shop"), **options))
    assert list(files_out) == ["docker-compose.yml"]
    # Not the project root: docker-compose would read the project's .env for interpolation.
    out = root / "deploy"
    out.mkdir(exist_ok=True)
    (out / "docker-compose.yml").write_text(files_out["docker-compose.yml"], encoding="utf-8")
    return files_out["docker-compose.yml"], out


def unescape(value: Any) -> Any:
    """What a process gets from a compose value: `$$` is a literal `$`."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape(item) for item in value]
    if isinstance(value, dict):
        return {key: unescape(item) for key, item in value.items()}
    return value


def compose_env(**extra: str) -> dict[str, str]:
    """A small environment with values that would show if anything were interpolated."""
    env = {"PATH": os.environ["PATH"], "HOME": "/interpolated/home", "PORT": "9999"}
    env.update(extra)
    return env


def docker_compose_config(directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE is not None
    return subprocess.run(
        [DOCKER_COMPOSE, "config"],
        cwd=directory,
        env=compose_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolved(directory: Path, **env: str) -> dict[str, Any]:
    """The file as docker-compose resolves it (validated, interpolated), `$$` undone."""
    result = docker_compose_config(directory, **env)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = unescape(yaml.safe_load(result.stdout))
    return config


def services(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = unescape(yaml.safe_load(text))
    result: dict[str, Any] = parsed["services"]
    return result


def notes_above(text: str, service: str) -> str:
    """The comment lines just above a service's key."""
    lines = text.splitlines()
    index = lines.index(f"  {service}:")
    above = []
    for line in reversed(lines[:index]):
        if not line.startswith("  #"):
            break
        above.append(line.strip())
    return "\n".join(reversed(above))


# -- services ---------------------------------------------------------------------------------


@needs_docker_compose
def test_one_service_per_process_type_that_docker_compose_accepts(make_project: MakeProject) -> None:
    files = {"Procfile": PROCFILE, "pyproject.toml": ""}
    text, out = render_project(make_project, files, formation="web=3", image="shop:2")
    web = resolved(out)["services"]["web"]
    assert web["image"] == "shop:2"
    assert web["entrypoint"] == ["/bin/sh", "-c"]
    # A simple command is exec'd: the program is PID 1 and gets docker stop's SIGTERM itself.
    assert web["command"] == ["exec gunicorn app:wsgi --bind 0.0.0.0:$PORT"]
    assert web["working_dir"] == "/app"
    assert web["deploy"] == {"replicas": 3}
    assert web["expose"] == ["5000"]
    assert list(services(text)) == ["web", "worker"]
    assert services(text)["worker"]["deploy"] == {"replicas": 1}


def test_working_dir_is_the_process_directory_under_app(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise.processes.api]\ncommand = "serve"\ndirectory = "services/api"\n'
    text, _ = render_project(make_project, {"pyproject.toml": pyproject})
    assert services(text)["api"]["working_dir"] == "/app/services/api"


@needs_docker_compose
def test_hostile_env_values_survive_interpolation_byte_for_byte(make_project: MakeProject) -> None:
    table = "\n".join(f"{key} = {toml_string(value)}" for key, value in HOSTILE.items())
    pyproject = f"""
[tool.supervise.processes.web]
command = "serve"
[tool.supervise.processes.web.env]
{table}
"""
    text, out = render_project(make_project, {"pyproject.toml": pyproject})
    ours = services(text)["web"]["environment"]
    theirs = resolved(out)["services"]["web"]["environment"]
    for key, value in HOSTILE.items():
        assert ours[key] == value, key
        assert theirs[key] == value, key
    assert ours["PS"] == "web"
    assert ours["PORT"] == "5000"


@needs_docker_compose
def test_dollars_in_commands_survive_interpolation(make_project: MakeProject) -> None:
    command = "echo $PORT ${HOME} $$ $(date) $"
    probe = "test -n $PORT && true ${HOME}"
    pyproject = f"""
[tool.supervise.processes.web]
command = {toml_string(command)}
ready = {{ cmd = {toml_string(probe)} }}
"""
    _, out = render_project(make_project, {"pyproject.toml": pyproject})
    web = resolved(out)["services"]["web"]
    assert web["command"] == [command]
    assert web["healthcheck"]["test"] == ["CMD-SHELL", probe]


@needs_docker_compose
def test_image_is_left_for_compose_to_interpolate(make_project: MakeProject) -> None:
    _, out = render_project(make_project, {"Procfile": PROCFILE}, image="shop:${TAG:-latest}")
    assert resolved(out, TAG="7")["services"]["web"]["image"] == "shop:7"


# -- health, dependencies, stopping, restarting -----------------------------------------------


def healthcheck_of(make_project: MakeProject, ready: str) -> tuple[dict[str, Any] | None, str]:
    pyproject = f'[tool.supervise.processes.web]\ncommand = "serve"\nready = {ready}\n'
    text, _ = render_project(make_project, {"pyproject.toml": pyproject})
    return services(text)["web"].get("healthcheck"), text


def test_http_probe_becomes_a_python_healthcheck(make_project: MakeProject) -> None:
    check, text = healthcheck_of(make_project, '{ http = "http://127.0.0.1:$PORT/health", interval = 0.25 }')
    assert check is not None
    assert check["test"][:3] == ["CMD", "python3", "-c"]
    assert check["test"][4:] == ["http://127.0.0.1:5000/health", "2"]
    assert check["interval"] == "10s"  # 250 ms is a development interval: production gets the usual 10 s
    assert check["timeout"] == "2s"
    assert "python3 inside the container" in text


@pytest.mark.parametrize(
    ("interval", "expected"), [("0.5", "10s"), ("1", "1s"), ("2.5", "2500ms"), ("30", "30s")]
)
def test_probe_intervals_under_a_second_are_not_copied_into_production(
    make_project: MakeProject, interval: str, expected: str
) -> None:
    check, _ = healthcheck_of(make_project, f'{{ tcp = "127.0.0.1:$PORT", interval = {interval} }}')
    assert check is not None
    assert check["interval"] == expected


def test_tcp_probe_becomes_a_python_healthcheck(make_project: MakeProject) -> None:
    check, _ = healthcheck_of(make_project, '{ tcp = "127.0.0.1:$PORT" }')
    assert check is not None
    assert check["test"][4:] == ["127.0.0.1", "5000", "2"]


def test_cmd_probe_runs_in_the_container_shell(make_project: MakeProject) -> None:
    check, text = healthcheck_of(make_project, '{ cmd = "pg_isready -p $PORT" }')
    assert check is not None
    assert check["test"] == ["CMD-SHELL", "pg_isready -p $PORT"]
    assert "python3" not in text


def test_log_probe_is_a_comment_not_a_healthcheck(make_project: MakeProject) -> None:
    check, text = healthcheck_of(make_project, '{ log = "ready to accept" }')
    assert check is None
    assert '# ready log "ready to accept": no equivalent' in notes_above(text, "web")


@pytest.fixture
def http_server() -> Iterator[int]:
    """A real HTTP server: 200 on /health, 404 elsewhere."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(test: list[str]) -> int:
    """Run a healthcheck's CMD as Docker would, with this machine's python3."""
    assert test[0] == "CMD"
    return subprocess.run(test[1:], capture_output=True, timeout=30).returncode


def test_http_healthcheck_passes_on_2xx_and_fails_otherwise(
    make_project: MakeProject, http_server: int
) -> None:
    ok, _ = healthcheck_of(make_project, f'{{ http = "http://127.0.0.1:{http_server}/health" }}')
    missing, _ = healthcheck_of(make_project, f'{{ http = "http://127.0.0.1:{http_server}/nope" }}')
    assert ok is not None and missing is not None
    assert run_healthcheck(ok["test"]) == 0
    assert run_healthcheck(missing["test"]) != 0


def test_tcp_healthcheck_passes_only_when_something_listens(make_project: MakeProject) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        check, _ = healthcheck_of(make_project, f'{{ tcp = "127.0.0.1:{port}" }}')
        assert check is not None
        assert run_healthcheck(check["test"]) == 0
    assert run_healthcheck(check["test"]) != 0


@needs_docker_compose
def test_depends_on_waits_for_healthy_dependencies(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.db]
command = "postgres"
ready = { tcp = "127.0.0.1:5432" }
[tool.supervise.processes.cache]
command = "redis-server"
ready = { log = "Ready to accept" }
[tool.supervise.processes.queue]
command = "rabbitmq"
[tool.supervise.processes.web]
command = "serve"
depends_on = ["db", "cache", "queue"]
"""
    _, out = render_project(make_project, {"pyproject.toml": pyproject})
    assert resolved(out)["services"]["web"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "cache": {"condition": "service_started"},
        "queue": {"condition": "service_started"},
    }


def test_dependency_scaled_to_zero_is_a_comment(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.db]
command = "postgres"
[tool.supervise.processes.web]
command = "serve"
depends_on = ["db"]
"""
    text, _ = render_project(make_project, {"pyproject.toml": pyproject}, formation="db=0")
    assert "depends_on" not in services(text)["web"]
    assert 'depends_on "db": left out' in notes_above(text, "web")


def test_stop_signal_and_grace_period(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.web]
command = "serve"
stopsignal = "INT"
stop_timeout = 2.5
[tool.supervise.processes.worker]
command = "work"
"""
    text, _ = render_project(make_project, {"pyproject.toml": pyproject})
    assert services(text)["web"]["stop_signal"] == "SIGINT"
    assert services(text)["web"]["stop_grace_period"] == "2500ms"
    assert services(text)["worker"]["stop_signal"] == "SIGTERM"
    assert services(text)["worker"]["stop_grace_period"] == "10s"


@pytest.mark.parametrize(
    ("autorestart", "restart"), [("true", "always"), ('"unexpected"', "on-failure"), ("false", "no")]
)
def test_restart_policy_from_autorestart(make_project: MakeProject, autorestart: str, restart: str) -> None:
    pyproject = f'[tool.supervise.processes.web]\ncommand = "serve"\nautorestart = {autorestart}\n'
    text, _ = render_project(make_project, {"pyproject.toml": pyproject})
    assert services(text)["web"]["restart"] == restart


@needs_docker_compose
def test_autostart_false_gets_a_profile_of_its_own(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.web]
command = "serve"
[tool.supervise.processes.admin]
command = "serve-admin"
autostart = false
"""
    text, out = render_project(make_project, {"pyproject.toml": pyproject})
    config = resolved(out)["services"]
    assert config["admin"]["profiles"] == ["admin"]
    assert "profiles" not in config["web"]
    assert "docker compose up admin" in notes_above(text, "admin")


# -- what has no equivalent -------------------------------------------------------------------


def test_options_without_an_equivalent_are_comments_above_their_service(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.web]
command = "serve"
watch = ["src/**/*.py"]
exitcodes = [0, 3]
[tool.supervise.processes.worker]
command = "work"
autorestart = false
"""
    text, _ = render_project(make_project, {"pyproject.toml": pyproject})
    web = notes_above(text, "web")
    assert 'watch ["src/**/*.py"]: no equivalent' in web
    assert "exitcodes [0, 3]" in web
    assert "startsecs, startretries and backoff have no equivalent" in web
    worker = notes_above(text, "worker")
    assert 'restart "no"' in worker
    assert "watch" not in worker


# -- secrets and errors -----------------------------------------------------------------------


@needs_docker_compose
def test_secret_env_is_taken_from_the_environment_at_up_time(make_project: MakeProject) -> None:
    files = {"Procfile": PROCFILE, ".env": "API_KEY=from-the-project\n"}
    text, out = render_project(make_project, files, secret_env=("API_KEY",))
    assert "from-the-project" not in text
    assert resolved(out, API_KEY="s3cr3t $x")["services"]["web"]["environment"]["API_KEY"] == "s3cr3t $x"
    missing = docker_compose_config(out)
    assert missing.returncode != 0
    assert "set API_KEY in the environment" in missing.stderr


def test_missing_image_is_a_usage_error(make_project: MakeProject) -> None:
    with pytest.raises(UsageError, match=r"--format compose needs --image IMAGE"):
        render_project(make_project, {"Procfile": PROCFILE}, image=None)


def test_bad_probe_target_is_a_config_error(make_project: MakeProject) -> None:
    with pytest.raises(ConfigError, match=r'processes.web.ready.tcp: cannot probe "db"'):
        healthcheck_of(make_project, '{ tcp = "db" }')
