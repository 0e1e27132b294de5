"""The installed `supervise` command: `check`, `run`, `init`, usage and errors (PRODUCT.md §1, §2, §5).

Every test runs the real console script in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import clean_env, run_cli, supervise_argv

MakeProject = Callable[[Mapping[str, str | bytes]], Path]


def assert_one_line_error(result: subprocess.CompletedProcess[str], line: str, code: int = 2) -> None:
    assert result.returncode == code, result
    assert result.stderr == f"supervise: {line}\n"
    assert "Traceback" not in result.stderr


# -- user mistakes: one line, exit 2 ------------------------------------------------------

WEB_TOML = '[tool.supervise.processes.web]\ncommand = "serve"\n'

MISTAKES = [
    pytest.param(
        {"Procfile": "web: a\n\nweb: b\n"},
        ["check"],
        'Procfile:3: duplicate process "web" (first defined on line 1)',
        id="duplicate in Procfile",
    ),
    pytest.param(
        {"Procfile": "web: a\nthis is not a process\n"},
        ["check"],
        'Procfile:2: expected "name: command", got "this is not a process"',
        id="malformed Procfile line",
    ),
    pytest.param(
        {"pyproject.toml": WEB_TOML + 'startsecs = "soon"\n'},
        ["check"],
        'pyproject.toml: tool.supervise.processes.web.startsecs: expected a non-negative number, got "soon"',
        id="wrong type in TOML",
    ),
    pytest.param(
        {
            "pyproject.toml": WEB_TOML
            + 'depends_on = ["db"]\n[tool.supervise.processes.db]\ncommand = "pg"\n'
            + 'depends_on = ["web"]\n'
        },
        ["check"],
        "pyproject.toml: tool.supervise.processes.web.depends_on: dependency cycle: web -> db -> web",
        id="depends_on cycle",
    ),
    pytest.param(
        {"pyproject.toml": '[project]\nname = "x"\nversion = = 1\n'},
        ["check"],
        "pyproject.toml:3: invalid TOML: Invalid value",
        id="invalid TOML names the line",
    ),
    pytest.param(
        {}, ["check", "-f", "Procfile.dev"], "--procfile Procfile.dev: no such file", id="missing -f"
    ),
    pytest.param(
        {"Procfile": "web: a\n"},
        ["check", "-e", "prod.env"],
        "--env-file prod.env: no such file",
        id="missing -e",
    ),
    pytest.param(
        {"Procfile": "web: a\n", ".env": "A=1\nnot an assignment\n"},
        ["check"],
        '.env:2: cannot parse "not an assignment" (expected KEY=value)',
        id="bad env file line",
    ),
    pytest.param(
        {"Procfile": "web: a\nworker: b\n"},
        ["check", "wbe"],
        'unknown process or group "wbe"; processes: web, worker',
        id="unknown name",
    ),
    pytest.param(
        {"Procfile": "web: a\n"},
        ["check", "-m", "web=two"],
        '--formation: expected NAME=COUNT (e.g. "web=2,worker=0"), got "web=two"',
        id="bad formation",
    ),
    pytest.param(
        {"Procfile": "web: a\n"},
        ["check", "-m", "db=1"],
        '--formation: unknown process "db"; processes: web',
        id="formation names unknown process",
    ),
    pytest.param(
        {"Procfile": "web: a\n"},
        ["check", "-p", "70000"],
        "--port 70000: expected a port number from 1 to 65535",
        id="port out of range",
    ),
    pytest.param(
        {"pyproject.toml": WEB_TOML + 'ready = { tcp = "127.0.0.1:$PROT" }\n'},
        ["check"],
        'pyproject.toml: tool.supervise.processes.web.ready.tcp: cannot probe "127.0.0.1:$PROT": '
        'expected something like "127.0.0.1:$PORT"',
        id="probe target with a typo",
    ),
    pytest.param(
        {"Procfile": "web: a\nweb: b\n"},
        ["run", "--", "true"],
        'Procfile:2: duplicate process "web" (first defined on line 1)',
        id="run validates the configuration",
    ),
    pytest.param(
        {}, ["init"], "Procfile: no such file; init converts a Procfile (use -f PATH)", id="init no Procfile"
    ),
    pytest.param({}, ["check", "-d", "nowhere"], "--root nowhere: not a directory", id="bad root"),
]


@pytest.mark.parametrize(("files", "args", "line"), MISTAKES)
def test_user_mistake_is_one_stderr_line_and_exit_2(
    make_project: MakeProject, files: Mapping[str, str], args: list[str], line: str
) -> None:
    root = make_project(files)
    assert_one_line_error(run_cli(*args, cwd=root), line)


def test_no_configuration_at_all(make_project: MakeProject) -> None:
    root = make_project({})
    result = run_cli("check", cwd=root)
    assert_one_line_error(
        result,
        f"no Procfile and no [tool.supervise] in pyproject.toml in {root.resolve()}; "
        "create a Procfile (lines of `name: command`) or pass -f PATH",
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["check", "--bogus"], 'No such option: --bogus (see "supervise check --help")'),
        (["check", "-f"], "Option '-f' requires an argument."),
        (
            ["check", "-p", "x"],
            "Invalid value for '-p' / '--port': 'x' is not a valid int (see \"supervise check --help\")",
        ),
        (["frobnicate"], "No such command 'frobnicate' (see \"supervise --help\")"),
        (["run"], "Missing argument 'CMD...' (see \"supervise run --help\")"),
    ],
)
def test_usage_mistake_is_one_line_and_exit_2(make_project: MakeProject, args: list[str], line: str) -> None:
    root = make_project({"Procfile": "web: a\n"})
    assert_one_line_error(run_cli(*args, cwd=root), line)


def test_bare_supervise_shows_the_help(make_project: MakeProject) -> None:
    result = run_cli(cwd=make_project({}))
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: supervise [OPTIONS] COMMAND [ARGS]...")
    assert "check" in result.stderr and "supervise:" not in result.stderr


# -- version and help ---------------------------------------------------------------------


def test_version(make_project: MakeProject) -> None:
    from supervise import __version__

    result = run_cli("--version", cwd=make_project({}))
    assert (result.returncode, result.stdout, result.stderr) == (0, f"supervise {__version__}\n", "")


def test_python_dash_m_version(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supervise", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("supervise ")


@pytest.mark.parametrize(
    "args", [["--help"], ["-h"], ["check", "--help"], ["run", "--help"], ["init", "--help"]]
)
def test_help(make_project: MakeProject, args: list[str]) -> None:
    result = run_cli(*args, cwd=make_project({}))
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: supervise")
    assert result.stderr == ""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"]])
def test_version_and_help_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from supervise.cli import main\n"
        f"sys.argv = ['supervise', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('tomlkit', 'dotenv', 'watchfiles', 'yaml', 'asyncio', 'tomllib', 'tomli')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        env=clean_env(),
    )
    assert result.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_importtime_shows_no_heavy_import(tmp_path: Path, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "supervise", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        env=clean_env(),
    )
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    # --help needs typer; --version is answered before typer is even imported.
    assert ("typer" in imported) is (args == ["--help"])
    heavy = {"tomlkit", "dotenv", "watchfiles", "yaml", "asyncio", "tomllib"}
    assert {name.split(".")[0] for name in imported} & heavy == set()


# -- check --------------------------------------------------------------------------------


def test_check_prints_every_instance_with_port_and_policy(make_project: MakeProject) -> None:
    pyproject = """
