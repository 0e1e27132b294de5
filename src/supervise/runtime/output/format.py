"""How a line looks: `HH:MM:SS web.1 | text`, its colors, and its JSON twin.

`up` (through the Printer) and `supervise logs` (in another process) format
with the same code, so both show a line alike. Everything works on a chunk of
whole lines at once (text joined by "\\n", none at the end): the prefix is
built once per name and second, and a chunk becomes one `str.replace` or one
JSON encoder call, never a loop over its lines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

SYSTEM = "system"
"""The name on supervise's own lines."""

RESET = "\x1b[0m"
PALETTE = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
"""SGR colors, one per process type by its place in the project; red is left for nobody."""
SYSTEM_STYLE = "1"
"""Bold in the terminal's own color: not in the palette, so never mistaken for a process."""


def use_color(*, isatty: bool, environ: Mapping[str, str], no_color_flag: bool) -> bool:
    """--no-color or NO_COLOR (non-empty) -> off; FORCE_COLOR (non-empty, not "0") -> on; else isatty."""
    if no_color_flag or environ.get("NO_COLOR", ""):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force and force != "0":
        return True
    return isatty


def process_type(name: str) -> str:
    """`web.1` -> `web`: the part that picks the color."""
    return name.rpartition(".")[0] or name


def decode(data: bytes | memoryview) -> str:
    """Child bytes as text: UTF-8 with replacement characters, as `up` shows them."""
    return str(data, "utf-8", "replace")


class LineFormat:
    """The prefixed view: names padded to the longest (and `system`), one color per process type.

    `kinds`: every process type of the project, in order, so that a type's color
    does not depend on what is selected. `prefix=False` (`--no-prefix`) shows
    the lines bare; `timestamp=False` (`--no-timestamp`) keeps `web.1 | `
    without the time. Lines come and go as sanitized UTF-8 bytes.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        color: bool,
        kinds: Sequence[str] = (),
        prefix: bool = True,
        timestamp: bool = True,
    ) -> None:
        self.color = color
        self.prefix = prefix
        self.timestamp = timestamp
        self.width = max(len(n) for n in [*names, SYSTEM])
        self._styles: dict[str, str] = {}
        for name in [*kinds, *names]:
            self.style(name)
        self._stamps: dict[str, tuple[int, bytes, bytes, bytes]] = {}  # name -> (second, *pieces)

    @property
    def columns(self) -> int:
        """Columns the prefix `HH:MM:SS name | ` takes (less without the time, 0 without a prefix)."""
        if not self.prefix:
            return 0
        return len("00:00:00 " if self.timestamp else "") + self.width + len(" | ")

    def lines(self, name: str, now: float, safe: bytes) -> bytes:
        """Every line of `safe` (joined by newlines, none at the end) prefixed, each ending in a newline."""
        first, separator, line_end = self.pieces(name, now)
        return first + safe.replace(b"\n", separator) + line_end

    def pieces(self, name: str, now: float) -> tuple[bytes, bytes, bytes]:
        """(first line's prefix, line end + prefix as the separator, line end), cached per second."""
        if not self.prefix:
            return b"", b"\n", b"\n"
        second = int(now) if self.timestamp else 0
        cached = self._stamps.get(name)
        if cached is not None and cached[0] == second:
            return cached[1], cached[2], cached[3]
        stamp = time.strftime("%H:%M:%S ", time.localtime(second)) if self.timestamp else ""
        prefix = f"{stamp}{name.ljust(self.width)} | "
        if self.color:
            # Color the prefix only; reset before the child's text and at the end of the
            # line so neither our color nor an unterminated one of the child's bleeds.
            first, line_end = f"\x1b[{self.style(name)}m{prefix}{RESET}".encode(), f"{RESET}\n".encode()
        else:
            first, line_end = prefix.encode(), b"\n"
        self._stamps[name] = (second, first, line_end + first, line_end)
        return first, line_end + first, line_end

    def style(self, name: str) -> str:
        """The SGR code for `name`: one per process type, in project order."""
        if name == SYSTEM:
            return SYSTEM_STYLE
        kind = process_type(name)
        style = self._styles.get(kind)
        if style is None:
            style = self._styles[kind] = PALETTE[len(self._styles) % len(PALETTE)]
        return style


class IsoTime:
    """`2026-11-23T14:02:07.123+01:00`: local time with milliseconds and the UTC offset."""

    def __init__(self) -> None:
        self._second = -1
        self._head = ""
        self._zone = ""

    def __call__(self, now: float) -> str:
        second = int(now // 1)
        if second != self._second:
            local = time.localtime(second)
            hours, minutes = divmod(abs(local.tm_gmtoff) // 60, 60)
            self._zone = f"{'-' if local.tm_gmtoff < 0 else '+'}{hours:02d}:{minutes:02d}"
            self._second, self._head = second, time.strftime("%Y-%m-%dT%H:%M:%S", local)
        millis = min(int((now - self._second) * 1000), 999)
        return f"{self._head}.{millis:03d}{self._zone}"


class JsonFormat:
    """One JSON object per line, `{"time": ..., "name": ..., "text": ...}`, as `json.dumps` writes it."""

    def __init__(self) -> None:
        import json  # only with --json: `up` starts without it

        self._json = json
        self._time = IsoTime()

    def lines(self, name: str, now: float, text: str) -> str:
        """Every line of `text` (joined by "\\n", none at the end) as a JSON line."""
        dumps = self._json.dumps
        head = f'{{"time": "{self._time(now)}", "name": {dumps(name)}, "text": '
        if "\n" not in text:
            return f"{head}{dumps(text)}}}\n"
        # One encoder call for the whole chunk: the lines as a JSON list whose item
        # separator closes one object and opens the next. A separator cannot occur
        # inside an encoded string, where every quote is escaped.
        encoder = self._json.JSONEncoder(separators=(f"}}\n{head}", ": "))
        return f"{head}{encoder.encode(text.split(chr(10)))[1:-1]}}}\n"
