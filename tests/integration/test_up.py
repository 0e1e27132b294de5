"""`supervise up` with real processes, real signals and real pipes, checked by pid."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support import UpProcess, clean_env, supervise_argv, wait_gone

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

FAST = """
[tool.supervise]
procfile = "Procfile"
stop_timeout = {stop_timeout}

{extra}
"""


def project(make_project: MakeProject, procfile: str, stop_timeout: float = 2, extra: str = "") -> Path:
    return make_project(
        {"Procfile": procfile, "pyproject.toml": FAST.format(stop_timeout=stop_timeout, extra=extra)}
    )


def started_pids(up: UpProcess) -> list[int]:
    return [int(m) for m in re.findall(r"started \(pid (\d+)\)", up.output)]


TREE = (
    'tree: sh -c \'sleep 300 & echo "child $!"; '
    'setsid sh -c "sleep 301 & echo escapee \\$!; wait" & '
    '(sleep 302 & echo "orphan $!") ; wait\'\n'
    'plain: echo "plain $$"; exec sleep 303\n'
)


def tree_pids(up: UpProcess) -> list[int]:
    for word in ("child", "escapee", "orphan", "plain"):
        up.wait_for(rf"\| {word} \d+")
    found = [int(p) for p in re.findall(r"\| (?:child|escapee|orphan|plain) (\d+)", up.output)]
    return found + started_pids(up)


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_signal_leaves_no_descendant_alive(make_project: MakeProject, signum: int, code: int) -> None:
    root = project(make_project, TREE)
    with UpProcess([], root) as up:
        pids = tree_pids(up)
        assert len(pids) == 6
        up.signal(signum)
        assert up.finish() == code
        assert wait_gone(pids) == [], up.output
        assert f"{signal.Signals(signum).name} received, stopping" in up.output


def test_terminal_ctrl_c_to_the_whole_group_leaves_nothing(make_project: MakeProject) -> None:
    root = project(make_project, TREE)
    with UpProcess([], root) as up:
        pids = tree_pids(up)
        os.killpg(up.proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert up.finish() == 130
        assert wait_gone(pids) == [], up.output


def test_child_ignoring_sigterm_is_killed_after_stop_timeout(make_project: MakeProject) -> None:
    root = project(make_project, "stubborn: trap '' TERM; echo ready; while :; do sleep 0.1; done\n", 0.5)
    with UpProcess([], root) as up:
        up.wait_for(r"stubborn\.1 +\| ready")
        pid = started_pids(up)[0]
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
        assert "stubborn.1 did not stop within 0.5 s; sending SIGKILL" in up.output
        assert "stubborn.1 stopped (was killed by SIGKILL)" in up.output
        assert wait_gone([pid]) == []


def test_trapping_child_gets_its_stopsignal_and_finishes_its_handler(make_project: MakeProject) -> None:
    extra = '[tool.supervise.processes.tidy]\nstopsignal = "USR1"\n'
    procfile = (
        "tidy: trap 'echo cleaning up; sleep 0.2; echo clean; exit 0' USR1; "
        "echo ready; while :; do sleep 0.05; done\n"
    )
    root = project(make_project, procfile, 5, extra)
    with UpProcess([], root) as up:
        up.wait_for(r"tidy\.1 +\| ready")
        up.signal(signal.SIGINT)
        assert up.finish() == 130
        assert "stopping tidy.1 (SIGUSR1)" in up.output
        assert re.search(r"tidy\.1 +\| cleaning up\n.*tidy\.1 +\| clean\n", up.output, re.S)
        assert "tidy.1 stopped (exited with code 0)" in up.output


def test_second_ctrl_c_kills_at_once(make_project: MakeProject) -> None:
    root = project(make_project, "stubborn: trap '' TERM; echo ready; while :; do sleep 0.1; done\n", 60)
    with UpProcess([], root) as up:
        up.wait_for(r"stubborn\.1 +\| ready")
        pid = started_pids(up)[0]
        up.signal(signal.SIGINT)
        up.wait_for(r"stopping stubborn\.1")
        # A repeat within 0.5 s is the same Ctrl-C delivered twice (a forwarding parent):
        # the second press by a person comes later than that.
        time.sleep(0.6)
        began = time.monotonic()
        up.signal(signal.SIGINT)
        assert up.finish(timeout=10) == 130
        assert time.monotonic() - began < 5  # not the 60 s stop_timeout
        assert "second Ctrl-C: killing everything now" in up.output
        assert wait_gone([pid]) == []


WRITER = (
    'python3 -c "import os,sys; n=sys.argv[1]; '
    "[os.write(1, ''.join(f'{n} {i:06d} ' + 'x'*40 + '\\n' for i in range(j, j+50)).encode()) "
    'for j in range(0, 20000, 50)]" '
)


def test_whole_lines_from_many_concurrent_writers(make_project: MakeProject) -> None:
    procfile = "".join(f"w{k}: {WRITER}w{k}\n" for k in range(4))
    extra = "".join(f"[tool.supervise.processes.w{k}]\nstartsecs = 0\n" for k in range(4))
    root = project(make_project, procfile, 2, extra)
    with UpProcess(["--no-color"], root) as up:
        assert up.finish(timeout=60) == 0
    seen: dict[str, list[int]] = {f"w{k}": [] for k in range(4)}
    line = re.compile(r"^\d\d:\d\d:\d\d (w\d)\.1 +\| (w\d) (\d{6}) x{40}$")
    for text in up.output.splitlines():
        if re.match(r"\d\d:\d\d:\d\d system +\|", text):
            continue
        match = line.match(text)
        assert match, f"torn or foreign line: {text!r}"
        assert match.group(1) == match.group(2)
        seen[match.group(1)].append(int(match.group(3)))
    for name, numbers in seen.items():
        assert numbers == list(range(20000)), f"{name}: lost, duplicated or reordered lines"


def test_output_edge_cases_unterminated_invalid_utf8_and_huge_line(make_project: MakeProject) -> None:
    procfile = (
        "tail: printf 'no newline at the end'\n"
        "bad: printf 'bad \\377\\376 bytes\\n'\n"
        "huge: python3 -c \"import sys; sys.stdout.write('y' * 1_100_000 + '\\n')\"\n"
    )
    extra = "".join(f"[tool.supervise.processes.{n}]\nstartsecs = 0\n" for n in ("tail", "bad", "huge"))
    root = project(make_project, procfile, 2, extra)
    with UpProcess(["--no-color"], root) as up:
        assert up.finish(timeout=30) == 0
    assert re.search(r"tail\.1 +\| no newline at the end\n", up.output)
    assert re.search(r"bad\.1 +\| bad \ufffd\ufffd bytes\n", up.output)
    assert re.search(r"huge\.1 +\| y{1100000}\n", up.output)


def run_on_pty(root: Path, env: dict[str, str], args: list[str]) -> bytes:
    """Run `up` with its stdout on a pseudo-terminal; everything it printed."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*supervise_argv(), "up", *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    out = b""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        out += data
    proc.wait(timeout=10)
    os.close(main)
    return out