[tool.supervise]
port_base = 6000

[tool.supervise.processes.web]
command = "python3 -m http.server $PORT"
concurrency = 2
autorestart = true
ready = { http = "http://127.0.0.1:$PORT/" }
watch = ["src/**/*.py"]

[tool.supervise.processes.worker]
command = "python3 worker.py"
exitcodes = [0, 3]
stopsignal = "INT"
stop_timeout = 4
depends_on = ["web"]
"""
    root = make_project({"pyproject.toml": pyproject})
    result = run_cli("check", cwd=root)
    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    for line in [
        f"source: pyproject.toml (root {root.resolve()})",
        "3 instance(s) of 2 process type(s)",
        "web.1  PORT=6000",
        "web.2  PORT=6001",
        "worker.1  PORT=6100",
        "  command  python3 -m http.server $PORT",
        "  restart  always; startsecs 1, startretries 3, backoff 0.5s doubling to 30s",
        "  restart  when the exit code is not in 0,3; startsecs 1, startretries 3, "
        "backoff 0.5s doubling to 30s",
        "  stop     SIGINT, then SIGKILL after 4s",
        "  ready    http http://127.0.0.1:6001/",
        "  watch    src/**/*.py",
        "  after    web",
    ]:
        assert line in out.splitlines(), line


def test_check_warns_about_shared_ports_and_missing_programs_but_exits_0(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise.processes.web]\ncommand = "true"\nconcurrency = 2\nenv = { PORT = "8000" }\n'
        '[tool.supervise.processes.job]\ncommand = "no-such-program-xyz --flag"\n'
    )
    root = make_project({"pyproject.toml": pyproject})
    result = run_cli("check", cwd=root)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "supervise: warning: PORT 8000 is shared by web.1, web.2",
        'supervise: warning: job: "no-such-program-xyz" not found on PATH '
        "(pyproject.toml: tool.supervise.processes.job)",
    ]


def test_check_warns_about_ports_above_65535_and_missing_directories(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise.processes.web]\ncommand = "true"\n'
        '[tool.supervise.processes.api]\ncommand = "true"\ndirectory = "services/api"\n'
    )
    root = make_project({"pyproject.toml": pyproject})
    result = run_cli("check", "-p", "65500", cwd=root)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "supervise: warning: PORT 65600 of api.1 is above 65535; lower the base (-p)",
        'supervise: warning: api: directory "services/api" does not exist '
        "(pyproject.toml: tool.supervise.processes.api)",
    ]


def test_check_with_dash_p_and_formation(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\nworker: true\n"})
    result = run_cli("check", "-p", "7000", "-m", "web=2,worker=0", cwd=root)
    assert result.returncode == 0
    assert "web.2  PORT=7001" in result.stdout
    assert "worker.1" not in result.stdout
    assert "not started: worker" in result.stdout


# -- run ----------------------------------------------------------------------------------


def test_run_passes_argv_verbatim(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\n"})
    args = ["a b", "", '"quoted"', "it's", "$HOME", "*", "--help", "-e", "ü"]
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = run_cli("run", "--", sys.executable, "-c", code, *args, cwd=root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == args


def test_run_passes_stdin_through(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\n"})
    result = run_cli("run", "--", "cat", cwd=root, input="line 1\nline 2\n")
    assert (result.returncode, result.stdout) == (0, "line 1\nline 2\n")


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 7", 7), ("exit 255", 255)])
def test_run_exits_with_the_command_code(make_project: MakeProject, script: str, code: int) -> None:
    root = make_project({"Procfile": "web: true\n"})
    assert run_cli("run", "--", "sh", "-c", script, cwd=root).returncode == code


@pytest.mark.parametrize("signal_name", ["TERM", "KILL", "USR1"])
def test_run_exits_128_plus_n_when_killed_by_signal_n(make_project: MakeProject, signal_name: str) -> None:
    root = make_project({"Procfile": "web: true\n"})
    result = run_cli("run", "--", "sh", "-c", f"kill -{signal_name} $$", cwd=root)
    assert result.returncode == 128 + signal.Signals[f"SIG{signal_name}"].value  # 143, 137, 138 on Linux


def test_run_command_not_found(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\n"})
    result = run_cli("run", "--", "no-such-program-xyz", cwd=root)
    assert_one_line_error(result, "run: command not found: no-such-program-xyz", code=127)


def test_run_gets_the_project_environment(make_project: MakeProject) -> None:
    root = make_project(
        {
            "Procfile": "web: true\n",
            ".env": "FROM_ENV=dot\nSHARED=dot\n",
            "other.env": "SHARED=other\n",
        }
    )
    script = 'echo "$FROM_ENV|$SHARED|$PYTHONUNBUFFERED|${PORT-none}|$CALLER"'
    env = clean_env(CALLER="kept", SHARED="caller")
    assert run_cli("run", "--", "sh", "-c", script, cwd=root, env=env).stdout == "dot|dot|1|none|kept\n"
    result = run_cli("run", "-e", ".env", "-e", "other.env", "--", "sh", "-c", script, cwd=root, env=env)
    assert result.stdout == "dot|other|1|none|kept\n"


def test_run_works_without_a_configuration(make_project: MakeProject) -> None:
    root = make_project({".env": "GREETING=hello\n"})
    assert run_cli("run", "--", "sh", "-c", "echo $GREETING", cwd=root).stdout == "hello\n"


def test_run_name_runs_the_process_command_with_port_and_ps(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise.processes.web]\ncommand = "true"\n'
        '[tool.supervise.processes.api]\ncommand = "echo $PORT $PS $MODE; pwd"\n'
        'directory = "api"\nconcurrency = 0\nenv = { MODE = "x" }\n'
    )
    root = make_project({"pyproject.toml": pyproject, "api/keep": ""})
    result = run_cli("run", "api", cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["5100 api.1 x", str(root.resolve() / "api")]
    assert run_cli("run", "-p", "6000", "api", cwd=root).stdout.split()[0] == "6100"


def test_run_name_with_a_missing_directory(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise.processes.api]\ncommand = "true"\ndirectory = "api"\n'
    root = make_project({"pyproject.toml": pyproject})
    assert_one_line_error(
        run_cli("run", "api", cwd=root),
        "pyproject.toml: tool.supervise.processes.api.directory: "
        f'"api" is not a directory in {root.resolve()}',
    )


def test_run_a_file_that_is_not_a_program(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\n", "notes.txt": "just text\n"})
    (root / "notes.txt").chmod(0o755)
    result = run_cli("run", "--", "./notes.txt", cwd=root)
    assert_one_line_error(result, "run: cannot run ./notes.txt: Exec format error", code=126)


def test_run_forwards_sigterm_and_exits_with_the_child_code(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: true\n"})
    script = 'trap "echo got TERM; exit 5" TERM; echo ready; while :; do sleep 0.05; done'
    child = subprocess.Popen(
        [*supervise_argv(), "run", "--", "sh", "-c", script],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 5
        assert child.stdout.read() == "got TERM\n"
    finally:
        child.kill()
        child.wait()


# -- init ---------------------------------------------------------------------------------

COMMENTED = """\
# A project file, commented the way people do.
[build-system]   # how to build
requires = ["setuptools>=68"]  # pinned
build-backend = "setuptools.build_meta"

