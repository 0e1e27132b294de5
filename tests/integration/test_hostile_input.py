"""Hostile and unlucky input (PRODUCT.md §5): the real CLI against files that are not what they seem.

Each case is one line on stderr naming the file, exit 2, and never a hang: every
run is bounded by `run_cli`'s timeout, so a blocking read fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervise.config.pattern import HINT
from supervise.runtime.control.rundir import socket_path
from tests.support import UpProcess, clean_env, run_cli, supervise_argv

MAKE_TIMEOUT = 20.0


def assert_one_line(result: subprocess.CompletedProcess[str], line: str, code: int = 2) -> None:
    assert result.returncode == code, result
    assert result.stderr == f"supervise: {line}\n"


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _loop(path: Path) -> None:
    path.symlink_to(path.name)  # a link to itself


def _huge(path: Path) -> None:
    with path.open("wb") as handle:  # sparse: 11 MiB that costs no disk
        handle.truncate(11 * 1024 * 1024)


BAD_FILES: list[tuple[str, Callable[[Path], None], str]] = [
    ("directory", _directory, "is a directory, not a regular file"),
    ("fifo", _fifo, "is a FIFO (named pipe), not a regular file"),
    ("dev-zero", _dev_zero, "is a character device, not a regular file"),
    ("symlink-loop", _loop, "cannot read: a symbolic link loop"),
    ("over-10-MiB", _huge, "is larger than 10 MiB; a configuration file never is"),
]


@pytest.mark.parametrize(("make", "problem"), [p[1:] for p in BAD_FILES], ids=[p[0] for p in BAD_FILES])
def test_procfile_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    make(tmp_path / "Procfile")
    assert_one_line(run_cli("check", cwd=tmp_path), f"Procfile: {problem}")


@pytest.mark.parametrize(("make", "problem"), [p[1:] for p in BAD_FILES], ids=[p[0] for p in BAD_FILES])
def test_forced_procfile_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    make(tmp_path / "Procfile.dev")
    assert_one_line(run_cli("check", "-f", "Procfile.dev", cwd=tmp_path), f"Procfile.dev: {problem}")


@pytest.mark.parametrize(("make", "problem"), [p[1:] for p in BAD_FILES], ids=[p[0] for p in BAD_FILES])
def test_pyproject_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    (tmp_path / "Procfile").write_text("web: serve\n")
    make(tmp_path / "pyproject.toml")
    assert_one_line(run_cli("check", cwd=tmp_path), f"pyproject.toml: {problem}")


@pytest.mark.parametrize(
    ("make", "problem"),
    [p[1:] for p in BAD_FILES if p[0] != "directory"],  # a `.env` folder is a virtualenv: skipped
    ids=[p[0] for p in BAD_FILES if p[0] != "directory"],
)
def test_env_file_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    (tmp_path / "Procfile").write_text("web: serve\n")
    make(tmp_path / ".env")
    assert_one_line(run_cli("check", cwd=tmp_path), f".env: {problem}")
    make(tmp_path / "prod.env")
    result = run_cli("check", "-e", "prod.env", cwd=tmp_path)
    # `-e` files are resolved: a link to /dev/zero is named as /dev/zero.
    named = "/dev/zero" if make is _dev_zero else "prod.env"
    assert_one_line(result, f"{named}: {problem}")


@pytest.mark.parametrize(("make", "problem"), [p[1:] for p in BAD_FILES], ids=[p[0] for p in BAD_FILES])
def test_init_with_a_pyproject_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    (tmp_path / "Procfile").write_text("web: serve\n")
    make(tmp_path / "pyproject.toml")
    assert_one_line(run_cli("init", cwd=tmp_path), f"pyproject.toml: {problem}")


def test_env_folder_is_a_virtualenv_not_an_env_file(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: serve\n")
    (tmp_path / ".env").mkdir()
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result
    assert "env files: none" in result.stdout


def test_procfile_named_by_pyproject_that_is_a_fifo(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.supervise]\nprocfile = "Procfile.dev"\n')
    os.mkfifo(tmp_path / "Procfile.dev")
    assert_one_line(
        run_cli("check", cwd=tmp_path), "Procfile.dev: is a FIFO (named pipe), not a regular file"
    )


def test_ten_mib_procfile_is_still_read(tmp_path: Path) -> None:
    line = b"# " + b"x" * 1021 + b"\n"
    (tmp_path / "Procfile").write_bytes(b"web: serve\n" + line * (10 * 1024 - 1))
    assert (tmp_path / "Procfile").stat().st_size <= 10 * 1024 * 1024
    result = run_cli("check", cwd=tmp_path, env=clean_env(), timeout=MAKE_TIMEOUT)
    assert result.returncode == 0, result


# -- bounds ------------------------------------------------------------------------------


def test_absurd_stop_timeout_is_a_config_error_not_a_309_digit_export(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.supervise.processes.web]\ncommand = "serve"\nstop_timeout = 1e308\n'
    )
    line = (
        "pyproject.toml: tool.supervise.processes.web.stop_timeout: "
        "expected at most 86400 seconds (one day), got 1e+308"
    )
    for args in (["check"], ["export", "--format", "supervisord"]):
        assert_one_line(run_cli(*args, cwd=tmp_path), line)


def test_too_long_process_name_is_a_config_error_not_enametoolong(tmp_path: Path) -> None:
    name = "w" * 300
    (tmp_path / "Procfile").write_text(f"{name}: serve\n")
    result = run_cli("export", "--format", "systemd", "-o", "units", cwd=tmp_path)
    assert_one_line(result, f'Procfile:1: invalid process name "{"w" * 59}…": longer than 64 characters')
    assert not (tmp_path / "units").exists()


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--timeout", "nan", "expected a positive number, got nan"),
        ("--timeout", "-1", "expected a positive number, got -1.0"),
        ("--ready-timeout", "1e308", "expected at most 86400 seconds (one day), got 1e+308"),
    ],
)
def test_up_duration_options_are_bounded_too(tmp_path: Path, option: str, value: str, problem: str) -> None:
    (tmp_path / "Procfile").write_text("web: touch started; exec sleep 60\n")
    assert_one_line(run_cli("up", option, value, cwd=tmp_path), f"{option}: {problem}")
    assert not (tmp_path / "started").exists()


# -- check is linear -----------------------------------------------------------------------


def test_check_of_a_10000_line_procfile_takes_seconds_not_minutes(tmp_path: Path) -> None:
    """Quadratic lookups made this 37 s and more; linear, it is about 1 s of CPU."""
    lines = "".join(f"p{i}: sleep {i}\n" for i in range(10_000))
    (tmp_path / "Procfile").write_text(lines)
    started = time.monotonic()
    result = run_cli("check", cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-500:]
    assert "10000 instance(s) of 10000 process type(s)" in result.stdout
    assert elapsed < 8, f"check took {elapsed:.1f} s"  # generous: other tests share the two cores


def test_a_10000_long_depends_on_chain_is_checked_without_recursion(tmp_path: Path) -> None:
    count = 10_000
    tables = ['[tool.supervise.processes.p0]\ncommand = "sleep 0"\n']
    tables += [
        f'[tool.supervise.processes.p{i}]\ncommand = "sleep {i}"\ndepends_on = ["p{i - 1}"]\n'
        for i in range(1, count)
    ]
    (tmp_path / "pyproject.toml").write_text("".join(tables))
    result = run_cli("check", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-500:]
    (tmp_path / "pyproject.toml").write_text(
        "".join(tables).replace('command = "sleep 0"\n', 'command = "sleep 0"\ndepends_on = ["p9999"]\n', 1)
    )
    result = run_cli("check", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    key = "tool.supervise.processes.p0.depends_on"
    assert result.stderr.startswith(
        f"supervise: pyproject.toml: {key}: dependency cycle: p0 -> p9999 -> p9998"
    )
    assert result.stderr.endswith(" -> p1 -> p0\n")


# -- long lines: pieces, and bounded memory ----------------------------------------------------

MIB = 1024 * 1024
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
# ru_maxrss of the largest descendant waited for: `up` (its children are a shell, head and tr).
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def test_up_prints_a_100_mb_line_in_16_mib_pieces_with_bounded_memory(tmp_path: Path) -> None:
    size = 100_000_000
    (tmp_path / "pyproject.toml").write_text(
        "[tool.supervise.processes.blob]\n"
        f"command = \"head -c {size} /dev/zero | tr '\\\\0' x; echo; echo done\"\n"
        "startsecs = 0\nautorestart = false\n"
    )
    with (tmp_path / "out").open("wb") as out:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *supervise_argv(), "up", "--no-color"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    peak_mib = int(result.stderr.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    with (tmp_path / "out").open("rb") as out:
        bodies = [line.split(b" | ", 1)[1].rstrip(b"\n") for line in out if b" blob.1 | " in line]
    assert [len(body) for body in bodies] == [16 * MIB] * 5 + [size - 5 * 16 * MIB, 4]
    assert bodies[-1] == b"done"
    assert peak_mib < 150, f"up's peak RSS was {peak_mib:.0f} MiB"


# -- the log probe: linear time, whole lines -------------------------------------------------


def test_a_catastrophic_log_pattern_does_not_freeze_up(tmp_path: Path) -> None:
    """With Python's re, `^(a+)+$` on this line stopped output, signals and the control socket."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.supervise.processes.web]\n"
        f'command = "echo {"a" * 40}b; exec sleep 60"\n'
        'ready = { log = "^(a+)+$" }\n'
        "[tool.supervise.processes.clock]\n"
        'command = "sleep 0.5; echo tick; exec sleep 60"\n'
    )
    with UpProcess([], tmp_path) as up:
        up.wait_for(r"web\.1 +\| a{40}b$")
        up.wait_for(r"clock\.1 +\| tick$")
        status = run_cli("status", cwd=tmp_path)
        assert re.search(r"^web\.1 .* no$", status.stdout, re.MULTILINE), status  # up answers: not ready
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


