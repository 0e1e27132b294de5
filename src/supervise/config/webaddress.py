"""Where `up --web` (or `web = "HOST:PORT"`) serves its page: `[HOST:]PORT`, HOST 127.0.0.1 by default.

Pure: the text in, a WebAddress or `Invalid` out. Whether a HOST is loopback
is decided here too, so the warning for a page other machines can reach and
the Host-header check read it from one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from supervise.config.convert import Invalid, show

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class WebAddress:
    """A host (name or IP literal, no brackets) and a port (0: any free one)."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Only this machine can reach it: 127.0.0.0/8, ::1 or localhost."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def wildcard(self) -> bool:
        """0.0.0.0 or ::, every interface."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


def to_web_address(value: object) -> WebAddress:
    """`9001`, `127.0.0.1:9001`, `[::1]:9001`, `0.0.0.0:9001` -> WebAddress; Invalid otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(f'expected "[HOST:]PORT" such as "9001" or "127.0.0.1:9001", got {show(value)}')
    text = value.strip()
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host = DEFAULT_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if colon and not host:
        raise Invalid(f'no host before ":" in {text!r}; write "127.0.0.1:PORT" or just the port')
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise Invalid(f"{text!r}: the port must be a number from 0 to 65535 (0: any free port)")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise Invalid(f"{text!r}: write an IPv6 host in brackets, as [::1]:9001") from None
    elif not all(part.isalnum() or part == "" for part in host.replace("-", "").split(".")) or not host:
        raise Invalid(f"{text!r}: {host!r} is not a host name or IP address")
    return WebAddress(host, int(port_text))
