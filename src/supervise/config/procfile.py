"""Procfile text -> process specs, with `file:line` errors instead of skipped lines."""

from __future__ import annotations

import re

from supervise.config.model import MAX_NAME_LENGTH, ProcessSpec
from supervise.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9_-]+")
RESERVED = {
    "all": "it means every process in -m/--formation",
    "system": "supervise's own output lines use it",
    "then": "the --then command's output lines use it",
}
"""Names a process cannot take, and why."""


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a process, or None when it can."""
    if not NAME.fullmatch(name):
        return 'use letters, digits, "_" and "-"'
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    if name in RESERVED:
        return f"reserved: {RESERVED[name]}"
    return None


LINE_END = re.compile(r"\r\n|\r|\n")


def parse_procfile(text: str, filename: str = "Procfile") -> list[ProcessSpec]:
    """Parse Procfile text; every problem names `filename` and the line number."""
    specs: list[ProcessSpec] = []
    first_line: dict[str, int] = {}
    # Line ends are \n, \r\n or \r, as editors count them; str.splitlines would also
    # split on form feeds and Unicode separators and shift the line numbers after them.
    for number, raw in enumerate(LINE_END.split(text.removeprefix("\ufeff")), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, command = line.partition(":")
        name, command = name.strip(), command.strip()

        def error(message: str, number: int = number) -> ConfigError:
            return ConfigError(message, file=filename, line=number)

        if not colon:
            raise error(f'expected "name: command", got "{_clip(line)}"')
        if not name:
            raise error('missing process name before ":"')
        problem = name_problem(name)
        if problem:
            raise error(f'invalid process name "{_clip(name)}": {problem}')
        if not command:
            raise error(f'process "{name}" has an empty command')
        if "\0" in command:
            raise error(f'process "{name}": the command contains a NUL character')
        if name in first_line:
            raise error(f'duplicate process "{name}" (first defined on line {first_line[name]})')
        first_line[name] = number
        specs.append(ProcessSpec(name=name, command=command, origin=f"{filename}:{number}"))
    return specs


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
