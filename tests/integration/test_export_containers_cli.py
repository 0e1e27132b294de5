"""`supervise export --format kubernetes|compose` through the installed command."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from tests.support import run_cli
from tests.unit.test_export_compose import needs_docker_compose, resolved
from tests.unit.test_export_kubernetes import validate

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

PYPROJECT = """
[tool.supervise.processes.web]
command = "python -m http.server $PORT"
concurrency = 2
ready = { http = "http://127.0.0.1:$PORT/" }
[tool.supervise.processes.worker]
command = "python worker.py"
depends_on = ["web"]
"""


def test_kubernetes_writes_one_valid_file_into_the_output_dir(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": PYPROJECT, ".env": "API_KEY=k\n"})
    args = ("export", "--format", "kubernetes", "-o", "k8s", "--image", "x", "--app", "shop")
    result = run_cli(*args, "--secret-env", "API_KEY", cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == f"wrote {Path('k8s') / 'shop.yaml'}"
    docs = list(yaml.safe_load_all((root / "k8s" / "shop.yaml").read_text(encoding="utf-8")))
    for doc in docs:
        validate(doc)
    kinds = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert ("Deployment", "shop-web") in kinds
    assert ("Secret", "shop-worker-secret") in kinds


def test_kubernetes_without_image_is_one_line_and_exit_2(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": PYPROJECT})
    result = run_cli("export", "--format", "kubernetes", "-o", "k8s", cwd=root)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "supervise: --format kubernetes needs --image IMAGE (the container image to run)"
    ]
    assert not (root / "k8s").exists()


def test_kubernetes_to_stdout_when_no_output_dir(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: serve\n"})
    result = run_cli("export", "--format", "kubernetes", "--image", "x", "--app", "shop", cwd=root)
    assert result.returncode == 0, result.stderr
    assert [doc["kind"] for doc in yaml.safe_load_all(result.stdout)] == [
        "ConfigMap",
        "Deployment",
        "Service",
    ]


def test_existing_file_is_kept_without_force(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: serve\n", "k8s/shop.yaml": "mine\n"})
    args = ("export", "--format", "kubernetes", "-o", "k8s", "--image", "x", "--app", "shop")
    refused = run_cli(*args, cwd=root)
    assert refused.returncode == 2
    assert "already exists; use --force" in refused.stderr
    assert (root / "k8s" / "shop.yaml").read_text(encoding="utf-8") == "mine\n"
    assert run_cli(*args, "--force", cwd=root).returncode == 0
    assert "kind: Deployment" in (root / "k8s" / "shop.yaml").read_text(encoding="utf-8")


@needs_docker_compose
def test_compose_writes_a_file_docker_compose_accepts(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": PYPROJECT})
    result = run_cli(
        "export", "--format", "compose", "-o", "deploy", "--image", "shop:1", "-m", "web=3", cwd=root
    )
    assert result.returncode == 0, result.stderr
    config = resolved(root / "deploy")["services"]
    assert config["web"]["deploy"] == {"replicas": 3}
    assert config["worker"]["depends_on"] == {"web": {"condition": "service_healthy"}}


@pytest.mark.parametrize("format_name", ["kubernetes", "compose"])
def test_bad_formation_is_one_line(make_project: MakeProject, format_name: str) -> None:
    root = make_project({"Procfile": "web: serve\n"})
    result = run_cli("export", "--format", format_name, "--image", "x", "-m", "db=1", cwd=root)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert 'unknown process "db"' in result.stderr
