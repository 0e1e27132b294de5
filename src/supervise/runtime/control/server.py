"""The control socket: `up` serves it, `status` / `restart` / `stop` / `start` ask it.

One unix socket per project root, in a private (0700) folder that other
local users cannot take or plant files in (rundir.py), named by a hash of
the root so the path fits AF_UNIX however deep the project is. The protocol is one JSON line each
way, versioned (`"v": 1`):

    {"v": 1, "op": "status", "names": []}          -> {"v": 1, "ok": true, "instances": [...]}
    {"v": 1, "op": "restart", "names": ["web"]}    -> {"v": 1, "ok": true, "instances": [...]}
    {"v": 1, "op": "hello"}                        -> {"v": 1, "ok": true, "pid": 123, "root": "/p"}
    {"v": 1, "op": "attach", "names": ["web.1"], "size": [80, 24]}
                                                   -> {"v": 1, "ok": true, "instance": "web.1"}, then frames
    {"v": 1, "op": "web"}                          -> {"v": 1, "ok": true, "url": "http://...?token=..."}
    {"v": 1, "op": "signal", "signal": "HUP", "names": ["web"]}
        -> {"v": 1, "ok": true, "signalled": [{"name": "web.1", "pids": [123]}]}
    {"v": 1, "op": "reload"}                       -> {"v": 1, "ok": true, "summary": "..."}
    {"v": 1, "op": "scale", "formation": {"web": 3}} -> {"v": 1, "ok": true, "summary": "..."}
    anything refused                               -> {"v": 1, "ok": false, "error": "...", "exit": 2}

An attach answer turns the connection into the instance's terminal stream
(`attach.py`).

Who owns the socket is decided by an flock on `<hash>.lock` next to it,
which the kernel drops when `up` dies however it dies: a second `up` that
cannot take the lock is refused (the lock file names the holder's pid), and
one that can take it knows any socket left there is stale and replaces it,
without waiting on anything. A clean exit removes both files. The server
runs in `up`'s event loop; the client is a plain blocking socket with a timeout.
A request that is not what the protocol says, however malformed or deeply
nested, gets an error answer: it never puts a traceback in `up`'s output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from supervise.errors import (
    SuperviseError,
    UsageError,
)
from supervise.runtime.control.rundir import make_private, socket_path, take_lock

if TYPE_CHECKING:  # asyncio costs the client commands ~30 ms they do not need
    import asyncio

    from supervise.runtime.control.logstream import Follower
    from supervise.runtime.output.ring import RecentOutput
    from supervise.runtime.terminal import Terminal

PROTOCOL = 1
ACTIONS = ("restart", "stop", "start")
CHANGES = ("signal", "reload", "scale")
REQUEST_TIMEOUT = 10.0
"""How long the server waits for a connected client's request line."""
FOLLOWER_GRACE = 1.0
"""Seconds `up` gives `supervise logs -f` streams to send their last lines when it stops."""


@dataclass(frozen=True)
class InstanceStatus:
    """One instance as `supervise status` shows it."""

    name: str
    process: str
    state: str
    """supervisord's state names: STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL; and WAITING."""
    pid: int | None
    uptime: float | None
    """Seconds since the current process started; None when not running."""
    restarts: int
    port: int | None
    ready: bool | None
    """None when the instance has no readiness probe."""
    waiting_for: str | None = None
    """WAITING: the dependency it waits for and why it is not ready (`redis.1: tcp ...: refused`)."""
    last_exit: int | None = None
    """The last exit code; -N for a process killed by signal N; None before any exit."""
    cpu: float | None = None
    """CPU % of the instance's process tree (100 = one core); None when nothing runs."""
    memory: int | None = None
    """Resident memory of the instance's process tree, bytes; None when nothing runs."""

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> InstanceStatus:
        """Read one entry of a status answer; unknown keys (a newer `up`) are ignored."""
        values: dict[str, Any] = {field.name: item.get(field.name) for field in dataclasses.fields(cls)}
        return cls(**values)


