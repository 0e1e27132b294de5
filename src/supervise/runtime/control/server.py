"""The control socket: `up` serves it, `status` / `restart` / `stop` / `start` ask it.

One unix socket per project root, in a private (0700) folder that other
local users cannot take or plant files in (rundir.py), named by a hash of
the root so the path fits AF_UNIX however deep the project is. What it speaks is in
protocol.py.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervise.errors import (
    SuperviseError,
    UsageError,
)
from supervise.runtime.control import protocol
from supervise.runtime.control.protocol import (
    ACTIONS,
    CHANGES,
    PROTOCOL,
    ControlTarget,
    PageAddress,
    Stream,
    Streaming,
)
from supervise.runtime.control.rundir import make_private, socket_path, take_lock

if TYPE_CHECKING:  # asyncio costs the client commands ~30 ms they do not need
    import asyncio

    from supervise.runtime.control.logstream import Follower

REQUEST_TIMEOUT = 10.0
"""How long the server waits for a connected client's request line."""
FOLLOWER_GRACE = 1.0
"""Seconds `up` gives `supervise logs -f` streams to send their last lines when it stops."""


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
                answer = protocol.error("bad request: line too long", 2)
            else:
                if not line.strip():
                    return
                answer, stream = await self._respond(line)
            writer.write(protocol.encode(answer))
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
                    writer.write(protocol.encode(protocol.error("supervise up is shutting down", 1)))
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
            return protocol.error("bad request: not JSON, or nested too deeply", 2), None
        if not isinstance(request, dict):
            return protocol.error("bad request: expected a JSON object", 2), None
        version = request.get("v")
        if version != PROTOCOL:
            return protocol.error(
                f"this supervise up speaks control protocol v{PROTOCOL}, the request used v{version}; "
                "run the same supervise version for up and for its clients",
                2,
            ), None
        op = request.get("op")
        names = request.get("names", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return protocol.error("bad request: names must be a list of strings", 2), None
        try:
            answer = await self._dispatch(op, names, request)
        except SuperviseError as error:
            return protocol.error(str(error), error.exit_code), None
        except Exception as error:  # a bug in up: tell the client, keep serving
            import traceback

            traceback.print_exc(file=sys.stderr)
            return protocol.error(f"supervise up failed to {op}: {error!r}", 1), None
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
                return protocol.error("this supervise up has no page; start it with --web [HOST:]PORT", 1)
            return protocol.ok(url=url)
        if op == "hello":
            from supervise.runtime.guardian import up_pid

            return protocol.ok(pid=up_pid(), root=str(self.root))
        if op == "status":
            wanted = self.target.resolve(names) if names else None
            await self.target.measure()
            return protocol.ok(instances=self._statuses(wanted))
        if op in ACTIONS:
            if not names:
                return protocol.error(f"{op}: name at least one instance (web.1), process (web) or group", 2)
            instances = self.target.resolve(names)
            action = {"restart": self.target.restart, "stop": self.target.stop, "start": self.target.start}
            await action[str(op)](instances)
            return protocol.ok(instances=self._statuses(instances))
        return protocol.error(f"bad request: unknown op {op!r}", 2)

    def _attach(self, names: list[str], size: object) -> Streaming:
        import functools

        from supervise.runtime.control import attach

        if len(names) != 1:
            raise UsageError("attach: name one instance (web.1), or a process with one instance")
        parsed = attach.parse_size(size)
        if parsed is None:
            raise UsageError("bad request: size must be [columns, rows]")
        terminal = self.target.terminal(names[0])
        answer = protocol.ok(instance=terminal.name)
        return Streaming(answer, functools.partial(attach.serve, terminal, parsed))

    def _logs(self, names: list[str], request: Mapping[str, Any]) -> dict[str, Any] | Streaming:
        import functools

        from supervise.runtime.control.logstream import open_logs

        fields, follower = open_logs(self.target, names, request)
        if follower is None:
            return protocol.ok(**fields)
        return Streaming(protocol.ok(**fields), functools.partial(self._follow, follower))

    async def _follow(
        self, follower: Follower, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._followers.add(follower)
        try:
            await follower.run(reader, writer, lambda fields: protocol.encode(protocol.ok(**fields)))
        finally:
            self._followers.discard(follower)

    async def _change(self, op: str, request: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
        """`signal`, `reload` and `scale`: each validates its own fields."""
        if op == "signal":
            from supervise.config.model import signal_number

            value = request.get("signal")
            signum = signal_number(str(value)) if isinstance(value, (str, int)) else None
            if signum is None:
                return protocol.error(
                    f"signal: unknown signal {value!r} (use a name such as HUP or USR1, or a number)", 2
                )
            if not names:
                return protocol.error("signal: name at least one instance (web.1), process (web) or group", 2)
            sent = await self.target.signal(self.target.resolve(names), signum)
            return protocol.ok(signalled=[{"name": name, "pids": pids} for name, pids in sent])
        if op == "reload":
            return protocol.ok(summary=await self.target.reload())
        formation = request.get("formation")
        valid = isinstance(formation, dict) and all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in formation.items()
        )
        if not valid or not formation:
            return protocol.error("bad request: scale needs a formation of NAME: COUNT (COUNT >= 0)", 2)
        return protocol.ok(summary=await self.target.scale(formation))

    def _statuses(self, instances: Sequence[str] | None) -> list[dict[str, Any]]:
        wanted = None if instances is None else set(instances)
        return [
            dataclasses.asdict(status)
            for status in self.target.statuses()
            if wanted is None or status.name in wanted
        ]
