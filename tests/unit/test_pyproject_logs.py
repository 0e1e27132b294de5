"""`log_dir`, `log_max_bytes`, `log_backups` in `[tool.supervise]` (PRODUCT.md §7)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from supervise.config.load import load_project
from supervise.config.model import LogPolicy
from supervise.errors import SuperviseError

MakeProject = Callable[[Mapping[str, str | bytes]], Path]
WEB = '[tool.supervise.processes.web]\ncommand = "serve"\n'
P = "pyproject.toml: tool.supervise"


def policy(make_project: MakeProject, top: str) -> LogPolicy:
    root = make_project({"pyproject.toml": f"[tool.supervise]\n{top}\n{WEB}"})
    return load_project(cwd=root).logs


def error(make_project: MakeProject, top: str) -> str:
    root = make_project({"pyproject.toml": f"[tool.supervise]\n{top}\n{WEB}"})
    with pytest.raises(SuperviseError) as caught:
        load_project(cwd=root)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_defaults_are_no_folder_10_mib_and_5_backups(make_project: MakeProject) -> None:
    assert policy(make_project, "") == LogPolicy(directory=None, max_bytes=10 * 1024 * 1024, backups=5)


def test_a_procfile_project_has_the_defaults(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: serve\n"})
    assert load_project(cwd=root).logs == LogPolicy()


def test_log_dir_is_relative_to_the_root(make_project: MakeProject, tmp_path: Path) -> None:
    logs = policy(make_project, 'log_dir = "var/log"\nlog_max_bytes = 2048\nlog_backups = 0')
    assert logs == LogPolicy(directory=tmp_path.resolve() / "var" / "log", max_bytes=2048, backups=0)


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("0", 0),
        ('"1KB"', 1024),
        ('"10MB"', 10 << 20),
        ('"2gb"', 2 << 30),
        ('" 5 "', 5),
        ('"50 MB"', 50 << 20),
    ],
)
def test_log_max_bytes_takes_supervisord_sizes(make_project: MakeProject, written: str, size: int) -> None:
    assert policy(make_project, f"log_max_bytes = {written}").max_bytes == size


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "log_max_bytes = -1",
            f"{P}.log_max_bytes: expected a size in bytes from 0 to 1 TiB, "
            'such as 10485760 or "10MB", got -1',
        ),
        (
            'log_max_bytes = "10 parsecs"',
            f'{P}.log_max_bytes: expected a size in bytes from 0 to 1 TiB, such as 10485760 or "10MB", '
            'got "10 parsecs"',
        ),
        (
            "log_max_bytes = 1e9",
            f"{P}.log_max_bytes: expected a size in bytes from 0 to 1 TiB, such as 10485760 or "
            '"10MB", got 1000000000.0',
        ),
        (
            "log_max_bytes = 99999999999999999",
            f"{P}.log_max_bytes: expected a size in bytes from 0 to 1 TiB, such as 10485760 or "
            '"10MB", got 99999999999999999',
        ),
        ("log_backups = 1.5", f"{P}.log_backups: expected a number of files from 0 to 1000, got 1.5"),
        ("log_backups = 1001", f"{P}.log_backups: expected a number of files from 0 to 1000, got 1001"),
        ("log_backups = true", f"{P}.log_backups: expected a number of files from 0 to 1000, got true"),
        ("log_dir = 3", f"{P}.log_dir: expected a string, got 3"),
        ('log_dir = ""', f"{P}.log_dir: expected a non-empty string"),
        ("log_dri = 'x'", f'{P}.log_dri: unknown key (did you mean "log_dir"?)'),
    ],
)
def test_bad_values_name_the_key(make_project: MakeProject, line: str, message: str) -> None:
    assert error(make_project, line) == message
