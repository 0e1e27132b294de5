"""`[tool.supervise]` (PRODUCT.md §1): every mistake is one line naming the TOML key.

Projects are real folders (`make_project`); `load_project(cwd=root)` reads them
the way the CLI does, so file names in messages are relative, as users see them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from supervise.config.load import load_project
from supervise.config.model import Autorestart, Backoff, Probe, ProbeKind, Project, Tty
from supervise.config.pattern import HINT
from supervise.errors import ConfigError, SuperviseError, UsageError

MakeProject = Callable[[Mapping[str, str | bytes]], Path]
WEB = '[tool.supervise.processes.web]\ncommand = "serve"\n'


def load(root: Path, **options: Any) -> Project:
    return load_project(cwd=root, **options)


def error_of(make_project: MakeProject, files: Mapping[str, str | bytes], **options: Any) -> str:
    root = make_project(files)
    with pytest.raises(SuperviseError) as caught:
        load(root, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def web_error(make_project: MakeProject, lines: str) -> str:
    """The error for `lines` added to a valid `processes.web` table."""
    return error_of(make_project, {"pyproject.toml": WEB + lines + "\n"})


P = "pyproject.toml: tool.supervise"
W = f"{P}.processes.web"


# -- unknown keys -------------------------------------------------------------------------


def test_unknown_process_key_suggests_the_close_one(make_project: MakeProject) -> None:
    files = {"pyproject.toml": '[tool.supervise.processes.web]\ncomand = "serve"\n'}
    assert error_of(make_project, files) == f'{W}.comand: unknown key (did you mean "command"?)'


def test_unknown_top_level_key_suggests_the_close_one(make_project: MakeProject) -> None:
    message = error_of(make_project, {"pyproject.toml": "[tool.supervise]\nstop_timout = 3\n" + WEB})
    assert message == f'{P}.stop_timout: unknown key (did you mean "stop_timeout"?)'


def test_unknown_key_without_a_close_one_lists_the_keys(make_project: MakeProject) -> None:
    message = error_of(make_project, {"pyproject.toml": "[tool.supervise]\nzzz = 1\n" + WEB})
    assert message == (
        f"{P}.zzz: unknown key; expected one of: "
        "procfile, env_files, port_base, stop_timeout, stopasgroup, tty, log_dir, log_max_bytes, "
        "log_backups, web, processes, groups"
    )


def test_unknown_key_inside_ready_and_backoff(make_project: MakeProject) -> None:
    message = web_error(make_project, 'ready = { htp = "http://127.0.0.1:$PORT/" }')
    assert message == f'{W}.ready.htp: unknown key (did you mean "http"?)'
    message = web_error(make_project, "backoff = { maximum = 3 }")
    assert message == f'{W}.backoff.maximum: unknown key (did you mean "max"?)'


# -- wrong types, one row per key ---------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "key", "message"),
    [
        ("directory = ['a']", "directory", 'expected a string, got ["a"]'),
        ("env = 1", "env", "expected a table, got 1"),
        ("env = { A = [1] }", "env.A", "expected a string, got [1]"),
        ("env = { A = true }", "env.A", "expected a string, got true"),
        ('env = { "A=B" = "1" }', 'env."A=B"', 'not a valid environment variable name (no "=" or NUL)'),
        ('concurrency = "2"', "concurrency", 'expected a number of instances from 0 to 1000, got "2"'),
        ("concurrency = -1", "concurrency", "expected a number of instances from 0 to 1000, got -1"),
        ("concurrency = 1001", "concurrency", "expected a number of instances from 0 to 1000, got 1001"),
        ('autostart = "yes"', "autostart", 'expected true or false, got "yes"'),
        ('autorestart = "sometimes"', "autorestart", 'expected true, false or "unexpected", got "sometimes"'),
        ("autorestart = 1", "autorestart", 'expected true, false or "unexpected", got 1'),
        ("exitcodes = [256]", "exitcodes", "expected a list of exit codes from 0 to 255, got [256]"),
        ("exitcodes = []", "exitcodes", "expected a list of exit codes from 0 to 255, got []"),
        ('exitcodes = "0"', "exitcodes", 'expected a list of exit codes from 0 to 255, got "0"'),
        ('startsecs = "soon"', "startsecs", 'expected a non-negative number, got "soon"'),
        ("startsecs = -1", "startsecs", "expected a non-negative number, got -1"),
        ("startretries = 1.5", "startretries", "expected a non-negative integer, got 1.5"),
        ("startretries = true", "startretries", "expected a non-negative integer, got true"),
        ("backoff = 1", "backoff", "expected a table, got 1"),
        ("backoff = { initial = 0 }", "backoff.initial", "expected a positive number, got 0"),
        ('backoff = { max = "x" }', "backoff.max", 'expected a positive number, got "x"'),
        ("stopsignal = 15", "stopsignal", 'expected a signal name such as "TERM", "INT" or "HUP", got 15'),
        ('stop_timeout = "10s"', "stop_timeout", 'expected a non-negative number, got "10s"'),
        ("watch = [1]", "watch", "expected a list of strings, got [1]"),
        ("watch_ignore = 1", "watch_ignore", "expected a list of strings, got 1"),
        ('ready = "http://x"', "ready", 'expected a table, got "http://x"'),
        ("ready = { http = 1 }", "ready.http", "expected a string, got 1"),
        ('ready = { tcp = "5000", interval = 0 }', "ready.interval", "expected a positive number, got 0"),
        ('ready = { tcp = "5000", timeout = "1" }', "ready.timeout", 'expected a positive number, got "1"'),
        ("depends_on = 1", "depends_on", "expected a list of strings, got 1"),
        ("stop_timeout = 1e308", "stop_timeout", "expected at most 86400 seconds (one day), got 1e+308"),
        ("startsecs = 86401", "startsecs", "expected at most 86400 seconds (one day), got 86401"),
        (
            "backoff = { max = 1e9 }",
            "backoff.max",
            "expected at most 86400 seconds (one day), got 1000000000.0",
        ),
        (
            'ready = { tcp = "5000", interval = 1e300 }',
            "ready.interval",
            "expected at most 86400 seconds (one day), got 1e+300",
        ),
        ("startretries = 10001", "startretries", "expected at most 10000 retries, got 10001"),
        ('tty = "yes"', "tty", 'expected true, false or "auto", got "yes"'),
        ("tty = 1", "tty", 'expected true, false or "auto", got 1'),
        ('directory = "a\\u0000b"', "directory", 'contains a NUL character: "a\\u0000b"'),
        ('env = { A = "a\\u0000b" }', "env.A", 'contains a NUL character: "a\\u0000b"'),
        ('watch = ["a\\u0000b"]', "watch", 'contains a NUL character: "a\\u0000b"'),
    ],
)
def test_wrong_type_names_the_key(make_project: MakeProject, lines: str, key: str, message: str) -> None:
    assert web_error(make_project, lines) == f"{W}.{key}: {message}"


@pytest.mark.parametrize(
    ("command", "message"), [("1", "expected a string, got 1"), ('""', "expected a non-empty string")]
)
def test_wrong_type_of_command(make_project: MakeProject, command: str, message: str) -> None:
    files = {"pyproject.toml": f"[tool.supervise.processes.web]\ncommand = {command}\n"}
    assert error_of(make_project, files) == f"{W}.command: {message}"


@pytest.mark.parametrize(
    ("lines", "key", "message"),
    [
        ("procfile = 1", "procfile", "expected a string, got 1"),
        ("env_files = 1", "env_files", "expected a list of strings, got 1"),
        ('port_base = "5000"', "port_base", 'expected a port number from 1 to 65535, got "5000"'),
        ("port_base = 70000", "port_base", "expected a port number from 1 to 65535, got 70000"),
        ("stop_timeout = -1", "stop_timeout", "expected a non-negative number, got -1"),
        ("stop_timeout = 1e308", "stop_timeout", "expected at most 86400 seconds (one day), got 1e+308"),
        ('tty = "always"', "tty", 'expected true, false or "auto", got "always"'),
        ("processes = 1", "processes", "expected a table, got 1"),
        ("groups = []", "groups", "expected a table, got []"),
        ("groups = { g = 1 }", "groups.g", "expected a list of strings, got 1"),
    ],
)
def test_wrong_type_of_top_level_key(make_project: MakeProject, lines: str, key: str, message: str) -> None:
    message_got = error_of(make_project, {"pyproject.toml": f"[tool.supervise]\n{lines}\n"})
    assert message_got == f"{P}.{key}: {message}"


def test_process_that_is_not_a_table(make_project: MakeProject) -> None:
    files = {"pyproject.toml": '[tool.supervise.processes]\nweb = "serve"\n'}
    assert error_of(make_project, files) == f'{W}: expected a table, got "serve"'


def test_invalid_process_name_is_quoted_in_the_key_path(make_project: MakeProject) -> None:
    files = {"pyproject.toml": '[tool.supervise.processes."my web"]\ncommand = "x"\n'}
    message = error_of(make_project, files)
    assert message == f'{P}.processes."my web": invalid process name: use letters, digits, "_" and "-"'


def test_reserved_process_name(make_project: MakeProject) -> None:
    files = {"pyproject.toml": '[tool.supervise.processes.then]\ncommand = "x"\n'}
    message = error_of(make_project, files)
    assert (
        message
        == f"{P}.processes.then: invalid process name: reserved: the --then command's output lines use it"
    )


def test_supervise_that_is_not_a_table(make_project: MakeProject) -> None:
    message = error_of(make_project, {"pyproject.toml": "[tool]\nsupervise = 1\n"})
    assert message == f"{P}: expected a table, got 1"


def test_empty_table_defines_no_processes(make_project: MakeProject) -> None:
    message = error_of(make_project, {"pyproject.toml": "[tool.supervise]\nport_base = 6000\n"})
    assert message == f"{P}: defines no processes; add [tool.supervise.processes.NAME] tables with a command"


# -- signals ------------------------------------------------------------------------------


def test_bad_signal_name(make_project: MakeProject) -> None:
    message = web_error(make_project, 'stopsignal = "FOO"')
    assert message == f'{W}.stopsignal: expected a signal name such as "TERM", "INT" or "HUP", got "FOO"'


@pytest.mark.parametrize("written", ["INT", "SIGINT", "int", " sigint "])
def test_signal_names_are_accepted_with_or_without_sig(make_project: MakeProject, written: str) -> None:
    root = make_project({"pyproject.toml": WEB + f'stopsignal = "{written}"\n'})
    assert load(root).process("web").stopsignal == "INT"


# -- references between processes --------------------------------------------------------


def test_depends_on_cycle_names_the_cycle(make_project: MakeProject) -> None:
    files = {
        "pyproject.toml": WEB
        + 'depends_on = ["db"]\n'
        + '[tool.supervise.processes.db]\ncommand = "x"\ndepends_on = ["cache"]\n'
        + '[tool.supervise.processes.cache]\ncommand = "x"\ndepends_on = ["web"]\n'
    }
    assert error_of(make_project, files) == f"{W}.depends_on: dependency cycle: web -> db -> cache -> web"


def test_depending_on_itself_is_a_cycle(make_project: MakeProject) -> None:
    assert web_error(make_project, 'depends_on = ["web"]') == f"{W}.depends_on: dependency cycle: web -> web"


def test_depends_on_undefined_process(make_project: MakeProject) -> None:
    message = web_error(make_project, 'depends_on = ["db"]')
    assert message == f'{W}.depends_on: unknown process "db" (defined: web)'


def test_group_naming_an_unknown_process(make_project: MakeProject) -> None:
    files = {"pyproject.toml": WEB + '[tool.supervise.groups]\nbackend = ["web", "worker"]\n'}
    assert error_of(make_project, files) == f'{P}.groups.backend: unknown process "worker" (defined: web)'


def test_group_named_like_a_process(make_project: MakeProject) -> None:
    files = {"pyproject.toml": WEB + '[tool.supervise.groups]\nweb = ["web"]\n'}
    assert error_of(make_project, files) == f'{P}.groups.web: "web" is already a process name'


# -- backoff, ready, log regex ------------------------------------------------------------


def test_backoff_max_below_initial(make_project: MakeProject) -> None:
    message = web_error(make_project, "backoff = { initial = 2, max = 1 }")
    assert message == f"{W}.backoff.max: must be at least initial (2), got 1"


def test_backoff_becomes_one_shape(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": WEB + "backoff = { initial = 1 }\n"})
    assert load(root).process("web").restart.backoff == Backoff(initial=1.0, maximum=30.0)


ONE_KIND = "expected exactly one of http, tcp, log, cmd"


@pytest.mark.parametrize(
    ("ready", "message"),
    [
        ("{}", "expected exactly one of http, tcp, log, cmd"),
        ("{ interval = 1 }", "expected exactly one of http, tcp, log, cmd"),
        (
            '{ http = "http://h/", tcp = "5000" }',
            "expected exactly one of http, tcp, log, cmd, got http and tcp",
        ),
    ],
)
def test_bad_ready_table(make_project: MakeProject, ready: str, message: str) -> None:
    assert web_error(make_project, f"ready = {ready}") == f"{W}.ready: {message}"


def test_invalid_log_regex(make_project: MakeProject) -> None:
    message = web_error(make_project, 'ready = { log = "listening on ((" }')
    assert message == f"{W}.ready.log: invalid regular expression: missing ): listening on (( ({HINT})"


def test_log_regex_that_needs_backtracking_is_refused_at_load_time(make_project: MakeProject) -> None:
    message = web_error(make_project, r"ready = { log = '(\w+) again \1' }")
    assert message == f"{W}.ready.log: invalid regular expression: invalid escape sequence: \\1 ({HINT})"


def test_ready_becomes_a_probe(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": WEB + 'ready = { log = "^ready$", interval = 0.1 }\n'})
    probe = load(root).process("web").ready
    assert probe == Probe(ProbeKind.LOG, "^ready$", interval=0.1, timeout=2.0)


def test_every_key_of_the_contract_is_read(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise]
port_base = 6000
stop_timeout = 4

[tool.supervise.processes.db]
command = "postgres"
autostart = false

[tool.supervise.processes.web]
command = "python -m http.server $PORT"
directory = "app"
env = { DEBUG = "1", PORT_OFFSET = 3 }
concurrency = 2
autostart = true
autorestart = true
exitcodes = [0, 3]
startsecs = 0.5
startretries = 5
backoff = { initial = 0.25, max = 8 }
stopsignal = "SIGINT"
stop_timeout = 2
watch = ["src/**/*.py"]
watch_ignore = ["**/migrations/**"]
ready = { http = "http://127.0.0.1:$PORT/health" }
depends_on = ["db"]

[tool.supervise.groups]
backend = ["web", "db"]
"""
    root = make_project({"pyproject.toml": pyproject, "app/index.html": ""})
    project = load(root)
    web = project.process("web")
    assert project.port_base == 6000
    assert project.names == ("db", "web")
    assert dict(project.groups) == {"backend": ("web", "db")}
    assert project.process("db").stop_timeout == 4
    assert (web.directory, dict(web.env), web.concurrency) == ("app", {"DEBUG": "1", "PORT_OFFSET": "3"}, 2)
    assert web.restart.autorestart is Autorestart.ALWAYS
    assert (web.restart.exitcodes, web.restart.startsecs, web.restart.startretries) == ((0, 3), 0.5, 5)
    assert web.restart.backoff == Backoff(0.25, 8.0)
    assert (web.stopsignal, web.stop_timeout) == ("INT", 2.0)
    assert (web.watch, web.watch_ignore) == (("src/**/*.py",), ("**/migrations/**",))
    assert web.ready == Probe(ProbeKind.HTTP, "http://127.0.0.1:$PORT/health")
    assert web.depends_on == ("db",)
    assert web.origin == "pyproject.toml: tool.supervise.processes.web"