class ControlTarget(Protocol):
    """What the server drives: the supervisor of a running `up`."""

    def statuses(self) -> list[InstanceStatus]: ...

    async def measure(self) -> None:
        """Get the CPU and memory figures of the next `statuses` ready (may wait a moment)."""
        ...

    def resolve(self, names: Sequence[str]) -> list[str]:
        """Instance names for instance, process and group names; UsageError for an unknown one."""
        ...

    async def restart(self, instances: Sequence[str]) -> None: ...

    async def stop(self, instances: Sequence[str]) -> None: ...

    async def start(self, instances: Sequence[str]) -> None: ...

    async def signal(self, instances: Sequence[str], signum: int) -> list[tuple[str, list[int]]]:
        """Send `signum` to each instance's program or group: (name, the pids it went to)."""
        ...

    async def reload(self) -> str:
        """Apply the configuration as it is now; the summary line. ConfigError: nothing changed."""
        ...

    async def scale(self, formation: Mapping[str, int]) -> str:
        """Change the formation (`{"web": 3}`) of the running plan; the summary line."""
        ...

    def terminal(self, name: str) -> Terminal:
        """The terminal of one running tty instance; ControlError (exit 1) when it has none."""
        ...

    def instance_names(self) -> list[str]:
        """Every instance, in plan order: `supervise logs` pads by them as `up` does."""
        ...

    def process_types(self) -> list[str]:
        """Every process type of the project, in order: `supervise logs` colors by them as `up` does."""
        ...

    def recent_output(self) -> RecentOutput:
        """What `supervise logs` reads and follows."""
        ...


Stream = Callable[["asyncio.StreamReader", "asyncio.StreamWriter"], Awaitable[None]]


@dataclass(frozen=True)
class Streaming:
    """An answer after which the connection carries a stream (attach, logs -f)."""

    answer: dict[str, Any]
    stream: Stream


class PageAddress(Protocol):
    """The page of `up --web`, for `supervise web`."""

    @property
    def url(self) -> str | None:
        """Its URL with the token; None until it serves."""
        ...


