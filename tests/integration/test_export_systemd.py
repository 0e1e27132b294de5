"""`export --format systemd` checked by systemd itself.

`systemd-analyze verify` must accept the units without a single complaint (and
does complain about a deliberately broken one). Where systemd's test mode can
run (`systemd --test`, as an unprivileged user), the environment and argv it
parsed out of our units are compared with the plan, then run for real and
compared with `supervise run`, byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervise.commands.export import SYSTEM_PATH, virtualenv_bin
from tests.integration.test_export_supervisord import (
    COMMAND,
    EXPECTED_ARGV,
    PROBE,
    as_bytes,
    project_plan,
    project_view,
    records,
    toml_string,
    toml_table,
)
from tests.support import clean_env, run_cli, write_files

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or (
    "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
)
SYSTEMD = next(
    (p for p in ("/lib/systemd/systemd", "/usr/lib/systemd/systemd") if os.access(p, os.X_OK)), None
)
SETPRIV = shutil.which("setpriv")

needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")

HOSTILE = {
    "PERCENT": "100% %n %i %% %(here)s",
    "PUNCTUATION": "a=b,c@d;e#f",
    "SINGLE": "it's",
    "BOTH": "'it's \"both\"'",
    "SPACES": "  padded  ",
    "NEWLINE": "line 1\nline 2\n",
    "TAB": "a\tb",
    "CR": "a\r\nb",
    "CONTROL": "bell\x07 esc\x1b del\x7f",
    "DOLLAR": "$HOME ${PORT} $$ $",
    "BACKSLASH": "a\\b\\\\c\\",
    "UNICODE": "héllo ✓ 日本 \u2028 🙂",
    "EMPTY": "",
}


@pytest.fixture
def units(tmp_path: Path) -> Iterator[Path]:
    """The hostile project exported with -o into a world-readable folder (systemd --test runs as nobody)."""
    root = write_files(
        tmp_path / "app",
        {
            "probe.py": PROBE,
            ".env": "FROM_FILE='50% off, = @ \"q\" $HOME é'\n",
            "pyproject.toml": f"""\
[tool.supervise.processes.web]
command = {toml_string(COMMAND)}
concurrency = 2
env = {toml_table(HOSTILE)}

[tool.supervise.processes.worker]
command = {toml_string(COMMAND)}
depends_on = ["web"]
autorestart = false
env = {toml_table({"MY-KEY": "odd name", "GREETING": "hello, world"})}
""",
        },
    )
    folder = Path(tempfile.mkdtemp(prefix="units-"))
    try:
        result = run_cli("export", "--format", "systemd", "-o", str(folder), "--app", "app", cwd=root)
        assert result.returncode == 0, result.stderr
        folder.chmod(0o755)
        for path in folder.iterdir():
            path.chmod(0o644)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- systemd-analyze verify ---------------------------------------------------------


def verify(folder: Path) -> tuple[int, list[str]]:
    """systemd-analyze verify on every unit: (exit code, lines that name one of our units)."""
    assert SYSTEMD_ANALYZE is not None
    files = sorted(folder.iterdir())
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )
    names = [path.name for path in files]
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if any(name in line for name in names)
    ]
    return result.returncode, complaints


@needs_analyze
def test_systemd_analyze_verify_accepts_every_unit_without_a_warning(units: Path) -> None:
    assert {path.name for path in units.iterdir()} == {
        "app.target",
        "app-web-1.service",
        "app-web-2.service",
        "app-worker-1.service",
    }
    assert verify(units) == (0, [])


@needs_analyze
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ExecStart=/usr/bin/env ", "ExecStart=/usr/bin/no-such-env ", "is not executable"),
        ('Environment="PS=web.1"', 'Environment="PS=web.1', "Invalid syntax"),
        ('Environment="PS=web.1"', 'Environment="PS=web\\q.1"', "Invalid syntax"),
        ('Environment="PS=web.1"', 'Environment="P-S=web.1"', "Invalid environment assignment"),
        ("Restart=on-failure", "Restart=unexpected", "Failed to parse service restart specifier"),
    ],
)
def test_systemd_analyze_verify_catches_a_broken_unit(units: Path, old: str, new: str, expected: str) -> None:
    unit = units / "app-web-1.service"
    text = unit.read_text(encoding="utf-8")
    assert old in text
    unit.write_text(text.replace(old, new, 1), encoding="utf-8")
    code, complaints = verify(units)
    assert code != 0 or complaints
    assert any(expected in line for line in complaints), complaints


# -- systemd's own parse, then run for real -------------------------------------------


def systemd_dump(folder: Path, unit: str) -> dict[str, Any]:
    """What `systemd --test` parsed out of `unit`: environment, ExecStart argv, working directory."""
    assert SYSTEMD is not None
    argv = [SYSTEMD, "--test", "--system", f"--unit={unit}", "--no-pager", "--log-target=console"]
    if os.geteuid() == 0:  # systemd refuses test mode as root
        assert SETPRIV is not None
        argv = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "SYSTEMD_UNIT_PATH": f"{folder}:"}
    result = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    dump = result.stdout.decode("utf-8")
    start = dump.index(f"\t-> Unit {unit}:\n")
    end = dump.find("\n\t-> Unit ", start + 1)
    block = dump[start : end if end != -1 else len(dump)]
    # Property lines start with two tabs; an environment value's own newlines do not.
    properties = re.split(r"\n(?=\t\t)", block)
    environment = dict(
        p.removeprefix("\t\tEnvironment: ").split("=", 1)
        for p in properties
        if p.startswith("\t\tEnvironment: ")
    )
    [command] = re.findall(r"-> ExecStart:\n\t\t\tCommand Line: (.*)", block)
    [directory] = re.findall(r"\n\t\tWorkingDirectory: (.*)", block)
    return {"environment": environment, "argv": dump_words(command), "directory": directory}


def dump_words(line: str) -> list[str]:
    """Undo systemd's quote_command_line: `"..."` words with \\-escapes and octal bytes; `$$` kept."""
    words = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', line):
        if match.group(2) is not None:
            words.append(match.group(2))
            continue
        raw, out, at = match.group(1).encode("utf-8"), bytearray(), 0
        while at < len(raw):
            if raw[at : at + 1] == b"\\":
                nxt = raw[at + 1 : at + 2]
                if re.fullmatch(rb"[0-7]{3}", raw[at + 1 : at + 4]):
                    out.append(int(raw[at + 1 : at + 4], 8))
                    at += 4
                    continue
                out += {
                    b"n": b"\n",
                    b"t": b"\t",
                    b"r": b"\r",
                    b"a": b"\a",
                    b"b": b"\b",
                    b"f": b"\f",
                    b"v": b"\v",
                }.get(nxt, nxt)
                at += 2
            else:
                out += raw[at : at + 1]
                at += 1
        words.append(out.decode("utf-8"))
    # `$$` is resolved when the command starts; a lone `$` would expand a variable.
    assert all("$" not in word.replace("$$", "") for word in words), words
    return [word.replace("$$", "$") for word in words]


