"""Shell completion (PRODUCT.md §2): the real script answering the shells' completion protocol."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import clean_env, supervise_argv, write_files

PROJECT = {
    "Procfile": "web: serve\nworker: work\nclock: tick\n",
    "pyproject.toml": (
        '[tool.supervise]\nprocfile = "Procfile"\n'
        "[tool.supervise.processes.web]\nconcurrency = 2\n"
        '[tool.supervise.groups]\nbackend = ["web", "worker"]\n'
    ),
}
PROCESSES = ["web", "worker", "clock", "backend"]
INSTANCES = [*PROCESSES, "web.1", "web.2", "worker.1", "clock.1"]


def bash(words: str, cwd: Path) -> list[str]:
    """What bash's completion function gets for the command line `words` (the cursor at its end)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = clean_env(_SUPERVISE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword))
    result = subprocess.run(supervise_argv(), cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.split()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "app", PROJECT)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("supervise up ", PROCESSES),
        ("supervise up w", ["web", "worker"]),
        ("supervise check b", ["backend"]),
        ("supervise export --format supervisord ", PROCESSES),
        ("supervise run ", PROCESSES),
        ("supervise status ", [*INSTANCES, "all"]),
        ("supervise restart web", ["web", "web.1", "web.2"]),
        ("supervise stop ", [*INSTANCES, "all"]),
        ("supervise start worker.", ["worker.1"]),
        ("supervise logs ", [*INSTANCES, "system"]),
        ("supervise logs -n 5 sy", ["system"]),
        ("supervise up -m web=3 web", ["web"]),
        ("supervise restart -m", []),  # not a restart option: nothing to offer, no error
    ],
)
def test_names_complete_for_every_command_that_takes_them(
    project: Path, words: str, expected: list[str]
) -> None:
    got = bash(words, project)
    if "restart -m" in words:
        assert "web" not in got
        return
    assert sorted(got) == sorted(expected)


def test_options_naming_another_project_are_followed(project: Path, tmp_path: Path) -> None:
    assert sorted(bash(f"supervise logs -d {project} w", tmp_path)) == [
        "web",
        "web.1",
        "web.2",
        "worker",
        "worker.1",
    ]
    assert bash(f"supervise up -f {project / 'Procfile'} c", tmp_path) == ["clock"]
    assert bash("supervise restart -d app web.", tmp_path) == ["web.1", "web.2"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("supervise export --format ", ["supervisord", "systemd", "kubernetes", "compose"]),
        ("supervise export --format s", ["supervisord", "systemd"]),
        ("supervise export -F k", ["kubernetes"]),
    ],
)
def test_format_values_complete(project: Path, words: str, expected: list[str]) -> None:
    assert bash(words, project) == expected


def test_a_folder_without_a_project_completes_only_the_fixed_words_and_says_nothing(tmp_path: Path) -> None:
    assert bash("supervise restart ", tmp_path) == ["all"]
    write_files(tmp_path, {"Procfile": "this is not a procfile line\n"})
    assert bash("supervise logs ", tmp_path) == ["system"]


def test_zsh_and_fish_get_the_same_names(project: Path) -> None:
    zsh = subprocess.run(
        supervise_argv(),
        cwd=project,
        env=clean_env(_SUPERVISE_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="supervise restart wo"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert '"worker"' in zsh.stdout and '"worker.1"' in zsh.stdout and '"web"' not in zsh.stdout
    fish = subprocess.run(
        supervise_argv(),
        cwd=project,
        env=clean_env(
            _SUPERVISE_COMPLETE="complete_fish",
            _TYPER_COMPLETE_ARGS="supervise restart wo",
            _TYPER_COMPLETE_FISH_ACTION="get-args",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert fish.stdout.split() == ["worker", "worker.1"]
