"""Terminals (PRODUCT.md §6): a pseudo-terminal per process, and output no child can fake.

`up` runs on a real pty of the test's (TerminalProcess) or on a pipe; its
children get real ptys from it. Every wait is on a line, with a bound.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support import TerminalProcess, UpProcess, clean_env, run_cli, supervise_argv

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

SHOW = """\
import os, sys
if all(os.isatty(fd) for fd in (0, 1, 2)):
    size = os.get_terminal_size(1)
    print(f"\\x1b[31mon a tty\\x1b[0m {size.columns}x{size.lines}")
else:
    print("no tty")
"""
ONCE = "startsecs = 0\nautorestart = false\n"
PREFIX = re.compile(r"(?:\x1b\[[0-9;]*m)?\d\d:\d\d:\d\d (\S+) +\| (?:\x1b\[0m)?(.*)")
"""A line as `up` prints it: its own prefix (colored or not), then the child's text."""


def pyproject(processes: Mapping[str, str], top: str = "") -> str:
    """[tool.supervise] with one table per process (`command` plus `extra` lines)."""
    text = f"[tool.supervise]\nstop_timeout = 2\n{top}\n"
    for name, body in processes.items():
        text += f"[tool.supervise.processes.{name}]\n{body}\n"
    return text


def lines_of(output: bytes) -> list[str]:
    return output.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")


@pytest.mark.parametrize(
    ("on_terminal", "args", "env", "seen"),
    [
        (True, [], {}, "\x1b[31mon a tty\x1b[0m 81x30"),  # auto: up is on a terminal; 100 - prefix (19)
        (True, ["--no-color"], {}, "on a tty 81x30"),
        (True, ["--no-tty"], {}, "no tty"),
        (False, ["--tty"], {"FORCE_COLOR": "1"}, "\x1b[31mon a tty\x1b[0m 61x24"),  # no window: 80x24
        (False, ["--tty"], {}, "on a tty 61x24"),
        (False, [], {"FORCE_COLOR": "1"}, "no tty"),  # auto: up's stdout is a pipe
    ],
)
def test_a_child_on_a_tty_keeps_its_colors_unless_up_has_none(
    make_project: MakeProject, on_terminal: bool, args: list[str], env: dict[str, str], seen: str
) -> None:
    root = make_project(
        {"show.py": SHOW, "pyproject.toml": pyproject({"color": f'command = "python show.py"\n{ONCE}'})}
    )
    if on_terminal:
        with TerminalProcess([*supervise_argv(), "up", *args], root, clean_env(**env), size=(100, 30)) as up:
            assert up.wait() == 0
            output = up.output
    else:
        output = subprocess.run(
            [*supervise_argv(), "up", *args], cwd=root, env=clean_env(**env), capture_output=True, timeout=20
        ).stdout
    parsed = [PREFIX.fullmatch(line) for line in lines_of(output)]
    texts = [m.group(2) for m in parsed if m and m.group(1) == "color.1"]
    assert any(text.startswith(seen) for text in texts), texts
    if "--no-color" in args or not (on_terminal or env):
        assert b"\x1b" not in output


FAKE = "12:00:00 system | web.1 exited with code 0; all is well"
LIAR = f"""\
import sys
fake = {FAKE!r}
w = sys.stdout.write
w("\\x1b[2J\\x1b[H\\x1b[1A\\x1b[2K" + fake + "\\n")
w("\\r" + fake + "\\n")
w("progress 50%\\r" + fake + "\\r\\n")
w("\\x1b]0;a title\\x07\\x1b[1A\\x1b[1G\\x1b[?25l\\x08\\x08\\x0b\\x0c" + fake + "\\n")
w("\\x1b[32mgreen\\x1b[0m and \\u009b2J C1\\n")
sys.stdout.flush()
"""


