"""`supervise attach` (PRODUCT.md §6), run on a real terminal of the test's against a real `up`.

Each attach runs on a pty the test owns (TerminalProcess), so the test types
into it, reads what it shows, and compares the terminal's termios settings
before and after. Every wait is on output, with a bound.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support import TerminalProcess, UpProcess, supervise_argv

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

DEBUGGED = """\
import time
x = 6
breakpoint()
print("continued", x * 7, flush=True)
time.sleep(300)
"""
ECHO = "import sys\nfor line in sys.stdin:\n    print('got', line.strip(), flush=True)\n"
SIZE = """\
import os, signal
def show(*_):
    size = os.get_terminal_size(1)
    print("size", size.columns, size.lines, flush=True)
signal.signal(signal.SIGWINCH, show)
show()
while True:
    signal.pause()
"""


def project(make_project: MakeProject, name: str, script: str, tty: str = "true", more: str = "") -> Path:
    table = f'[tool.supervise.processes.{name}]\ncommand = "python {name}.py"\ntty = {tty}\n{more}'
    return make_project(
        {f"{name}.py": script, "pyproject.toml": f"[tool.supervise]\nstop_timeout = 2\n{table}"}
    )


@contextmanager
def attached(root: Path, name: str, size: tuple[int, int] = (100, 30)) -> Iterator[TerminalProcess]:
    """`supervise attach NAME` on a terminal of its own, once it says it is attached."""
    with TerminalProcess([*supervise_argv(), "attach", name], root, size=size) as terminal:
        terminal.expect(rb"attached to \S+; Ctrl-\] detaches")
        yield terminal


def stop(up: UpProcess) -> None:
    """Stop `up` as a user would, so that nothing it started outlives the test."""
    up.signal(signal.SIGTERM)
    assert up.finish() == 143


def restored(terminal: TerminalProcess) -> bool:
    """The terminal's termios are exactly what they were before attach ran."""
    return terminal.termios() == terminal.settings


def test_a_breakpoint_is_driven_through_attach_while_up_shows_the_lines(make_project: MakeProject) -> None:
    root = project(make_project, "web", DEBUGGED)
    with UpProcess([], root) as up:
        up.wait_for(r"web\.1 +\| \(Pdb\) $")
        with attached(root, "web") as terminal:
            screen = terminal.expect(rb"\(Pdb\) ").end()  # the recent screen first: the prompt
            terminal.send(b"p 6*7\r")
            answer = terminal.expect(rb"\r\n42\r\n", start=screen).end()
            terminal.send(b"c\r")
            terminal.expect(rb"continued 42\r\n", start=answer)
            terminal.send(b"\x1d")
            assert terminal.wait() == 0
            assert terminal.output.endswith(b"detached from web.1\r\n")
            assert restored(terminal)
        up.wait_for(r"web\.1 +\| 42$")
        up.wait_for(r"web\.1 +\| continued 42$")
        stop(up)


def test_attach_ends_with_one_line_when_the_instance_ends(make_project: MakeProject) -> None:
    root = project(make_project, "echo", ECHO, more="autorestart = false\nstartsecs = 0\n")
    with UpProcess([], root) as up:
        up.wait_for(r"echo\.1 started")
        with attached(root, "echo.1") as terminal:
            terminal.send(b"hello\r")
            terminal.expect(rb"got hello\r\n")
            terminal.send(b"\x04")  # Ctrl-D: end of input on the instance's terminal
            assert terminal.wait() == 0
            assert terminal.output.endswith(b"\r\necho.1 exited with code 0\r\n")
            assert restored(terminal)
        up.wait_for(r"echo\.1 +\| got hello$")
        assert up.finish() == 0


def test_attach_ends_when_up_stops_and_the_terminal_is_restored(make_project: MakeProject) -> None:
    root = project(make_project, "echo", ECHO)
    with UpProcess([], root) as up:
        up.wait_for(r"echo\.1 started")
        with attached(root, "echo") as terminal:
            up.signal(signal.SIGTERM)
            assert terminal.wait() == 0
            assert b"echo.1 was killed by SIGTERM\r\n" in terminal.output
            assert restored(terminal)
        assert up.finish() == 143


def test_up_killed_outright_ends_attach_with_one_line_and_the_terminal_restored(
    make_project: MakeProject,
) -> None:
    root = project(make_project, "echo", ECHO)
    with UpProcess([], root) as up:
        up.wait_for(r"echo\.1 started")
        with attached(root, "echo") as terminal:
            up.kill()  # SIGKILL: no goodbye from up, only a closed connection
            assert terminal.wait() == 1
            assert terminal.output.endswith(b"supervise up went away\r\n")
            assert restored(terminal)


def test_sighup_restores_the_terminal(make_project: MakeProject) -> None:
    root = project(make_project, "echo", ECHO)
    with UpProcess([], root) as up:
        up.wait_for(r"echo\.1 started")
        with attached(root, "echo") as terminal:
            terminal.proc.send_signal(signal.SIGHUP)
            assert terminal.wait() == 129
            assert restored(terminal)
        stop(up)


def test_several_terminals_attach_at_once_and_the_instance_takes_the_latest_size(
    make_project: MakeProject,
) -> None:
    root = project(make_project, "size", SIZE)
    with UpProcess([], root) as up:
        up.wait_for(r"size\.1 +\| size 62 24$")  # up is not on a terminal: 80 columns minus the prefix
        with attached(root, "size", size=(90, 20)) as first:
            first.expect(rb"size 90 20\r\n")
            with attached(root, "size", size=(70, 15)) as second:
                second.expect(rb"size 70 15\r\n")
                first.expect(rb"size 70 15\r\n")  # both see the live output
                second.send(b"\x1d")
                assert second.wait() == 0
                mark = len(first.output)
            mark = first.expect(rb"size 90 20\r\n", start=mark).end()  # back to the one still attached
            first.resize(95, 25)  # the attached terminal's window changes: the instance follows
            first.expect(rb"size 95 25\r\n", start=mark)
            first.send(b"\x1d")
            assert first.wait() == 0
        attached_size = up.wait_for(r"size\.1 +\| size 70 15$").end()  # up showed it all along
        up.wait_for(r"size\.1 +\| size 62 24$", start=attached_size)  # and the size is up's again
        stop(up)


def test_an_instance_without_a_tty_gets_one_line_naming_the_setting(make_project: MakeProject) -> None:
    root = project(make_project, "plain", "import time\ntime.sleep(300)\n", tty="false")
    with UpProcess([], root) as up:
        up.wait_for(r"plain\.1 started")
        with TerminalProcess([*supervise_argv(), "attach", "plain"], root) as terminal:
            before = terminal.termios()
            assert terminal.wait() == 1
            lines = terminal.output.decode().strip().splitlines()
            assert len(lines) == 1 and "tty = true" in lines[0], lines
            assert terminal.termios() == before
        stop(up)


def test_attach_without_an_up_says_so(make_project: MakeProject) -> None:
    root = project(make_project, "echo", ECHO)
    with TerminalProcess([*supervise_argv(), "attach", "echo"], root) as terminal:
        assert terminal.wait() == 1
        assert b"no supervise up is running" in terminal.output