@pytest.mark.parametrize(
    ("on_pty", "env", "args", "colored"),
    [
        (True, {}, [], True),
        (True, {"NO_COLOR": "1"}, [], False),
        (True, {}, ["--no-color"], False),
        (False, {}, [], False),
        (False, {"FORCE_COLOR": "1"}, [], True),
    ],
)
def test_colors_follow_the_terminal_and_the_conventions(
    make_project: MakeProject, on_pty: bool, env: dict[str, str], args: list[str], colored: bool
) -> None:
    root = project(make_project, "hello: echo hi\n", 2, "[tool.supervise.processes.hello]\nstartsecs = 0\n")
    if on_pty:
        out = run_on_pty(root, clean_env(**env), args)
    else:
        out = subprocess.run(
            [*supervise_argv(), "up", *args], cwd=root, env=clean_env(**env), capture_output=True, timeout=15
        ).stdout
    assert b"hi" in out
    assert (b"\x1b[" in out) is colored


def test_exit_code_zero_when_everything_ended_as_expected(make_project: MakeProject) -> None:
    extra = "[tool.supervise.processes.a]\nstartsecs = 0\n[tool.supervise.processes.b]\nstartsecs = 0\n"
    root = project(make_project, "a: echo a\nb: echo b\n", 2, extra)
    with UpProcess([], root) as up:
        assert up.finish() == 0
        assert "a.1 exited with code 0 (expected)" in up.output


def test_exit_code_one_when_an_instance_ended_unexpectedly(make_project: MakeProject) -> None:
    extra = (
        "[tool.supervise.processes.a]\nstartsecs = 0\n"
        "[tool.supervise.processes.b]\nstartsecs = 0\nautorestart = false\n"
    )
    root = project(make_project, "a: echo a\nb: exit 4\n", 2, extra)
    with UpProcess([], root) as up:
        assert up.finish() == 1
        assert "b.1 exited with code 4 (not expected)" in up.output


