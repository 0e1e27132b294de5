"""The Procfile grammar (PRODUCT.md §1): `name: command` lines, and `file:line` errors."""

from __future__ import annotations

import pytest

from supervise.config.procfile import parse_procfile
from supervise.errors import ConfigError


def commands(text: str) -> list[tuple[str, str]]:
    return [(spec.name, spec.command) for spec in parse_procfile(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("web: python app.py\n", [("web", "python app.py")], id="one line"),
        pytest.param("web: a\nworker: b\n", [("web", "a"), ("worker", "b")], id="definition order"),
        pytest.param("web: a", [("web", "a")], id="no final newline"),
        pytest.param("# a comment\nweb: a\n", [("web", "a")], id="comment"),
        pytest.param("   # indented comment\nweb: a\n", [("web", "a")], id="indented comment"),
        pytest.param("\n\n  \t\nweb: a\n\n", [("web", "a")], id="blank lines"),
        pytest.param("web: a\r\nworker: b\r\n", [("web", "a"), ("worker", "b")], id="CRLF"),
        pytest.param("\ufeffweb: a\n", [("web", "a")], id="byte order mark"),
        pytest.param("web:    a   b   \n", [("web", "a   b")], id="command trimmed, inner spaces kept"),
        pytest.param("web :a\n", [("web", "a")], id="space before colon, none after"),
        pytest.param("\tweb: a\n", [("web", "a")], id="leading tab"),
        pytest.param(
            "web: python -m http.server --bind 127.0.0.1:$PORT\n",
            [("web", "python -m http.server --bind 127.0.0.1:$PORT")],
            id="colon inside the command",
        ),
        pytest.param(
            "clock: while true; do echo 'a: b' # not a comment\n",
            [("clock", "while true; do echo 'a: b' # not a comment")],
            id="hash inside the command",
        ),
        pytest.param("A-b_9: x\n", [("A-b_9", "x")], id="letters digits _ and -"),
        pytest.param("web: a\x0cb\n", [("web", "a\x0cb")], id="form feed is not a line end"),
    ],
)
def test_grammar(text: str, expected: list[tuple[str, str]]) -> None:
    assert commands(text) == expected


def test_origin_names_file_and_line() -> None:
    specs = parse_procfile("# head\n\nweb: a\nworker: b\n", "Procfile.dev")
    assert [spec.origin for spec in specs] == ["Procfile.dev:3", "Procfile.dev:4"]


def test_empty_text_defines_nothing() -> None:
    assert parse_procfile("# only comments\n\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "web: a\nbad line\n", 'Procfile:2: expected "name: command", got "bad line"', id="no colon"
        ),
        pytest.param("web:\n", 'Procfile:1: process "web" has an empty command', id="empty command"),
        pytest.param("web:   \t\n", 'Procfile:1: process "web" has an empty command', id="blank command"),
        pytest.param(
            "we b: x\n",
            'Procfile:1: invalid process name "we b": use letters, digits, "_" and "-"',
            id="space in name",
        ),
        pytest.param(
            "web.1: x\n",
            'Procfile:1: invalid process name "web.1": use letters, digits, "_" and "-"',
            id="dot in name",
        ),
        pytest.param(": x\n", 'Procfile:1: missing process name before ":"', id="no name"),
        pytest.param(
            "w" * 65 + ": x\n",
            f'Procfile:1: invalid process name "{"w" * 59}…": longer than 64 characters',
            id="name too long",
        ),
        pytest.param(
            "all: x\n",
            'Procfile:1: invalid process name "all": reserved: it means every process in -m/--formation',
            id="all is reserved",
        ),
        pytest.param(
            "system: x\n",
            'Procfile:1: invalid process name "system": reserved: supervise\'s own output lines use it',
            id="system is reserved",
        ),
        pytest.param(
            "web: a\x00b\n", 'Procfile:1: process "web": the command contains a NUL character', id="NUL"
        ),
        pytest.param(
            "web: a\n\nweb: b\n",
            'Procfile:3: duplicate process "web" (first defined on line 1)',
            id="duplicate names both lines",
        ),
        pytest.param(
            "web: a\r\nworker: b\r\n# c\r\nweb: c\r\n",
            'Procfile:4: duplicate process "web" (first defined on line 1)',
            id="CRLF line numbers",
        ),
        pytest.param(
            "web: a\x0cb\nbad\n",
            'Procfile:2: expected "name: command", got "bad"',
            id="form feed does not shift line numbers",
        ),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_procfile(text)
    assert str(caught.value) == message


def test_error_uses_the_given_file_name() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_procfile("web: a\nweb: b\n", "deploy/Procfile.dev")
    assert str(caught.value) == 'deploy/Procfile.dev:2: duplicate process "web" (first defined on line 1)'
    assert (caught.value.file, caught.value.line) == ("deploy/Procfile.dev", 2)


def test_long_bad_line_is_clipped_to_one_short_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_procfile("x" * 500 + "\n")
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 120
