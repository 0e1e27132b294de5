"""`export --format supervisord`: quoting functions as tables, and round trips through
supervisor's own config reader (configparser, expand_here, % expansion,
dict_of_key_value_pairs, shlex.split) for hostile values."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from supervisor.datatypes import RestartUnconditionally, dict_of_key_value_pairs
from supervisor.options import ServerOptions, UnhosedConfigParser, expand

from supervise.config.model import Autorestart, Backoff, LogPolicy, ProcessSpec, Project, RestartPolicy
from supervise.errors import UsageError
from supervise.export import ExportOptions
from supervise.export.supervisord import (
    command_line,
    command_word,
    env_entry,
    ini_problem,
    percent_escape,
    render,
    shell_script,
    shell_word,
)
from supervise.plan import Plan, build_plan

HOSTILE = {
    "PERCENT": "100% %(here)s %% %(ENV_HOME)s %s",
    "EQUALS": "a=b==c",
    "COMMA": "a,b,,c",
    "AT": "user@host",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi" now',
    "BOTH": 'it\'s "both"',
    "QUOTE_START": "'start",
    "QUOTE_END": 'end"',
    "QUOTED": "'whole'",
    "SPACES": "  padded  ",
    "NEWLINE": "line 1\nline 2",
    "CR": "a\r\nb\r",
    "SEMICOLON": "a ;b",
    "HASH": "a #b",
    "TAB_HASH": "a\t#b",
    "NBSP_HASH": "a\xa0#b",
    "GLUED": "a;b#c",
    "DOLLAR": "$HOME ${PORT} $(id) `id` $",
    "BACKSLASH": "a\\b\\\\c\\",
    "UNICODE": "héllo ✓ 日本 \u2028 🙂",
    "EMPTY": "",
    "PAREN": "(a) %(b) %((c))",
}
"""Every kind of value the exporters before us got wrong."""


def supervisor_reads(section_body: str, here: str = "/srv/app") -> dict[str, str]:
    """The option values of one `[program:x]` section as supervisord sees them.

    configparser (inline comments, stripping), then expand_here, then `%`
    expansion: the same steps `ServerOptions.read_config` takes for an
    included file.
    """
    parser = UnhosedConfigParser()
    parser.read_string("[program:x]\n" + section_body)
    parser.expand_here(here)
    return {
        key: expand(value, {"here": here, "ENV_HOME": "/root"}, key)
        for key, value in parser.items("program:x")
    }


# -- tables -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", ""), ("plain", "plain"), ("100%", "100%%"), ("%(here)s", "%%(here)s"), ("%%", "%%%%")],
)
def test_percent_escape(text: str, expected: str) -> None:
    assert percent_escape(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("/srv/app", None),
        ("/srv/my app", None),
        ("/srv/a;b#c", None),
        ("/srv/100%", None),
        ("/srv/a ;b", '";" after whitespace (starts a comment)'),
        ("/srv/a\t#b", '"#" after whitespace (starts a comment)'),
        ("/srv/a\nb", "a line break"),
        ("/srv/a\rb", "a line break"),
        ("/srv/app ", "whitespace at an end"),
        ("/srv/%(here)s", '"%(here)s" (replaced by supervisord)'),
    ],
)
def test_ini_problem(text: str, problem: str | None) -> None:
    assert ini_problem(text) == problem


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PORT", "5000", 'PORT="5000"'),
        ("EMPTY", "", 'EMPTY=""'),
        ("A", "x,y=z@w", 'A="x,y=z@w"'),
        ("A", "100%", 'A="100%%"'),
        ("A", "it's", 'A="it\'s"'),
        ("A", 'say "hi" now', "A='say \"hi\" now'"),
        ("A", "$HOME \\ é", 'A="$HOME \\ é"'),
        ("A", "a;b#c", 'A="a;b#c"'),
        ("dotted.key-1", "v", 'dotted.key-1="v"'),
        ("A", 'it\'s "both"', None),
        ("A", "'start", None),
        ("A", 'end"', None),
        ("A", "a ;b", None),
        ("A", "a #b", None),
        ("A", "a\nb", None),
        ("A", "%(here)s", None),
        ("MY KEY", "v", None),
        ("K%", "v", None),
        ("Ké", "v", None),
    ],
)
def test_env_entry(key: str, value: str, expected: str | None) -> None:
    assert env_entry(key, value) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("/bin/sh", "/bin/sh"),
        ("-c", "-c"),
        ("PORT=5000", "PORT=5000"),
        ("100%", "100%"),
        ("", "''"),
        ("echo hi", "'echo hi'"),
        ("it's", '"it\'s"'),
        ('it\'s "q" \\', '"it\'s \\"q\\" \\\\"'),
        ("a ;b", "'a '';b'"),
        ("a #b", "'a ''#b'"),
        ("it's #b", '"it\'s ""#b"'),
        ("%(here)s", "'%''(here)s'"),
        ("a;b#c", "'a;b#c'"),
    ],
)
def test_command_word(word: str, expected: str) -> None:
    assert command_word(word) == expected


def test_command_word_refuses_line_breaks() -> None:
    with pytest.raises(ValueError):
        command_word("a\nb")


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("", "''"),
        ("a b", "'a b'"),
        ("it's", '"it\'s"'),
        ("it's $x", "'it'\\''s $x'"),
        ("a\nb", "'a'\"$nl\"'b'"),
        ("\r", '"$cr"'),
    ],
)
def test_shell_word(word: str, expected: str) -> None:
    assert shell_word(word) == expected


# -- round trips through supervisor's reader ---------------------------------


HELD = {key: value for key, value in HOSTILE.items() if env_entry(key, value) is not None}
"""The hostile values environment= can hold; the others go through env(1) (tested below)."""


@pytest.mark.parametrize(("key", "value"), HELD.items(), ids=list(HELD))
def test_env_entry_round_trips_through_dict_of_key_value_pairs(key: str, value: str) -> None:
    entry = env_entry(key, value)
    assert entry is not None
    assert dict_of_key_value_pairs(expand(entry, {"here": "/srv"}, "environment")) == {key: value}


def test_environment_line_round_trips_through_supervisor() -> None:
    entries = [env_entry(key, value) or "" for key, value in HELD.items()]
    assert len(entries) >= 12
    read = supervisor_reads("environment=" + ",".join(entries) + "\n")
    assert dict_of_key_value_pairs(read["environment"]) == HELD


@pytest.mark.parametrize("value", [v for v in HOSTILE.values() if "\n" not in v and "\r" not in v])
def test_command_word_round_trips_through_supervisor(value: str) -> None:
    words = ["/usr/bin/env", "--", f"K={value}", "/bin/sh", "-c", f"echo {value}", value]
    read = supervisor_reads(f"command={command_line(words)}\n")
    assert shlex.split(read["command"]) == words


def test_shell_script_builds_every_value_byte_for_byte() -> None:
    """The script the sh fallback runs, evaluated by the real /bin/sh."""
    words = ["/usr/bin/printf", "%s\\0", *HOSTILE.values()]
    script = shell_script(words, None)
    assert "\n" not in script and "\r" not in script
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [value.encode() for value in HOSTILE.values()]


def test_shell_script_cds_into_a_hostile_directory(tmp_path: Path) -> None:
    directory = tmp_path / "my #1 ;dir\nwith %(here)s"
    directory.mkdir()
    script = shell_script(["/bin/pwd", "-P"], str(directory))
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True).stdout
    assert out == str(directory.resolve()).encode() + b"\n"


# -- whole files through supervisor's loader ---------------------------------


def make_plan(root: Path, *specs: ProcessSpec, file_env: Mapping[str, str] | None = None) -> Plan:
    project = Project(root=root, source="pyproject.toml", processes=specs)
    return build_plan(project, names=[s.name for s in specs], caller_env={}, file_env=file_env)


def load(tmp_path: Path, text: str) -> dict[str, object]:
    """Process configs by name, as `supervisord -c` builds them from a file including `text`."""
    include = tmp_path / "app.conf"
    include.write_text(text, encoding="utf-8")
    main = tmp_path / "supervisord.conf"
    main.write_text(
        f"[supervisord]\nlogfile={tmp_path}/supervisord.log\npidfile={tmp_path}/supervisord.pid\n"
        f"[include]\nfiles={include}\n",
        encoding="utf-8",
    )
    options = ServerOptions()
    options.realize(args=["-c", str(main)])
    return {p.name: p for group in options.process_group_configs for p in group.process_configs}


def effective(config: object) -> tuple[dict[str, str], list[str]]:
    """(environment, argv after env(1)) that a program config starts its shell with."""
    env = dict(config.environment or {})  # type: ignore[attr-defined]
    argv = shlex.split(config.command)  # type: ignore[attr-defined]
    if argv[:2] == ["/usr/bin/env", "--"]:
        argv = argv[2:]
        while "=" in argv[0]:
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
    return env, argv


def test_every_value_reaches_the_shell_byte_for_byte(tmp_path: Path) -> None:
    single_line = {k: v for k, v in HOSTILE.items() if "\n" not in v and "\r" not in v}
    spec = ProcessSpec(
        name="web", command="echo 100% 'a' \"b\" x #c ; true", env=MappingProxyType(single_line)
    )
    plan = make_plan(tmp_path, spec, file_env={"FROM_FILE": "50% off, 'q'"})
    programs = load(tmp_path, render(plan, ExportOptions(app="app"))["app.conf"])
    env, argv = effective(programs["app-web-1"])
    assert env == dict(plan.instances[0].env)
    assert argv == ["/bin/sh", "-c", spec.command]
    assert programs["app-web-1"].directory == str(tmp_path)  # type: ignore[attr-defined]


def test_environment_holds_what_it_can_and_env_passes_the_rest(tmp_path: Path) -> None:
    spec = ProcessSpec(name="web", command="run", env=MappingProxyType({"OK": "a b", "BOTH": "'\""}))
    text = render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app.conf"]
    assert 'environment=OK="a b",PORT="5000",PS="web.1",PYTHONUNBUFFERED="1"\n' in text
    assert """command=/usr/bin/env -- "BOTH='\\"" /bin/sh -c 'exec run'\n""" in text


