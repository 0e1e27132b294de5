"""The user's definitions as frozen values: nothing here is resolved yet.

Defaults are supervisord's, so a process that sets nothing behaves under
`supervise up` as it will under the exported supervisord program.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from supervise.config.shell import is_simple_command, shell_line

if TYPE_CHECKING:  # parsed only where a probe has one (plan.py): `up` starts without it
    from supervise.config.targets import Endpoint


class Autorestart(enum.Enum):
    """supervisord's `autorestart`: after an exit from RUNNING, restart or not."""

    ALWAYS = "true"
    NEVER = "false"
    UNEXPECTED = "unexpected"


class Tty(enum.Enum):
    """`tty`: a pseudo-terminal for the process; AUTO follows whether up's stdout is one."""

    ON = "true"
    OFF = "false"
    AUTO = "auto"

    def resolve(self, override: bool | None, terminal: bool) -> bool:
        """Whether the process gets a pty: `up --tty/--no-tty` first, then this, then `terminal`."""
        if override is not None:
            return override
        return terminal if self is Tty.AUTO else self is Tty.ON


class ProbeKind(enum.Enum):
    """How readiness is checked."""

    HTTP = "http"
    TCP = "tcp"
    LOG = "log"
    CMD = "cmd"


@dataclass(frozen=True)
class Backoff:
    """Delay before retrying a failed start: `initial`, doubling up to `maximum`."""

    initial: float = 0.5
    maximum: float = 30.0

    def delay(self, failures: int) -> float:
        """Delay after `failures` consecutive failed starts (1 → initial)."""
        if failures <= 0:
            return 0.0
        # Cap the exponent: 2**1100 would overflow a float.
        return float(min(self.maximum, self.initial * 2 ** min(failures - 1, 64)))


@dataclass(frozen=True)
class RestartPolicy:
    """supervisord's restart options plus our doubling backoff."""

    autorestart: Autorestart = Autorestart.UNEXPECTED
    exitcodes: tuple[int, ...] = (0,)
    startsecs: float = 1.0
    startretries: int = 3
    backoff: Backoff = field(default_factory=Backoff)

    def is_expected(self, code: int) -> bool:
        """Whether an exit code counts as expected (a signal is never expected)."""
        return code in self.exitcodes


@dataclass(frozen=True)
class Probe:
    """A readiness check: `target` is a URL, host:port, regex or shell command."""

    kind: ProbeKind
    target: str
    interval: float = 0.25
    timeout: float = 2.0
    endpoint: Endpoint | None = None
    """http/tcp: where to connect, parsed once `$PORT` is expanded (plan.py)."""

    def describe(self) -> str:
        """One line for `check` and status output."""
        return f"{self.kind.value} {self.target}"


PREFIX = "tool.supervise"
"""Where our table lives in pyproject.toml; every TOML key path starts with it."""
MAX_INSTANCES = 1000
"""Instances per process type, from `concurrency` or `-m`: more is a typo, not a plan."""
MAX_SECONDS = 86_400.0
"""The longest duration a key takes (one day): `stop_timeout = 1e308` is a typo, and would be
exported as a 309-digit number."""
MAX_RETRIES = 10_000
"""The most `startretries`: with the default backoff, days of retrying."""
MAX_NAME_LENGTH = 64
"""The longest process name: exports build file and unit names from it (NAME_MAX is 255 bytes)."""
DEFAULT_STOP_TIMEOUT = 10.0
DEFAULT_PORT_BASE = 5000
DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
"""supervisord's stdout_logfile_maxbytes default (50MB there; 10 MiB suits a dev machine)."""
DEFAULT_LOG_BACKUPS = 5
MAX_LOG_BYTES = 1 << 40
MAX_LOG_BACKUPS = 1000


