"""Env files (PRODUCT.md §1): python-dotenv syntax, single quotes literal, later files win."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervise.config.envfile import read_env_file, read_env_files
from supervise.config.load import load_project
from supervise.errors import ConfigError, UsageError


def read(tmp_path: Path, text: str | bytes, environ: dict[str, str] | None = None) -> dict[str, str]:
    path = tmp_path / ".env"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode())
    return read_env_file(path, ".env", {} if environ is None else environ)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A=1\n", {"A": "1"}, id="plain"),
        pytest.param("A = 1 \n", {"A": "1"}, id="spaces around"),
        pytest.param("export A=1\n", {"A": "1"}, id="export"),
        pytest.param("# comment\n\nA=1\n", {"A": "1"}, id="comment and blank line"),
        pytest.param("A=1 # trailing comment\n", {"A": "1"}, id="trailing comment"),
        pytest.param("A=a#b\n", {"A": "a#b"}, id="hash glued to a value"),
        pytest.param('A="two words"\n', {"A": "two words"}, id="double quotes"),
        pytest.param("A='two words'\n", {"A": "two words"}, id="single quotes"),
        pytest.param('A="a # not a comment"\n', {"A": "a # not a comment"}, id="hash inside quotes"),
        pytest.param('A="line1\\nline2"\n', {"A": "line1\nline2"}, id="escape in double quotes"),
        pytest.param("A='line1\\nline2'\n", {"A": "line1\\nline2"}, id="no escape in single quotes"),
        pytest.param('A="multi\nline"\n', {"A": "multi\nline"}, id="multi-line double quotes"),
        pytest.param("A=\n", {"A": ""}, id="empty value"),
        pytest.param("A\n", {}, id="declared without value is left out"),
        pytest.param("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}, id="CRLF"),
        pytest.param("\ufeffA=1\n", {"A": "1"}, id="byte order mark"),
        pytest.param("A=1\nA=2\n", {"A": "2"}, id="later line wins"),
        pytest.param("A=x=y\n", {"A": "x=y"}, id="equals in value"),
        pytest.param("A=100%\n", {"A": "100%"}, id="percent"),
        pytest.param("A=$HOME\n", {"A": "$HOME"}, id="bare $VAR is not expanded (dotenv)"),
    ],
)
def test_python_dotenv_syntax(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    assert read(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A=1\nB=${A}-x\n", {"A": "1", "B": "1-x"}, id="from an earlier line"),
        pytest.param('A=1\nB="${A} y"\n', {"A": "1", "B": "1 y"}, id="inside double quotes"),
        pytest.param("A=1\nB='${A} y'\n", {"A": "1", "B": "${A} y"}, id="single quotes are literal"),
        pytest.param("export A=1\nexport B='${A}'\n", {"A": "1", "B": "${A}"}, id="literal after export"),
        pytest.param("B=${OUTER}\n", {"B": "from caller"}, id="from the environment"),
        pytest.param("B=${NOPE}\n", {"B": ""}, id="unknown is empty"),
        pytest.param("B=${NOPE:-fallback}\n", {"B": "fallback"}, id="default"),
        pytest.param("OUTER=mine\nB=${OUTER}\n", {"OUTER": "mine", "B": "mine"}, id="file beats environment"),
        pytest.param("A='${X}'\nB=${A}\n", {"A": "${X}", "B": "${X}"}, id="literal value is not re-expanded"),
    ],
)
def test_variable_expansion(tmp_path: Path, text: str, expected: dict[str, str]) -> None:
    assert read(tmp_path, text, {"OUTER": "from caller"}) == expected


def test_expansion_uses_the_real_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISE_TEST_OUTER", "outer")
    path = tmp_path / ".env"
    path.write_text("A=${SUPERVISE_TEST_OUTER}\n")
    assert read_env_file(path, ".env") == {"A": "outer"}


def test_later_file_wins_and_sees_earlier_values(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=1\nB=first\n")
    second.write_text("B=second\nC=${A}${B}\n")
    merged = read_env_files([(first, "a.env"), (second, "b.env")], {})
    assert merged == {"A": "1", "B": "second", "C": "1second"}


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("bad line here\n", 1, "bad line here"),
        ("A=1\n\n\n  oops value\n", 4, "oops value"),
        ("A=1\r\nB=2\r\nC D\r\n", 3, "C D"),
        ('A="unclosed\n', 1, 'A="unclosed'),
    ],
)
def test_unparsable_line_is_an_error_naming_file_and_line(
    tmp_path: Path, text: str, line: int, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, text)
    assert str(caught.value) == f'.env:{line}: cannot parse "{shown}" (expected KEY=value)'


def test_non_utf8_env_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^\.env: not UTF-8 text$"):
        read(tmp_path, b"A=caf\xe9\n")


def test_missing_explicit_env_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: x\n")
    with pytest.raises(UsageError) as caught:
        load_project(cwd=tmp_path, env_files=["missing.env"])
    assert str(caught.value) == "--env-file missing.env: no such file"
    assert caught.value.exit_code == 2


def test_env_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: x\n")
    (tmp_path / "conf").mkdir()
    with pytest.raises(UsageError, match=r"^--env-file conf: is a directory$"):
        load_project(cwd=tmp_path, env_files=["conf"])


def test_nul_character_is_an_error_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read(tmp_path, "A=1\n\nB=a\x00b\n")
    assert str(caught.value) == '.env:3: "B": the environment cannot hold a NUL character'
