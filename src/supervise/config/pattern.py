"""The `log` readiness probe's regular expression, compiled with RE2.

Python's `re` backtracks: `^(a+)+$` against one line of thirty `a`s and a `b`
runs for minutes, inside `up`'s only thread, and nothing else (output,
signals, the control socket) happens meanwhile. RE2 matches in time linear in
the line, whatever the pattern. What it cannot do that way (backreferences,
lookaround) it refuses when compiling, and that is a config error at load
time, as `check` reports it. Defined here, the lowest layer that needs it:
config validates the pattern, the runtime matches with it.
"""

from __future__ import annotations

from typing import Protocol


class LinePattern(Protocol):
    """A compiled pattern: `search` finds it anywhere in one line."""

    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why, for the user."""


HINT = "log patterns use RE2 syntax: no backreferences or lookaround; \\z, not \\Z"


def compile_log_pattern(pattern: str) -> LinePattern:
    """`pattern` compiled with RE2 (imported here only); PatternError when it cannot be."""
    import re2  # google-re2: only projects with a log probe pay for the import

    options = re2.Options()
    options.log_errors = False  # RE2 would also log the error on stderr itself
    try:
        compiled: LinePattern = re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"invalid regular expression: {reason} ({HINT})") from None
    return compiled
