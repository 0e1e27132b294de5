"""Readiness probes against real sockets and real processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from supervise.config.model import Probe, ProbeKind
from supervise.config.pattern import HINT, PatternError
from supervise.config.targets import parse_tcp
from supervise.runtime.probes import LogMatcher, probe_once, wait_until_ready

T = TypeVar("T")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
BODY = b"x" * 300_000  # bigger than a socket buffer: the probe must read it to close cleanly


def run(coro: Awaitable[T], timeout: float = 20) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HttpServer:
    """Answers by path: /ok 200 (with a big body), /redirect 302, /error 500, /silent never, /flaky 500 twice.

    Like a keep-alive server, it waits for the client to close, except /eof, whose body ends at its close.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[BaseException] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            self.requests.append(head)
            path = head.split(" ", 2)[1]
            if path == "/silent":
                await reader.read()  # until the probe gives up and closes
                return
            if path == "/chunked":
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (BODY, b"end", b""))
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
                await writer.drain()
                await reader.read()
                return
            if path == "/eof":  # no length: the body ends where the server closes
                writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + BODY)
                await writer.drain()
                return
            flaky = "500 Oops" if sum("/flaky" in r for r in self.requests) <= 2 else "200 OK"
            status = {"/ok": "200 OK", "/redirect": "302 Found", "/error": "500 Oops", "/flaky": flaky}
            body = BODY if path == "/ok" else b""
            head = f"HTTP/1.1 {status[path]}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
            await reader.read()  # a polite client closes after reading everything
        except Exception as error:
            self.errors.append(error)
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def serving(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def http(url: str, timeout: float = 2.0) -> Probe:
    return Probe(ProbeKind.HTTP, url, interval=0.05, timeout=timeout)


def cmd(command: str, timeout: float = 2.0) -> Probe:
    return Probe(ProbeKind.CMD, command, interval=0.05, timeout=timeout)


def once(probe: Probe, cwd: Path = Path("/"), env: dict[str, str] = ENV) -> bool:
    return run(probe_once(probe, env=env, cwd=cwd))


@pytest.mark.parametrize(("path", "ready"), [("/ok", True), ("/redirect", True), ("/error", False)])
def test_http_ready_on_2xx_and_3xx_only(path: str, ready: bool) -> None:
    server = HttpServer()

    async def scenario() -> bool:
        async with serving(server.handle) as port:
            result = await probe_once(http(f"http://127.0.0.1:{port}{path}"), env=ENV, cwd=Path("/"))
            await asyncio.sleep(0)  # let the handler see our close
            return result

    assert run(scenario()) is ready
    assert server.requests[0].startswith(f"GET {path} HTTP/1.1\r\n")
    assert "\r\nHost: 127.0.0.1:" in server.requests[0]
    assert "\r\nConnection: close\r\n" in server.requests[0]


@pytest.mark.parametrize("path", ["/ok", "/chunked", "/eof"])
def test_http_probe_reads_to_the_end_of_the_answer_then_closes(path: str) -> None:
    """Not at the timeout (the server waits for us to close), and without resetting the server."""
    server = HttpServer()

    async def scenario() -> tuple[bool, float]:
        async with serving(server.handle) as port:
            start = time.monotonic()
            ok = await probe_once(http(f"http://127.0.0.1:{port}{path}", timeout=3), env=ENV, cwd=Path("/"))
            took = time.monotonic() - start
            for _ in range(10):
                await asyncio.sleep(0)
            return ok, took

    ok, took = run(scenario())
    assert ok
    assert took < 1.5
    assert server.errors == []


def test_http_server_that_never_answers_times_out_quickly() -> None:
    async def scenario() -> tuple[bool, float]:
        async with serving(HttpServer().handle) as port:
            start = time.monotonic()
            ok = await probe_once(
                http(f"http://127.0.0.1:{port}/silent", timeout=0.3), env=ENV, cwd=Path("/")
            )
            return ok, time.monotonic() - start

    ok, took = run(scenario())
    assert not ok
    assert 0.25 < took < 2


def test_refused_port_is_not_ready() -> None:
    port = free_port()
    assert not once(http(f"http://127.0.0.1:{port}/"))
    assert not once(Probe(ProbeKind.TCP, f"127.0.0.1:{port}"))


def test_bad_targets_are_not_ready_rather_than_errors() -> None:
    assert not once(http("ftp://127.0.0.1/"))
    assert not once(http("http://127.0.0.1:99999/"))
    assert not once(Probe(ProbeKind.TCP, "$PORT"))


async def close_at_once(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "{port}", "localhost:{port}", "tcp://127.0.0.1:{port}"])
def test_tcp_ready_when_a_listener_accepts(form: str) -> None:
    async def scenario() -> bool:
        async with serving(close_at_once) as port:
            return await probe_once(Probe(ProbeKind.TCP, form.format(port=port)), env=ENV, cwd=Path("/"))

    assert run(scenario())