@pytest.mark.parametrize("tty", ["--tty", "--no-tty"])
@pytest.mark.parametrize("color", [True, False])
def test_a_child_cannot_fake_a_line_or_move_the_cursor(
    make_project: MakeProject, tty: str, color: bool
) -> None:
    root = make_project(
        {"liar.py": LIAR, "pyproject.toml": pyproject({"liar": f'command = "python liar.py"\n{ONCE}'})}
    )
    env = clean_env(FORCE_COLOR="1") if color else clean_env()
    result = subprocess.run(
        [*supervise_argv(), "up", tty], cwd=root, env=env, capture_output=True, timeout=20
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output
    # Nothing but colors reaches the terminal: no cursor movement, erase, title, CR, BS, VT, FF, C1.
    assert re.findall(r"\x1b(?!\[[0-9;]*m)|[\r\x08\x0b\x0c\x9b]", output) == []
    lines = output.splitlines()
    parsed = [PREFIX.fullmatch(line) for line in lines]
    assert all(parsed), lines
    texts = {(m.group(1), re.sub(r"\x1b\[[0-9;]*m", "", m.group(2))) for m in parsed if m}
    assert ("liar.1", FAKE) in texts and ("liar.1", f"progress 50%{FAKE}") not in texts
    assert not [text for name, text in texts if name == "system" and "all is well" in text]
    assert ("liar.1", "green and 2J C1") in texts
    assert ("\x1b[32mgreen\x1b[0m" in output) is color


def test_a_prompt_is_shown_after_a_pause_and_the_rest_follows_on_its_own_line(
    make_project: MakeProject,
) -> None:
    ask = "import sys\nsys.stdout.write('name? '); sys.stdout.flush(); sys.stdin.readline()\n"
    root = make_project(
        {"ask.py": ask, "pyproject.toml": pyproject({"ask": 'command = "python ask.py"\ntty = true'})}
    )
    with UpProcess([], root) as up:
        up.wait_for(r"ask\.1 +\| name\? $")
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


def test_up_follows_its_window_and_tells_the_children(make_project: MakeProject) -> None:
    watcher = (
        "import os, signal\n"
        "def show(*_):\n"
        "    size = os.get_terminal_size(1)\n"
        "    print('size', size.columns, size.lines, flush=True)\n"
        "signal.signal(signal.SIGWINCH, show)\n"
        "show()\n"
        "while True:\n"
        "    signal.pause()\n"
    )
    root = make_project(
        {"win.py": watcher, "pyproject.toml": pyproject({"win": 'command = "python win.py"'})}
    )
    with TerminalProcess([*supervise_argv(), "up"], root, size=(100, 30)) as up:
        up.expect(rb"win\.1  \| (?:\x1b\[0m)?size 82 30")  # 100 - len("HH:MM:SS win.1  | ")
        up.resize(120, 40)
        up.expect(rb"win\.1  \| (?:\x1b\[0m)?size 102 40")
        up.proc.send_signal(signal.SIGTERM)
        assert up.wait() == 143


def test_a_watcher_that_exits_on_stdin_eof_keeps_running_on_a_tty(make_project: MakeProject) -> None:
    watcher = (
        "import select, sys\n"
        "readable = select.select([sys.stdin], [], [], 0)[0]\n"
        "print('stdin is at its end' if readable else 'stdin waits for input', flush=True)\n"
        "sys.stdin.read()\n"
        "print('stdin closed: exiting')\n"
    )
    root = make_project(
        {"watcher.py": watcher, "pyproject.toml": pyproject({"watcher": 'command = "python watcher.py"'})}
    )
    with UpProcess(["--tty"], root) as up:
        up.wait_for(r"watcher\.1 +\| stdin waits for input$")
        status = run_cli("status", "--json", cwd=root)
        assert '"state": "STARTING"' in status.stdout or '"state": "RUNNING"' in status.stdout
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
        assert "stdin closed" not in up.output
    with UpProcess(["--no-tty"], root) as up:
        up.wait_for(r"watcher\.1 +\| stdin is at its end$")
        up.wait_for(r"watcher\.1 +\| stdin closed: exiting$")
        up.signal(signal.SIGTERM)
        up.finish()


def test_a_lot_of_output_through_a_pty_arrives_whole(make_project: MakeProject) -> None:
    count = 20_000
    writer = (
        "import sys\n"
        f"sys.stdout.write(''.join(f'line {{i:06d}} ' + 'x' * 50 + '\\n' for i in range({count})))\n"
    )
    root = make_project(
        {"w.py": writer, "pyproject.toml": pyproject({"w": f'command = "python w.py"\n{ONCE}'})}
    )
    result = run_cli("up", "--tty", cwd=root, timeout=60)
    numbers = [int(n) for n in re.findall(r"\| line (\d{6}) x{50}$", result.stdout, re.MULTILINE)]
    assert numbers == list(range(count))


def test_a_process_type_keeps_its_color_whatever_is_selected(make_project: MakeProject) -> None:
    processes = {name: f'command = "echo {name}"\n{ONCE}' for name in ("web", "worker", "assets")}
    root = make_project({"pyproject.toml": pyproject(processes)})

    def color_of_assets(*names: str) -> str:
        result = run_cli("up", *names, cwd=root, env=clean_env(FORCE_COLOR="1"))
        match = re.search(r"(\x1b\[[0-9;]*m)\d\d:\d\d:\d\d assets\.1 ", result.stdout)
        assert match, result.stdout
        return match.group(1)

    assert color_of_assets() == color_of_assets("assets", "worker") == color_of_assets("assets")


def test_check_shows_a_tty_setting_that_is_not_auto(make_project: MakeProject) -> None:
    processes = {"repl": 'command = "python"\ntty = true', "web": 'command = "serve"'}
    result = run_cli("check", cwd=make_project({"pyproject.toml": pyproject(processes, top='tty = "auto"')}))
    assert result.returncode == 0, result.stderr
    repl, web = result.stdout.split("\nweb.1")
    assert "  tty      true" in repl and "tty" not in web


def test_a_reload_that_adds_a_tty_process_or_turns_tty_on_gives_it_a_pty(make_project: MakeProject) -> None:
    """`up` on a pipe, with no tty process at first: the ptys come with the reload."""
    show = 'command = "python show.py"\n'
    root = make_project(
        {
            "show.py": SHOW + "import signal\nsignal.pause()\n",
            "pyproject.toml": pyproject({"a": show + "tty = false"}),
        }
    )
    with UpProcess([], root) as up:
        up.wait_for(r"a\.1 +\| no tty$")
        mark = len(up.output)
        temporary = root / "pyproject.toml.new"
        temporary.write_text(pyproject({"a": show + "tty = true", "b": show + "tty = true"}))
        temporary.replace(root / "pyproject.toml")  # one change, as an editor saves
        line = up.wait_for(r"system +\| pyproject\.toml changed: (.*)$", start=mark)
        assert line.group(1) == "restarting a (tty); starting b"
        up.wait_for(r"a\.1 +\| on a tty 62x24$", start=mark)  # 80 - len("HH:MM:SS system | ")
        up.wait_for(r"b\.1 +\| on a tty 62x24$", start=mark)
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


TERM_OF = "import os, signal\nprint('TERM=' + os.environ.get('TERM', '(none)'), flush=True)\nsignal.pause()\n"


@pytest.mark.parametrize(
    ("up_term", "own_env", "tty_term", "pipe_term"),
    [
        (None, "", "xterm-256color", "(none)"),  # nothing to inherit: a tty process still has one
        ("vt100", "", "vt100", "vt100"),  # up's own, as every process inherits it
        (None, 'env = { TERM = "screen" }', "screen", "(none)"),  # the process's env wins
    ],
)
def test_a_tty_process_sees_term_and_a_pipe_process_only_what_it_inherits(
    make_project: MakeProject, up_term: str | None, own_env: str, tty_term: str, pipe_term: str
) -> None:
    processes = {"t": f'command = "python term.py"\ntty = true\n{own_env}', "p": 'command = "python term.py"'}
    root = make_project({"term.py": TERM_OF, "pyproject.toml": pyproject(processes)})
    env = clean_env(**({"TERM": up_term} if up_term else {}))
    if up_term is None:
        env.pop("TERM", None)
    with UpProcess([], root, env) as up:
        up.wait_for(rf"t\.1 +\| TERM={re.escape(tty_term)}$")
        up.wait_for(rf"p\.1 +\| TERM={re.escape(pipe_term)}$")
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


def test_output_that_ends_right_at_a_full_pty_read_is_still_shown(make_project: MakeProject) -> None:
    """4,093 bytes and a newline are 4,095 on the pty (CR LF): one full read, and nothing after it."""
    full = "import signal, sys\nsys.stdout.write('x' * 4093 + '\\n')\nsys.stdout.flush()\nsignal.pause()\n"
    root = make_project(
        {"full.py": full, "pyproject.toml": pyproject({"full": 'command = "python full.py"'})}
    )
    with UpProcess(["--tty"], root) as up:
        up.wait_for(r"full\.1 +\| x{4093}$")
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
