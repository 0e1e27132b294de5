"""Is a Procfile command one simple command that the shell can `exec`?

`web: gunicorn app:wsgi` runs as `/bin/sh -c "exec gunicorn app:wsgi"`, so the
process supervise spawned *is* gunicorn: it gets the stop signal itself (and
stops its own workers), its exit code is reported as it is, and `status`
shows its pid. A compound line (`cd web && gunicorn app`) keeps the shell as
the leader, and its stop signal goes to the whole group (`stopasgroup`).
"""

from __future__ import annotations

import re

SHELL_SYNTAX = re.compile(r"[;&|<>()`\n]|\$\(|^\s*[!#{]|\\$")
"""Sequencing, pipes, redirections, subshells, command substitution, groups, comments."""
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
NOT_EXECUTABLE = frozenset(
    # Keywords and special built-ins: `exec` cannot run them (or they must run in this shell).
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "case",
        "esac",
        "for",
        "while",
        "until",
        "do",
        "done",
        "in",
        "function",
        "select",
        "time",
        ".",
        ":",
        "alias",
        "bg",
        "break",
        "cd",
        "command",
        "continue",
        "eval",
        "exec",
        "exit",
        "export",
        "fg",
        "getopts",
        "hash",
        "jobs",
        "read",
        "readonly",
        "return",
        "set",
        "shift",
        "source",
        "test",
        "times",
        "trap",
        "type",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "wait",
        "[",
        "[[",
        "]]",
    ]
)
SHELL_WORDS = NOT_EXECUTABLE | {"!", "{", "builtin", "echo", "false", "true", "kill", "printf", "pwd"}
"""Words a shell handles itself: no program to find on PATH (`check`'s warnings)."""


def is_simple_command(command: str) -> bool:
    """True for one plain command with arguments (`$VARS` and quotes allowed)."""
    if SHELL_SYNTAX.search(command):
        return False
    words = command.split()
    if not words or ASSIGNMENT.match(words[0]):
        return False
    return words[0] not in NOT_EXECUTABLE


def shell_line(command: str) -> str:
    """What `/bin/sh -c` runs: `exec COMMAND` when the command is simple."""
    return f"exec {command}" if is_simple_command(command) else command