def test_tcp_ipv6_literal() -> None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")

    async def scenario() -> bool:
        async with serving(close_at_once, host="::1") as port:
            return await probe_once(Probe(ProbeKind.TCP, f"[::1]:{port}"), env=ENV, cwd=Path("/"))

    assert run(scenario())


@pytest.mark.parametrize(
    ("target", "address"),
    [
        ("5000", ("127.0.0.1", 5000)),
        ("db:5432", ("db", 5432)),
        ("[::1]:8080", ("::1", 8080)),
        (":7000", ("127.0.0.1", 7000)),
    ],
)
def test_tcp_address_forms(target: str, address: tuple[str, int]) -> None:
    where = parse_tcp(target)
    assert (where.host, where.port) == address


@pytest.mark.parametrize("target", ["", "db", "db:http", "::1:80", "[::1]80", "host:0", "host:70000"])
def test_tcp_address_rejects(target: str) -> None:
    with pytest.raises(ValueError):
        parse_tcp(target)


def test_cmd_ready_on_exit_zero_only(tmp_path: Path) -> None:
    assert once(cmd("exit 0"))
    assert not once(cmd("exit 1"))
    assert not once(cmd("no-such-command-here"))


def test_cmd_gets_env_and_cwd(tmp_path: Path) -> None:
    probe = cmd(f'test "$GREETING" = hello && test "$(pwd)" = "{tmp_path}"')
    assert once(probe, cwd=tmp_path, env={**ENV, "GREETING": "hello"})
    assert not once(probe, cwd=tmp_path, env=ENV)


def test_cmd_with_a_missing_directory_is_not_ready(tmp_path: Path) -> None:
    assert not once(cmd("true"), cwd=tmp_path / "missing")


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for init (Linux)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


