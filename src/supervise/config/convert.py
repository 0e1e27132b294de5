"""Converters for `[tool.supervise]` values: each returns a typed value or raises `Invalid`.

Like supervisord's `datatypes.py`: one small function per option type, one
input shape in, one typed value out. `pyproject.py` adds the key path.
"""

from __future__ import annotations

import math
import re

from supervise.config.model import (
    DEFAULT_WEB_HOST,
    MAX_INSTANCES,
    MAX_LOG_BACKUPS,
    MAX_LOG_BYTES,
    MAX_RETRIES,
    MAX_SECONDS,
    Autorestart,
    Tty,
    WebAddress,
    signal_name,
)

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
BYTE_SIZE = re.compile(r"\s*(\d+)\s*(KB|MB|GB)?\s*", re.IGNORECASE)
"""supervisord's byte_size: a count of bytes, or of KB, MB or GB (powers of 1024)."""
BYTE_UNITS = {"": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def key_path(*parts: str) -> str:
    """TOML keys joined with dots, quoting the ones that are not bare (`env."a b"`)."""
    if all(BARE_KEY.fullmatch(part) for part in parts):
        return ".".join(parts)
    import json  # (here, not at the top: most keys are bare, and `up` starts without json)

    return ".".join(part if BARE_KEY.fullmatch(part) else json.dumps(part) for part in parts)


class Invalid(Exception):
    """A converter's complaint about a value; the reader adds where it was."""


def show(value: object, limit: int = 60) -> str:
    """A value as the user wrote it in TOML, for messages (clipped: messages are one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf, -inf, nan: TOML's spelling
    import json  # (for a message only)

    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_str(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {show(value)}")
    return _no_nul(value)


def _no_nul(text: str) -> str:
    # No command line, path or environment value can hold a NUL byte.
    if "\0" in text:
        raise Invalid(f"contains a NUL character: {show(text)}")
    return text


def to_nonempty_str(value: object) -> str:
    text = to_str(value)
    if not text.strip():
        raise Invalid("expected a non-empty string")
    return text


def to_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {show(value)}")
    return value


def _finite_number(value: object) -> float | None:
    """An int or a finite float as a float; None for anything else (bools, inf, nan)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int with hundreds of digits
        return None
    return number if math.isfinite(number) else None


def to_nonneg_number(value: object) -> float:
    number = _finite_number(value)
    if number is None or number < 0:
        raise Invalid(f"expected a non-negative number, got {show(value)}")
    return number


def to_positive_number(value: object) -> float:
    number = _finite_number(value)
    if number is None or number <= 0:
        raise Invalid(f"expected a positive number, got {show(value)}")
    return number


def to_nonneg_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"expected a non-negative integer, got {show(value)}")
    return value


def to_seconds(value: object) -> float:
    """A duration that may be 0 (`startsecs`, `stop_timeout`), at most MAX_SECONDS."""
    return _at_most_a_day(to_nonneg_number(value), value)


def to_positive_seconds(value: object) -> float:
    """A duration that must be above 0 (backoff, probe interval and timeout), at most MAX_SECONDS."""
    return _at_most_a_day(to_positive_number(value), value)


def _at_most_a_day(seconds: float, value: object) -> float:
    if seconds > MAX_SECONDS:
        raise Invalid(f"expected at most {MAX_SECONDS:g} seconds (one day), got {show(value)}")
    return seconds


def to_retries(value: object) -> int:
    """`startretries`: a non-negative integer, at most MAX_RETRIES."""
    count = to_nonneg_int(value)
    if count > MAX_RETRIES:
        raise Invalid(f"expected at most {MAX_RETRIES} retries, got {show(value)}")
    return count


def to_instances(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INSTANCES:
        raise Invalid(f"expected a number of instances from 0 to {MAX_INSTANCES}, got {show(value)}")
    return value


def to_port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid(f"expected a port number from 1 to 65535, got {show(value)}")
    return value


def to_str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_no_nul(value),)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid(f"expected a list of strings, got {show(value)}")
    return tuple(_no_nul(item) for item in value)


def to_autorestart(value: object) -> Autorestart:
    if isinstance(value, bool):
        return Autorestart.ALWAYS if value else Autorestart.NEVER
    if isinstance(value, str) and value.lower() in {"true", "false", "unexpected"}:
        return Autorestart(value.lower())
    raise Invalid(f'expected true, false or "unexpected", got {show(value)}')


def to_tty(value: object) -> Tty:
    if isinstance(value, bool):
        return Tty.ON if value else Tty.OFF
    if isinstance(value, str) and value.lower() in {"true", "false", "auto"}:
        return Tty(value.lower())
    raise Invalid(f'expected true, false or "auto", got {show(value)}')


def to_exitcodes(value: object) -> tuple[int, ...]:
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in items)
    ):
        raise Invalid(f"expected a list of exit codes from 0 to 255, got {show(value)}")
    return tuple(items)


def to_signal(value: object) -> str:
    name = signal_name(value) if isinstance(value, str) else None
    if name is None:
        raise Invalid(f'expected a signal name such as "TERM", "INT" or "HUP", got {show(value)}')
    return name


def to_env_value(value: object) -> str:
    # Numbers are accepted because `PORT = 8000` is what people write; the
    # value is still literal text, never expanded.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Invalid(f"expected a string, got {show(value)}")
    return _no_nul(str(value))


def to_byte_size(value: object) -> int:
    """A non-negative number of bytes: `10485760`, or supervisord's `"10MB"` (KB, MB, GB)."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = BYTE_SIZE.fullmatch(value)
        if match:
            size = int(match[1]) * BYTE_UNITS[(match[2] or "").upper()]
    if size is None or not 0 <= size <= MAX_LOG_BYTES:
        raise Invalid(
            f'expected a size in bytes from 0 to 1 TiB, such as 10485760 or "10MB", got {show(value)}'
        )
    return size


def to_backups(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOG_BACKUPS:
        raise Invalid(f"expected a number of files from 0 to {MAX_LOG_BACKUPS}, got {show(value)}")
    return value


def to_web_address(value: object) -> WebAddress:
    """`9001`, `127.0.0.1:9001`, `[::1]:9001`, `0.0.0.0:9001` -> WebAddress; Invalid otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(f'expected "[HOST:]PORT" such as "9001" or "127.0.0.1:9001", got {show(value)}')
    text = value.strip()
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host = DEFAULT_WEB_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if colon and not host:
        raise Invalid(f'no host before ":" in {text!r}; write "127.0.0.1:PORT" or just the port')
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise Invalid(f"{text!r}: the port must be a number from 0 to 65535 (0: any free port)")
    if ":" in host:
        try:
            import ipaddress  # only here: not worth its import at every start

            ipaddress.IPv6Address(host)
        except ValueError:
            raise Invalid(f"{text!r}: write an IPv6 host in brackets, as [::1]:9001") from None
    elif not all(part.isalnum() or part == "" for part in host.replace("-", "").split(".")) or not host:
        raise Invalid(f"{text!r}: {host!r} is not a host name or IP address")
    return WebAddress(host, int(port_text))