[project]
name = "shop"          # the name
version = "1.0"
dependencies = [
    "flask",   # web
    # "celery", disabled for now
]

# Tool settings below.
[tool.ruff]
line-length = 100   # wide screens

[tool.ruff.lint]
select = ["E", "F"]
# trailing comment, then no final newline"""

PROCFILE = "web: gunicorn app:wsgi --bind 127.0.0.1:$PORT\nworker: sh -c 'echo \"a\\b\" # not a comment'\n"


def supervise_table(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    table: dict[str, Any] = tomllib.loads(text)["tool"]["supervise"]
    return table


def test_init_keeps_every_byte_of_a_commented_pyproject(make_project: MakeProject) -> None:
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": COMMENTED})
    result = run_cli("init", cwd=root)
    assert result.returncode == 0, result.stderr
    text = (root / "pyproject.toml").read_text()
    assert text.startswith(COMMENTED)
    assert supervise_table(text)["processes"] == {
        "web": {"command": "gunicorn app:wsgi --bind 127.0.0.1:$PORT"},
        "worker": {"command": "sh -c 'echo \"a\\b\" # not a comment'"},
    }
    # The configuration now comes from pyproject.toml and means the same thing.
    check = run_cli("check", cwd=root)
    assert "source: pyproject.toml" in check.stdout
    assert "  command  sh -c 'echo \"a\\b\" # not a comment'" in check.stdout


def test_init_keeps_crlf_line_endings(make_project: MakeProject) -> None:
    original = b'[project]\r\nname = "shop"  # c\r\n'
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": original})
    assert run_cli("init", cwd=root).returncode == 0
    data = (root / "pyproject.toml").read_bytes()
    assert data.startswith(original)
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_init_creates_a_missing_pyproject(make_project: MakeProject) -> None:
    root = make_project({"Procfile": PROCFILE})
    result = run_cli("init", cwd=root)
    assert result.returncode == 0
    assert result.stderr.startswith("created [tool.supervise] with 2 process(es) in pyproject.toml")
    assert list(supervise_table((root / "pyproject.toml").read_text())["processes"]) == ["web", "worker"]


def test_init_refuses_an_existing_table_and_leaves_the_file_alone(make_project: MakeProject) -> None:
    original = COMMENTED + "\n\n[tool.supervise.processes.web]\ncommand = 'old'  # mine\n"
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": original})
    result = run_cli("init", cwd=root)
    assert_one_line_error(
        result, "pyproject.toml: [tool.supervise] already exists; use --force to replace it"
    )
    assert (root / "pyproject.toml").read_bytes() == original.encode()


def test_init_force_replaces_the_table_and_keeps_the_rest(make_project: MakeProject) -> None:
    before = COMMENTED + "\n\n"
    after = "[tool.black]\nline-length = 90  # kept\n"
    original = (
        before
        + "[tool.supervise]\nport_base = 6000\n\n[tool.supervise.processes.old]\ncommand = 'x'\n\n"
        + after
    )
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": original})
    result = run_cli("init", "--force", cwd=root)
    assert result.returncode == 0, result.stderr
    text = (root / "pyproject.toml").read_text()
    assert text.startswith(before + after)
    table = supervise_table(text)
    assert table["port_base"] == 6000  # the Procfile cannot say it: kept, and said
    assert list(table["processes"]) == ["web", "worker"]
    assert "kept from the old [tool.supervise]: port_base" in result.stderr
    assert "dropped from the old [tool.supervise]: old (not in Procfile)" in result.stderr


def test_init_force_keeps_what_the_procfile_cannot_express_and_says_so(make_project: MakeProject) -> None:
    old = """\
[tool.supervise]
procfile = "Procfile"
env_files = [".env"]

[tool.supervise.processes.web]
ready = { http = "http://127.0.0.1:$PORT/health" }  # deep check
depends_on = ["worker", "gone"]
watch = ["src/**/*.py"]

[tool.supervise.processes.worker]
concurrency = 2
stopsignal = "INT"

[tool.supervise.processes.gone]
command = "sleep 1"

[tool.supervise.groups]
backend = ["web", "worker", "gone"]
"""
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": old, ".env": "A=1\n"})
    result = run_cli("init", "--force", cwd=root)
    assert result.returncode == 0, result.stderr
    text = (root / "pyproject.toml").read_text()
    assert 'ready = { http = "http://127.0.0.1:$PORT/health" }  # deep check' in text  # as written
    table = supervise_table(text)
    assert table["env_files"] == [".env"]
    assert "procfile" not in table  # the commands now live in the table
    assert table["processes"] == {
        "web": {
            "command": "gunicorn app:wsgi --bind 127.0.0.1:$PORT",
            "ready": {"http": "http://127.0.0.1:$PORT/health"},
            "depends_on": ["worker"],
            "watch": ["src/**/*.py"],
        },
        "worker": {"command": "sh -c 'echo \"a\\b\" # not a comment'", "concurrency": 2, "stopsignal": "INT"},
    }
    assert table["groups"] == {"backend": ["web", "worker"]}
    lines = result.stderr.splitlines()
    assert lines[1] == (
        "kept from the old [tool.supervise]: env_files; web: ready, depends_on, watch; "
        "worker: concurrency, stopsignal; groups"
    )
    assert lines[2] == (
        "dropped from the old [tool.supervise]: gone (not in Procfile); "
        "procfile (the commands are now in [tool.supervise.processes]); "
        "gone from web.depends_on; gone from groups.backend"
    )
    check = run_cli("check", cwd=root)  # what it wrote is a valid configuration
    assert check.returncode == 0, check.stderr
    assert "start order: worker; then web" in check.stdout


def test_check_and_up_say_when_a_procfile_next_to_the_table_is_not_read(make_project: MakeProject) -> None:
    root = make_project(
        {
            "Procfile": "web: echo from the Procfile\n",
            "pyproject.toml": '[tool.supervise.processes.web]\ncommand = "echo from the table"\n'
            "startsecs = 0\n",
        }
    )
    expected = (
        "supervise: warning: Procfile is not read: the processes come from [tool.supervise] in "
        'pyproject.toml (set procfile = "Procfile" there to take its commands)'
    )
    check = run_cli("check", cwd=root)
    assert check.returncode == 0
    assert check.stderr.splitlines() == [expected]
    up = run_cli("up", "--no-color", cwd=root)
    assert up.returncode == 0
    assert up.stderr.splitlines() == [expected]
    assert "| from the table" in up.stdout
    # Once the table reads it, nothing to say.
    (root / "pyproject.toml").write_text('[tool.supervise]\nprocfile = "Procfile"\n')
    assert run_cli("check", cwd=root).stderr == ""


def test_init_from_dash_f(make_project: MakeProject) -> None:
    root = make_project({"Procfile.dev": "dev: make dev\n"})
    assert run_cli("init", "-f", "Procfile.dev", cwd=root).returncode == 0
    assert supervise_table((root / "pyproject.toml").read_text())["processes"] == {
        "dev": {"command": "make dev"}
    }


def test_init_refuses_an_inline_tool_table(make_project: MakeProject) -> None:
    original = "tool = { ruff = { line-length = 100 } }\n"
    root = make_project({"Procfile": PROCFILE, "pyproject.toml": original})
    result = run_cli("init", cwd=root)
    assert_one_line_error(
        result,
        "pyproject.toml: cannot add [tool.supervise] without changing the rest; "
        "`tool` is an inline table; make it a [tool] section",
    )
    assert (root / "pyproject.toml").read_text() == original
