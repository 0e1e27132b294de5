"""The client side of the control socket: `supervise status|restart|stop|start|logs|attach`.

A plain blocking socket with a timeout: these are short CLI processes, so they
import neither asyncio nor the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

from supervise.errors import ControlError, NotRunningError
from supervise.runtime.control.protocol import PROTOCOL
from supervise.runtime.control.rundir import socket_path

STATUS_TIMEOUT = 10.0
ACTION_TIMEOUT = 60.0
"""Client wait for restart/stop/start, on top of the slowest stop_timeout + startsecs."""


def request(root: Path, message: Mapping[str, Any], timeout: float, environ: Mapping[str, str]) -> Any:
    """Send one request to the `up` of `root` and return its answer; errors become SuperviseErrors."""
    with connect(root, message, timeout, environ) as (_sock, answer, _rest):
        return answer


@contextlib.contextmanager
def connect(
    root: Path, message: Mapping[str, Any], timeout: float, environ: Mapping[str, str]
) -> Iterator[tuple[socket.socket, dict[str, Any], bytes]]:
    """Send one request and read its answer; the socket stays open for what follows (attach).

    Yields the socket, the answer, and the bytes that came after the answer's line.
    """
    import json

    path = socket_path(root, environ)
    data = json.dumps({"v": PROTOCOL, **message}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(timeout)
            try:
                sock.connect(os.fsencode(path))
            except (FileNotFoundError, ConnectionRefusedError):
                raise NotRunningError(f"no supervise up is running for {root}") from None
            sock.sendall(data)
            reply, rest = _read_line(sock)
        except TimeoutError:
            raise ControlError(
                f"the supervise up for {root} did not answer within {timeout:g} s (is it suspended?)"
            ) from None
        except OSError as error:
            raise ControlError(
                f"cannot talk to the supervise up for {root}: {error.strerror or error}"
            ) from None
        yield sock, _check(root, reply), rest


def stream(
    root: Path, message: Mapping[str, Any], timeout: float, environ: Mapping[str, str]
) -> Generator[dict[str, Any], None, None]:
    """Send one request; yield its answer (within `timeout`), then every later message until `up` closes.

    Later messages are waited for without a timeout: `supervise logs -f` waits for
    new lines as long as `up` runs.
    """
    with connect(root, message, timeout, environ) as (sock, answer, rest):
        yield answer
        sock.settimeout(None)
        buffer = rest
        while True:
            while b"\n" not in buffer:
                try:
                    chunk = sock.recv(65536)
                except OSError as error:
                    raise ControlError(
                        f"lost the supervise up for {root}: {error.strerror or error}"
                    ) from None
                if not chunk:
                    return  # `up` is gone (stopped, or killed while writing)
                buffer += chunk
            line, _, buffer = buffer.partition(b"\n")
            yield _check(root, line)


def _read_line(sock: socket.socket) -> tuple[bytes, bytes]:
    """One line, and whatever arrived after it."""
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def _check(root: Path, reply: bytes) -> dict[str, Any]:
    import json

    try:
        answer = json.loads(reply)
    except ValueError:
        raise ControlError(f"the supervise up for {root} closed the connection without an answer") from None
    if not isinstance(answer, dict) or answer.get("v") != PROTOCOL:
        version = answer.get("v") if isinstance(answer, dict) else None
        raise ControlError(
            f"the supervise up for {root} speaks control protocol v{version}, this supervise v{PROTOCOL}; "
            "run the same supervise version for up and for its clients",
            2,
        )
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error")), int(answer.get("exit", 1)))
    return answer
