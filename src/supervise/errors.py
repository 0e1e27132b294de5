"""Errors a user can cause, as values that know where they happened.

    SuperviseError            exit 2, one line on stderr
    ├── ConfigError           a file and a line, or a file and a TOML key path
    ├── UsageError            a bad option value, name or formation
    ├── OutputExistsError     refusing to overwrite a file without --force
    ├── NotRunningError       exit 1: no `up` serves this project
    ├── AlreadyRunningError   another `up` already serves this project
    └── ControlError          the running `up` refused a request or did not answer

The CLI prints ``str(error)`` and exits with ``error.exit_code``; tracebacks
are for bugs only.
"""

from __future__ import annotations


class SuperviseError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""

    exit_code = 2


class ConfigError(SuperviseError):
    """A problem in a configuration file, located by line or by TOML key."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.key:
            where = f"{where}: {self.key}" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class UsageError(SuperviseError):
    """A bad command-line value: unknown process, bad formation, bad option."""


class OutputExistsError(SuperviseError):
    """A file the user already has would be overwritten."""


class NotRunningError(SuperviseError):
    """No `supervise up` is running for this project."""

    exit_code = 1


class AlreadyRunningError(SuperviseError):
    """A second `supervise up` for a project whose `up` is still alive."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(
            f"another supervise up ({who}) is running for this project; stop it or use supervise status"
        )


class ControlError(SuperviseError):
    """The running `up` answered a control request with an error, or not at all."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        self.exit_code = exit_code
        super().__init__(message)
