"""An instance lives as long as its process group (PRODUCT.md §3 Lifetime, Output sink).

Real Procfile lines are shell lines: these tests use compound commands
(`cd . && python srv.py`), where the shell leads the group and the program is
its child, and a server whose graceful shutdown takes time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import UpProcess, clean_env, run_cli, supervise_argv, wait_gone

MakeProject = Callable[[Mapping[str, str | bytes]], Path]

SERVER = """\
import os, signal, socket, sys, time
name = sys.argv[1] if len(sys.argv) > 1 else "srv"
sock = socket.socket()
try:
    sock.bind(("127.0.0.1", int(os.environ["PORT"])))
except OSError as error:
    print(f"{name}: {error}", flush=True)
    sys.exit(1)
sock.listen()
terms = 0
def on_term(signum, frame):
    global terms
    terms += 1
    print(f"{name} got SIGTERM #{terms}", flush=True)
    if terms == 1:
        time.sleep(float(os.environ.get("GRACE", "1")))  # a graceful shutdown that takes time
        print(f"{name} bye", flush=True)
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print(f"{name} listening on {os.getpid()}", flush=True)
while True:
    time.sleep(3600)
"""

MASTER = """\
import os, signal, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", '''
import signal, sys, time
def got(signum, frame):
    print("worker got " + signal.Signals(signum).name, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, got)
