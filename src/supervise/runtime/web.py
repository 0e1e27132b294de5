"""`up --web`: the page of a running `up`, served by aiohttp from `up`'s own loop.

It reads what the control socket reads (the target's statuses, groups and
recent output) and acts as `supervise restart|stop|start` do. aiohttp comes
with the `supervise[web]` extra and is imported only here, only with --web.

Safe by default:
- every request's Host header must be the address served (DNS rebinding);
- only the token opens the page (`/?token=...`), which then sets an
  HttpOnly, SameSite=Strict cookie;
- actions are POSTs that need the token (cookie or X-Supervise-Token header)
  and a same-origin request: a browser's Origin or Sec-Fetch-Site must say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from supervise.config.model import WebAddress
from supervise.errors import SuperviseError, UsageError
from supervise.runtime.control.logstream import Follower, LogSource, open_logs, records
from supervise.runtime.control.protocol import ACTIONS, InstanceStatus
from supervise.runtime.output.format import SYSTEM, LineFormat
from supervise.runtime.webpage import MAX_LINES, encode_event, render_page

COOKIE = "supervise_token"
TOKEN_HEADER = "X-Supervise-Token"
STATUS_INTERVAL = 1.0
"""Seconds between status events: changes show within a second."""
HISTORY_LINES = 500
"""Recent lines a newly opened page starts with."""
LINES_INTERVAL = 0.25
"""Shortest time between two events of new lines: a flood reaches the page in a few batches a second."""
CLOSE_GRACE = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebTarget(LogSource, Protocol):
    """What the page reads and drives: the running `up` (runtime/control/target.py's SupervisorTarget)."""

    def statuses(self) -> list[InstanceStatus]: ...

    async def measure(self) -> None: ...

    def groups(self) -> dict[str, list[str]]:
        """Processes and configured groups -> their instance names, for the per-group buttons."""
        ...

    async def restart(self, instances: Sequence[str]) -> None: ...

    async def stop(self, instances: Sequence[str]) -> None: ...

    async def start(self, instances: Sequence[str]) -> None: ...


def new_token() -> str:
    """The page's secret: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class WebPage:
    """The HTTP server of one `up`; `start` binds it, `close` ends its event streams and stops it."""

    def __init__(self, target: WebTarget, address: WebAddress, title: str, token: str) -> None:
        self.target = target
        self.address = address
        self.title = title
        self.token = token
        self.port = address.port
        self._started = False
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._nudges: set[asyncio.Event] = set()
        """One per open page: set after an action, so its status event goes out at once."""

    @property
    def url(self) -> str | None:
        """What to open, token included (127.0.0.1 for a wildcard address); None before `start`."""
        if not self._started:
            return None
        host = "127.0.0.1" if self.address.wildcard else self.address.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.token}"

    async def start(self) -> None:
        """Bind the address (UsageError when it cannot) and serve."""
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address.host, self.address.port))
        except OSError as error:
            sock.close()
            where = f"{self.address.host}:{self.address.port}"
            raise UsageError(f"--web {where}: cannot serve the page there: {error.strerror}") from None
        self.port = sock.getsockname()[1]
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/events", self._events)
        app.router.add_post("/api/{action}", self._action)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, shutdown_timeout=CLOSE_GRACE).start()
        self._started = True

    async def close(self) -> None:
        """End the event streams, then stop serving."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the guard: Host, token, same origin ------------------------------------

    def _host_allowed(self, host: str | None) -> bool:
        if not host:
            return False
        name, _, port = host.rpartition(":")
        if not name or port != str(self.port):
            return False
        name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
        if name == self.address.host:
            return True
        if self.address.loopback and name in ("localhost", "127.0.0.1", "::1"):
            return True
        if self.address.wildcard:  # an IP literal cannot be rebound; a name must be ours
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(name)
                return True
            return name in ("localhost", socket.gethostname())
        return False

    def _has_token(self, request: web.Request, *, query: bool) -> bool:
        given = [request.cookies.get(COOKIE, ""), request.headers.get(TOKEN_HEADER, "")]
        if query:
            given.append(request.query.get("token", ""))
        return any(hmac.compare_digest(value.encode(), self.token.encode()) for value in given if value)

    def _same_origin(self, request: web.Request) -> bool:
        """A browser says where a request comes from; anything else must have sent the token as a header."""
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site")
        if origin is None and site is None:
            return TOKEN_HEADER in request.headers
        if site is not None and site not in ("same-origin", "none"):
            return False
        if origin is not None:
            scheme, _, host = origin.partition("://")
            return scheme == "http" and self._host_allowed(host) and host == request.host
        return True

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._host_allowed(request.host):
            return web.Response(status=421, text="supervise: this page is not served under that host name\n")
        if not self._has_token(request, query=request.method == "GET" and request.path == "/"):
            return web.Response(
                status=403, text="supervise: open the page with its token; `supervise web` prints the URL\n"
            )
        if request.method != "GET" and not self._same_origin(request):
            return web.Response(status=403, text="supervise: refused a request from another site\n")
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    # -- the handlers ----------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        if "token" in request.query:  # leave the token out of the address bar and the history
            response: web.StreamResponse = web.HTTPSeeOther("/")
        else:
            statuses = [dataclasses.asdict(s) for s in self.target.statuses()]
            response = web.Response(
                text=render_page(self.title, statuses),
                content_type="text/html",
                headers={"Content-Security-Policy": _CSP},
            )
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def _action(self, request: web.Request) -> web.StreamResponse:
        action = request.match_info["action"]
        if action not in ACTIONS:
            return web.json_response({"ok": False, "error": f"unknown action {action!r}"}, status=404)
        try:
            body = await request.json()
            names = body.get("names") if isinstance(body, dict) else None
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise UsageError("bad request: names must be a non-empty list of strings")
            instances = self.target.resolve(names)
            act = {"restart": self.target.restart, "stop": self.target.stop, "start": self.target.start}
            try:
                await act[action](instances)
            finally:
                for nudge in self._nudges:
                    nudge.set()
        except ValueError:
            return web.json_response({"ok": False, "error": "bad request: not JSON"}, status=400)
        except SuperviseError as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        return web.json_response(
            {"ok": True, "instances": [dataclasses.asdict(s) for s in self.target.statuses()]}
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        follow = {"lines": HISTORY_LINES, "follow": True}
        fields, follower = open_logs(self.target, [], follow, keep=MAX_LINES)
        assert follower is not None
        styles = LineFormat(fields["names"], color=True)
        try:
            await response.write(encode_event("status", self._status_event(styles)))
            await response.write(encode_event("lines", records(follower.start())))
            await self._stream(response, follower, styles)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            follower.stop()
        return response

    async def _stream(self, response: web.StreamResponse, follower: Follower, styles: LineFormat) -> None:
        """New lines as they come (at most one event per LINES_INTERVAL, at most the MAX_LINES the page
        keeps), and the status every STATUS_INTERVAL."""
        loop = asyncio.get_running_loop()
        closing = asyncio.ensure_future(self._closing.wait())
        batch = asyncio.ensure_future(follower.next_batch())
        nudge = asyncio.Event()
        nudged = asyncio.ensure_future(nudge.wait())
        self._nudges.add(nudge)
        next_status = loop.time() + STATUS_INTERVAL
        try:
            while True:
                timeout = max(0.0, next_status - loop.time())
                waits = {batch, closing, nudged}
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if closing.done():
                    return
                if nudged.done():
                    nudge.clear()
                    nudged = asyncio.ensure_future(nudge.wait())
                    next_status = loop.time()
                if batch.done():
                    chunks = batch.result()
                    if chunks is None:
                        return
                    await response.write(encode_event("lines", records(chunks)))
                    batch = asyncio.ensure_future(follower.next_batch(loop.time() + LINES_INTERVAL))
                if loop.time() >= next_status:
                    await self.target.measure()
                    await response.write(encode_event("status", self._status_event(styles)))
                    next_status = loop.time() + STATUS_INTERVAL
        finally:
            self._nudges.discard(nudge)
            for waiting in (closing, batch, nudged):
                waiting.cancel()

    def _status_event(self, styles: LineFormat) -> dict[str, Any]:
        statuses = self.target.statuses()
        names = [SYSTEM, *(s.name for s in statuses)]
        return {
            "instances": [dataclasses.asdict(s) for s in statuses],
            "groups": self.target.groups(),
            "styles": {name: styles.style(name) for name in names},
        }


_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'"
)


def address_warning(address: WebAddress) -> str | None:
    """The warning line for a page other machines can reach; None for a loopback one."""
    if address.loopback:
        return None
    return (
        f"warning: the page on {address.host}:{address.port} can be reached from other machines; "
        "anyone who has its URL can stop and start your processes (plain HTTP, no TLS)"
    )