@dataclass(frozen=True)
class ProcessSpec:
    """One process type as the user defined it (a Procfile line or a TOML table)."""

    name: str
    command: str
    directory: str = "."
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    concurrency: int = 1
    autostart: bool = True
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    stopsignal: str = "TERM"
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    stopasgroup: bool | None = None
    """None: decided by the command (see `stops_as_group`)."""
    watch: tuple[str, ...] = ()
    watch_ignore: tuple[str, ...] = ()
    ready: Probe | None = None
    depends_on: tuple[str, ...] = ()
    tty: Tty = Tty.AUTO
    origin: str = ""
    """Where it was defined (`Procfile:3`, `pyproject.toml: tool.supervise.processes.web`)."""
    oneshot: bool | None = None
    """None: a task when its policy says so (see `is_task`); pinned when a run rewrites the policy."""

    @property
    def stop_signal_number(self) -> signal.Signals:
        return signal.Signals[f"SIG{self.stopsignal}"]

    @property
    def shell_line(self) -> str:
        """What `/bin/sh -c` runs, under `up` and in every export: simple commands are exec'd."""
        return shell_line(self.command)

    @property
    def stops_as_group(self) -> bool:
        """supervisord's `stopasgroup`: unless set, only for a compound shell line.

        A simple command is exec'd, so the program gets the stop signal and
        stops its own workers (gunicorn, Celery); the shell of a compound line
        would not pass the signal on, so there the whole group gets it.
        """
        if self.stopasgroup is not None:
            return self.stopasgroup
        return not is_simple_command(self.command)

    @property
    def is_task(self) -> bool:
        """A one-shot task (`startsecs = 0`, `autorestart = false`): it runs once and its exit code decides.

        What depends on a task starts once it has exited with an expected code.
        """
        if self.oneshot is not None:
            return self.oneshot
        return self.restart.startsecs == 0 and self.restart.autorestart is Autorestart.NEVER


@dataclass(frozen=True)
class LogPolicy:
    """Where `up` writes log files (None: nowhere) and how they rotate, as supervisord's do."""

    directory: Path | None = None
    """Absolute; `log_dir` is relative to the root, `--log-dir` to the current folder."""
    max_bytes: int = DEFAULT_LOG_MAX_BYTES
    """A file is rotated before it would grow past this (0: never)."""
    backups: int = DEFAULT_LOG_BACKUPS
    """Rotated files kept: NAME.log.1 (newest) to NAME.log.N."""


DEFAULT_WEB_HOST = "127.0.0.1"
"""Where `up --web PORT` serves: this machine only."""


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
            import ipaddress  # only here: not worth its import at every start

            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def wildcard(self) -> bool:
        """0.0.0.0 or ::, every interface."""
        try:
            import ipaddress  # only here: not worth its import at every start

            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


@dataclass(frozen=True)
class Project:
    """Everything the configuration says, in definition order."""

    root: Path
    source: str
    """The file the definitions came from, as shown in messages."""
    processes: tuple[ProcessSpec, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    env_files: tuple[Path, ...] = ()
    """Env files to load, in order; each exists (missing explicit ones are errors)."""
    port_base: int = DEFAULT_PORT_BASE
    notices: tuple[str, ...] = ()
    """What the configuration does not honour, one line each (a Procfile it does not read)."""
    logs: LogPolicy = field(default_factory=LogPolicy)
    web: WebAddress | None = None
    """`web = "HOST:PORT"`: where `up` serves its page (`--web` overrides it)."""
    config_files: tuple[Path, ...] = ()
    """Absolute paths of the files this configuration comes from, and of those it would
    read if they appeared (pyproject.toml, the default .env): what `up` watches to reload."""

    def process(self, name: str) -> ProcessSpec:
        """The process called `name`; KeyError when there is none."""
        return self._by_name[name]

    @cached_property
    def _by_name(self) -> Mapping[str, ProcessSpec]:
        # Built once: a lookup per name must not scan 10,000 processes.
        return MappingProxyType({spec.name: spec for spec in self.processes})

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Process names in definition order."""
        return tuple(spec.name for spec in self.processes)

    def has_process(self, name: str) -> bool:
        """Whether a process is called `name` (a dict lookup, not a scan)."""
        return name in self._by_name


def signal_name(value: str) -> str | None:
    """Canonical signal name (`TERM`) for `TERM`, `SIGTERM`, `term`, or None."""
    name = value.strip().upper()
    name = name.removeprefix("SIG")
    try:
        signal.Signals[f"SIG{name}"]
    except KeyError:
        return None
    return name


def signal_number(value: str) -> int | None:
    """The signal for `HUP`, `SIGUSR1`, `usr1` or a number (`1`, real-time ones too), or None."""
    text = value.strip()
    if text.isdigit():
        number = int(text)
        return number if number in signal.valid_signals() and number > 0 else None
    name = signal_name(text)
    return None if name is None else int(signal.Signals[f"SIG{name}"])