def test_the_log_probe_never_fires_on_a_fragment_of_a_line(tmp_path: Path) -> None:
    """The line starts with junk; the old matcher saw only its last 4096 bytes, which start with "ready"."""
    (tmp_path / "emit.py").write_text(
        "import sys, time\n"
        "def out(text):\n"
        "    sys.stdout.write(text)\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.3)  # a pipe read of its own\n"
        "out('junk' * 2000)\n"
        "out('ready' + 'z' * 4091)\n"
        "out('\\n')\n"
        "out('marker\\n')\n"
        "out('ready\\n')\n"
        "time.sleep(60)\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        "[tool.supervise.processes.web]\n"
        f'command = "{sys.executable} emit.py"\n'
        'ready = { log = "^ready" }\n'
    )
    with UpProcess(["--then", "echo then ran"], tmp_path) as up:
        assert up.finish() == 0
    marker = re.search(r"web\.1 +\| marker$", up.output, re.MULTILINE)
    ready = re.search(r"web\.1 is ready", up.output)
    assert marker and ready and marker.start() < ready.start(), up.output[-2000:]


def test_a_log_pattern_re2_cannot_run_stops_up_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.supervise.processes.web]\n"
        'command = "touch started; exec sleep 60"\n'
        "ready = { log = '(\\w+) is \\1' }\n"
    )
    line = (
        "pyproject.toml: tool.supervise.processes.web.ready.log: invalid regular expression: "
        f"invalid escape sequence: \\1 ({HINT})"
    )
    assert_one_line(run_cli("check", cwd=tmp_path), line)
    assert_one_line(run_cli("up", cwd=tmp_path), line)
    assert not (tmp_path / "started").exists()


