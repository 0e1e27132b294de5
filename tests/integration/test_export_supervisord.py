"""`export --format supervisord` run by a real supervisord.

Every program reaches RUNNING; each gets the argv and the environment it gets
under `supervise up` and `supervise run NAME`, byte for byte, for a table of
hostile values; `supervisorctl stop all` leaves no process behind, grandchildren
included.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import pytest

from supervise.commands.options import CommonOptions
from supervise.plan import Plan
from tests.support import clean_env, run_cli, write_files

T = TypeVar("T")

PROBE = """\
import json, os, subprocess, sys, time
record = {
    "argv": sys.argv[1:],
    "env": {k.decode("latin-1"): v.decode("latin-1") for k, v in os.environb.items()},
    "cwd": os.getcwd(),
    "pid": os.getpid(),
}
oneshot = "PROBE_ONESHOT" in os.environ
if not oneshot:
    record["grandchild"] = subprocess.Popen(["sleep", "300"]).pid
path = os.path.join(os.environ["PROBE_OUT"], os.environ["PS"] + ".json")
with open(path + ".tmp", "w") as f:
    json.dump(record, f)
os.replace(path + ".tmp", path)
if not oneshot:
    time.sleep(300)
"""
"""Writes its argv, environment (as bytes), cwd and pids, then stays up (unless oneshot)."""

ARGS = """'100%' "it's" 'say "hi"' 'a #b' 'c ;d' '%(here)s' '$HOME' "$PS" 'x\\y' é ''"""
COMMAND = f"true ; exec {sys.executable} probe.py {ARGS} # a shell comment"
"""A shell line with `%`, both quotes, ` #`, ` ;`, `$` and a real comment: run as under `up`."""
EXPECTED_ARGV = ["100%", "it's", 'say "hi"', "a #b", "c ;d", "%(here)s", "$HOME", "x\\y", "é", ""]
"""The probe's arguments after the shell has read ARGS (`"$PS"` goes in between)."""

HELD = {
    "PERCENT": "100% %% %s %(ENV_HOME)s",
    "PUNCTUATION": "a=b,c@d",
    "SPACES": "  padded  ",
    "SINGLE": "it's",
    "DOUBLE": 'say "hi" now',
    "DOLLAR": "$HOME ${PORT} $(id) `id`",
    "BACKSLASH": "a\\b\\\\c\\",
    "UNICODE": "héllo ✓ 日本 🙂",
    "EMPTY": "",
    "GLUED": "a;b#c",
}
"""Hostile values that supervisord's environment= can hold."""

PASSED = {
    "BOTH": 'it\'s "both"',
    "QUOTE_START": "'start",
    "QUOTE_END": 'end"',
    "QUOTED": '"whole"',
    "SEMICOLON": "a ;b",
    "HASH": "a #b",
    "HERE": "%(here)s",
}
"""Single-line values environment= cannot hold: passed by env(1) in the command."""

BROKEN = {"NEWLINE": "line 1\nline 2\n", "CR": "a\r\nb\r", "AND_HELD": "it's 100%"}
"""Values with line breaks: the command goes through a shell that rebuilds them."""

DOTENV = "FROM_FILE='50% off, = @ \"q\" $HOME é'\nALSO=plain\n"


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (
        f"\\u{ord(char):04x}" if char < " " or char == "\x7f" else "\\" + char if char in '"\\' else char
        for char in value
    )
    return '"' + "".join(escaped) + '"'


def toml_table(values: Mapping[str, str]) -> str:
    return "{ " + ", ".join(f"{toml_string(k)} = {toml_string(v)}" for k, v in values.items()) + " }"


def hostile_project(root: Path) -> Path:
    return write_files(
        root,
        {
            "probe.py": PROBE,
            ".env": DOTENV,
            "pyproject.toml": f"""\
[tool.supervise.processes.plain]
command = {toml_string(COMMAND)}
concurrency = 2
startsecs = 0
env = {toml_table(HELD)}

[tool.supervise.processes.quoted]
command = {toml_string(COMMAND)}
startsecs = 0
stop_timeout = 3
depends_on = ["plain"]
env = {toml_table(PASSED)}

[tool.supervise.processes.broken]
command = {toml_string(COMMAND)}
startsecs = 0
stopsignal = "INT"
env = {toml_table(BROKEN)}
""",
        },
    )


# -- a real supervisord ------------------------------------------------------


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30) -> T:
    """Poll `check` until it returns a value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Supervisord:
    """A supervisord started for one test, with its socket and logs in a temp dir."""

    def __init__(self, folder: Path, include: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.conf = folder / "supervisord.conf"
        socket = folder / "s.sock"
        self.conf.write_text(
            f"""\
[unix_http_server]
file={socket}

[supervisord]
logfile={folder}/supervisord.log
pidfile={folder}/supervisord.pid
childlogdir={folder}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{socket}