def test_env_values_are_literal(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": WEB + "env = { A = '$HOME ${X} 100%' }\n"})
    assert load(root).process("web").env["A"] == "$HOME ${X} 100%"


# -- Procfile + processes merge -----------------------------------------------------------


def test_processes_table_adds_options_to_the_procfile_entry(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\n[tool.supervise.processes.web]\nstartsecs = 3\n'
    root = make_project({"Procfile": "web: serve $PORT\nworker: work\n", "pyproject.toml": pyproject})
    project = load(root)
    assert project.names == ("web", "worker")
    web = project.process("web")
    assert (web.command, web.restart.startsecs, web.origin) == ("serve $PORT", 3.0, "Procfile:1")


def test_toml_only_processes_come_after_the_procfile_ones(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\n[tool.supervise.processes.db]\ncommand = "pg"\n'
    root = make_project({"Procfile": "web: serve\n", "pyproject.toml": pyproject})
    assert load(root).names == ("web", "db")


def test_command_in_both_places_is_an_error(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\n' + WEB
    message = error_of(make_project, {"Procfile": "web: serve\n", "pyproject.toml": pyproject})
    assert message == f'{W}.command: "web" already has a command in Procfile:1; set it in one place only'


def test_toml_entry_without_command_or_procfile_entry(make_project: MakeProject) -> None:
    files = {"pyproject.toml": "[tool.supervise.processes.web]\nstartsecs = 3\n"}
    assert error_of(make_project, files) == f"{W}: no command (set command here)"
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\n[tool.supervise.processes.web]\nstartsecs = 3\n'
    message = error_of(make_project, {"Procfile": "worker: w\n", "pyproject.toml": pyproject})
    assert message == f"{W}: no command (set command here or in Procfile)"


def test_options_for_a_procfile_entry_need_the_procfile_key(make_project: MakeProject) -> None:
    files = {"Procfile": "web: serve\n", "pyproject.toml": "[tool.supervise.processes.web]\nstartsecs = 3\n"}
    message = error_of(make_project, files)
    assert message == (
        f"{W}: no command (set command here, "
        'or add procfile = "Procfile" to [tool.supervise] to use its entry)'
    )


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_numbers_must_be_finite(make_project: MakeProject, value: str) -> None:
    message = web_error(make_project, f"startsecs = {value}")
    assert message == f"{W}.startsecs: expected a non-negative number, got {value}"


def test_long_values_are_clipped_in_messages(make_project: MakeProject) -> None:
    message = web_error(make_project, f'startsecs = "{"x" * 300}"')
    assert message == f'{W}.startsecs: expected a non-negative number, got "{"x" * 58}…'


def test_procfile_key_naming_a_missing_file(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[tool.supervise]\nprocfile = "Procfile.dev"\n' + WEB})
    with pytest.raises(ConfigError) as caught:
        load(root)
    assert str(caught.value) == f'{P}.procfile: Procfile "Procfile.dev" not found in {root.resolve()}'


def test_procfile_errors_keep_their_line_numbers_when_merged(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\n' + WEB
    message = error_of(make_project, {"Procfile": "a: x\na: y\n", "pyproject.toml": pyproject})
    assert message == 'Procfile:2: duplicate process "a" (first defined on line 1)'


# -- global stop_timeout ------------------------------------------------------------------


def test_global_stop_timeout_reaches_procfile_entries(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 3\n'
        "[tool.supervise.processes.web]\nstartsecs = 0\n"
        "[tool.supervise.processes.slow]\nstop_timeout = 30\n"
        '[tool.supervise.processes.db]\ncommand = "pg"\n'
    )
    root = make_project({"Procfile": "web: a\nworker: b\nslow: c\n", "pyproject.toml": pyproject})
    timeouts = {spec.name: spec.stop_timeout for spec in load(root).processes}
    assert timeouts == {"web": 3.0, "worker": 3.0, "slow": 30.0, "db": 3.0}


def test_stop_timeout_default_is_ten_seconds(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: a\n"})
    assert load(root).process("web").stop_timeout == 10.0


# -- tty ---------------------------------------------------------------------------------


def test_tty_is_auto_unless_set_and_the_global_one_reaches_procfile_entries(
    make_project: MakeProject,
) -> None:
    pyproject = (
        '[tool.supervise]\nprocfile = "Procfile"\ntty = false\n'
        '[tool.supervise.processes.web]\ntty = "auto"\n'
        "[tool.supervise.processes.repl]\ntty = true\n"
        '[tool.supervise.processes.db]\ncommand = "pg"\n'
    )
    root = make_project({"Procfile": "web: a\nworker: b\nrepl: c\n", "pyproject.toml": pyproject})
    ttys = {spec.name: spec.tty for spec in load(root).processes}
    assert ttys == {"web": Tty.AUTO, "worker": Tty.OFF, "repl": Tty.ON, "db": Tty.OFF}
    plain = make_project({"plain/Procfile": "web: a\n"}) / "plain"
    assert load(plain).process("web").tty is Tty.AUTO


@pytest.mark.parametrize(
    ("tty", "override", "terminal", "expected"),
    [
        (Tty.AUTO, None, True, True),
        (Tty.AUTO, None, False, False),
        (Tty.ON, None, False, True),
        (Tty.OFF, None, True, False),
        (Tty.OFF, True, False, True),
        (Tty.ON, False, True, False),
        (Tty.AUTO, True, False, True),
    ],
)
def test_up_tty_flags_beat_the_setting_which_beats_auto(
    tty: Tty, override: bool | None, terminal: bool, expected: bool
) -> None:
    assert tty.resolve(override, terminal) is expected


# -- source selection ---------------------------------------------------------------------


def test_dash_f_beats_pyproject(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": WEB, "Procfile.dev": "dev: run\n"})
    project = load(root, procfile="Procfile.dev")
    assert (project.source, project.names) == ("Procfile.dev", ("dev",))


def test_pyproject_table_beats_procfile(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": WEB, "Procfile": "other: x\n"})
    project = load(root)
    assert (project.source, project.names) == ("pyproject.toml", ("web",))


def test_pyproject_without_the_table_falls_back_to_procfile(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[project]\nname = "app"\n', "Procfile": "web: x\n"})
    project = load(root)
    assert (project.source, project.names) == ("Procfile", ("web",))


def test_no_source_at_all_is_a_clear_error(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[project]\nname = "app"\n'})
    with pytest.raises(UsageError) as caught:
        load(root)
    assert str(caught.value) == (
        f"no Procfile and no [tool.supervise] in pyproject.toml in {root.resolve()}; "
        "create a Procfile (lines of `name: command`) or pass -f PATH"
    )


def test_no_source_is_an_empty_project_when_allowed(make_project: MakeProject) -> None:
    root = make_project({".env": "A=1\n"})
    project = load_project(cwd=root, allow_empty=True)
    assert project.processes == ()
    assert project.env_files == (root.resolve() / ".env",)


def test_missing_dash_f_file(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: x\n"})
    with pytest.raises(UsageError, match=r"^--procfile Procfile\.dev: no such file$"):
        load(root, procfile="Procfile.dev")


def test_empty_procfile_defines_no_processes(make_project: MakeProject) -> None:
    message = error_of(make_project, {"Procfile": "# nothing yet\n"})
    assert message == "Procfile: defines no processes; add lines of `name: command`"


def test_invalid_toml_syntax_names_the_line(make_project: MakeProject) -> None:
    pyproject = '[project]\nname = "app"\nversion = \n'
    message = error_of(make_project, {"pyproject.toml": pyproject, "Procfile": "web: x\n"})
    assert message.startswith("pyproject.toml:3: invalid TOML: ")
    assert "(at line" not in message


def test_non_utf8_files(make_project: MakeProject) -> None:
    assert error_of(make_project, {"Procfile": b"web: caf\xe9\n"}) == "Procfile: not UTF-8 text"


def test_paths_in_messages_are_relative_to_the_current_folder(make_project: MakeProject) -> None:
    root = make_project({"app/pyproject.toml": WEB + "startsecs = -1\n"})
    with pytest.raises(ConfigError) as caught:
        load_project(root="app", cwd=root)
    assert str(caught.value) == "app/pyproject.toml: tool.supervise.processes.web.startsecs: " + (
        "expected a non-negative number, got -1"
    )


# -- env files in the configuration -------------------------------------------------------


def test_default_env_file_only_when_it_exists(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: x\n"})
    assert load(root).env_files == ()
    (root / ".env").write_text("A=1\n")
    assert load(root).env_files == (root.resolve() / ".env",)


def test_env_files_key_lists_files_in_order(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nenv_files = ["a.env", "b.env"]\n' + WEB
    root = make_project({"pyproject.toml": pyproject, "a.env": "", "b.env": "", ".env": ""})
    assert load(root).env_files == (root.resolve() / "a.env", root.resolve() / "b.env")


def test_env_files_key_naming_a_missing_file(make_project: MakeProject) -> None:
    root = make_project({"pyproject.toml": '[tool.supervise]\nenv_files = ["prod.env"]\n' + WEB})
    with pytest.raises(ConfigError) as caught:
        load(root)
    assert str(caught.value) == f'{P}.env_files: env file "prod.env" not found in {root.resolve()}'


def test_dash_e_replaces_the_configured_files(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nenv_files = ["a.env"]\n' + WEB
    root = make_project({"pyproject.toml": pyproject, "a.env": "", "x.env": "", "y.env": ""})
    project = load(root, env_files=["x.env", "y.env"])
    assert project.env_files == (root.resolve() / "x.env", root.resolve() / "y.env")


def test_missing_dash_e_file_is_a_usage_error(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: x\n"})
    with pytest.raises(UsageError, match=r"^--env-file nope\.env: no such file$"):
        load(root, env_files=["nope.env"])