# -- up with its stdout already closed ---------------------------------------------------------


def test_up_with_stdout_already_closed_exits_141_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: touch started; exec sleep 60\n")
    result = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *supervise_argv(), "up"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 141
    assert result.stderr == "supervise: stdout is closed; nothing started\n"
    assert not (tmp_path / "started").exists()


# -- the runtime folder and the control socket -------------------------------------------------


@pytest.mark.skipif(os.getuid() != 0, reason="plays another user with chown (root only)")
def test_another_user_taking_the_socket_folder_first_does_not_keep_up_from_starting(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="sv-", dir="/tmp"))
    try:
        (short / "tmp").mkdir()
        os.chmod(short / "tmp", 0o1777)
        squatted = short / "tmp" / f"supervise-{os.getuid()}"
        squatted.mkdir(mode=0o777)
        os.chown(squatted, 65534, 65534)  # nobody got there first
        env = {k: v for k, v in clean_env().items() if k != "XDG_RUNTIME_DIR"}
        env.update(TMPDIR=str(short / "tmp"), HOME=str(short / "home"))
        (tmp_path / "Procfile").write_text("web: exec sleep 60\n")
        with UpProcess([], tmp_path, env=env) as up:
            up.wait_for(r"web\.1 started")
            status = run_cli("status", cwd=tmp_path, env=env)
            assert re.search(r"^web\.1 +(STARTING|RUNNING)", status.stdout, re.MULTILINE), status
            assert list(squatted.iterdir()) == []
            assert list((short / "home" / ".cache" / "supervise").glob("*.sock"))
            up.signal(signal.SIGTERM)
            assert up.finish() == 143
    finally:
        shutil.rmtree(short)


