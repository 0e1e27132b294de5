"""Nothing outlives `supervise up`, even SIGKILLed: real processes, real signals, checked by pid
and by the run's token in every process's environment (shared/PRODUCT.md §9)."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support import UpProcess, clean_env, run_cli, supervise_argv, wait_gone

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the guardian needs Linux (subreaper, parent-death signal)"
)

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

# A setsid'd grandchild, a child that became an orphan, a double-forked daemon that left
# its session, a plain program, and one that says the run's token.
PROCFILE = (
    'tree: sh -c \'sleep 300 & echo "child $!"; '
    'setsid sh -c "sleep 301 & echo escapee \\$!; wait" & '
    '(sleep 302 & echo "orphan $!") ; wait\'\n'
    "daemon: (setsid sh -c 'echo daemon $$; exec sleep 304' &) ; echo launched; exec sleep 305\n"
    'token: echo "token $SUPERVISE_RUN_ID"; exec sleep 306\n'
)
PYPROJECT = '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 2\n'
WORDS = ("child", "escapee", "orphan", "daemon", "launched")
DEADLINE = 2.0
"""PRODUCT.md §9: everything is gone within 2 s."""


@pytest.fixture
def root(make_project: MakeProject) -> Path:
    return make_project({"Procfile": PROCFILE, "pyproject.toml": PYPROJECT})


@pytest.fixture(params=["early", "late"])
def fork(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """`supervise up` forks its guardian before typer is imported; any other way to reach
    `up` (here: the CLI called from Python) forks it in run_up. Both must hold."""
    if request.param == "late":
        late = [sys.executable, "-c", "from supervise.cli import main; main()"]
        monkeypatch.setattr("tests.support.supervise_argv", lambda: late)
    return str(request.param)


def started(up: UpProcess) -> tuple[list[int], str]:
    """Every pid of the run (once all have said so) and the run's token."""
    for word in WORDS:
        up.wait_for(rf"\| {word}(?: \d+)?$")
    token = up.wait_for(r"\| token (\S+)").group(1)
    up.wait_for(r"token\.1 started")
    pids = [int(p) for p in re.findall(r"\| (?:child|escapee|orphan|daemon) (\d+)", up.output)]
    pids += [int(p) for p in re.findall(r"started \(pid (\d+)\)", up.output)]
    assert len(pids) == 7, up.output
    return pids, token


def carrying(token: str) -> list[int]:
    """Live processes whose environment holds the token: read here, not by the code under test."""
    needle = f"\0SUPERVISE_RUN_ID={token}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if needle in b"\0" + environ:
            found.append(int(entry))
    return found


def assert_all_gone_within(pids: list[int], token: str, since: float, output: str) -> None:
    """Every pid gone, and no process carrying the token, within DEADLINE of `since`."""
    left = wait_gone(pids, timeout=max(0.0, since + DEADLINE - time.monotonic()))
    assert left == [], f"alive after {DEADLINE} s: {left}\n{output}"
    deadline = since + DEADLINE
    while (found := carrying(token)) and time.monotonic() < deadline:
        time.sleep(0.02)  # processes we do not own give no event to wait on
    assert found == [], f"token carriers alive after {DEADLINE} s: {found}\n{output}"


def supervisor_of(up: UpProcess) -> int:
    """The process `up` runs for itself: the one child of the pid the user started."""
    pid = up.proc.pid
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        children = [int(child) for child in handle.read().split()]
    assert len(children) == 1, children
    return children[0]


def state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        data = handle.read()
    return data[data.rfind(b")") + 2 :].split()[0].decode()


def wait_state(pid: int, wanted: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while state(pid) != wanted:
        assert time.monotonic() < deadline, f"pid {pid} is {state(pid)}, not {wanted}"
        time.sleep(0.01)


@pytest.mark.parametrize("target", ["pid", "group"])
def test_sigkill_to_up_leaves_no_process_behind(root: Path, fork: str, target: str) -> None:
    with UpProcess([], root) as up:
        pids, token = started(up)
        assert len(carrying(token)) >= 5  # the token does mark the run's processes
        began = time.monotonic()
        if target == "pid":
            os.kill(up.proc.pid, signal.SIGKILL)
        else:  # the shell's `kill -9 %1`: the pid the user started and its whole process group
            os.killpg(up.proc.pid, signal.SIGKILL)
        assert up.proc.wait(timeout=5) == -signal.SIGKILL
        assert_all_gone_within(pids, token, began, up.output)
        up.finish()
    assert f"supervise: up (pid {up.proc.pid}) was killed; killed the" in up.output


def test_sigkill_to_the_internal_supervisor_leaves_no_process_behind(root: Path, fork: str) -> None:
    with UpProcess([], root) as up:
        pids, token = started(up)
        supervisor = supervisor_of(up)
        began = time.monotonic()
        os.kill(supervisor, signal.SIGKILL)
        assert up.finish() == 128 + signal.SIGKILL
        assert_all_gone_within(pids, token, began, up.output)
    said = rf"supervise: the supervisor \(pid {supervisor}\) was killed by SIGKILL; killed the \d+ process"
    assert re.search(said, up.output), up.output


def test_a_new_up_starts_normally_after_one_was_sigkilled(root: Path) -> None:
    env = clean_env()
    with UpProcess([], root, env) as first:
        pids, token = started(first)
        began = time.monotonic()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=5)
        assert_all_gone_within(pids, token, began, first.output)
    with UpProcess([], root, env) as second:
        _, second_token = started(second)
        assert second_token != token
        status = run_cli("status", cwd=root, env=env)
        assert status.returncode == 0, status.stderr
        assert "daemon.1" in status.stdout
        again = run_cli("up", cwd=root, env=env)  # refused, naming the pid the user started
        assert again.returncode == 2
        assert f"another supervise up (pid {second.proc.pid}) is running" in again.stderr
        second.signal(signal.SIGINT)
        assert second.finish() == 130


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_to_the_terminal_group_reaches_the_supervisor_once(
    make_project: MakeProject, signum: int, code: int
) -> None:
    procfile = "tidy: trap 'echo cleaning up; exit 0' TERM; echo ready; while :; do sleep 0.05; done\n"
    root = make_project({"Procfile": procfile, "pyproject.toml": PYPROJECT})
    with UpProcess([], root) as up:
        up.wait_for(r"tidy\.1 +\| ready")
        os.killpg(up.proc.pid, signum)  # as the terminal does: Ctrl-C goes to the foreground group
        assert up.finish() == code
    name = signal.Signals(signum).name
    assert up.output.count("received, stopping") == 1, up.output
    assert f"{name} received, stopping" in up.output
    assert "killing everything now" not in up.output
    assert re.search(r"tidy\.1 +\| cleaning up", up.output)
    assert "tidy.1 stopped (exited with code 0)" in up.output


