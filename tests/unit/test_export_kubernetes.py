"""`export --format kubernetes`: every manifest the tests produce passes the Kubernetes schema."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from supervise.commands.export import export_plan
from supervise.commands.options import CommonOptions
from supervise.errors import ConfigError, UsageError
from supervise.export import ExportOptions
from supervise.export.container import needs_quotes
from supervise.export.kubernetes import dns_label, escape_expansion, render

KUBERNETES_VERSION = "1.33"
"""A version kubernetes-validate ships schemas for (it validates offline)."""

# kubernetes-validate re-reads its JSON schema files (megabytes) on every call: read each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(  # type: ignore[assignment]
    kubernetes_validate.utils.schema_contents
)

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

HOSTILE = {
    "PERCENT": "100% %(here)s %%",
    "QUOTES": 'it\'s "quoted" `back`',
    "DOLLAR": "$HOME ${PORT} $(PORT) $$ $",
    "NEWLINES": "line 1\nline 2\r\n\ttabbed",
    "UNICODE": "héllo ✓ 日本 \u2028 \xa0 🙂",
    "GO_BOOL": "y",
    "GO_OCTAL": "0o12",
    "NUMBER": "007",
    "EMPTY": "",
    "SPACES": "  padded  ",
    "HASH": "a #not a comment",
    "YAMLISH": "key: value, [1, 2] {a: b} - item",
}


def toml_string(value: str) -> str:
    """A TOML basic string with every character escaped that needs it."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_project(
    make_project: MakeProject,
    files: Mapping[str, str],
    formation: str | None = None,
    **options: Any,
) -> str:
    """Render a temp project's plan and return the one file's text, validated."""
    root = make_project(files)
    plan = export_plan(CommonOptions(root=str(root), formation=formation), [])
    options.setdefault("image", "registry.example/shop:1.0")
    files_out = render(plan, ExportOptions(app=options.pop("app", "shop"), **options))
    assert len(files_out) == 1
    text = next(iter(files_out.values()))
    for manifest in yaml.safe_load_all(text):
        validate(manifest)
    return text


def validate(manifest: dict[str, Any]) -> None:
    """Strict: unknown fields fail too, as `kubectl apply --validate=strict` would."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def manifests(text: str, kind: str | None = None) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    return [doc for doc in docs if kind is None or doc["kind"] == kind]


def one(text: str, kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in manifests(text, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} in {[d['metadata']['name'] for d in manifests(text, kind)]}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def comments_above(text: str, kind: str, name: str) -> str:
    """The comment lines at the top of the document that defines kind/name."""
    for doc in text.split("\n---\n"):
        if f"\nkind: {kind}\n" in f"\n{doc}\n" and f"\n  name: {name}\n" in doc:
            return "\n".join(line for line in doc.splitlines() if line.startswith("#"))
    raise AssertionError(f"no {kind}/{name}")


def kubernetes_expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of command and args: `$$` -> `$`, `$(VAR)` -> value when defined."""
    out = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env.get(name, text[i : end + 1]))
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


PROCFILE = "web: gunicorn app:wsgi --bind 0.0.0.0:$PORT\nworker: celery -A app worker\n"


# -- the schema check itself ------------------------------------------------------------------


def test_broken_manifest_fails_validation(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE})
    deployment = one(text, "Deployment", "shop-web")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    deployment["spec"]["replicas"] = 2
    container(deployment)["workdir"] = "/app"  # a typo: strict validation knows every field
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


# -- workloads --------------------------------------------------------------------------------


def test_one_deployment_per_process_type_with_replicas_from_formation(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE}, formation="web=3")
    assert [d["metadata"]["name"] for d in manifests(text, "Deployment")] == ["shop-web", "shop-worker"]
    assert one(text, "Deployment", "shop-web")["spec"]["replicas"] == 3
    assert one(text, "Deployment", "shop-worker")["spec"]["replicas"] == 1


def test_process_scaled_to_zero_is_not_exported(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE}, formation="worker=0")
    assert [d["metadata"]["name"] for d in manifests(text, "Deployment")] == ["shop-web"]


