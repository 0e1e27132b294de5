"""`export --format systemd`: quoting functions as tables, and the rendered units read
back by an implementation of systemd's own rules (extract_first_word with
UNQUOTE|CUNESCAPE, then `%` specifiers, then `$` expansion for ExecStart=)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest

from supervise.config.model import Autorestart, Backoff, Probe, ProbeKind, ProcessSpec, Project, RestartPolicy
from supervise.errors import UsageError
from supervise.export import ExportOptions
from supervise.export.systemd import environment_value, exec_line, exec_word, quote, render, seconds
from supervise.plan import Plan, build_plan

HOSTILE = {
    "PERCENT": "100% %n %i %% %(here)s",
    "EQUALS": "a=b==c",
    "COMMA": "a,b,,c",
    "AT": "user@host",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi"',
    "BOTH": "'it's \"both\"'",
    "SPACES": "  padded  ",
    "NEWLINE": "line 1\nline 2\n",
    "TAB": "a\tb",
    "CR": "a\r\nb",
    "CONTROL": "bell\x07 esc\x1b del\x7f",
    "SEMICOLON": ";",
    "HASH": "# not a comment ; nor this",
    "DOLLAR": "$HOME ${PORT} $$ $",
    "BACKSLASH": "a\\b\\\\c\\",
    "BACKSLASH_END": "ends with \\",
    "UNICODE": "héllo ✓ 日本 \u2028 \x85 🙂",
    "EMPTY": "",
}

C_UNESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
C_UNESCAPES |= {"\\": "\\", '"': '"', "'": "'", "s": " "}
WHITESPACE = " \t\n\r"


# -- systemd's rules, as a reader for the tests --------------------------------


def cunescape_one(text: str, at: int) -> tuple[str, int]:
    """systemd's cunescape_one: the character escaped at `text[at]` (after a backslash) and its length."""
    char = text[at : at + 1]
    if char in C_UNESCAPES:
        return C_UNESCAPES[char], 1
    for prefix, digits in (("x", 2), ("u", 4), ("U", 8)):
        if char == prefix:
            code = text[at + 1 : at + 1 + digits]
            if len(code) != digits or not re.fullmatch("[0-9a-fA-F]+", code) or int(code, 16) == 0:
                raise ValueError(f"bad \\{prefix} escape")
            return chr(int(code, 16)), 1 + digits
    if re.fullmatch("[0-7]{3}", text[at : at + 3]) and int(text[at : at + 3], 8) != 0:
        return chr(int(text[at : at + 3], 8)), 3
    raise ValueError(f"unknown escape \\{char}")


def systemd_words(text: str) -> list[str]:
    """extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE) repeated: systemd's word splitting."""
    words, at = [], 0
    while True:
        while at < len(text) and text[at] in WHITESPACE:
            at += 1
        if at == len(text):
            return words
        word, quote_char = [], ""
        while at < len(text):
            char = text[at]
            if char == "\\":
                unescaped, length = cunescape_one(text, at + 1)
                word.append(unescaped)
                at += 1 + length
                continue
            if quote_char:
                if char == quote_char:
                    quote_char = ""
                else:
                    word.append(char)
            elif char in WHITESPACE:
                break
            elif char in "'\"":
                quote_char = char
            else:
                word.append(char)
            at += 1
        if quote_char:
            raise ValueError("unbalanced quoting")
        words.append("".join(word))


def specifiers(word: str) -> str:
    """`%%` -> `%`; any other specifier would be expanded by systemd, so it is a test failure."""
    if re.search(r"%[^%]|%$", word.replace("%%", "")):
        raise ValueError(f"unescaped specifier in {word!r}")
    return word.replace("%%", "%")


def dollars(word: str) -> str:
    """ExecStart=: `$$` -> `$`; a lone `$` would expand a variable, so it is a test failure."""
    if "$" in word.replace("$$", ""):
        raise ValueError(f"unescaped $ in {word!r}")
    return word.replace("$$", "$")