def test_job_control_and_other_signals_pass_through(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "idle: echo ready; exec sleep 300\n", "pyproject.toml": PYPROJECT})
    with UpProcess([], root) as up:
        up.wait_for(r"idle\.1 +\| ready")
        supervisor = supervisor_of(up)
        up.signal(signal.SIGTSTP)  # Ctrl-Z: both stop, as one job
        wait_state(up.proc.pid, "T")
        wait_state(supervisor, "T")
        up.signal(signal.SIGCONT)  # fg
        wait_state(supervisor, "S")
        for signum in (signal.SIGWINCH, signal.SIGUSR1, signal.SIGUSR2):
            up.signal(signum)  # nothing to do with them yet: they must not hurt
        result = run_cli("status", cwd=root)
        assert result.returncode == 0 and "idle.1" in result.stdout, result.stderr
        up.signal(signal.SIGINT)
        assert up.finish() == 130
        assert up.output.count("received, stopping") == 1, up.output


def test_sigkill_while_stopped_by_ctrl_z_leaves_no_process_behind(root: Path) -> None:
    """Ctrl-Z, then `kill -9 %1`: the stopped supervisor is woken (its group is orphaned) to clean up."""
    with UpProcess([], root) as up:
        pids, token = started(up)
        supervisor = supervisor_of(up)
        up.signal(signal.SIGTSTP)
        wait_state(up.proc.pid, "T")
        wait_state(supervisor, "T")
        began = time.monotonic()
        os.killpg(up.proc.pid, signal.SIGKILL)
        up.proc.wait(timeout=5)
        assert_all_gone_within(pids, token, began, up.output)


def on_terminal(root: Path, *, tostop: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    """`up` on a terminal of its own, as its controlling tty (it leads the foreground group):
    the process and the terminal's other end."""
    main, secondary = pty.openpty()
    name = os.ttyname(secondary)
    if tostop:  # `stty tostop`: a background group that writes to the terminal is stopped
        attrs = termios.tcgetattr(secondary)
        attrs[3] |= termios.TOSTOP
        termios.tcsetattr(secondary, termios.TCSANOW, attrs)

    def take_terminal() -> None:  # in the child, after setsid: make the pty its controlling tty
        os.close(os.open(name, os.O_RDWR))

    proc = subprocess.Popen(
        [*supervise_argv(), "up", "--no-color"],
        cwd=root,
        env=clean_env(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(secondary)
    return proc, main


def test_a_terminal_set_to_tostop_still_gets_the_output(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "talk: echo hello; exec sleep 300\n", "pyproject.toml": PYPROJECT})
    proc, main = on_terminal(root, tostop=True)
    reader = TerminalReader(main)
    try:
        reader.wait_for(r"talk\.1 +\| hello")
        os.kill(proc.pid, signal.SIGINT)
        reader.wait_for(r"talk\.1 stopped")
        assert proc.wait(timeout=10) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(main)


def test_closing_the_terminal_stops_everything(root: Path) -> None:
    """Closing `up`'s terminal (the window, the ssh connection) is a hangup."""
    proc, main = on_terminal(root)
    reader = TerminalReader(main)
    try:
        for word in WORDS:
            reader.wait_for(rf"\| {word}(?: \d+)?\r?$")
        token = reader.wait_for(r"\| token (\S+)").group(1)
        pids = [int(p) for p in re.findall(r"\| (?:child|escapee|orphan|daemon) (\d+)", reader.text)]
        began = time.monotonic()
        os.close(main)  # the terminal window is closed
        assert proc.wait(timeout=10) == 129
        assert_all_gone_within(pids, token, began, reader.text)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class TerminalReader:
    """What `up` wrote on its terminal, read with bounded waits."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        import select

        deadline = time.monotonic() + timeout
        while not (match := re.search(pattern, self.text, re.MULTILINE)):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {pattern!r} within {timeout} s:\n{self.text}"
            if select.select([self.fd], [], [], remaining)[0]:
                self.text += os.read(self.fd, 65536).decode("utf-8", "replace")
        return match
