"""`supervise logs` against a real `up` over its real control socket (PRODUCT.md §7)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import UpProcess, clean_env, run_cli, supervise_argv, write_files

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:[+-]\d\d:\d\d|Z)"
PREFIXED = re.compile(r"\d\d:\d\d:\d\d (\S+) +\| (.*)")

# Fixed output, then quiet: what `up` printed can be compared line for line with `logs`.
FIXED = {
    "Procfile": (
        'web: for i in $(seq 1 60); do echo "web line $i"; done; exec sleep 600\n'
        'worker: for i in $(seq 1 60); do echo "worker line $i"; done; exec sleep 600\n'
    ),
    "pyproject.toml": (
        '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 2\n'
        "[tool.supervise.processes.web]\nconcurrency = 2\n"
        '[tool.supervise.groups]\nback = ["worker"]\n'
    ),
}
FIXED_DONE = [r"web\.1 +\| web line 60", r"web\.2 +\| web line 60", r"worker\.1 +\| worker line 60"]

TICKER = (
    "import sys, time\n"
    "k = 0\n"
    "while True:\n"
    "    k += 1\n"
    "    print(f'tick {k}', flush=True)\n"
    "    time.sleep(0.02)\n"
)


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpProcess, Path]]:
    """One `up` for the tests that only read its output."""
    root = write_files(tmp_path_factory.mktemp("fixed") / "app", FIXED)
    with UpProcess([], root) as up:
        for pattern in FIXED_DONE:
            up.wait_for(pattern)
        up.wait_for(r"system +\| worker\.1 started")
        yield up, root
        up.signal(signal.SIGINT)
        up.finish()


def printed(up: UpProcess) -> list[str]:
    return [line for line in up.output.splitlines() if PREFIXED.fullmatch(line)]


def logs(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("logs", *args, cwd=root, env=clean_env(**env))


def test_logs_prints_what_up_printed_in_the_same_order_and_format(fixed: tuple[UpProcess, Path]) -> None:
    up, root = fixed
    result = logs(root, "-n", "1000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed(up)  # 3 x 60 lines and the system lines


def test_default_is_the_last_100_lines_and_n_takes_fewer(fixed: tuple[UpProcess, Path]) -> None:
    up, root = fixed
    assert logs(root).stdout.splitlines() == printed(up)[-100:]
    assert logs(root, "-n", "3").stdout.splitlines() == printed(up)[-3:]
    assert logs(root, "-n", "0").stdout == ""


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (["web"], {"web.1", "web.2"}),
        (["web.2"], {"web.2"}),
        (["back"], {"worker.1"}),
        (["system"], {"system"}),
        (["web.1", "system"], {"web.1", "system"}),
    ],
)
def test_names_resolve_like_status_plus_system(
    fixed: tuple[UpProcess, Path], names: list[str], shown: set[str]
) -> None:
    up, root = fixed
    result = logs(root, "-n", "1000", *names)
    assert result.returncode == 0, result.stderr
    expected = [line for line in printed(up) if PREFIXED.fullmatch(line).group(1) in shown]  # type: ignore[union-attr]
    assert result.stdout.splitlines() == expected


def test_an_unknown_name_is_one_line_exit_2_with_a_close_one(fixed: tuple[UpProcess, Path]) -> None:
    _, root = fixed
    result = logs(root, "wbe")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == 'supervise: unknown instance, process or group "wbe"; did you mean "web"?\n'


def test_grep_keeps_the_last_matching_lines(fixed: tuple[UpProcess, Path]) -> None:
    up, root = fixed
    result = logs(root, "--grep", r"line 5\d$", "-n", "15")
    assert result.returncode == 0, result.stderr
    matching = [line for line in printed(up) if re.search(r"line 5\d$", PREFIXED.fullmatch(line).group(2))]  # type: ignore[union-attr]
    assert len(matching) == 30
    assert result.stdout.splitlines() == matching[-15:]


def test_a_bad_grep_pattern_is_one_line_exit_2(fixed: tuple[UpProcess, Path]) -> None:
    _, root = fixed
    result = logs(root, "--grep", "line (")
    assert result.returncode == 2
    assert result.stderr.startswith("supervise: --grep: invalid regular expression 'line (': ")
    assert len(result.stderr.splitlines()) == 1


def test_json_is_one_object_per_line(fixed: tuple[UpProcess, Path]) -> None:
    up, root = fixed
    result = logs(root, "--json", "-n", "1000")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(list(record) == ["time", "name", "text"] for record in records)
    assert all(re.fullmatch(ISO, record["time"]) for record in records)
    assert [(r["name"], r["text"]) for r in records] == [
        PREFIXED.fullmatch(line).groups()
        for line in printed(up)  # type: ignore[union-attr]
    ]
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)


def test_colors_follow_the_conventions(fixed: tuple[UpProcess, Path]) -> None:
    _, root = fixed
    assert "\x1b[" not in logs(root).stdout  # not a terminal
    forced = logs(root, "-n", "2", FORCE_COLOR="1").stdout
    assert forced.count("\x1b[") >= 4 and forced.endswith("\x1b[0m\n")
    assert "\x1b[" not in logs(root, FORCE_COLOR="1", NO_COLOR="1").stdout
    assert "\x1b[" not in run_cli("logs", "--no-color", cwd=root, env=clean_env(FORCE_COLOR="1")).stdout


def test_colors_on_a_terminal_are_ups(fixed: tuple[UpProcess, Path]) -> None:
    _, root = fixed
    main, secondary = os.openpty()
    try:
        process = subprocess.Popen(
            [*supervise_argv(), "logs", "-n", "1", "worker"], cwd=root, env=clean_env(), stdout=secondary
        )
        os.close(secondary)
        data = b""
        while process.poll() is None or select.select([main], [], [], 0.1)[0]:
            if select.select([main], [], [], 5)[0]:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not chunk:
                    break
                data += chunk
        process.wait(timeout=10)
    finally:
        os.close(main)
    # worker is the second process type: the second color of up's palette, the prefix only.
    assert re.fullmatch(rb"\x1b\[33m\d\d:\d\d:\d\d worker\.1 \| \x1b\[0mworker line 60\x1b\[0m\r\n", data)


def test_options_before_the_command_and_the_display_flags(
    fixed: tuple[UpProcess, Path], tmp_path: Path
) -> None:
    up, root = fixed
    last = printed(up)[-2:]
    # `-f` before the command is the Procfile, as for every command; after it, logs' --follow.
    before = run_cli("-f", str(root / "Procfile"), "logs", "-n", "2", cwd=tmp_path, env=clean_env())
    assert (before.returncode, before.stdout.splitlines()) == (0, last), before.stderr
    assert (
        run_cli("-d", str(root), "logs", "-n", "2", cwd=tmp_path, env=clean_env()).stdout.splitlines() == last
    )
    bare = logs(root, "-n", "2", "--no-timestamp").stdout.splitlines()
    assert bare == [line[len("HH:MM:SS ") :] for line in last]
    assert logs(root, "-n", "2", "--no-prefix").stdout.splitlines() == [
        line.split("| ", 1)[1] for line in last
    ]


def test_without_up_running_it_is_one_line_exit_1(tmp_path: Path) -> None:
    root = write_files(tmp_path / "app", {"Procfile": "web: sleep 100\n"})
    result = logs(root)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"supervise: no supervise up is running for {root.resolve()}\n"


# -- following -----------------------------------------------------------------------------


class Follow:
    """`supervise logs -f ...` running, its lines read with bounded waits."""

    def __init__(self, root: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [*supervise_argv(), "logs", "-f", *args],
            cwd=root,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self._fd = self.process.stdout.fileno()
        self._buffer = b""
        self.lines: list[str] = []

    def read_until(self, pattern: str, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r}: {self.lines[-5:]}"
            if not select.select([self._fd], [], [], remaining)[0]:
                continue
            chunk = os.read(self._fd, 65536)
            assert chunk, f"logs -f ended before {pattern!r}: {self.lines[-5:]}"
            self._buffer += chunk
            *whole, self._buffer = self._buffer.split(b"\n")
            self.lines += [line.decode() for line in whole]
        return self.lines

    def finish(self, timeout: float = 10) -> tuple[int, str]:
        """Exit code and the rest of stdout, once it ends."""
        out, err = self.process.communicate(timeout=timeout)
        self.lines += (self._buffer + out).decode().splitlines()
        return self.process.returncode, err.decode()


def ticks(lines: list[str]) -> list[int]:
    return [int(m[1]) for line in lines if (m := re.search(r"\| tick (\d+)$", line))]


@pytest.fixture
def ticking(tmp_path: Path) -> Iterator[tuple[UpProcess, Path]]:
    root = write_files(
        tmp_path / "app",
        {"tick.py": TICKER, "Procfile": f"web: exec {sys.executable} tick.py\nquiet: exec sleep 600\n"},
    )
    with UpProcess([], root) as up:
        up.wait_for(r"web\.1 +\| tick 10$")
        yield up, root
        if up.proc.poll() is None:
            up.signal(signal.SIGINT)
            up.finish()


def test_follow_streams_every_new_line_once_until_ctrl_c(ticking: tuple[UpProcess, Path]) -> None:
    _, root = ticking
    follow = Follow(root, "-n", "5", "web")
    lines = follow.read_until(r"\| tick \d*[02468]5$")  # some lines after the history
    first = ticks(lines)[0]
    follow.read_until(rf"\| tick {first + 60}$")
    follow.process.send_signal(signal.SIGINT)
    code, err = follow.finish()
    assert (code, err) == (0, "")
    seen = ticks(follow.lines)
    assert seen == list(range(first, first + len(seen)))  # no gap, no repeat between history and stream
    assert len(seen) >= 60


def test_follow_ends_with_exit_0_when_up_ends_and_shows_its_last_lines(
    ticking: tuple[UpProcess, Path],
) -> None:
    up, root = ticking
    follow = Follow(root, "-n", "1", "system", "quiet")
    follow.read_until(r"system +\| quiet\.1 started")  # the history: it follows from here on
    up.signal(signal.SIGINT)
    assert up.finish() == 130
    code, err = follow.finish()
    assert (code, err) == (0, "")
    shown = [PREFIXED.fullmatch(line).groups() for line in follow.lines]  # type: ignore[union-attr]
    assert ("system", "SIGINT received, stopping") in shown
    assert ("system", "web.1 stopped (was killed by SIGTERM)") in shown
    assert ("system", "quiet.1 stopped (was killed by SIGTERM)") in shown
    assert {name for name, _ in shown} == {"system"}


def test_follow_with_grep_and_json(ticking: tuple[UpProcess, Path]) -> None:
    _, root = ticking
    follow = Follow(root, "-n", "0", "--json", "--grep", "0$", "web")
    follow.read_until(r'"text": "tick \d+0"')
    follow.read_until(r'"text": "tick \d+0"', timeout=10)
    follow.process.send_signal(signal.SIGINT)
    assert follow.finish()[0] == 0
    records = [json.loads(line) for line in follow.lines]
    assert records and all(r["name"] == "web.1" and r["text"].endswith("0") for r in records)


# -- up --json -----------------------------------------------------------------------------


def test_up_json_writes_json_lines_instead_of_the_prefixed_view(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "app",
        {
            "Procfile": "web: printf 'plain\\n\\033[31mred\\033[0m\\r\\n\"quoted\" \\\\ \\377\\nlast'\n",
            "pyproject.toml": (
                '[tool.supervise]\nprocfile = "Procfile"\n'
                "[tool.supervise.processes.web]\nstartsecs = 0\nautorestart = false\n"
            ),
        },
    )
    with UpProcess(["--json"], root, env=clean_env(FORCE_COLOR="1")) as up:
        assert up.finish() == 0
    records = [json.loads(line) for line in up.output.splitlines()]
    assert all(list(r) == ["time", "name", "text"] and re.fullmatch(ISO, r["time"]) for r in records)
    assert [r["text"] for r in records if r["name"] == "web.1"] == [
        "plain",
        "red",  # text, not a terminal's colors: sanitized as with --no-color
        '"quoted" \\ \ufffd',
        "last",
    ]
    system = [r["text"] for r in records if r["name"] == "system"]
    assert system[0].startswith("web.1 started (pid ") and system[1:] == [
        "web.1 exited with code 0 (expected)"
    ]
