"""Readiness: is an instance ready for its dependents and for `--then`?

`ready = { http = URL }` wants a 2xx/3xx answer, `tcp = "host:port"` a
connection, `cmd = "..."` exit 0, and `log = "regex"` a line of the
instance's own output. Each try is bounded by the probe's timeout and a
failed try is just False: the caller decides how long to keep trying.
A `cmd` probe runs in a process group of its own, and nothing it started
is left behind, whether it exits, times out or is cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from supervise.config.model import Probe, ProbeKind
from supervise.config.pattern import compile_log_pattern
from supervise.config.targets import parse_tcp
from supervise.runtime.group import kill_group
from supervise.runtime.output import LINE_LIMIT

T = TypeVar("T")

DRAIN_LIMIT = 1 << 20
"""At most this much of an HTTP answer's body is read (so we close politely instead of resetting)."""

FAILED_TRY = (OSError, ValueError, EOFError, asyncio.TimeoutError, asyncio.LimitOverrunError)
"""What a refused, reset, garbled or timed-out try raises (ssl errors are OSErrors)."""


class LogMatcher:
    """`ready = { log = "regex" }`: `matched` is set by the first whole output line the pattern finds.

    Output arrives in chunks cut anywhere, so the start of a line is held until
    its newline: the pattern only ever sees whole lines, one at a time (`^` and
    `$` are the line's ends), never a fragment that might match where the line
    does not. A line longer than LINE_LIMIT is not held but skipped. Matching is
    RE2's (config/pattern.py), linear in the line whatever the pattern.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.regex = compile_log_pattern(pattern)
        self.matched = asyncio.Event()
        self._held: list[bytes] = []
        self._held_size = 0
        self._skipping = False
        """Inside a line longer than LINE_LIMIT: dropped up to its newline."""

    def feed(self, data: bytes) -> bool:
        """Output bytes as they came from the pipe; True once a whole line has matched."""
        if self.matched.is_set():
            return True
        last = data.rfind(b"\n")
        if last < 0:
            self._hold(data)
            return False
        first = data.find(b"\n")
        self._hold(data[:first])
        line = self._take()  # the line that began in earlier chunks ends here
        found = line is not None and self._search(line)
        if not found and first < last:
            found = any(self._search(line) for line in data[first + 1 : last].split(b"\n"))
        self._hold(data[last + 1 :])
        if found:
            self.matched.set()
        return found

    def _search(self, line: bytes) -> bool:
        if len(line) > LINE_LIMIT:
            return False
        text = line.decode("utf-8", "replace")
        return self.regex.search(text.removesuffix("\r")) is not None  # CRLF: `$` ends the line

    def _hold(self, data: bytes) -> None:
        if self._skipping or not data:
            return
        self._held.append(data)
        self._held_size += len(data)
        if self._held_size > LINE_LIMIT:
            self._held, self._held_size, self._skipping = [], 0, True

    def _take(self) -> bytes | None:
        """The held line (None when it was too long), no longer held."""
        line = None if self._skipping else b"".join(self._held)
        self._held, self._held_size, self._skipping = [], 0, False
        return line

    def __repr__(self) -> str:
        state = "matched" if self.matched.is_set() else "waiting"
        return f"<LogMatcher {self.pattern!r} {state}>"


async def probe_once(probe: Probe, *, env: Mapping[str, str], cwd: Path) -> bool:
    """One try of an http, tcp or cmd probe, bounded by `probe.timeout`; False when it fails.

    A log probe cannot be tried once (it is fed output): that is a ValueError.
    """
    return await why_not_ready(probe, env=env, cwd=cwd) is None


async def why_not_ready(probe: Probe, *, env: Mapping[str, str], cwd: Path) -> str | None:
    """One try of an http, tcp or cmd probe: None when it passed, else why not, in a few words."""
    try:
        if probe.kind is ProbeKind.HTTP:
            status = await http_status(probe.target, probe.timeout)
            return None if 200 <= status < 400 else f"answered HTTP {status or '(not HTTP)'}"
        if probe.kind is ProbeKind.TCP:
            await tcp_connects(probe.target, probe.timeout)
            return None
        if probe.kind is ProbeKind.CMD:
            code = await cmd_exit_code(probe.target, env=env, cwd=cwd, timeout=probe.timeout)
            if code is None:
                return f"no exit within {probe.timeout:g} s"
            return None if code == 0 else f"exited with code {code}"
    except FAILED_TRY as error:
        return _failure(error, probe.timeout)
    raise ValueError(f"a {probe.kind.value} probe is not tried once; use wait_until_ready with a LogMatcher")


def _failure(error: BaseException, timeout: float) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


async def wait_until_ready(
    probe: Probe,
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: LogMatcher | None = None,
    failed: Callable[[str], None] | None = None,
) -> None:
    """Return once the instance is ready: try every `probe.interval` (or wait for the log line).

    Runs until cancelled otherwise; a cancelled cmd try leaves no process behind.
    `failed` hears why each try failed (what `status` shows while dependents wait).
    """
    if probe.kind is ProbeKind.LOG:
        if log is None:
            raise ValueError("a log probe needs the LogMatcher that the instance's output is fed to")
        if failed is not None:
            failed(f"no output line matched {probe.target!r} yet")
        await log.matched.wait()
        return
    while (why := await why_not_ready(probe, env=env, cwd=cwd)) is not None:
        if failed is not None:
            failed(why)
        await asyncio.sleep(probe.interval)


async def http_ok(url: str, timeout: float) -> bool:
    """GET `url` over HTTP/1.1 (https with the default trust store); True on 2xx or 3xx."""
    status = await http_status(url, timeout)
    return 200 <= status < 400


async def http_status(url: str, timeout: float) -> int:
    """GET `url`; the answer's status code (0 when the answer is not HTTP)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def left() -> float:
        return max(0.0, deadline - loop.time())

    ssl_context = None
    if scheme == "https":
        import ssl

        ssl_context = ssl.create_default_context()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, port, ssl=ssl_context), left()
    )
    try:
        writer.write(_request(parts.path or "/", parts.query, parts.netloc))
        status = _status(await asyncio.wait_for(reader.readline(), left()))
        # Read the rest of the answer, so that closing sends FIN, not RST (servers log
        # resets), but stop at its end: a server may keep the connection open anyway.
        with contextlib.suppress(*FAILED_TRY):
            await asyncio.wait_for(_read_answer(reader, status), left())
        return status
    finally:
        writer.close()