def read_unit(text: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file, by key: lines end at LF only (not at U+2028 or
    U+0085, unlike str.splitlines); each is stripped; comments are skipped."""
    values: dict[str, list[str]] = {}
    assert "\r" not in text and "\0" not in text, "systemd ends lines at CR and NUL too"
    for line in text.split("\n"):
        line = line.strip(WHITESPACE)
        if not line or line[0] in "#;[":
            continue
        assert not line.endswith("\\"), "a trailing backslash would continue the line"
        key, _, value = line.partition("=")
        values.setdefault(key.strip(WHITESPACE), []).append(value.strip(WHITESPACE))
    return values


def started_with(unit: str) -> tuple[dict[str, str], list[str]]:
    """(environment, argv after env(1)) that systemd starts the unit's shell with."""
    values = read_unit(unit)
    env = {}
    for line in values.get("Environment", []):
        for word in systemd_words(line):
            key, _, value = specifiers(word).partition("=")
            env[key] = value
    [exec_start] = values["ExecStart"]
    argv = [dollars(specifiers(word)) for word in systemd_words(exec_start)]
    if argv[:2] == ["/usr/bin/env", "--"]:
        argv = argv[2:]
        while "=" in argv[0]:
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
    return env, argv


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b", ["a", "b"]),
        ('"a b" c', ["a b", "c"]),
        ("'a \"b\"'", ['a "b"']),
        ('"a\\nb\\x41\\s"', ["a\nbA "]),
        ("\"a\\\\b\" 'c\\'d'", ["a\\b", "c'd"]),
        ("x\\ty", ["x\ty"]),
        ('""', [""]),
        ('"caf\\u00e9"', ["café"]),
        ('"\\101"', ["A"]),
    ],
)
def test_systemd_words_reads_as_systemd_does(text: str, words: list[str]) -> None:
    assert systemd_words(text) == words


@pytest.mark.parametrize("text", ['"unbalanced', 'a "b', '"\\q"', '"\\x0"'])
def test_systemd_words_refuses_what_systemd_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        systemd_words(text)


# -- tables -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "dollar", "expected"),
    [
        ("plain", False, '"plain"'),
        ("", False, '""'),
        ("100%", False, '"100%%"'),
        ("$HOME", False, '"$HOME"'),
        ("$HOME", True, '"$$HOME"'),
        ('say "hi"', False, '"say \\"hi\\""'),
        ("it's", False, '"it\'s"'),
        ("a\\b", False, '"a\\\\b"'),
        ("a\nb\tc\rd", False, '"a\\nb\\tc\\rd"'),
        ("\x01\x1b\x7f", False, '"\\x01\\x1b\\x7f"'),
        ("héllo ✓", False, '"héllo ✓"'),
    ],
)
def test_quote(text: str, dollar: bool, expected: str) -> None:
    assert quote(text, dollar) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("/bin/sh", "/bin/sh"),
        ("-c", "-c"),
        ("PORT=5000", "PORT=5000"),
        (";", '";"'),
        ("\\;", '"\\\\;"'),
        ("100%", '"100%%"'),
        ("echo $PORT", '"echo $$PORT"'),
        ("", '""'),
    ],
)
def test_exec_word(word: str, expected: str) -> None:
    assert exec_word(word) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PORT", "5000", '"PORT=5000"'),
        ("_A1", "a b", '"_A1=a b"'),
        ("A", "$HOME", '"A=$HOME"'),
        ("A", "100%", '"A=100%%"'),
        ("A", "a\nb\tc", '"A=a\\nb\\tc"'),
        ("A", "a\rb", None),
        ("A", "\x07", None),
        ("MY-KEY", "v", None),
        ("1A", "v", None),
        ("a.b", "v", None),
        ("Ké", "v", None),
    ],
)
def test_environment_value(key: str, value: str, expected: str | None) -> None:
    assert environment_value(key, value) == expected


@pytest.mark.parametrize(("value", "expected"), [(10, "10s"), (0, "0s"), (0.5, "500ms"), (2.25, "2250ms")])
def test_seconds(value: float, expected: str) -> None:
    assert seconds(value) == expected


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_exec_word_round_trips_through_systemds_rules(value: str) -> None:
    argv = ["/usr/bin/env", "--", f"K={value}", "/bin/sh", "-c", value]
    assert [dollars(specifiers(w)) for w in systemd_words(exec_line(argv))] == argv


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_environment_value_round_trips_through_systemds_rules(value: str) -> None:
    text = environment_value("KEY", value)
    if text is None:
        assert any((ord(c) < 0x20 and c not in "\t\n") or c == "\x7f" for c in value)
        return
    assert [specifiers(w) for w in systemd_words(text)] == [f"KEY={value}"]


# -- whole units ----------------------------------------------------------------


def make_plan(root: Path, *specs: ProcessSpec, file_env: Mapping[str, str] | None = None) -> Plan:
    project = Project(root=root, source="pyproject.toml", processes=specs)
    return build_plan(project, names=[s.name for s in specs], caller_env={}, file_env=file_env)