signal.signal(signal.SIGINT, got)
print("worker ready", flush=True)
while True: time.sleep(3600)
'''])
def stop(signum, frame):
    worker.send_signal(signal.SIGINT)  # the master's own way of stopping its workers
    worker.wait()
    print("master bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(3600)
"""


def free_port() -> str:
    """A port base no other test (or a developer's `up`) is using: the servers here bind it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def up_args(*args: str) -> list[str]:
    return ["-p", free_port(), *args]


def toml(processes: str, top: str = "") -> str:
    return f"[tool.supervise]\n{top}\n{processes}"


def test_watch_reload_starts_the_new_server_only_after_the_old_one_exited(make_project: MakeProject) -> None:
    root = make_project(
        {
            "srv.py": SERVER,
            "app.py": "v = 1\n",
            "pyproject.toml": toml(
                '[tool.supervise.processes.web]\ncommand = "cd . && python srv.py web"\n'
                'watch = ["app.py"]\nstartsecs = 0.2\nstop_timeout = 5\n'
            ),
        }
    )
    with UpProcess(up_args(), root) as up:
        up.wait_for(r"web listening")
        up.wait_for(r"watching")
        (root / "app.py").write_text("v = 2\n")
        mark = up.wait_for(r"web bye").end()
        up.wait_for(r"web listening", start=mark)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "Address already in use" not in up.output
    assert "retry" not in up.output
    # The old program got one SIGTERM (the shell's group), not one per stop path.
    assert "SIGTERM #2" not in up.output


def test_restart_waits_for_the_old_group_and_counts_no_retry(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SERVER, "Procfile": "web: cd . && python srv.py web\n"})
    env = clean_env()
    with UpProcess(up_args(), root, env) as up:
        up.wait_for(r"web listening")
        result = run_cli("restart", "web", cwd=root, env=env, timeout=30)
        assert result.returncode == 0, result.stderr
        # `restart` returned: the new server is up, after the old one said bye.
        out = up.wait_for(r"web listening(.|\n)*web listening").group(0)
        assert "web bye" in out
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "Address already in use" not in up.output and "retry" not in up.output


def test_a_trapping_program_gets_exactly_one_sigterm(make_project: MakeProject) -> None:
    for command in ("cd . && python srv.py one", "python srv.py one"):
        root = make_project({"srv.py": SERVER, "Procfile": f"one: {command}\n"})
        with UpProcess(up_args(), root) as up:
            up.wait_for(r"one listening")
            up.signal(signal.SIGTERM)
            assert up.finish() == 143
        assert "one got SIGTERM #1" in up.output and "SIGTERM #2" not in up.output, up.output
        assert "one.1 stopped" in up.output


def test_a_dependency_is_signalled_only_after_its_dependents_program_exited(
    make_project: MakeProject,
) -> None:
    root = make_project(
        {
            "srv.py": SERVER,
            "pyproject.toml": toml(
                '[tool.supervise.processes.db]\ncommand = "cd . && python srv.py db"\n'
                "[tool.supervise.processes.web]\n"
                'command = "cd . && python srv.py web"\ndepends_on = ["db"]\n',
                top="stop_timeout = 5",
            ),
        }
    )
    with UpProcess(up_args(), root) as up:
        up.wait_for(r"db listening")
        up.wait_for(r"web listening")
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    out = up.output
    assert out.index("web bye") < out.index("web.1 stopped") < out.index("db got SIGTERM")


def test_master_worker_under_the_default_stopasgroup_stops_its_own_workers(make_project: MakeProject) -> None:
    root = make_project({"master.py": MASTER, "Procfile": "app: python master.py\n"})
    with UpProcess(up_args(), root) as up:
        up.wait_for(r"worker ready")
        up.signal(signal.SIGTERM)
        assert up.finish() == 143
    # The stop signal went to the master alone (exec'd: the shell is not in between);
    # the worker heard only from its master.
    assert "worker got SIGINT" in up.output and "worker got SIGTERM" not in up.output
    assert "master bye" in up.output


def test_what_a_crashed_program_left_is_stopped_before_the_restart(make_project: MakeProject) -> None:
    root = make_project(
        {
            "srv.py": SERVER,
            "Procfile": "web: python srv.py web & sleep 0.5; echo crashing; exit 3\n",
        }
    )
    with UpProcess(up_args(), root) as up:
        up.wait_for(r"crashing")
        mark = up.wait_for(r"web bye").end()
        up.wait_for(r"web listening", start=mark)
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    out = up.output
    assert "stopping what it left in its process group" in out
    # The exit is reported once the leftover server is gone, and then the restart comes.
    assert out.index("web bye") < out.index("web.1 exited with code 3 within startsecs")
    assert "Address already in use" not in out


def test_a_simple_command_is_execd_so_its_pid_is_the_programs(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SERVER, "Procfile": "web: python srv.py web\n"})
    with UpProcess(up_args(), root) as up:
        listening = int(up.wait_for(r"web listening on (\d+)").group(1))
        started = int(up.wait_for(r"web\.1 started \(pid (\d+)\)").group(1))
        assert started == listening
        up.signal(signal.SIGINT)
        assert up.finish() == 130
    assert "web.1 stopped (exited with code 0)" in up.output


def test_abort_on_exit_ends_on_a_crash_that_would_be_restarted(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": toml(
                '[tool.supervise.processes.flaky]\ncommand = "sleep 0.5; exit 3"\n'
                "startsecs = 0.1\nautorestart = true\n"
                '[tool.supervise.processes.other]\ncommand = "sleep 100"\n'
            )
        }
    )
    with UpProcess(up_args("--abort-on-exit"), root) as up:
        assert up.finish() == 3
    assert up.output.count("flaky.1 started") == 1


def test_startsecs_zero_with_a_probe_still_probes(make_project: MakeProject) -> None:
    root = make_project(
        {
            "pyproject.toml": toml(
                '[tool.supervise.processes.web]\ncommand = "python -m http.server $PORT"\n'
                'startsecs = 0\nready = { http = "http://127.0.0.1:$PORT/" }\n'
            )
        }
    )
    with UpProcess(up_args("--then", "echo smoke-ok", "--ready-timeout", "20"), root) as up:
        assert up.finish(timeout=30) == 0
    assert "web.1 is ready" in up.output and "smoke-ok" in up.output


def test_requests_that_would_start_something_are_refused_once_stopping(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SERVER, "Procfile": "web: cd . && python srv.py web\n"})
    env = clean_env(GRACE="3")
    with UpProcess(up_args(), root, env) as up:
        up.wait_for(r"web listening")
        up.signal(signal.SIGTERM)
        up.wait_for(r"web got SIGTERM")
        result = run_cli("restart", "web", cwd=root, env=env)
        assert result.returncode == 1
        assert "stopping" in result.stderr and len(result.stderr.splitlines()) == 1
        assert up.finish() == 143
    assert up.output.count("web listening") == 1


def test_one_ctrl_c_delivered_twice_is_one_graceful_stop(make_project: MakeProject) -> None:
    root = make_project({"srv.py": SERVER, "Procfile": "web: cd . && python srv.py web\n"})
    with UpProcess(up_args(), root, clean_env(GRACE="0.5")) as up:
        up.wait_for(r"web listening")
        up.signal(signal.SIGINT)
        up.signal(signal.SIGINT)  # as `npm run` and the terminal both deliver it
        assert up.finish() == 130
    assert "killing everything" not in up.output
    assert "web bye" in up.output


def test_closed_stdout_stops_everything_and_exits_141(make_project: MakeProject) -> None:
    root = make_project({"Procfile": "talk: while :; do echo line; sleep 0.01; done\n"})
    proc = subprocess.Popen(
        [*supervise_argv(), "up"],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # as `supervise up | head -1` reads, then goes away
    pid = int(re.search(rb"pid (\d+)", first).group(1))  # type: ignore[union-attr]
    proc.stdout.close()
    try:
        assert proc.wait(timeout=15) == 141
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert b"Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    assert wait_gone([pid]) == []


def test_a_stalled_stdout_does_not_stop_signals_from_working(make_project: MakeProject) -> None:
    root = make_project(
        {
            "loud.py": "import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 200 + b'\\n')\n",
            "Procfile": "loud: python loud.py\n",
        }
    )
    proc = subprocess.Popen(
        [*supervise_argv(), "up"],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,  # never read: the pipe fills and stays full
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.read(1)  # it has started writing
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 143
        assert time.monotonic() - began < 10 + 1  # within stop_timeout plus a second
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