def _request(path: str, query: str, netloc: str) -> bytes:
    userinfo, _, host = netloc.rpartition("@")
    target = f"{path}?{query}" if query else path
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
    if userinfo:
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
        lines.append(f"Authorization: Basic {token}")
    lines += ["User-Agent: supervise-probe", "Accept: */*", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("utf-8")


def _status(line: bytes) -> int:
    """`HTTP/1.1 204 No Content` -> 204; a line that is not an HTTP status line -> 0."""
    fields = line.split(None, 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        return 0
    return int(fields[1])


async def _read_answer(reader: asyncio.StreamReader, status: int) -> None:
    """Headers, then the body by Content-Length, chunks or EOF; at most DRAIN_LIMIT bytes of it."""
    length: int | None = None
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length" and value.strip().isdigit():
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if status < 200 or status in (204, 304) or not line:
        return
    if chunked:
        total = 0
        while total < DRAIN_LIMIT:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0 or total + size > DRAIN_LIMIT:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            await reader.readexactly(size + 2)
            total += size
        return
    left = DRAIN_LIMIT if length is None else min(length, DRAIN_LIMIT)
    while left > 0 and (chunk := await reader.read(min(left, 65536))):
        left -= len(chunk)


async def tcp_connects(target: str, timeout: float) -> bool:
    """True when a TCP connection to `target` (see `config.targets.parse_tcp`) opens within `timeout`."""
    where = parse_tcp(target)
    _, writer = await asyncio.wait_for(asyncio.open_connection(where.host, where.port), timeout)
    writer.close()
    return True


async def cmd_succeeds(command: str, *, env: Mapping[str, str], cwd: Path, timeout: float) -> bool:
    """`/bin/sh -c command` exits 0 within `timeout`."""
    return await cmd_exit_code(command, env=env, cwd=cwd, timeout=timeout) == 0


async def cmd_exit_code(command: str, *, env: Mapping[str, str], cwd: Path, timeout: float) -> int | None:
    """`/bin/sh -c command`'s exit code, None after `timeout`; its whole group is killed and reaped after."""
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    )
    # Once the child exists we must hold its handle, even if cancelled meanwhile.
    proc, cancelled = await _settle(spawn)
    code: int | None = None
    try:
        if cancelled:
            raise asyncio.CancelledError
        code = await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        pass
    finally:
        # Also after a normal exit: whatever the command left running in its group goes too.
        kill_group(proc.pid)
        _, cancelled = await _settle(asyncio.ensure_future(proc.wait()))
        if cancelled:
            raise asyncio.CancelledError  # a cancel that came while reaping still cancels us
    return code


async def _settle(future: asyncio.Future[T]) -> tuple[T, bool]:
    """Await `future` to its end even through cancellation; (result, whether we were cancelled)."""
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            cancelled = True
            continue
        except Exception:
            if cancelled:
                raise asyncio.CancelledError from None  # the cancel wins over how the future failed
            raise
        return result, cancelled