async def until(check: Callable[[], bool], timeout: float = 5) -> None:
    """Wait, bounded, for a condition the child brings about in a file."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def read_pid(path: Path) -> int:
    return int(path.read_text())


def test_hanging_cmd_is_killed_at_timeout_and_leaves_no_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    assert not once(cmd(f"echo $$ > {pidfile}; exec sleep 30", timeout=0.3))
    assert time.monotonic() - start < 3
    with pytest.raises(ProcessLookupError):
        os.kill(read_pid(pidfile), 0)


def test_cmd_leaves_no_background_process_even_when_it_succeeds(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg"
    assert once(cmd(f"sleep 30 & echo $! > {pidfile}; exit 0"))

    async def wait_gone() -> None:
        await until(lambda: gone(read_pid(pidfile)))

    run(wait_gone())


def test_cancelling_wait_until_ready_kills_the_cmd_probe_group(tmp_path: Path) -> None:
    shell, child = tmp_path / "shell", tmp_path / "child"
    probe = cmd(f"echo $$ > {shell}.tmp && mv {shell}.tmp {shell}; sleep 30 & echo $! > {child}; wait", 30)

    async def scenario() -> None:
        task = asyncio.ensure_future(wait_until_ready(probe, env=ENV, cwd=tmp_path))
        await until(lambda: child.exists() and shell.exists() and child.read_text().strip() != "")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ProcessLookupError):
            os.kill(read_pid(shell), 0)  # our own child: killed and reaped before the cancel returned
        await until(lambda: gone(read_pid(child)))

    run(scenario())


def test_wait_until_ready_returns_once_a_server_starts_listening() -> None:
    port = free_port()
    probe = Probe(ProbeKind.TCP, str(port), interval=0.05, timeout=1)

    async def scenario() -> None:
        task = asyncio.ensure_future(wait_until_ready(probe, env=ENV, cwd=Path("/")))
        done, _ = await asyncio.wait({task}, timeout=0.2)
        assert not done, "ready before anything listened"
        async with serving(close_at_once, port=port):
            await asyncio.wait_for(task, 5)

    run(scenario())


def test_wait_until_ready_keeps_trying_through_server_errors() -> None:
    server = HttpServer()

    async def scenario() -> None:
        async with serving(server.handle) as port:
            probe = http(f"http://127.0.0.1:{port}/flaky")
            await asyncio.wait_for(wait_until_ready(probe, env=ENV, cwd=Path("/")), 5)

    run(scenario())
    assert len(server.requests) == 3


def test_log_matcher_matches_across_chunks() -> None:
    matcher = LogMatcher(r"listening on \d+")
    assert not matcher.feed(b"starting up\nloading config\n")
    assert not matcher.matched.is_set()
    assert not matcher.feed(b"worker 1 ready\nlisten")
    assert matcher.feed(b"ing on 5000\nmore\n")
    assert matcher.matched.is_set()
    assert matcher.feed(b"anything after\n")


def test_log_matcher_anchors_work_per_line() -> None:
    matcher = LogMatcher(r"^ready$")
    assert not matcher.feed(b"not ready\nalready\nready now\n")
    assert matcher.feed(b"booting\nready\nserving\n")


def test_log_matcher_line_end_with_crlf() -> None:
    assert LogMatcher(r"^ready$").feed(b"ready\r\n")


def test_log_matcher_waits_for_the_end_of_the_line() -> None:
    matcher = LogMatcher(r"^ready$")
    assert not matcher.feed(b"ready")  # "ready" may still become "ready? no"
    assert not matcher.feed(b"? no\n")


def test_log_matcher_never_matches_a_fragment_of_a_long_line() -> None:
    """The old matcher kept the last 4096 bytes of a long line: `^ready` matched its middle."""
    matcher = LogMatcher(r"^ready")
    assert not matcher.feed(b"junk" * 2000)
    assert not matcher.feed(b"ready" + b"z" * 4091)
    assert not matcher.feed(b"\n")
    assert matcher.feed(b"ready\n")


def test_log_matcher_skips_a_line_longer_than_16_mib_and_matches_the_next() -> None:
    matcher = LogMatcher(r"ready")
    for _ in range(17):
        assert not matcher.feed(b"x" * (1 << 20))
    assert not matcher.feed(b"ready\n")  # the end of the 17 MiB line: skipped, not matched
    assert matcher.feed(b"ready\n")


def test_log_matcher_pattern_cannot_freeze_the_loop() -> None:
    """`^(a+)+$` backtracks exponentially in Python's re; RE2 is linear in the line."""
    matcher = LogMatcher(r"^(a+)+$")
    started = time.monotonic()
    assert not matcher.feed(b"a" * 100_000 + b"b\n")
    assert not matcher.feed(b"a" * 40 + b"b\n")
    assert time.monotonic() - started < 1.0
    assert matcher.feed(b"aaaa\n")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence: \\1"),
        (r"(?=ready)", "invalid perl operator: (?="),
        (r"ready\Z", "invalid escape sequence: \\Z"),
        ("(unclosed", "missing ): (unclosed"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_with_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as caught:
        LogMatcher(pattern)
    assert str(caught.value) == f"invalid regular expression: {reason} ({HINT})"


def test_wait_until_ready_on_a_log_probe_waits_for_the_line() -> None:
    probe = Probe(ProbeKind.LOG, r"^Listening")
    matcher = LogMatcher(probe.target)

    async def scenario() -> None:
        task = asyncio.ensure_future(wait_until_ready(probe, env=ENV, cwd=Path("/"), log=matcher))
        await asyncio.sleep(0)
        assert not task.done()
        matcher.feed(b"Listening at http://127.0.0.1:5000\n")
        await asyncio.wait_for(task, 1)

    run(scenario())


def test_a_log_probe_without_its_matcher_is_a_bug() -> None:
    probe = Probe(ProbeKind.LOG, "x")
    with pytest.raises(ValueError):
        run(wait_until_ready(probe, env=ENV, cwd=Path("/")))
    with pytest.raises(ValueError):
        run(probe_once(probe, env=ENV, cwd=Path("/")))