def test_every_value_reaches_the_shell_byte_for_byte(tmp_path: Path) -> None:
    env = {**HOSTILE, "MY-KEY": "odd name", "a.b": "dotted"}
    command = "echo 100% %n 'a' \"b\" $PORT ${PS} $$ x #c ; true \\"
    spec = ProcessSpec(name="web", command=command, env=MappingProxyType(env))
    plan = make_plan(tmp_path, spec, file_env={"FROM_FILE": "50% off, 'q'"})
    units = render(plan, ExportOptions(app="app"))
    got_env, argv = started_with(units["app-web-1.service"])
    assert got_env == dict(plan.instances[0].env)
    assert argv == ["/bin/sh", "-c", command]
    assert read_unit(units["app-web-1.service"])["WorkingDirectory"] == [str(tmp_path)]


def test_environment_holds_what_it_can_and_env_passes_the_rest(tmp_path: Path) -> None:
    spec = ProcessSpec(
        name="w", command="run", env=MappingProxyType({"OK": "a b", "BAD-NAME": "x", "BEL": "\x07"})
    )
    unit = render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app-w-1.service"]
    assert 'Environment="OK=a b"\n' in unit
    assert 'ExecStart=/usr/bin/env -- BAD-NAME=x "BEL=\\x07" /bin/sh -c "exec run"\n' in unit


@pytest.mark.parametrize("directory", ["ends with space ", "line\nbreak"])
def test_directory_a_unit_cannot_hold_is_entered_by_the_shell(tmp_path: Path, directory: str) -> None:
    plan = make_plan(
        tmp_path / directory, ProcessSpec(name="w", command="run", env=MappingProxyType({"A": "1"}))
    )
    unit = render(plan, ExportOptions(app="app"))["app-w-1.service"]
    assert "WorkingDirectory" not in read_unit(unit)
    env, argv = started_with(unit)
    assert argv[:4] == ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', str(tmp_path / directory)]
    assert argv[4:6] == ["/usr/bin/env", "--"] and "A=1" in argv and "PS=w.1" in argv
    assert env == {}


