"""Where an http or tcp readiness probe connects, parsed once for `up`, `check` and the exports.

A target is checked after `$PORT` is expanded (in plan.py), so a typo such as
`$PROT` is a configuration error before anything starts, not a probe that
fails every 0.25 s forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

EXAMPLES = {"http": "http://127.0.0.1:$PORT/health", "tcp": "127.0.0.1:$PORT"}
"""What a well-formed target looks like, for error messages."""


@dataclass(frozen=True)
class Endpoint:
    """Host and port a probe connects to; `scheme` and `path` for http."""

    host: str
    port: int
    scheme: str = "tcp"
    path: str = "/"


def parse_http(url: str) -> Endpoint:
    """`http://127.0.0.1:5000/health?x=1` -> host, port (80/443 by default), path with query."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:  # a port that is not a number, or out of range
        raise ValueError(f"{error}; expected something like {EXAMPLES['http']!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f'expected something like "{EXAMPLES["http"]}"')
    if port is None:
        port = 443 if scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Endpoint(host=parts.hostname, port=port, scheme=scheme, path=path)


def parse_tcp(target: str) -> Endpoint:
    """`5000` -> 127.0.0.1:5000; `host:5000`; `[::1]:5000`; `tcp://` is allowed in front."""
    text = target.strip().removeprefix("tcp://")
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            port = ""
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'expected something like "{EXAMPLES["tcp"]}"')
    return Endpoint(host=host or "127.0.0.1", port=int(port))
