"""`supervise logs [NAME...] [-n N] [-f] [--grep RE] [--json]`: the recent output of the running `up`.

`up` sends chunks of whole lines (`[time, name, text]`, raw) merged in the
order they came; this side sanitizes them as `up` does for its own screen
(colors only when this stdout shows them), splits them into lines, keeps
those `--grep` finds (the user's regular expression runs here, never in
`up`, and sees the text without colors), and prints them with `up`'s own
formatter, so a line looks the same in both places.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from supervise.commands.options import CommonOptions, project_root
from supervise.errors import UsageError
from supervise.runtime.control.client import STATUS_TIMEOUT, stream
from supervise.runtime.output.format import JsonFormat, LineFormat, use_color
from supervise.runtime.output.sanitize import sanitize

Record = tuple[float, str, list[str]]
"""A chunk as lines: (time, name, lines)."""


class LogView:
    """Turns `up`'s chunks into what `logs` prints: sanitized, filtered lines, prefixed or as JSON."""

    def __init__(
        self,
        names: Sequence[str],
        *,
        kinds: Sequence[str],
        color: bool,
        as_json: bool,
        grep: re.Pattern[str] | None,
        prefix: bool = True,
        timestamp: bool = True,
    ) -> None:
        self._color = color and not as_json
        self._text = LineFormat(names, color=self._color, kinds=kinds, prefix=prefix, timestamp=timestamp)
        self._json = JsonFormat() if as_json else None
        self._grep = grep

    def lines(self, chunks: Iterable[Sequence[Any]]) -> list[Record]:
        """The chunks as `up` shows them, split into lines; only those --grep finds (all without)."""
        records = []
        for now, name, text in chunks:
            raw = str(text).encode("utf-8", "replace")
            plain = _text(sanitize(raw, color=False))
            lines = _text(sanitize(raw, color=True)).split("\n") if self._color else plain.split("\n")
            if self._grep is not None:
                search = self._grep.search
                lines = [line for line, bare in zip(lines, plain.split("\n"), strict=True) if search(bare)]
            if lines:
                records.append((float(now), str(name), lines))
        return records

    def render(self, records: Iterable[Record]) -> bytes:
        """The lines in `up`'s format (or JSON lines), ready for stdout."""
        out = []
        for now, name, lines in records:
            text = "\n".join(lines)
            if self._json is not None:
                out.append(self._json.lines(name, now, text).encode())
            else:
                out.append(self._text.lines(name, now, text.encode()))
        return b"".join(out)


def _text(safe: bytes) -> str:
    return safe.decode("utf-8", "replace")


def last_lines(records: list[Record], count: int) -> list[Record]:
    """The last `count` lines of the records."""
    kept: list[Record] = []
    for now, name, lines in reversed(records):
        if count <= 0:
            break
        if len(lines) > count:
            lines = lines[-count:]
        kept.append((now, name, lines))
        count -= len(lines)
    kept.reverse()
    return kept


def run_logs(
    options: CommonOptions,
    names: Sequence[str],
    count: int,
    follow: bool,
    grep: str | None,
    as_json: bool,
) -> int:
    """Print the last `count` lines (and with `follow` the new ones until Ctrl-C or `up` ends)."""
    pattern = _compile(grep)
    root = project_root(options)
    # With --grep, `up` sends all it keeps: the last N *matching* lines are picked here.
    message = {"op": "logs", "names": list(names), "lines": None if pattern else count, "follow": follow}
    color = use_color(isatty=os.isatty(1), environ=os.environ, no_color_flag=options.no_color)
    answers = stream(root, message, STATUS_TIMEOUT, os.environ)
    try:
        first = next(answers)
        view = LogView(
            first.get("names", []),
            kinds=first.get("kinds", []),
            color=color,
            as_json=as_json,
            grep=pattern,
            prefix=not options.no_prefix,
            timestamp=not options.no_timestamp,
        )
        # With --follow, the recent lines come first in the stream, not in the answer.
        history = next(answers, {}) if follow else first
        _write(view.render(last_lines(view.lines(history.get("lines", [])), count)))
        for answer in answers:
            if answer.get("end"):
                break
            _write(view.render(view.lines(answer.get("lines", []))))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how `logs -f` is meant to end
    finally:
        answers.close()
    return 0


def _compile(grep: str | None) -> re.Pattern[str] | None:
    if grep is None:
        return None
    try:
        return re.compile(grep)
    except re.error as error:
        raise UsageError(f"--grep: invalid regular expression {grep!r}: {error}") from None


def _write(data: bytes) -> None:
    if data:
        out = sys.stdout.buffer
        out.write(data)
        out.flush()
