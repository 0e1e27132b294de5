"""What a child may put on `up`'s screen: text, tabs and (with colors on) SGR colors.

Everything else a terminal would act on is removed before a line is shown:
cursor movement, erase, scrolling, title (OSC) and other escape sequences,
C0 controls other than tab and newline, and C1 controls. Within a line only
what follows the last carriage return is kept, as a terminal would end up
showing it (a progress bar shows its final state). So no child can move the
cursor onto another line, clear the screen or overwrite supervise's prefix:
every line it produces starts with the prefix supervise wrote.

Pure and per chunk, with no Python code per line: each kind of byte is looked
for with `in` (memchr speed) and only then handled, by `bytes.replace`,
`bytes.translate` or a regex that starts with a literal byte (which `re`
scans for quickly). Plain text costs three `in` tests and one `translate`.
"""

from __future__ import annotations

import re

_ESCAPE_BODY = (
    rb"\[[0-?]*[ -/]*[@-~]"  # CSI: cursor movement, erase, scrolling, modes (and SGR)
    rb"|[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC strings, up to BEL or ST
    rb"|[ -/]*[0-~]"  # two-byte and nF escapes: ESC 7, ESC M, ESC c, ESC ( B
)
_SGR_BODY = rb"\[[0-9;:]*m"

_ESCAPES = re.compile(rb"\x1b(?:" + _ESCAPE_BODY + rb")?")
"""Every escape sequence, and a lone ESC."""
_ESCAPES_BUT_SGR = re.compile(rb"\x1b(?!" + _SGR_BODY + rb")(?:" + _ESCAPE_BODY + rb")?")
_SGR = re.compile(rb"\x1b" + _SGR_BODY)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
"""C1 controls, UTF-8 encoded: U+009B is a CSI to some terminals."""
_C0 = bytes(c for c in range(32) if c not in b"\t\n\x1b") + b"\x7f"
"""Deleted by `translate`; ESC is left to the regexes, which keep SGR."""
_TRAILING_CR = re.compile(rb"\r+(?=\n|\Z)")
_OVERWRITTEN = re.compile(rb"[^\n]*\r")
"""A line's text up to its last CR: what a terminal would write over."""


def sanitize(data: bytes, *, color: bool) -> bytes:
    """Lines (newline-separated bytes) made safe to show; SGR kept only when `color`."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")  # a terminal's line ends (ONLCR): no artifact
        if b"\r" in data:
            data = _TRAILING_CR.sub(b"", data)  # `print(x, end="\r")`: x is the final state
            data = _OVERWRITTEN.sub(_colors_of if color else b"", data)
    if b"\x1b" in data:
        data = (_ESCAPES_BUT_SGR if color else _ESCAPES).sub(b"", data)
    if b"\xc2" in data:
        data = _C1.sub(b"", data)
    return data.translate(None, _C0)


def _colors_of(overwritten: re.Match[bytes]) -> bytes:
    """The overwritten text's SGR sequences: their colors still apply to what follows."""
    return b"".join(_SGR.findall(overwritten.group()))