def test_container_runs_the_command_under_sh_in_its_directory(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.api]
command = "python -m api"
directory = "services/api"
"""
    text = render_project(make_project, {"pyproject.toml": pyproject}, image="shop:2")
    api = container(one(text, "Deployment", "shop-api"))
    assert api["image"] == "shop:2"
    assert api["command"] == ["/bin/sh", "-c", "exec python -m api"]
    assert api["workingDir"] == "/app/services/api"


def test_labels_name_the_app_and_the_component(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE})
    labels = {"app.kubernetes.io/name": "shop", "app.kubernetes.io/component": "web"}
    deployment = one(text, "Deployment", "shop-web")
    assert deployment["metadata"]["labels"] == labels
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    assert one(text, "Service", "shop-web")["spec"]["selector"] == labels


def test_termination_grace_period_from_stop_timeout(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise.processes.web]\ncommand = "serve"\nstop_timeout = 2.5\n'
    text = render_project(make_project, {"pyproject.toml": pyproject})
    spec = one(text, "Deployment", "shop-web")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 3


def test_autorestart_false_becomes_a_job(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.migrate]
command = "python manage.py migrate"
autorestart = false
startretries = 5
concurrency = 2
"""
    text = render_project(make_project, {"pyproject.toml": pyproject})
    assert manifests(text, "Deployment") == []
    job = one(text, "Job", "shop-migrate")
    assert job["spec"]["backoffLimit"] == 5
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "suspend" not in job["spec"]
    assert "backoffLimit (startretries)" in comments_above(text, "Job", "shop-migrate")


def test_autostart_false_is_exported_stopped(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.admin]
command = "serve-admin"
autostart = false
concurrency = 2
[tool.supervise.processes.backfill]
command = "backfill"
autostart = false
autorestart = false
"""
    text = render_project(make_project, {"pyproject.toml": pyproject})
    assert one(text, "Deployment", "shop-admin")["spec"]["replicas"] == 0
    assert "--replicas=2" in comments_above(text, "Deployment", "shop-admin")
    assert one(text, "Job", "shop-backfill")["spec"]["suspend"] is True


def test_numeric_user_runs_the_container_as_that_uid(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE}, user="1000:1001")
    assert container(one(text, "Deployment", "shop-web"))["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 1001,
    }
    text = render_project(make_project, {"Procfile": PROCFILE}, user="www-data")
    assert "securityContext" not in container(one(text, "Deployment", "shop-web"))
    assert "numeric UID" in comments_above(text, "Deployment", "shop-web")


# -- environment ------------------------------------------------------------------------------


def test_configmap_holds_env_files_env_port_and_the_process_type(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.web]
command = "serve"
env = { DEBUG = "1", SHARED = "from env" }
"""
    files = {"pyproject.toml": pyproject, ".env": "SHARED=from file\nDATABASE_URL=postgres://db/shop\n"}
    text = render_project(make_project, files)
    assert one(text, "ConfigMap", "shop-web-env")["data"] == {
        "SHARED": "from env",
        "DATABASE_URL": "postgres://db/shop",
        "DEBUG": "1",
        "PORT": "5000",
        "PS": "web",
        "PYTHONUNBUFFERED": "1",
    }
    web = container(one(text, "Deployment", "shop-web"))
    assert web["envFrom"] == [{"configMapRef": {"name": "shop-web-env"}}]
    assert "env" not in web


def test_hostile_env_values_survive_byte_for_byte(make_project: MakeProject) -> None:
    table = "\n".join(f"{key} = {toml_string(value)}" for key, value in HOSTILE.items())
    pyproject = (
        f'[tool.supervise.processes.web]\ncommand = "serve"\n[tool.supervise.processes.web.env]\n{table}\n'
    )
    text = render_project(make_project, {"pyproject.toml": pyproject})
    data = one(text, "ConfigMap", "shop-web-env")["data"]
    for key, value in HOSTILE.items():
        assert data[key] == value, key
    # Go's YAML reads a plain y as true and 0o12 as 10: those must be quoted.
    assert '"GO_BOOL": "y"' in text or 'GO_BOOL: "y"' in text
    assert 'GO_OCTAL: "0o12"' in text


def test_env_file_values_survive_byte_for_byte(make_project: MakeProject) -> None:
    env_file = 'SINGLE=\'a "q" $HOME %s\'\nDOUBLE="a\\nb \\"q\\" é"\n'
    text = render_project(make_project, {"Procfile": "web: serve\n", ".env": env_file})
    data = one(text, "ConfigMap", "shop-web-env")["data"]
    assert data["SINGLE"] == 'a "q" $HOME %s'
    assert data["DOUBLE"] == 'a\nb "q" é'


def test_secret_env_moves_keys_into_a_secret(make_project: MakeProject) -> None:
    files = {"Procfile": PROCFILE, ".env": "API_KEY=s3cr3t$%\nLOG_LEVEL=info\n"}
    text = render_project(make_project, files, secret_env=("API_KEY",))
    config = one(text, "ConfigMap", "shop-web-env")["data"]
    assert "API_KEY" not in config
    assert config["LOG_LEVEL"] == "info"
    secret = one(text, "Secret", "shop-web-secret")
    assert secret["stringData"] == {"API_KEY": "s3cr3t$%"}
    assert container(one(text, "Deployment", "shop-web"))["envFrom"] == [
        {"configMapRef": {"name": "shop-web-env"}},
        {"secretRef": {"name": "shop-web-secret"}},
    ]
    assert "version control" in comments_above(text, "Secret", "shop-web-secret")


