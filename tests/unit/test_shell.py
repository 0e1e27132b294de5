"""Which Procfile commands the shell execs, and which stop as a group by default."""

from __future__ import annotations

import pytest

from supervise.config.model import ProcessSpec
from supervise.config.shell import is_simple_command, shell_line


@pytest.mark.parametrize(
    "command",
    [
        "gunicorn app:wsgi --bind 127.0.0.1:$PORT",
        "python -m http.server ${PORT}",
        "celery -A app worker -l info",
        "./bin/server --name 'a b'",
        'redis-server --port "$PORT"',
    ],
)
def test_simple_commands_are_execd(command: str) -> None:
    assert is_simple_command(command)
    assert shell_line(command) == f"exec {command}"
    assert not ProcessSpec(name="web", command=command).stops_as_group


@pytest.mark.parametrize(
    "command",
    [
        "cd . && python srv.py",
        "python a.py; python b.py",
        "python srv.py | tee log",
        "python srv.py > out.log",
        "(cd web; npm start)",
        "echo $(date)",
        "echo `date`",
        "DEBUG=1 python srv.py",
        "cd web",
        "export A=1",
        "trap 'echo' TERM",
        "if true; then python x; fi",
        "python srv.py &",
        "{ python srv.py; }",
        "! false",
        "python srv.py \\",
    ],
)
def test_compound_lines_keep_the_shell_and_stop_as_a_group(command: str) -> None:
    assert not is_simple_command(command)
    assert shell_line(command) == command
    assert ProcessSpec(name="web", command=command).stops_as_group


@pytest.mark.parametrize(("command", "setting"), [("cd . && srv", False), ("srv", True)])
def test_stopasgroup_set_by_the_user_wins(command: str, setting: bool) -> None:
    assert ProcessSpec(name="web", command=command, stopasgroup=setting).stops_as_group is setting