class ControlServer:
    """Serves the control socket of one `up`, in the running event loop."""

    def __init__(
        self,
        root: Path,
        target: ControlTarget,
        *,
        environ: Mapping[str, str] | None = None,
        page: PageAddress | None = None,
    ) -> None:
        self.root = root
        self.target = target
        self.page = page
        self.path = socket_path(root, os.environ if environ is None else environ)
        self._lock_fd: int | None = None
        self._inode: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self._followers: set[Follower] = set()

    async def start(self) -> None:
        """Take the project's lock, replace a stale socket, and bind ours (0600)."""
        import asyncio

        directory = self.path.parent
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            make_private(directory)
            self._lock_fd = take_lock(self.path.with_suffix(".lock"))
            # We hold the lock, so whoever bound a socket here is gone: it is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            sock.bind(os.fsencode(self.path))
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            self._server = await asyncio.start_unix_server(self._serve, sock=sock)
        except BaseException as error:
            sock.close()
            self._unlock()
            if isinstance(error, OSError):
                raise UsageError(f"{self.path}: cannot create the control socket: {error.strerror}") from None
            raise

    async def close(self) -> None:
        """Stop serving, unlink the socket if it is still ours, then the lock file, and free the lock.

        `supervise logs -f` streams get what is left and their end (a second at
        most); requests still in progress are cancelled: `up` is shutting down anyway.
        """
        import asyncio

        if self._server is not None:
            self._server.close()
            for follower in self._followers:
                follower.close()
            if self._followers:
                await asyncio.wait(list(self._clients), timeout=FOLLOWER_GRACE)
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        if self._lock_fd is not None:  # unlinked while held; the next `up` checks what it locked
            with contextlib.suppress(OSError):
                os.unlink(self.path.with_suffix(".lock"))
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio

        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        stream: Stream | None = None
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
            except ValueError:  # longer than the stream limit
                answer = _error("bad request: line too long", 2)
            else:
                if not line.strip():
                    return
                answer, stream = await self._respond(line)
            writer.write(_encode(answer))
            await writer.drain()
            if stream is not None:
                await stream(reader, writer)
        except (OSError, asyncio.TimeoutError):
            pass  # the client went away or never asked; an action it started still completes
        except asyncio.CancelledError:
            # close() cancelled us: say so, and end normally (3.11's StreamReaderProtocol
            # logs a traceback when it asks a cancelled handler task for its exception).
            # A stream has said goodbye in its own format.
            if stream is None:
                with contextlib.suppress(Exception):
                    writer.write(_encode(_error("supervise up is shutting down", 1)))
        finally:
            self._clients.discard(task)
            writer.close()

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The response to one request line."""
        return (await self._respond(line))[0]

    async def _respond(self, line: bytes) -> tuple[dict[str, Any], Stream | None]:
        """The response to one request line, and the stream that follows it, if any."""
        import json  # only once a client talks to us: `up` starts without it

        try:
            request = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: `[[[[...` nested thousands deep
            return _error("bad request: not JSON, or nested too deeply", 2), None
        if not isinstance(request, dict):
            return _error("bad request: expected a JSON object", 2), None
        version = request.get("v")
        if version != PROTOCOL:
            return _error(
                f"this supervise up speaks control protocol v{PROTOCOL}, the request used v{version}; "
                "run the same supervise version for up and for its clients",
                2,
            ), None
        op = request.get("op")
        names = request.get("names", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return _error("bad request: names must be a list of strings", 2), None
        try:
            answer = await self._dispatch(op, names, request)
        except SuperviseError as error:
            return _error(str(error), error.exit_code), None
        except Exception as error:  # a bug in up: tell the client, keep serving
            import traceback

            traceback.print_exc(file=sys.stderr)
            return _error(f"supervise up failed to {op}: {error!r}", 1), None
        if isinstance(answer, Streaming):
            return answer.answer, answer.stream
        return answer, None

    async def _dispatch(
        self, op: object, names: list[str], request: Mapping[str, Any]
    ) -> dict[str, Any] | Streaming:
        if op in CHANGES:
            return await self._change(str(op), request, names)
        if op == "attach":
            return self._attach(names, request.get("size"))
        if op == "logs":
            return self._logs(names, request)
        if op == "web":
            url = self.page.url if self.page is not None else None
            if url is None:
                return _error("this supervise up has no page; start it with --web [HOST:]PORT", 1)
            return _ok(url=url)
        if op == "hello":
            from supervise.runtime.guardian import up_pid

            return _ok(pid=up_pid(), root=str(self.root))
        if op == "status":
            wanted = self.target.resolve(names) if names else None
            await self.target.measure()
            return _ok(instances=self._statuses(wanted))
        if op in ACTIONS:
            if not names:
                return _error(f"{op}: name at least one instance (web.1), process (web) or group", 2)
            instances = self.target.resolve(names)
            action = {"restart": self.target.restart, "stop": self.target.stop, "start": self.target.start}
            await action[str(op)](instances)
            return _ok(instances=self._statuses(instances))
        return _error(f"bad request: unknown op {op!r}", 2)

    def _attach(self, names: list[str], size: object) -> Streaming:
        import functools

        from supervise.runtime.control import attach

        if len(names) != 1:
            raise UsageError("attach: name one instance (web.1), or a process with one instance")
        parsed = attach.parse_size(size)
        if parsed is None:
            raise UsageError("bad request: size must be [columns, rows]")
        terminal = self.target.terminal(names[0])
        return Streaming(_ok(instance=terminal.name), functools.partial(attach.serve, terminal, parsed))

    def _logs(self, names: list[str], request: Mapping[str, Any]) -> dict[str, Any] | Streaming:
        import functools

        from supervise.runtime.control.logstream import open_logs

        fields, follower = open_logs(self.target, names, request)
        if follower is None:
            return _ok(**fields)
        return Streaming(_ok(**fields), functools.partial(self._follow, follower))

    async def _follow(
        self, follower: Follower, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._followers.add(follower)
        try:
            await follower.run(reader, writer, lambda fields: _encode(_ok(**fields)))
        finally:
            self._followers.discard(follower)

    async def _change(self, op: str, request: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
        """`signal`, `reload` and `scale`: each validates its own fields."""
        if op == "signal":
            from supervise.config.model import signal_number

            value = request.get("signal")
            signum = signal_number(str(value)) if isinstance(value, (str, int)) else None
            if signum is None:
                return _error(
                    f"signal: unknown signal {value!r} (use a name such as HUP or USR1, or a number)", 2
                )
            if not names:
                return _error("signal: name at least one instance (web.1), process (web) or group", 2)
            sent = await self.target.signal(self.target.resolve(names), signum)
            return _ok(signalled=[{"name": name, "pids": pids} for name, pids in sent])
        if op == "reload":
            return _ok(summary=await self.target.reload())
        formation = request.get("formation")
        valid = isinstance(formation, dict) and all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in formation.items()
        )
        if not valid or not formation:
            return _error("bad request: scale needs a formation of NAME: COUNT (COUNT >= 0)", 2)
        return _ok(summary=await self.target.scale(formation))

    def _statuses(self, instances: Sequence[str] | None) -> list[dict[str, Any]]:
        wanted = None if instances is None else set(instances)
        return [
            dataclasses.asdict(status)
            for status in self.target.statuses()
            if wanted is None or status.name in wanted
        ]


def _ok(**fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL, "ok": True, **fields}


def _error(message: str, exit_code: int) -> dict[str, Any]:
    return {"v": PROTOCOL, "ok": False, "error": message, "exit": exit_code}


def _encode(answer: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(answer).encode() + b"\n"