def after_env(dump: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    env, argv = dict(dump["environment"]), list(dump["argv"])
    if argv[:2] == ["/usr/bin/env", "--"]:
        argv = argv[2:]
        while "=" in argv[0]:
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
    return env, argv


can_dump = pytest.mark.skipif(
    SYSTEMD is None or (os.geteuid() == 0 and SETPRIV is None),
    reason="systemd's test mode is not available here",
)


@can_dump
def test_systemd_parses_every_value_and_the_command_as_planned(units: Path, tmp_path: Path) -> None:
    plan = project_plan(tmp_path / "app")
    # Exported from a virtualenv (when the tests run in one), its bin comes first on PATH.
    venv_bin = virtualenv_bin(os.environ, sys.prefix, sys.base_prefix)
    path = {"PATH": f"{venv_bin}:{SYSTEM_PATH}"} if venv_bin is not None else {}
    for instance in plan.instances:
        dump = systemd_dump(units, f"app-{instance.process}-{instance.number}.service")
        env, argv = after_env(dump)
        assert env == {**instance.env, **path}, instance.name
        assert argv == ["/bin/sh", "-c", COMMAND]
        assert dump["directory"] == str(instance.cwd)


@can_dump
def test_what_systemd_would_start_gets_what_supervise_run_gives(units: Path, tmp_path: Path) -> None:
    root = tmp_path / "app"
    for name in ("systemd", "run"):
        (tmp_path / name).mkdir()
    plan = project_plan(root)
    for process in ("web", "worker"):
        env, argv = after_env(systemd_dump(units, f"app-{process}-1.service"))
        # As systemd would: its Environment= on top of the manager's environment, then exec.
        full = ["/usr/bin/env", "--", *(f"{k}={v}" for k, v in env.items()), *argv]
        started = subprocess.run(
            full,
            cwd=str(root),
            env=clean_env(PROBE_OUT=str(tmp_path / "systemd"), PROBE_ONESHOT="1"),
            timeout=30,
        )
        assert started.returncode == 0
        run = run_cli(
            "run", process, cwd=root, env=clean_env(PROBE_OUT=str(tmp_path / "run"), PROBE_ONESHOT="1")
        )
        assert run.returncode == 0, run.stderr
    under_systemd, under_run = records(tmp_path / "systemd"), records(tmp_path / "run")
    for instance in plan.instances:
        if instance.number != 1:
            continue
        keys = list(instance.env)
        got = project_view(under_systemd[instance.name], keys)
        assert got == project_view(under_run[instance.name], keys), instance.name
        assert got["argv"] == [*EXPECTED_ARGV[:7], instance.name, *EXPECTED_ARGV[7:]]
    for key, value in HOSTILE.items():
        assert under_systemd["web.1"]["env"][key] == as_bytes(value), key


# -- the command line ----------------------------------------------------------------


def test_systemd_to_stdout_is_a_usage_error(tmp_path: Path) -> None:
    root = write_files(tmp_path / "small", {"Procfile": "web: run\n"})
    result = run_cli("export", "--format", "systemd", cwd=root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["supervise: --format systemd writes 2 files; give -o DIR"]


def test_second_systemd_export_refuses_to_overwrite_and_force_does(tmp_path: Path) -> None:
    root = write_files(tmp_path / "small", {"Procfile": "web: run\nworker: work\n"})
    out = tmp_path / "units"
    first = run_cli("export", "--format", "systemd", "-o", str(out), cwd=root)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "small-web-1.service",
        "small-worker-1.service",
        "small.target",
    ]
    target = out / "small.target"
    target.write_text("# mine\n", encoding="utf-8")
    again = run_cli("export", "--format", "systemd", "-o", str(out), cwd=root)
    assert again.returncode == 2 and "already exists; use --force" in again.stderr
    assert target.read_text(encoding="utf-8") == "# mine\n"
    forced = run_cli("export", "--format", "systemd", "-o", str(out), "--force", cwd=root)
    assert forced.returncode == 0, forced.stderr
    assert "[Unit]" in target.read_text(encoding="utf-8")