[include]
files={include}
""",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.conf)],
            env=dict(env),
            stdout=(folder / "output").open("wb"),
            stderr=subprocess.STDOUT,
        )

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def states(self) -> dict[str, str]:
        """`supervisorctl status` as {name: state}; empty while supervisord is starting."""
        if self.process.poll() is not None:
            raise AssertionError(f"supervisord exited with {self.process.returncode}:\n{self.output()}")
        states = {}
        for line in self.ctl("status").stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2 and ":" in fields[0]:
                states[fields[0]] = fields[1]
        return states

    def output(self) -> str:
        """What supervisord printed and logged, for failure messages."""
        texts = []
        for name in ("output", "supervisord.log"):
            path = self.folder / name
            texts.append(path.read_text(errors="replace") if path.exists() else "")
        return "\n".join(texts)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def supervisord(include: Path, env: Mapping[str, str]) -> Iterator[Supervisord]:
    # A short folder of its own: a unix socket path must fit in ~100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="sv-"))
    server = Supervisord(folder, include, env)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
        return bool(state.stdout.strip()) and not state.stdout.strip().startswith("Z")


def kill_quietly(pids: list[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# -- helpers ---------------------------------------------------------------------


def export(root: Path, out: Path, *args: str) -> Path:
    result = run_cli("export", "--format", "supervisord", "-o", str(out), *args, cwd=root)
    assert result.returncode == 0, result.stderr
    [conf] = out.glob("*.conf")
    return conf


def records(folder: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def project_plan(root: Path) -> Plan:
    options = CommonOptions(root=str(root))
    project = options.load_project()
    return options.load_plan(project.names, project=project, caller_env={})


def as_bytes(text: str) -> str:
    """A plan value as the probe reports it: its UTF-8 bytes, one char per byte."""
    return text.encode("utf-8").decode("latin-1")


def project_view(record: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    """What a record says about the project's own variables, argv and cwd."""
    env = record["env"]
    return {
        "argv": record["argv"],
        "cwd": record["cwd"],
        "env": {key: env.get(as_bytes(key)) for key in keys},
    }


def run_under_supervisord(
    root: Path, tmp_path: Path, *export_args: str
) -> tuple[dict[str, dict[str, Any]], str]:
    """Export, start supervisord on it, wait until every program is RUNNING and has
    written its record, stop all, check nothing survives; return the records."""
    conf = export(root, tmp_path / "out", *export_args)
    out = tmp_path / "supervisord-records"
    out.mkdir()
    expected = {f"{i.spec.name}.{i.number}" for i in project_plan(root).instances}
    pids: list[int] = []
    with supervisord(conf, clean_env(PROBE_OUT=str(out))) as server:
        try:
            wait_for(
                "every program RUNNING",
                lambda: (
                    (s := server.states())
                    and len(s) == len(expected)
                    and set(s.values()) == {"RUNNING"}
                    and s
                ),
            )
            found = wait_for("every probe record", lambda: (r := records(out)) and set(r) == expected and r)
            pids = [pid for record in found.values() for pid in (record["pid"], record["grandchild"])]
            assert all(alive(pid) for pid in pids)
            stopped = server.ctl("stop", "all")
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
            wait_for("every process and grandchild gone", lambda: not any(alive(pid) for pid in pids), 15)
        except AssertionError:
            print(server.output())
            raise
        finally:
            kill_quietly(pids)
    return found, conf.read_text(encoding="utf-8")


# -- the tests ---------------------------------------------------------------------