def test_deeply_nested_json_on_the_control_socket_gets_an_error_reply(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web: exec sleep 60\n")
    with UpProcess([], tmp_path) as up:
        up.wait_for(r"web\.1 started")
        path = socket_path(tmp_path, clean_env())
        # Under the 64 KiB line limit, so that json.loads sees them (and recurses 60,000 deep).
        for line in (b"[" * 60_000 + b"\n", b'{"a": ' * 9_000 + b"\n", b"\xff\n"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(os.fsencode(path))
                sock.sendall(line)
                answer = json.loads(sock.makefile("rb").readline())
            assert answer["ok"] is False and answer["exit"] == 2, answer
        assert run_cli("status", cwd=tmp_path).returncode == 0
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
    assert "Traceback" not in up.output


# -- watching ------------------------------------------------------------------------------------


def test_a_watched_folder_deleted_and_created_again_is_watched_again(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.supervise]\nstop_timeout = 2\n[tool.supervise.processes.web]\ncommand = "exec sleep 300"\n'
        'watch = ["src/**/*.py"]\n'
    )
    with UpProcess([], tmp_path) as up:
        up.wait_for(r"watching src/\*\*/\*\.py for web")
        started = up.wait_for(r"web\.1 started")
        shutil.rmtree(tmp_path / "src")
        deleted = up.wait_for(r"restarting web\.1 \(src/a\.py changed\)", start=started.end())
        up.wait_for(r"web\.1 started", start=deleted.end())
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "b.py").write_text("")
        back = up.wait_for(r"restarting web\.1 \(src/b\.py changed\)", start=deleted.end())
        up.wait_for(r"web\.1 started", start=back.end())
        (tmp_path / "src" / "c.py").write_text("")
        up.wait_for(r"restarting web\.1 \(src/c\.py changed\)", start=back.end())
        up.signal(signal.SIGINT)
        assert up.finish() == 130


def test_a_process_writing_into_its_own_watch_set_gets_one_line_naming_the_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.supervise]\nstop_timeout = 2\n[tool.supervise.processes.web]\n"
        'command = "echo started >> web.log; exec sleep 300"\nwatch = ["*.log"]\n'
    )
    with UpProcess([], tmp_path) as up:
        line = (
            r"web was reloaded 11 times within 60 s by changes to web\.log; "
            r"if web writes these itself, add them to its watch_ignore"
        )
        found = up.wait_for(line, timeout=40)
        up.wait_for(r"restarting web\.1", start=found.end(), timeout=20)  # it goes on: only said once
        up.wait_for(r"restarting web\.1", start=up.output.rindex("restarting web.1") + 1, timeout=20)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert len(re.findall(line, up.output)) == 1


# -- exports -------------------------------------------------------------------------------------


def _export_project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "Procfile").write_text("web: serve\nworker: work\n")
    (root / "out").mkdir()
    return root


@pytest.mark.parametrize("dangling", [True, False], ids=["dangling link", "link to a file"])
def test_export_refuses_a_symlink_in_the_output_folder_and_replaces_it_with_force(
    tmp_path: Path, dangling: bool
) -> None:
    root = _export_project(tmp_path)
    outside = tmp_path / "outside.conf"
    if not dangling:
        outside.write_text("precious\n")
    (root / "out" / "shop.conf").symlink_to(outside)
    args = ("export", "--format", "supervisord", "-o", "out")
    result = run_cli(*args, cwd=root)
    assert_one_line(
        result,
        f"out/shop.conf: is a symbolic link (to {outside}); use --force to replace the link "
        "(what it points to is left alone)",
    )
    assert run_cli(*args, "--force", cwd=root).returncode == 0
    assert not (root / "out" / "shop.conf").is_symlink()
    assert "[program:shop-web-1]" in (root / "out" / "shop.conf").read_text()
    assert outside.exists() is not dangling
    if not dangling:
        assert outside.read_text() == "precious\n"


def test_export_writes_every_file_or_none(tmp_path: Path) -> None:
    root = _export_project(tmp_path)
    (root / "out" / "shop-worker-1.service").mkdir()  # the last unit cannot be written
    result = run_cli("export", "--format", "systemd", "-o", "out", "--force", cwd=root)
    assert_one_line(result, "out/shop-worker-1.service: is a folder; remove it or choose another -o")
    assert sorted(p.name for p in (root / "out").iterdir()) == ["shop-worker-1.service"]
    (root / "out" / "shop-worker-1.service").rmdir()
    assert run_cli("export", "--format", "systemd", "-o", "out", cwd=root).returncode == 0
    names = sorted(p.name for p in (root / "out").iterdir())
    assert names == ["shop-web-1.service", "shop-worker-1.service", "shop.target"]  # no temporary files
    assert (root / "out" / "shop.target").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("app", [".hidden", "../escape", "x" * 65])
@pytest.mark.parametrize("format_name", ["supervisord", "systemd", "kubernetes", "compose"])
def test_export_refuses_an_app_name_that_is_not_a_plain_name(
    tmp_path: Path, app: str, format_name: str
) -> None:
    root = _export_project(tmp_path)
    result = run_cli("export", "--format", format_name, "--image", "x", "--app", app, "-o", "out", cwd=root)
    assert result.returncode == 2, result
    assert result.stderr.startswith(f'supervise: --app "{app}": ')
    assert list((root / "out").iterdir()) == []
    assert not (tmp_path / "escape.conf").exists()