def test_units_follow_the_spec(tmp_path: Path) -> None:
    db = ProcessSpec(name="db", command="db", stopsignal="INT", stop_timeout=2.5)
    web = ProcessSpec(
        name="web",
        command="web",
        concurrency=2,
        depends_on=("db",),
        ready=Probe(ProbeKind.TCP, "127.0.0.1:$PORT"),
        restart=RestartPolicy(
            autorestart=Autorestart.UNEXPECTED,
            exitcodes=(0, 3),
            startsecs=2,
            startretries=2,
            backoff=Backoff(1, 8),
        ),
    )
    plan = make_plan(tmp_path, web, db)
    units = render(plan, ExportOptions(app="app", user="www-data", log_dir=tmp_path / "logs"))
    assert set(units) == {"app.target", "app-web-1.service", "app-web-2.service", "app-db-1.service"}
    web2, db1 = read_unit(units["app-web-2.service"]), read_unit(units["app-db-1.service"])
    assert web2["After"] == web2["Wants"] == ["app-db-1.service"]
    assert web2["PartOf"] == ["app.target"] and web2["WantedBy"] == ["app.target"]
    assert web2["Restart"] == ["on-failure"] and web2["SuccessExitStatus"] == ["3"]
    assert web2["RestartForceExitStatus"] == ["SIGHUP SIGINT SIGTERM SIGPIPE"]
    assert web2["RestartSec"] == ["1s"]
    assert web2["StartLimitBurst"] == ["3"] and web2["StartLimitIntervalSec"] == ["9s"]
    # "web" is a simple command: SIGTERM to the program, SIGKILL to the group (stopasgroup = false).
    assert web2["KillMode"] == ["mixed"] and web2["User"] == ["www-data"]
    assert started_with(units["app-web-2.service"])[0]["PORT"] == "5001"
    assert started_with(units["app-web-2.service"])[0]["PS"] == "web.2"
    assert db1["KillSignal"] == ["SIGINT"] and db1["TimeoutStopSec"] == ["2500ms"]
    assert db1["StandardOutput"] == [f"append:{tmp_path}/logs/app-db-1.out.log"]
    assert db1["StandardError"] == [f"append:{tmp_path}/logs/app-db-1.err.log"]
    assert "# Left out (no systemd equivalent): ready." in units["app-web-1.service"]
    target = read_unit(units["app.target"])
    assert target["Wants"] == ["app-web-1.service app-web-2.service app-db-1.service"]
    assert target["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize(
    ("autorestart", "exitcodes", "expected"),
    [
        (Autorestart.ALWAYS, (0,), {"Restart": ["always"]}),
        (Autorestart.NEVER, (0, 2), {"Restart": ["no"], "SuccessExitStatus": ["2"]}),
        (
            Autorestart.UNEXPECTED,
            (0,),
            {"Restart": ["on-failure"], "RestartForceExitStatus": ["SIGHUP SIGINT SIGTERM SIGPIPE"]},
        ),
        (
            Autorestart.UNEXPECTED,
            (2,),
            {
                "Restart": ["on-failure"],
                "SuccessExitStatus": ["2"],
                "RestartForceExitStatus": ["0 SIGHUP SIGINT SIGTERM SIGPIPE"],
            },
        ),
    ],
)
def test_restart_means_what_autorestart_means(
    tmp_path: Path, autorestart: Autorestart, exitcodes: tuple[int, ...], expected: dict[str, list[str]]
) -> None:
    spec = ProcessSpec(
        name="w", command="w", restart=RestartPolicy(autorestart=autorestart, exitcodes=exitcodes)
    )
    unit = read_unit(render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app-w-1.service"])
    keys = ("Restart", "SuccessExitStatus", "RestartForceExitStatus")
    assert {key: unit[key] for key in keys if key in unit} == expected


def test_autostart_false_is_not_wanted_by_the_target(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path, ProcessSpec(name="web", command="w"), ProcessSpec(name="job", command="j", autostart=False)
    )
    units = render(plan, ExportOptions(app="app"))
    assert read_unit(units["app.target"])["Wants"] == ["app-web-1.service"]
    assert "WantedBy" not in read_unit(units["app-job-1.service"])
    assert "app-job-1.service" in units["app.target"]  # named in the comment, to start by hand


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExportOptions(app="my app"), '--app: "my app" cannot name a systemd unit'),
        (ExportOptions(app=".hidden"), '--app: ".hidden" cannot name a systemd unit (use letters'),
        (
            ExportOptions(app="app", user="a b"),
            '--user: "a b" cannot be written into a unit file (whitespace)',
        ),
        (ExportOptions(app="app", log_dir=Path("/var/log/a\nb")), "--log-dir:"),
    ],
)
def test_values_a_unit_cannot_hold_are_usage_errors(
    tmp_path: Path, options: ExportOptions, message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        render(make_plan(tmp_path, ProcessSpec(name="w", command="w")), options)


def test_specifiers_and_dollars_in_user_and_paths_are_escaped(tmp_path: Path) -> None:
    root = tmp_path / "100%"
    unit = render(make_plan(root, ProcessSpec(name="w", command="w")), ExportOptions(app="app", user="%u"))
    text = unit["app-w-1.service"]
    assert f"WorkingDirectory={tmp_path}/100%%\n" in text and "User=%%u\n" in text


def test_stop_timeout_0_kills_at_once_rather_than_never(tmp_path: Path) -> None:
    spec = ProcessSpec(name="w", command="w", stop_timeout=0)
    unit = read_unit(render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app-w-1.service"])
    assert unit["TimeoutStopSec"] == ["1ms"]


def test_a_task_is_required_and_a_service_wanted(tmp_path: Path) -> None:
    task = RestartPolicy(autorestart=Autorestart.NEVER, startsecs=0)
    migrate = ProcessSpec(name="migrate", command="migrate", restart=task)
    db = ProcessSpec(name="db", command="db")
    web = ProcessSpec(name="web", command="web", depends_on=("migrate", "db"))
    units = render(make_plan(tmp_path, migrate, db, web), ExportOptions(app="app"))
    web1, migrate1 = read_unit(units["app-web-1.service"]), read_unit(units["app-migrate-1.service"])
    assert web1["After"] == ["app-migrate-1.service app-db-1.service"]
    assert web1["Requires"] == ["app-migrate-1.service"] and web1["Wants"] == ["app-db-1.service"]
    assert migrate1["Type"] == ["oneshot"] and migrate1["RemainAfterExit"] == ["yes"]
    assert migrate1["Restart"] == ["no"] and migrate1["StartLimitIntervalSec"] == ["0"]
    assert read_unit(units["app-db-1.service"])["Type"] == ["simple"]
    assert "# One-shot tasks (migrate): Type=oneshot units" in units["app.target"]
