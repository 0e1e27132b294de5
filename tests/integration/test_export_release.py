"""Exports that keep the release phase and run where they go (PRODUCT.md §3 One-shot tasks, §4).

Each engine checks its own file: a real supervisord runs the programs,
`systemd-analyze verify` reads the units, `docker-compose config` resolves
the compose file and kubernetes-validate checks every manifest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from tests.integration.test_export_supervisord import supervisord, wait_for
from tests.integration.test_export_systemd import needs_analyze, verify
from tests.support import clean_env, run_cli
from tests.unit.test_export_compose import needs_docker_compose, resolved
from tests.unit.test_export_kubernetes import validate

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

PROCFILE = (
    "web: exec python3 -c 'import time; time.sleep(300)' $PORT\n"
    "release: python3 migrate.py\n"
    "worker: python3 -c 'import time; time.sleep(300)'\n"
)
MIGRATE = "import pathlib\npathlib.Path('migrated').write_text('yes')\n"


def exported(
    root: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = run_cli("export", "--app", "shop", *args, cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return result


# -- systemd --------------------------------------------------------------------------


@needs_analyze
def test_systemd_release_is_a_oneshot_unit_that_the_others_require(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"Procfile": PROCFILE, "migrate.py": MIGRATE})
    units = tmp_path / "units"
    exported(root, "--format", "systemd", "-o", str(units))
    release = (units / "shop-release-1.service").read_text()
    assert "\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=infinity\n" in release
    assert "Restart=no\n" in release
    for name in ("web", "worker"):
        unit = (units / f"shop-{name}-1.service").read_text()
        assert "\nAfter=shop-release-1.service\nRequires=shop-release-1.service\n" in unit
        assert "Type=simple" in unit
    assert verify(units) == (0, [])


# -- docker compose --------------------------------------------------------------------


@needs_docker_compose
def test_compose_waits_for_the_release_to_complete_successfully(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"Procfile": PROCFILE, "migrate.py": MIGRATE})
    out = tmp_path / "deploy"
    exported(root, "--format", "compose", "--image", "shop:1", "-o", str(out))
    config = resolved(out)
    services = config["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["release"]["condition"] == "service_completed_successfully"
    assert services["release"]["restart"] == "no"
    assert "depends_on" not in services["release"]


# -- kubernetes -----------------------------------------------------------------------


def test_kubernetes_release_is_a_job_applied_first(make_project: MakeProject) -> None:
    root = make_project({"Procfile": PROCFILE, "migrate.py": MIGRATE})
    text = exported(root, "--format", "kubernetes", "--image", "shop:1").stdout
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        validate(doc)
    kinds = [(doc["kind"], doc["metadata"]["name"]) for doc in docs if doc["kind"] in ("Job", "Deployment")]
    assert kinds == [("Job", "shop-release"), ("Deployment", "shop-web"), ("Deployment", "shop-worker")]
    job = docs[[d["kind"] for d in docs].index("Job")]
    assert job["spec"]["backoffLimit"] == 0  # a failed migration is not retried
    web = text[text.index("name: shop-web\n") :]
    assert 'depends_on "release": a one-shot Job, which Kubernetes does not wait for' in text
    assert "kubectl wait --for=condition=complete job -l app.kubernetes.io/component=release" in text
    assert "Kubernetes starts everything at once" not in web.split("---")[0]


# -- supervisord ------------------------------------------------------------------------


def test_supervisord_starts_the_release_first_and_says_it_cannot_wait(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project({"Procfile": PROCFILE, "migrate.py": MIGRATE})
    out = tmp_path / "conf"
    exported(root, "--format", "supervisord", "-o", str(out))
    conf = out / "shop.conf"
    text = conf.read_text()
    priorities = {
        section.split("]")[0]: int(section.split("priority=")[1].split()[0])
        for section in text.split("[program:")[1:]
    }
    assert min(priorities, key=priorities.__getitem__) == "shop-release-1"
    assert "supervisord cannot wait for it to complete" in text
    comment_then_program = text.index("supervisord cannot wait") < text.index("[program:shop-release-1]")
    assert comment_then_program
    with supervisord(conf, clean_env()) as server:
        try:
            states = wait_for(
                "release EXITED, the others RUNNING",
                lambda: (
                    (s := server.states())
                    and s.get("shop:shop-release-1") == "EXITED"
                    and s.get("shop:shop-web-1") == s.get("shop:shop-worker-1") == "RUNNING"
                    and s
                ),
            )
        except AssertionError:
            print(server.output())
            raise
        assert (root / "migrated").read_text() == "yes"
        assert states["shop:shop-release-1"] == "EXITED"
        assert server.ctl("stop", "all").returncode == 0


# -- PATH: programs found where the config runs ----------------------------------------------


def fake_virtualenv(folder: Path) -> Path:
    """A folder with bin/greet, a program on no PATH but this virtualenv's."""
    (folder / "bin").mkdir(parents=True)
    program = folder / "bin" / "greet"
    program.write_text('#!/bin/sh\necho "greeted from $0" > greeted\nexec sleep 300\n')
    program.chmod(0o755)
    return folder