def test_unknown_secret_env_key_is_an_error(make_project: MakeProject) -> None:
    with pytest.raises(UsageError, match=r"--secret-env: API_KY is not in the environment"):
        render_project(make_project, {"Procfile": PROCFILE}, secret_env=("API_KY",))


def test_env_key_a_configmap_cannot_hold_is_an_error(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise.processes.web]\ncommand = "serve"\nenv = { "MY KEY" = "x" }\n'
    with pytest.raises(
        UsageError, match=r'process "web": env key "MY KEY" cannot be a Kubernetes ConfigMap key'
    ):
        render_project(make_project, {"pyproject.toml": pyproject})


# -- ports and services -----------------------------------------------------------------------


def test_service_and_container_port_for_each_process_with_a_port(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": PROCFILE}, formation="web=2")
    web = container(one(text, "Deployment", "shop-web"))
    assert web["ports"] == [{"containerPort": 5000}]
    assert one(text, "Service", "shop-web")["spec"]["ports"] == [{"port": 5000, "targetPort": 5000}]
    assert one(text, "Service", "shop-worker")["spec"]["ports"] == [{"port": 5100, "targetPort": 5100}]


def test_process_without_a_numeric_port_gets_no_service(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise.processes.web]\ncommand = "serve"\nenv = { PORT = "unix:/tmp/s" }\n'
    text = render_project(make_project, {"pyproject.toml": pyproject})
    assert manifests(text, "Service") == []
    assert "ports" not in container(one(text, "Deployment", "shop-web"))


# -- readiness --------------------------------------------------------------------------------


def probe_of(make_project: MakeProject, ready: str, **extra: str) -> tuple[dict[str, Any] | None, str]:
    pyproject = f'[tool.supervise.processes.web]\ncommand = "serve"\nready = {ready}\n'
    text = render_project(make_project, {"pyproject.toml": pyproject}, **extra)
    return container(one(text, "Deployment", "shop-web")).get("readinessProbe"), comments_above(
        text, "Deployment", "shop-web"
    )


def test_http_probe_becomes_http_get(make_project: MakeProject) -> None:
    probe, notes = probe_of(make_project, '{ http = "http://127.0.0.1:$PORT/health?deep=1", interval = 2 }')
    assert probe == {
        "httpGet": {"path": "/health?deep=1", "port": 5000},
        "periodSeconds": 2,
        "timeoutSeconds": 2,
    }
    assert "listen on 0.0.0.0" in notes


def test_https_probe_on_another_host_keeps_scheme_and_host(make_project: MakeProject) -> None:
    probe, _ = probe_of(make_project, '{ http = "https://api.internal/ready" }')
    assert probe is not None
    assert probe["httpGet"] == {"path": "/ready", "port": 443, "scheme": "HTTPS", "host": "api.internal"}


def test_tcp_probe_becomes_tcp_socket(make_project: MakeProject) -> None:
    probe, _ = probe_of(make_project, '{ tcp = "localhost:$PORT", timeout = 0.5 }')
    # The development interval (0.25 s by default) is not production's: the usual 10 s.
    assert probe == {"tcpSocket": {"port": 5000}, "periodSeconds": 10, "timeoutSeconds": 1}


@pytest.mark.parametrize(
    ("interval", "period"), [("0.25", 10), ("0.999", 10), ("1", 1), ("1.5", 2), ("30", 30)]
)
def test_probe_intervals_under_a_second_are_not_copied_into_production(
    make_project: MakeProject, interval: str, period: int
) -> None:
    probe, _ = probe_of(make_project, f'{{ tcp = "localhost:$PORT", interval = {interval} }}')
    assert probe is not None
    assert probe["periodSeconds"] == period


@pytest.mark.parametrize("target", ["5000", "tcp://127.0.0.1:5000", "[::1]:$PORT"])
def test_tcp_probe_targets_read_as_up_reads_them(make_project: MakeProject, target: str) -> None:
    probe, _ = probe_of(make_project, f'{{ tcp = "{target}" }}')
    assert probe is not None
    assert probe["tcpSocket"] == {"port": 5000}


def test_cmd_probe_becomes_exec(make_project: MakeProject) -> None:
    probe, _ = probe_of(make_project, '{ cmd = "curl -fs localhost:$PORT/$(cat /tmp/path)" }')
    assert probe is not None
    command = probe["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert kubernetes_expand(command[2], {"PORT": "5000"}) == "curl -fs localhost:$PORT/$(cat /tmp/path)"


def test_log_probe_is_a_comment_not_a_probe(make_project: MakeProject) -> None:
    probe, notes = probe_of(make_project, '{ log = "Listening on" }')
    assert probe is None
    assert '# ready log "Listening on": no equivalent' in notes


def test_bad_probe_url_is_a_config_error(make_project: MakeProject) -> None:
    with pytest.raises(ConfigError, match=r'processes.web.ready.http: cannot probe "localhost:5000"'):
        probe_of(make_project, '{ http = "localhost:5000" }')


# -- what has no equivalent -------------------------------------------------------------------


def test_options_without_an_equivalent_are_comments_on_their_manifest(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise.processes.db]
command = "postgres"
[tool.supervise.processes.web]
command = "serve"
watch = ["src/**/*.py"]
stopsignal = "INT"
depends_on = ["db"]
exitcodes = [0, 3]
autorestart = true
"""
    text = render_project(make_project, {"pyproject.toml": pyproject})
    notes = comments_above(text, "Deployment", "shop-web")
    assert 'watch ["src/**/*.py"]: no equivalent' in notes
    assert "stopsignal INT: no equivalent" in notes
    assert "STOPSIGNAL SIGINT" in notes
    assert 'depends_on ["db"]' in notes
    assert "exitcodes [0, 3]" in notes
    assert "startsecs, startretries and backoff have no equivalent" in notes
    db_notes = comments_above(text, "Deployment", "shop-db")
    assert "watch" not in db_notes and "stopsignal" not in db_notes


def test_dollars_in_the_command_survive_kubernetes_expansion(make_project: MakeProject) -> None:
    command = "echo $PORT $(PORT) $$ ${HOME} $(date) $"
    pyproject = f"[tool.supervise.processes.web]\ncommand = {toml_string(command)}\n"
    text = render_project(make_project, {"pyproject.toml": pyproject})
    rendered = container(one(text, "Deployment", "shop-web"))["command"][2]
    assert kubernetes_expand(rendered, {"PORT": "5000", "date": "x"}) == command


def test_escape_expansion_round_trips() -> None:
    for text in ["", "$", "$$", "$(A)", "$$(A)", "a$b$(c)$$d", "é$"]:
        assert kubernetes_expand(escape_expansion(text), {"A": "x", "c": "y"}) == text


# -- names ------------------------------------------------------------------------------------


def test_names_become_dns_labels(make_project: MakeProject) -> None:
    text = render_project(make_project, {"Procfile": "Web_API: serve\n"}, app="My_Shop")
    deployment = one(text, "Deployment", "my-shop-web-api")
    assert container(deployment)["name"] == "web-api"
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "my-shop",
        "app.kubernetes.io/component": "web-api",
    }


def test_one_file_named_after_the_app(make_project: MakeProject) -> None:
    root = make_project({"Procfile": PROCFILE})
    plan = export_plan(CommonOptions(root=str(root)), [])
    assert list(render(plan, ExportOptions(app="Shop", image="x"))) == ["shop.yaml"]


@pytest.mark.parametrize(
    ("procfile", "app", "message"),
    [
        ("web_1: a\nweb-1: b\n", "shop", r'processes "web_1" and "web-1" both become "web-1"'),
        ("web: a\n", "2fast", r'--app "2fast": a Kubernetes name needs a letter first'),
        ("web: a\n", "___", r'--app "___"'),
        ("__: a\n", "shop", r'process "__": cannot make a Kubernetes name'),
        ("web: a\n", "a" * 70, r"longer than the 63 characters"),
    ],
)
def test_names_kubernetes_cannot_take_are_errors(
    make_project: MakeProject, procfile: str, app: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        render_project(make_project, {"Procfile": procfile}, app=app)


def test_missing_image_is_a_usage_error(make_project: MakeProject) -> None:
    with pytest.raises(UsageError, match=r"--format kubernetes needs --image IMAGE"):
        render_project(make_project, {"Procfile": PROCFILE}, image=None)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("serve", False),
        ("/bin/sh", False),
        ("y", True),
        ("N", True),
        ("off", True),
        ("", True),
        ("0o12", True),
        ("5000", True),
        ("-c", True),
        (".5", True),
        ("a\nb", True),
        (" x", True),
        ("é", False),
    ],
)
def test_strings_other_yaml_readers_could_misread_are_quoted(text: str, quoted: bool) -> None:
    assert needs_quotes(text) is quoted


def test_dns_label() -> None:
    assert dns_label("My_App.v2") == "my-app-v2"
    assert dns_label("--x--") == "x"
    assert re.fullmatch(r"[a-z0-9-]{1,63}", dns_label("a" * 100))
