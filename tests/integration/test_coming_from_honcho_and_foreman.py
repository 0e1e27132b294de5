"""Day one for honcho and foreman users: their flags, files and PORT rules (PRODUCT.md §1, §2).

Where supervise means to behave as honcho does (the PORT base, `-c`, `-e a,b`,
options before the command), the same project runs under honcho itself and
under supervise, and the processes must see the same values.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from tests.support import UpProcess, clean_env, run_cli, supervise_argv

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

HONCHO = Path(sys.executable).parent / "honcho"
needs_honcho = pytest.mark.skipif(
    not HONCHO.exists(), reason="honcho is not installed (the test extra has it)"
)

ECHO = 'web: echo "seen $PORT $A $B"; exec sleep 300\nworker: echo "seen $PORT $A $B"; exec sleep 300\n'
FAST_ONE_SHOT = '[tool.supervise]\nprocfile = "Procfile"\n[tool.supervise.processes.web]\nstartsecs = 0\n'
LINE = re.compile(r"^\S+ (\w+\.\d+) +\| seen (.*)$", re.MULTILINE)


def seen(argv: Sequence[str], cwd: Path, env: Mapping[str, str], count: int) -> dict[str, str]:
    """Run a runner until `count` instances printed their `seen ...` line; {instance: values}."""
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + 20
    try:
        while len(LINE.findall(output.decode(errors="replace"))) < count:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, remaining))
            chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"{argv[0]}: {count} lines expected; output:\n{output.decode()}")
            output += chunk
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        process.stdout.close()
    return {name: values.strip() for name, values in LINE.findall(output.decode())}


def both(
    root: Path, args: Sequence[str], count: int, before: Sequence[str] = (), **env: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The same run under honcho (`start`) and supervise (`up`)."""
    environ = clean_env(**env)
    honcho = seen([str(HONCHO), *before, "start", *args], root, environ, count)
    ours = seen([*supervise_argv(), *before, "up", "--no-color", *args], root, environ, count)
    return honcho, ours


@needs_honcho
def test_port_in_dot_env_is_the_base_as_in_honcho(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO, ".env": "PORT=9000\nA=a\n"})
    honcho, ours = both(root, [], 2)
    assert ours == honcho == {"web.1": "9000 a", "worker.1": "9100 a"}