def test_exported_path_puts_the_virtualenv_first_so_supervisord_finds_a_bare_program(
    make_project: MakeProject, tmp_path: Path
) -> None:
    venv = fake_virtualenv(tmp_path / "venv")
    root = make_project({"Procfile": "greeter: greet\n"})
    out = tmp_path / "conf"
    result = exported(root, "--format", "supervisord", "-o", str(out), env=clean_env(VIRTUAL_ENV=str(venv)))
    assert "warning" not in result.stderr  # it is on the exported PATH
    text = (out / "shop.conf").read_text()
    assert f'PATH="{venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' in text
    # supervisord itself runs with a minimal PATH, as under an init system.
    with supervisord(out / "shop.conf", {"PATH": "/usr/bin:/bin"}) as server:
        try:
            wait_for("greet ran", lambda: (root / "greeted").exists())
        except AssertionError:
            print(server.output())
            raise
        assert (root / "greeted").read_text() == f"greeted from {venv}/bin/greet\n"
        assert server.ctl("stop", "all").returncode == 0


def test_export_from_our_own_virtualenv_without_virtual_env_set(
    make_project: MakeProject, tmp_path: Path
) -> None:
    # A real virtualenv that sees this one's packages, not activated (no VIRTUAL_ENV):
    # export finds it from its own sys.prefix.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True
    )
    root = make_project({"Procfile": "web: supervise --version\n"})
    env = {k: v for k, v in clean_env().items() if k != "VIRTUAL_ENV"}
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "supervise",
            "export",
            "--format",
            "supervisord",
            "--app",
            "shop",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f'PATH="{venv / "bin"}:/usr/local/sbin' in result.stdout


@needs_analyze
def test_systemd_units_carry_the_path_and_still_verify(make_project: MakeProject, tmp_path: Path) -> None:
    venv = fake_virtualenv(tmp_path / "venv")
    root = make_project({"Procfile": "greeter: greet\n"})
    units = tmp_path / "units"
    exported(root, "--format", "systemd", "-o", str(units), env=clean_env(VIRTUAL_ENV=str(venv)))
    unit = (units / "shop-greeter-1.service").read_text()
    assert (
        f'Environment="PATH={venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' in unit
    )
    assert verify(units) == (0, [])


def test_export_warns_naming_the_process_whose_program_it_will_not_find(
    make_project: MakeProject, tmp_path: Path
) -> None:
    venv = fake_virtualenv(tmp_path / "venv")
    procfile = (
        "ok: greet --loud\n"
        "shell: cd . && echo hi\n"
        f"absolute: {shutil.which('sleep')} 1\n"
        "missing: gunicorn-not-installed app:wsgi\n"
    )
    root = make_project({"Procfile": procfile})
    result = exported(
        root, "--format", "systemd", "-o", str(tmp_path / "u"), env=clean_env(VIRTUAL_ENV=str(venv))
    )
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f'supervise: warning: missing: "gunicorn-not-installed" is not on the exported PATH ({venv}/bin:'
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin) (Procfile:4); under systemd it will "
        "not start: give its absolute path, or export from the virtualenv that has it"
    ]
    # Containers have a PATH of their own: no PATH is written, no warning.
    compose = run_cli(
        "export", "--format", "compose", "--image", "x", cwd=root, env=clean_env(VIRTUAL_ENV=str(venv))
    )
    assert compose.returncode == 0 and compose.stderr == ""
    assert "PATH" not in compose.stdout


def test_a_path_in_the_project_env_keeps_its_folders_after_the_virtualenv(
    make_project: MakeProject, tmp_path: Path
) -> None:
    venv = fake_virtualenv(tmp_path / "venv")
    root = make_project({"Procfile": "web: greet\n", ".env": "PATH=/opt/tools/bin:/usr/bin:/bin\n"})
    text = exported(root, "--format", "supervisord", env=clean_env(VIRTUAL_ENV=str(venv))).stdout
    assert f'PATH="{venv}/bin:/opt/tools/bin:/usr/bin:/bin"' in text