def test_hostile_values_reach_every_program_as_under_up_and_run(tmp_path: Path) -> None:
    root = hostile_project(tmp_path / "app")
    exported, text = run_under_supervisord(root, tmp_path)
    assert routes_used(text) == {"environment=": True, "/usr/bin/env --": True, "exec /usr/bin/env": True}

    plan = project_plan(root)
    up_dir = tmp_path / "up-records"
    up_dir.mkdir()
    up = run_cli("up", cwd=root, env=clean_env(PROBE_OUT=str(up_dir), PROBE_ONESHOT="1"), timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    under_up = records(up_dir)

    run_dir = tmp_path / "run-records"
    run_dir.mkdir()
    for spec in plan.project.processes:
        run = run_cli("run", spec.name, cwd=root, env=clean_env(PROBE_OUT=str(run_dir), PROBE_ONESHOT="1"))
        assert run.returncode == 0, run.stderr
    under_run = records(run_dir)

    for instance in plan.instances:
        keys = list(instance.env)
        got = project_view(exported[instance.name], keys)
        assert got == project_view(under_up[instance.name], keys), instance.name
        if instance.number == 1:
            assert got == project_view(under_run[instance.name], keys), instance.name
        # and they are the values we wrote, byte for byte
        assert got["env"] == {key: as_bytes(value) for key, value in instance.env.items()}
        assert got["argv"] == [*EXPECTED_ARGV[:7], instance.name, *EXPECTED_ARGV[7:]]
    assert exported["plain.1"]["env"]["PORT"] == "5000" and exported["plain.2"]["env"]["PORT"] == "5001"
    assert exported["plain.1"]["env"]["FROM_FILE"] == as_bytes('50% off, = @ "q" $HOME é')
    for name, value in {**HELD, **PASSED, **BROKEN}.items():
        owner = "plain.1" if name in HELD else "quoted.1" if name in PASSED else "broken.1"
        assert exported[owner]["env"][name] == as_bytes(value), name


def routes_used(text: str) -> dict[str, bool]:
    """Which of the three ways of passing values the exported file uses."""
    return {
        "environment=": "\nenvironment=" in text,
        "/usr/bin/env --": "\ncommand=/usr/bin/env -- " in text,
        "exec /usr/bin/env": "exec /usr/bin/env -- " in text,
    }


def test_project_in_a_folder_supervisord_cannot_name_runs_there(tmp_path: Path) -> None:
    root = tmp_path / "my #1 ;app %(here)s"
    write_files(
        root,
        {
            "probe.py": PROBE,
            "pyproject.toml": f"""\
[tool.supervise.processes.web]
command = {toml_string(COMMAND)}
startsecs = 0
env = {toml_table({"GREETING": "hello, world"})}
""",
        },
    )
    exported, text = run_under_supervisord(root, tmp_path, "--app", "hostile")
    assert "\ndirectory=" not in text
    run_dir = tmp_path / "run-records"
    run_dir.mkdir()
    run = run_cli("run", "web", cwd=root, env=clean_env(PROBE_OUT=str(run_dir), PROBE_ONESHOT="1"))
    assert run.returncode == 0, run.stderr
    keys = ["GREETING", "PORT", "PS", "PYTHONUNBUFFERED"]
    assert project_view(exported["web.1"], keys) == project_view(records(run_dir)["web.1"], keys)
    assert exported["web.1"]["cwd"] == str(root)


# -- the command line ----------------------------------------------------------------


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    return write_files(tmp_path / "small", {"Procfile": "web: python -m http.server $PORT\n"})


def test_export_to_stdout_is_the_file(small_project: Path, tmp_path: Path) -> None:
    shown = run_cli("export", "--format", "supervisord", cwd=small_project)
    assert shown.returncode == 0, shown.stderr
    written = export(small_project, tmp_path / "out")
    assert written.name == "small.conf"
    assert shown.stdout == written.read_text(encoding="utf-8")
    assert "[group:small]\nprograms=small-web-1\n" in shown.stdout


def test_second_export_refuses_to_overwrite_and_force_does(small_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    conf = export(small_project, out)
    conf.write_text("# my edits\n", encoding="utf-8")
    again = run_cli("export", "--format", "supervisord", "-o", str(out), cwd=small_project)
    assert again.returncode == 2
    assert str(conf) in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert conf.read_text(encoding="utf-8") == "# my edits\n"
    forced = run_cli("export", "--format", "supervisord", "-o", str(out), "--force", cwd=small_project)
    assert forced.returncode == 0, forced.stderr
    assert conf.read_text(encoding="utf-8").startswith("# supervisord programs for small")


def test_unknown_format_is_one_line_exit_2(small_project: Path) -> None:
    result = run_cli("export", "--format", "supervisor", cwd=small_project)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        'supervise: --format: unknown format "supervisor"; choose one of: supervisord, systemd'
    )


def test_app_name_supervisord_cannot_use_is_one_line_exit_2(tmp_path: Path) -> None:
    root = write_files(tmp_path / "my app", {"Procfile": "web: run\n"})
    result = run_cli("export", "--format", "supervisord", cwd=root)
    assert result.returncode == 2
    assert '--app: "my app" cannot name a supervisord group' in result.stderr
    assert run_cli("export", "--format", "supervisord", "--app", "my-app", cwd=root).returncode == 0


def test_supervisord_rotates_the_log_files_as_log_max_bytes_and_log_backups_say(tmp_path: Path) -> None:
    # Bursts apart in time: supervisord writes what one read returns, then rotates past the limit.
    writer = (
        "import time\n"
        "for k in range(6):\n"
        "    print(f'burst {k} ' + 'x' * 2100, flush=True)\n"
        "    time.sleep(0.3)\n"
    )
    root = write_files(
        tmp_path / "app",
        {
            "writer.py": writer,
            "pyproject.toml": (
                "[tool.supervise]\nlog_max_bytes = 2000\nlog_backups = 2\n"
                f'[tool.supervise.processes.web]\ncommand = "{sys.executable} writer.py"\n'
            ),
        },
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    conf = export(root, tmp_path / "out", "--app", "app", "--log-dir", str(logs))
    with supervisord(conf, clean_env()) as server:
        try:
            wait_for("the two backups", lambda: (logs / "app-web-1.out.log.2").exists(), 30)
            wait_for(
                "the last line",
                lambda: any(b"burst 5" in path.read_bytes() for path in logs.glob("app-web-1.out.log*")),
                30,
            )
        except AssertionError:
            print(server.output())
            raise
        server.ctl("stop", "all")
    assert not (logs / "app-web-1.out.log.3").exists()
    assert all(path.stat().st_size < 4000 for path in logs.glob("app-web-1.out.log*"))