@needs_honcho
def test_port_in_the_environment_is_the_base_as_in_honcho(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    honcho, ours = both(root, [], 2, PORT="3000")
    assert ours == honcho == {"web.1": "3000", "worker.1": "3100"}


@needs_honcho
def test_dash_c_is_the_formation_as_in_honcho(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    honcho, ours = both(root, ["-c", "web=2"], 3)
    assert ours == honcho == {"web.1": "5000", "web.2": "5001", "worker.1": "5100"}
    assert seen([*supervise_argv(), "up", "--concurrency", "web=2,worker=0"], root, clean_env(), 2) == {
        "web.1": "5000",
        "web.2": "5001",
    }


@needs_honcho
def test_comma_separated_env_files_load_in_order_as_in_honcho(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO, ".env": "A=base\nB=base\n", ".env.local": "B=local\n"})
    honcho, ours = both(root, ["-e", ".env,.env.local"], 2)
    assert ours == honcho == {"web.1": "5000 base local", "worker.1": "5100 base local"}


@needs_honcho
def test_options_before_the_command_as_in_honcho(make_project: MakeProject) -> None:
    # honcho's regression test #122: `honcho -e .env.x run ...`.
    root = make_project({"Procfile": ECHO, ".env.x": "A=from-x\n"})
    honcho, ours = both(root, [], 2, before=["-e", ".env.x"])
    assert ours == honcho == {"web.1": "5000 from-x", "worker.1": "5100 from-x"}
    env = clean_env()
    honcho_run = subprocess.run(
        [str(HONCHO), "-e", ".env.x", "run", "sh", "-c", "echo $A"], cwd=root, env=env, capture_output=True
    )
    run = run_cli("-e", ".env.x", "run", "--", "sh", "-c", "echo $A", cwd=root, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == honcho_run.stdout.decode() == "from-x\n"


def test_more_options_before_the_command(make_project: MakeProject) -> None:
    root = make_project({"Procfile.dev": ECHO, ".env.test": "A=t\n"})
    got = seen([*supervise_argv(), "-f", "Procfile.dev", "-m", "web=2", "up", "web"], root, clean_env(), 2)
    assert got == {"web.1": "5000", "web.2": "5001"}
    check = run_cli("--procfile=Procfile.dev", "-etest-is-not-a-file", "check", cwd=root)
    assert check.returncode == 2
    assert check.stderr == "supervise: --env-file test-is-not-a-file: no such file\n"
    check = run_cli("-f", "Procfile.dev", "-e.env.test", "-p", "8000", "check", "web", cwd=root)
    assert check.returncode == 0, check.stderr
    assert "web.1  PORT=8000" in check.stdout


def test_an_option_the_command_does_not_take_is_one_line(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    result = run_cli("-m", "web=2", "run", "--", "true", cwd=root)
    assert result.returncode == 2
    assert result.stderr == "supervise: run does not take -m (see supervise run --help)\n"


def test_port_in_a_process_env_table_is_that_process_port(make_project: MakeProject) -> None:
    pyproject = (
        '[tool.supervise]\nprocfile = "Procfile"\n'
        '[tool.supervise.processes.worker]\nenv = { PORT = "7777" }\n'
    )
    root = make_project({"Procfile": ECHO, ".env": "PORT=9000\n", "pyproject.toml": pyproject})
    assert seen([*supervise_argv(), "up"], root, clean_env(PORT="3000"), 2) == {
        "web.1": "9000",
        "worker.1": "7777",
    }
    assert "web.1  PORT=8000" in run_cli("check", "-p", "8000", cwd=root).stdout  # -p wins over both


def test_a_port_base_that_is_not_a_number_is_one_line(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    result = run_cli("check", cwd=root, env=clean_env(PORT="http"))
    assert result.returncode == 2
    assert result.stderr == (
        'supervise: PORT="http" in the environment: expected a port number from 1 to 65535 (the PORT base)\n'
    )


# -- display flags ----------------------------------------------------------------------


def test_no_timestamp_and_no_prefix(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "web: echo hello\n", "pyproject.toml": FAST_ONE_SHOT})
    plain = run_cli("up", "--no-timestamp", cwd=root)
    assert plain.returncode == 0, plain.stderr
    assert "web.1  | hello\n" in plain.stdout
    assert re.search(r"^\d\d:\d\d:\d\d", plain.stdout, re.MULTILINE) is None
    bare = run_cli("up", "--no-prefix", cwd=root)
    assert bare.returncode == 0, bare.stderr
    assert "\nhello\n" in f"\n{bare.stdout}"
    assert " | " not in bare.stdout
    assert "web.1 exited with code 0 (expected)\n" in bare.stdout  # its own lines, bare too


def test_no_colour_is_no_color_on_a_terminal(make_project: MakeProject) -> None:
    import pty

    root = make_project({"Procfile": "web: echo hello\n", "pyproject.toml": FAST_ONE_SHOT})
    for flag, colored in (("--no-colour", False), ("--no-color", False), (None, True)):
        leader, follower = pty.openpty()
        args = [*supervise_argv(), "up", *([flag] if flag else [])]
        process = subprocess.Popen(args, cwd=root, env=clean_env(), stdout=follower, stderr=follower)
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            output += chunk
        os.close(leader)
        assert process.wait(timeout=20) == 0
        assert b"hello" in output
        assert (b"\x1b[" in output) is colored, flag


def test_display_flags_before_run_are_accepted(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    result = run_cli("--no-colour", "--no-prefix", "--no-timestamp", "run", "--", "echo", "hi", cwd=root)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")


# -- foreman: -t, .foreman --------------------------------------------------------------

STUBBORN = "stubborn: trap '' TERM; echo ready; while :; do sleep 0.05; done\n"
"""Ignores SIGTERM (its children too): only SIGKILL, after the stop timeout, ends it."""


def test_dash_t_overrides_every_stop_timeout(make_project: MakeProject) -> None:
    pyproject = '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 60\n'
    root = make_project({"Procfile": STUBBORN, "pyproject.toml": pyproject})
    with UpProcess(["--no-color", "-t", "0.5"], root) as up:
        up.wait_for(r"stubborn\.1 +\| ready")
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=15) == 143  # not 60 s: the stop timeout is -t's
    assert "stubborn.1 did not stop within 0.5 s; sending SIGKILL" in up.output
    assert "SIGKILL after 3s" in run_cli("-t", "3", "check", cwd=root).stdout
    exported = run_cli("export", "--format", "supervisord", "--stop-timeout", "7", cwd=root)
    assert "stopwaitsecs=7\n" in exported.stdout


def test_dash_t_out_of_bounds_is_one_line(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    result = run_cli("check", "-t", "1e308", cwd=root)
    assert (result.returncode, result.stderr) == (
        2,
        "supervise: --stop-timeout 1e+308: expected seconds from 0 to 86400\n",
    )


DOT_FOREMAN = """\
# foreman's options for this project
procfile: Procfile.dev
env: .env.dev,.env.local
formation: web=2,worker=0
port: 7000
timeout: 3
app: shop
"""


def test_dot_foreman_gives_defaults_that_the_command_line_overrides(make_project: MakeProject) -> None:
    root = make_project(
        {
            "Procfile.dev": ECHO,
            ".env.dev": "A=dev\n",
            ".env.local": "B=local\n",
            ".env.other": "A=other\n",
            ".foreman": DOT_FOREMAN,
        }
    )
    notice = 'supervise: .foreman:7: "app" is not used (use export --app NAME)\n'
    got = seen([*supervise_argv(), "up"], root, clean_env(), 2)
    assert got == {"web.1": "7000 dev local", "web.2": "7001 dev local"}
    check = run_cli("check", cwd=root)
    assert check.returncode == 0
    assert check.stderr == notice  # said, not silently dropped
    assert "SIGKILL after 3s" in check.stdout
    over = run_cli("check", "-m", "worker=1", "-p", "8000", "-e", ".env.other", "-t", "4", cwd=root)
    assert re.findall(r"^(\S+)  PORT=(\d+)", over.stdout, re.MULTILINE) == [
        ("web.1", "8000"),
        ("worker.1", "8100"),
    ]
    assert "SIGKILL after 4s" in over.stdout and "env files: .env.other" in over.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port 7000\n", '.foreman:1: expected "key: value", got "port 7000"'),
        ("# c\nport: seven\n", '.foreman:2: port: expected a port number from 1 to 65535, got "seven"'),
        ("timeout: -1\n", '.foreman:1: timeout: expected seconds from 0 to 86400, got "-1"'),
        ("formation: a=1\nconcurrency: a=2\n", ".foreman:2: give formation or concurrency, not both"),
    ],
)
def test_a_bad_dot_foreman_is_one_line_naming_the_line(
    make_project: MakeProject, text: str, message: str
) -> None:
    root = make_project({"Procfile": ECHO, ".foreman": text})
    result = run_cli("check", cwd=root)
    assert (result.returncode, result.stderr) == (2, f"supervise: {message}\n")


# -- PROCFILE ----------------------------------------------------------------------------


def test_procfile_named_in_dot_env_or_the_environment(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "main: a\n", "Procfile.dev": "dev: b\n", "Procfile.ci": "ci: c\n"})

    def source(*args: str, **env: str) -> str:
        result = run_cli(*args, "check", cwd=root, env=clean_env(**env))
        assert result.returncode == 0, result.stderr
        return result.stdout.split(" (root")[0]

    assert source() == "source: Procfile"
    assert source(PROCFILE="Procfile.ci") == "source: Procfile.ci"
    (root / ".env").write_text("PROCFILE=Procfile.dev\n")
    assert source() == "source: Procfile.dev"
    # The env file wins over the environment, as in honcho; -f wins over both.
    assert source(PROCFILE="Procfile.ci") == "source: Procfile.dev"
    assert source("-f", "Procfile.ci") == "source: Procfile.ci"


@needs_honcho
def test_procfile_in_dot_env_picks_the_same_file_as_honcho(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "main: echo seen main; exec sleep 300\n", "Procfile.dev": ECHO})
    (root / ".env").write_text("PROCFILE=Procfile.dev\nA=a\n")
    honcho, ours = both(root, [], 2)
    assert ours == honcho == {"web.1": "5000 a", "worker.1": "5100 a"}


def test_procfile_that_is_missing_or_not_used_is_said(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    missing = run_cli("check", cwd=root, env=clean_env(PROCFILE="Procfile.gone"))
    assert missing.returncode == 2
    assert missing.stderr == (
        f"supervise: PROCFILE=Procfile.gone (from the environment): no such file in {root.resolve()}\n"
    )
    (root / "pyproject.toml").write_text('[tool.supervise.processes.web]\ncommand = "true"\n')
    (root / "Procfile").unlink()
    (root / ".env").write_text("PROCFILE=Procfile\n")
    unused = run_cli("check", cwd=root)
    assert unused.returncode == 0
    assert unused.stderr == (
        "supervise: warning: PROCFILE=Procfile (from .env) is not used: [tool.supervise] in "
        "pyproject.toml defines the processes (use -f to run a Procfile instead)\n"
    )


def test_a_dot_foreman_that_is_a_fifo_is_one_line_not_a_hang(make_project: MakeProject) -> None:
    root = make_project({"Procfile": ECHO})
    os.mkfifo(root / ".foreman")
    result = run_cli("check", cwd=root, timeout=10)
    assert (result.returncode, result.stderr) == (
        2,
        "supervise: .foreman: is a FIFO (named pipe), not a regular file\n",
    )
