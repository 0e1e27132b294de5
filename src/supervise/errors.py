"""Errors a user can cause, as values that know where they happened.

    SuperviseError            exit 2, one line on stderr
    ├── ConfigError           a file and a line, or a file and a TOML key path
    ├── UsageError            a bad option value, name or formation
    ├── OutputExistsError     refusing to overwrite a file without --force
    └── NotRunningError       exit 1: no `up` serves this project

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
