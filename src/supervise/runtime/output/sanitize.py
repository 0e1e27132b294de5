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
"""Deleted by `translate` (CR included); ESC is left to the regexes, which keep SGR."""
_TRAILING_CR = re.compile(rb"\r+(?=\n)")
_OVERWRITING_CR = re.compile(rb"\r[^\n]")
"""A CR that is not a line end (the last line's newline is cut off: a CR at the very end is one)."""


def sanitize(data: bytes, *, color: bool) -> bytes:
    """Lines (newline-separated bytes, the last one's newline cut off) made safe to show.

    SGR sequences are kept only when `color`.
    """
    # A terminal's line ends (ONLCR's CR LF, the last line's CR included) leave no
    # artifact: `translate` below deletes those CRs. Only other CRs need a closer look.
    if b"\r" in data and _OVERWRITING_CR.search(data):
        # A CR that ends a line is a `print(x, end="\r")`: x is the final state.
        data = data.replace(b"\r\n", b"\n").rstrip(b"\r")
        if b"\r" in data:
            data = _overwrite(_TRAILING_CR.sub(b"", data), color)
    if b"\x1b" in data:
        # (split and join beats sub when matches are many: a colored line has two or more)
        data = _ESCAPES_BUT_SGR.sub(b"", data) if color else b"".join(_ESCAPES.split(data))
    if b"\xc2" in data:
        data = _C1.sub(b"", data)
    return data.translate(None, _C0)


def _overwrite(data: bytes, color: bool) -> bytes:
    """Each line that has a CR keeps what follows its last one (and, with `color`, the
    SGR sequences before it, whose colors still apply). Work for those lines only."""
    kept = []
    done = 0
    cr = data.find(b"\r")
    while cr >= 0:
        start = data.rfind(b"\n", 0, cr) + 1
        end = data.find(b"\n", cr)
        end = len(data) if end < 0 else end
        last = data.rfind(b"\r", cr, end)
        kept.append(data[done:start])
        if color:
            kept.extend(_SGR.findall(data, start, last))
        done = last + 1
        cr = data.find(b"\r", end)
    kept.append(data[done:])
    return b"".join(kept)
