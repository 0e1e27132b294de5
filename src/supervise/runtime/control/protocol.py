"""What the control socket speaks: the requests, the answers, and what the server drives.

One JSON line each way, versioned (`"v": 1`):

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

The client (client.py) needs only the version from here, the server
(server.py) the rest; neither side imports the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

    from supervise.runtime.output.ring import RecentOutput
    from supervise.runtime.terminal import Terminal

PROTOCOL = 1
ACTIONS = ("restart", "stop", "start")
CHANGES = ("signal", "reload", "scale")


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


def ok(**fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL, "ok": True, **fields}


def error(message: str, exit_code: int) -> dict[str, Any]:
    return {"v": PROTOCOL, "ok": False, "error": message, "exit": exit_code}


def encode(answer: Mapping[str, Any]) -> bytes:
    import json

    return json.dumps(answer).encode() + b"\n"