def test_abort_on_exit_stops_all_with_that_exit_code(make_project: MakeProject) -> None:
    root = project(make_project, "long: exec sleep 300\nshort: sleep 0.2; exit 7\n")
    with UpProcess(["--abort-on-exit"], root) as up:
        up.wait_for(r"short\.1 started")
        long_pid = started_pids(up)[0]
        assert up.finish() == 7
        assert "stopping long.1" in up.output
        assert wait_gone([long_pid]) == []


def test_dependents_stop_before_their_dependencies(make_project: MakeProject) -> None:
    procfile = "db: echo up; exec sleep 300\nweb: echo up; exec sleep 300\n"
    extra = (
        "[tool.supervise.processes.db]\nstartsecs = 0\n"
        '[tool.supervise.processes.web]\nstartsecs = 0\ndepends_on = ["db"]\n'
    )
    root = project(make_project, procfile, 2, extra)
    with UpProcess([], root) as up:
        up.wait_for(r"web\.1 started")
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    out = up.output
    assert out.index("db.1 started") < out.index("web.1 started")
    assert out.index("web.1 stopped") < out.index("stopping db.1")


def test_timeout_bounds_the_run_and_names_what_was_running(make_project: MakeProject) -> None:
    root = project(make_project, "slow: exec sleep 300\n")
    with UpProcess(["--timeout", "1"], root) as up:
        assert up.finish() == 124
        assert "--timeout 1 s reached; still running: slow.1" in up.output


def test_nothing_to_run_is_a_clear_error(make_project: MakeProject) -> None:
    root = project(make_project, "a: echo a\n")
    out = subprocess.run(
        [*supervise_argv(), "up", "-m", "all=0"],
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("supervise: nothing to run")
    assert len(out.stderr.splitlines()) == 1


def test_stdin_is_dev_null_and_each_instance_leads_its_own_session(make_project: MakeProject) -> None:
    procfile = (
        "probe: exec python3 -c \"import os; print('sid', os.getsid(0) == os.getpid(), "
        "'stdin', os.stat(0).st_rdev == os.stat('/dev/null').st_rdev)\"\n"
    )
    root = project(make_project, procfile, 2, "[tool.supervise.processes.probe]\nstartsecs = 0\n")
    with UpProcess(["--no-color"], root) as up:
        assert up.finish() == 0
    assert "probe.1 | sid True stdin True" in up.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper is Linux only")
def test_double_forked_daemon_is_swept_when_its_parent_already_exited(make_project: MakeProject) -> None:
    procfile = "daemon: (setsid sh -c 'echo daemon $$; exec sleep 304' &) ; echo launched; exec sleep 305\n"
    root = project(make_project, procfile)
    with UpProcess([], root) as up:
        match = up.wait_for(r"\| daemon (\d+)")
        daemon = int(match.group(1))
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
        assert wait_gone([daemon]) == [], up.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper is Linux only")
def test_orphan_zombies_are_reaped_while_up_runs(make_project: MakeProject) -> None:
    procfile = "parent: (sleep 0.2 & echo orphan $!) ; echo parent up; exec sleep 300\n"
    root = project(make_project, procfile)
    with UpProcess([], root) as up:
        orphan = int(up.wait_for(r"\| orphan (\d+)").group(1))
        up.wait_for(r"\| parent up")
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{orphan}") and time.monotonic() < deadline:
            time.sleep(0.05)  # the orphan is up's child now: nothing else to wait on from here
        assert not os.path.exists(f"/proc/{orphan}"), "the orphan's zombie was not collected"
        up.signal(signal.SIGINT)
        assert up.finish() == 130


@pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes are set on Linux only")
def test_up_widens_its_stdout_pipe_so_a_burst_of_output_goes_out_in_one_write(
    make_project: MakeProject,
) -> None:
    import fcntl

    root = project(make_project, "web: echo hi; exec sleep 300\n")
    with UpProcess([], root) as up:
        up.wait_for(r"web\.1 +\| hi$")
        assert up.proc.stdout is not None
        assert fcntl.fcntl(up.proc.stdout.fileno(), fcntl.F_GETPIPE_SZ) == 1 << 20
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
