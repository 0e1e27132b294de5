"""`.foreman`: foreman's option file, `key: value` lines that give defaults.

foreman reads `.foreman` (YAML, in practice flat `key: value` lines) from the
folder it runs in, and the command line overrides it. We read the keys that
mean the same here (`procfile`, `env`, `formation` or `concurrency`, `port`,
`timeout`) and name every other key in one line instead of dropping it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from supervise.config.model import MAX_SECONDS
from supervise.config.source import read_source
from supervise.errors import ConfigError

FILE_NAME = ".foreman"

LINE = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_-]*)\s*:(?:\s+(?P<value>.*?))?\s*")
KNOWN = ("procfile", "env", "formation", "concurrency", "port", "timeout")
NOT_HERE = {
    "root": "use -d DIR",
    "app": "use export --app NAME",
    "user": "use export --user USER",
    "log": "use export --log-dir DIR",
    "template": "supervise's export formats have no templates",
    "color": "colors follow the terminal, NO_COLOR and --no-color",
}
"""foreman keys that have another spelling here, or none: said, never silently dropped."""


@dataclass(frozen=True)
class ForemanDefaults:
    """What a `.foreman` file sets; None where it is silent. Paths are relative to its folder."""

    procfile: str | None = None
    env_files: tuple[str, ...] = ()
    formation: str | None = None
    port: int | None = None
    stop_timeout: float | None = None
    notices: tuple[str, ...] = ()


def read_foreman(path: Path, display: str) -> ForemanDefaults | None:
    """The `.foreman` file at `path` (shown as `display`), or None when there is none.

    Read as every configuration file is (source.py): a FIFO or a device there is
    one error naming it, never a hang.
    """
    if not os.path.lexists(path):
        return None
    return parse_foreman(read_source(path, display), display)


def parse_foreman(text: str, filename: str = FILE_NAME) -> ForemanDefaults:
    """`key: value` lines -> defaults; a malformed line or value names `filename:line`."""
    values: dict[str, tuple[str, int]] = {}
    notices = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "---":
            continue
        match = LINE.fullmatch(line)
        if match is None:
            raise ConfigError(f'expected "key: value", got "{line[:60]}"', file=filename, line=number)
        key, value = match.group("key"), _unquote(match.group("value") or "")
        if key in KNOWN:
            values[key] = (value, number)
        else:
            why = NOT_HERE.get(key, "supervise has no such option")
            notices.append(f'{filename}:{number}: "{key}" is not used ({why})')
    if "formation" in values and "concurrency" in values:
        last = max(values["formation"][1], values["concurrency"][1])
        raise ConfigError("give formation or concurrency, not both", file=filename, line=last)
    formation = values.get("formation") or values.get("concurrency")
    env = values.get("env")
    return ForemanDefaults(
        procfile=_nonempty(values.get("procfile"), filename),
        env_files=tuple(part.strip() for part in env[0].split(",") if part.strip()) if env else (),
        formation=formation[0] if formation else None,
        port=_port(values.get("port"), filename),
        stop_timeout=_seconds(values.get("timeout"), filename),
        notices=tuple(notices),
    )


def _unquote(value: str) -> str:
    """YAML's plain, 'single' and "double" quoted scalars, as foreman users write them."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].rstrip()


def _nonempty(item: tuple[str, int] | None, filename: str) -> str | None:
    if item is None:
        return None
    if not item[0]:
        raise ConfigError("procfile: expected a path", file=filename, line=item[1])
    return item[0]


def _port(item: tuple[str, int] | None, filename: str) -> int | None:
    if item is None:
        return None
    value, number = item
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigError(
            f'port: expected a port number from 1 to 65535, got "{value}"', file=filename, line=number
        )
    return int(value)


def _seconds(item: tuple[str, int] | None, filename: str) -> float | None:
    if item is None:
        return None
    value, number = item
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SECONDS:
        raise ConfigError(
            f'timeout: expected seconds from 0 to {MAX_SECONDS:g}, got "{value}"',
            file=filename,
            line=number,
        )
    return seconds
