"""Restarts with supervisord's semantics, with real processes and tiny timings."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support import UpProcess

MakeProject = Callable[[Mapping[str, str | bytes]], Path]


def project(make_project: MakeProject, processes: Mapping[str, Mapping[str, object]]) -> Path:
    lines = ["[tool.supervise]", "stop_timeout = 2", ""]
    for name, options in processes.items():
        lines.append(f"[tool.supervise.processes.{name}]")
        for key, value in options.items():
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, str) and not value.startswith(("{", "[")):
                rendered = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                rendered = str(value)
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return make_project({"pyproject.toml": "\n".join(lines)})


# Counts its starts in a file, so each test scripts what each attempt does.
def attempts(script: str) -> str:
    return f'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; {script}'


def test_restart_after_crash(make_project: MakeProject) -> None:
    root = project(
        make_project,
        {"web": {"command": attempts("sleep 0.3; exit 1"), "startsecs": 0.1, "autorestart": True}},
    )
    with UpProcess([], root) as up:
        up.wait_for(r"web\.1 exited with code 1 \(not expected\); restarting")
        up.wait_for(r"\| attempt 2")
        up.signal(signal.SIGINT)
        assert up.finish() == 130


def test_backoff_then_fatal_with_doubling_delays(make_project: MakeProject) -> None:
    root = project(
        make_project,
        {
            "web": {
                "command": "echo boom; exit 3",
                "startsecs": 1,
                "startretries": 3,
                "backoff": "{ initial = 0.05, max = 0.1 }",
            }
        },
    )
    with UpProcess([], root) as up:
        assert up.finish() == 1
    out = up.output
    assert "web.1 exited with code 3 within startsecs; retry 1 of 3 in 0.05 s" in out
    assert "retry 2 of 3 in 0.1 s" in out
    assert "retry 3 of 3 in 0.1 s" in out  # capped at max
    assert "web.1 is FATAL after 4 failed starts; see its output above" in out
    assert out.count("| boom") == 4  # the first start and 3 retries, as supervisord counts


def test_fatal_does_not_stop_the_others(make_project: MakeProject) -> None:
    root = project(
        make_project,
        {
            "broken": {"command": "exit 2", "startretries": 0},
            "steady": {"command": "while :; do echo tick; sleep 0.05; done", "startsecs": 0},
        },
    )
    with UpProcess([], root) as up:
        fatal = up.wait_for(r"broken\.1 is FATAL")
        up.wait_for(r"steady\.1 +\| tick", start=fatal.end())  # still running afterwards
        up.signal(signal.SIGTERM)
        assert up.finish() == 143


@pytest.mark.parametrize(
    ("autorestart", "code", "restarted", "up_exit"),
    [
        (True, 0, True, None),
        (True, 5, True, None),
        (False, 0, False, 0),
        (False, 5, False, 1),
        ("unexpected", 0, False, 0),
        ("unexpected", 5, True, None),
        ("unexpected", 2, False, 0),  # listed in exitcodes
    ],
)
def test_exitcodes_with_each_autorestart_value(
    make_project: MakeProject, autorestart: object, code: int, restarted: bool, up_exit: int | None
) -> None:
    root = project(
        make_project,
        {
            "job": {
                "command": attempts(f"sleep 0.2; exit {code}"),
                "startsecs": 0.05,
                "autorestart": autorestart,
                "exitcodes": "[0, 2]",
            }
        },
    )
    with UpProcess([], root) as up:
        if restarted:
            up.wait_for(r"\| attempt 2")
            up.signal(signal.SIGINT)
            assert up.finish() == 130
        else:
            assert up.finish() == up_exit
            assert "attempt 2" not in up.output
            verdict = "expected" if code in (0, 2) else "not expected"
            assert f"job.1 exited with code {code} ({verdict})" in up.output


def test_backoff_resets_after_a_start_that_reached_running(make_project: MakeProject) -> None:
    script = "case $n in 1) exit 1;; 2) sleep 0.4; exit 1;; 3) exit 1;; *) exec sleep 300;; esac"
    root = project(
        make_project,
        {
            "web": {
                "command": attempts(script),
                "startsecs": 0.2,
                "autorestart": True,
                "backoff": "{ initial = 0.05, max = 5 }",
            }
        },
    )
    with UpProcess([], root) as up:
        up.wait_for(r"\| attempt 4")
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    retries = re.findall(r"retry (\d) of 3 in ([\d.]+) s", up.output)
    # Attempt 1 failed (retry 1), attempt 2 reached RUNNING and then crashed,
    # attempt 3 failed: the count and the delay start over.
    assert retries == [("1", "0.05"), ("1", "0.05")]


def test_crash_loop_after_running_does_not_spin(make_project: MakeProject) -> None:
    root = project(
        make_project,
        {
            "flappy": {
                "command": attempts("exit 1"),
                "startsecs": 0,
                "autorestart": True,
                "backoff": "{ initial = 0.2, max = 1 }",
            }
        },
    )
    with UpProcess([], root) as up:
        up.wait_for(r"\| attempt 4")
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert re.search(r"restarting in 0\.(2|1\d) s", up.output)  # backoff.initial less the run's time
    # At least 0.2 s between starts: 4 attempts cannot have been 40 spins.
    assert up.output.count("| attempt") <= 6


def test_stop_during_backoff_cancels_the_pending_start(make_project: MakeProject) -> None:
    root = project(
        make_project,
        {"web": {"command": "exit 1", "startsecs": 1, "backoff": "{ initial = 30, max = 30 }"}},
    )
    with UpProcess([], root) as up:
        up.wait_for(r"retry 1 of 3 in 30 s")
        up.signal(signal.SIGINT)
        assert up.finish(timeout=5) == 130
        assert "web.1 stopped (a pending restart was cancelled)" in up.output
        assert up.output.count("web.1 started") == 1