def test_line_breaks_go_through_a_shell_that_rebuilds_them(tmp_path: Path) -> None:
    spec = ProcessSpec(name="web", command="run", env=MappingProxyType({"NL": "a\nb"}))
    programs = load(tmp_path, render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app.conf"])
    config = programs["app-web-1"]
    argv = shlex.split(config.command)  # type: ignore[attr-defined]
    assert argv[:2] == ["/bin/sh", "-c"] and "exec /usr/bin/env -- " in argv[2]
    assert config.environment == {}  # type: ignore[attr-defined]  # all values after the shell


def test_program_options_follow_the_spec(tmp_path: Path) -> None:
    db = ProcessSpec(name="db", command="db", stopsignal="INT", stop_timeout=2.5)
    web = ProcessSpec(
        name="web",
        command="web",
        concurrency=2,
        depends_on=("db",),
        autostart=False,
        restart=RestartPolicy(
            autorestart=Autorestart.ALWAYS, exitcodes=(0, 3), startsecs=0.2, startretries=5, backoff=Backoff()
        ),
    )
    plan = make_plan(tmp_path, web, db)
    options = ExportOptions(app="app", user="www-data", log_dir=tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    text = render(plan, options)["app.conf"]
    assert "[group:app]\nprograms=app-db-1,app-web-1,app-web-2\n" in text
    programs = load(tmp_path, text)
    db1, web1, web2 = programs["app-db-1"], programs["app-web-1"], programs["app-web-2"]
    assert db1.priority < web1.priority == web2.priority  # type: ignore[attr-defined]
    assert (web1.autostart, web1.autorestart, web1.exitcodes) == (False, RestartUnconditionally, [0, 3])  # type: ignore[attr-defined]
    assert (web1.startsecs, web1.startretries) == (1, 5)  # type: ignore[attr-defined]
    assert (db1.autostart, db1.stopsignal, db1.stopwaitsecs) == (True, 2, 3)  # type: ignore[attr-defined]
    # A simple command is exec'd and stops its own children; SIGKILL still reaches the group.
    assert not db1.stopasgroup and db1.killasgroup  # type: ignore[attr-defined]
    assert db1.stdout_logfile == str(tmp_path / "logs" / "app-db-1.out.log")  # type: ignore[attr-defined]
    assert db1.stderr_logfile == str(tmp_path / "logs" / "app-db-1.err.log")  # type: ignore[attr-defined]
    assert "user=www-data\n" in text
    assert (effective(web1)[0]["PORT"], effective(web2)[0]["PORT"]) == ("5000", "5001")
    assert (effective(web1)[0]["PS"], effective(web2)[0]["PS"]) == ("web.1", "web.2")


def test_autorestart_unexpected_is_written_as_is(tmp_path: Path) -> None:
    text = render(make_plan(tmp_path, ProcessSpec(name="w", command="w")), ExportOptions(app="app"))[
        "app.conf"
    ]
    assert "autorestart=unexpected\n" in text and "startsecs=1\n" in text


def test_left_out_features_are_named_in_the_header(tmp_path: Path) -> None:
    spec = ProcessSpec(name="web", command="web", watch=("src/**/*.py",))
    text = render(make_plan(tmp_path, spec), ExportOptions(app="app"))["app.conf"]
    header = text.split("[group:app]")[0]
    assert "watch" in header and "ready" in header and "linear" in header
    assert "#   web uses watch." in header
    assert "supervisorctl reread && supervisorctl update" in header


@pytest.mark.parametrize("directory", ["my #1 dir", "a ;b", "%(here)s"])
def test_directory_supervisord_cannot_hold_is_entered_by_the_shell(tmp_path: Path, directory: str) -> None:
    root = tmp_path / directory
    programs = load(
        tmp_path,
        render(make_plan(root, ProcessSpec(name="w", command="w")), ExportOptions("app"))["app.conf"],
    )
    config = programs["app-w-1"]
    assert config.directory is None  # type: ignore[attr-defined]
    assert "cd -- " in shlex.split(config.command)[2]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExportOptions(app="my app"), '--app: "my app" cannot name a supervisord group'),
        (ExportOptions(app=".hidden"), '--app: ".hidden" cannot name a supervisord group (use letters'),
        (ExportOptions(app="a:b"), '--app: "a:b"'),
        (ExportOptions(app="app", user="a b"), '--user: "a b"'),
        (ExportOptions(app="app", log_dir=Path("/var/log/a ;b")), '--log-dir: "/var/log/a ;b"'),
    ],
)
def test_values_the_file_cannot_hold_are_usage_errors(
    tmp_path: Path, options: ExportOptions, message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        render(make_plan(tmp_path, ProcessSpec(name="w", command="w")), options)


def test_nul_byte_is_a_usage_error(tmp_path: Path) -> None:
    spec = ProcessSpec(name="w", command="w", env=MappingProxyType({"A": "a\0b"}))
    with pytest.raises(UsageError, match=re.escape('w.1: environment variable "A" contains a NUL byte')):
        render(make_plan(tmp_path, spec), ExportOptions(app="app"))


def test_a_task_gets_the_lowest_priority_and_a_comment_naming_its_dependents(tmp_path: Path) -> None:
    task = RestartPolicy(autorestart=Autorestart.NEVER, startsecs=0)
    web = ProcessSpec(name="web", command="web", depends_on=("release",))
    worker = ProcessSpec(name="worker", command="work", depends_on=("release",))
    release = ProcessSpec(name="release", command="migrate", restart=task)
    text = render(make_plan(tmp_path, web, worker, release), ExportOptions(app="app"))["app.conf"]
    configs = load(tmp_path, text)  # supervisord reads it as it is
    priorities = {name: config.priority for name, config in configs.items()}  # type: ignore[attr-defined]
    assert min(priorities, key=priorities.__getitem__) == "app-release-1"
    assert configs["app-release-1"].startsecs == 0  # type: ignore[attr-defined]
    comment = text[: text.index("[program:app-release-1]")].rsplit("\n\n", 1)[1]
    assert "supervisord cannot wait for it to complete" in comment
    assert "what depends on it (web, worker) starts right after it" in comment
    assert "supervise run release" in comment


def test_log_rotation_keys_become_supervisords(tmp_path: Path) -> None:
    project = Project(
        root=tmp_path,
        source="pyproject.toml",
        processes=(ProcessSpec(name="web", command="web"),),
        logs=LogPolicy(max_bytes=2048, backups=7),
    )
    plan = build_plan(project, names=["web"], caller_env={}, file_env={})
    (tmp_path / "logs").mkdir()
    text = render(plan, ExportOptions(app="app", log_dir=tmp_path / "logs"))["app.conf"]
    web = load(tmp_path, text)["app-web-1"]
    assert (web.stdout_logfile_maxbytes, web.stdout_logfile_backups) == (2048, 7)  # type: ignore[attr-defined]
    assert (web.stderr_logfile_maxbytes, web.stderr_logfile_backups) == (2048, 7)  # type: ignore[attr-defined]
    assert "# They rotate past 2048 bytes, keeping 7 old files (log_max_bytes, log_backups).\n" in text


def test_default_log_rotation_is_10_mib_and_5_backups(tmp_path: Path) -> None:
    text = render(make_plan(tmp_path, ProcessSpec(name="w", command="w")), ExportOptions(app="app"))[
        "app.conf"
    ]
    w = load(tmp_path, text)["app-w-1"]
    assert (w.stdout_logfile_maxbytes, w.stdout_logfile_backups) == (10 << 20, 5)  # type: ignore[attr-defined]
