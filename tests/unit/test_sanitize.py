"""What a child may put on `up`'s screen (PRODUCT.md §6): colors, and nothing that moves the cursor."""

from __future__ import annotations

import pytest

from supervise.runtime.output.sanitize import sanitize

RED, RESET = b"\x1b[31m", b"\x1b[0m"
FAKE = b"12:00:00 system | web.1 exited with code 0"


@pytest.mark.parametrize(
    ("data", "color", "expected"),
    [
        (b"plain text\twith a tab", True, b"plain text\twith a tab"),
        (b"one\ntwo", False, b"one\ntwo"),
        (RED + b"red" + RESET, True, RED + b"red" + RESET),
        (RED + b"red" + RESET, False, b"red"),
        (b"\x1b[38;5;196mx\x1b[38:2:1:2:3my\x1b[m", True, b"\x1b[38;5;196mx\x1b[38:2:1:2:3my\x1b[m"),
        (b"\x1b[2J\x1b[H" + FAKE, True, FAKE),  # clear screen, cursor home
        (b"\x1b[1A\x1b[2K" + FAKE, True, FAKE),  # up one line, erase it
        (b"\x1b[10;1H\x1b[?25l\x1b[?1049h\x1b[3S" + FAKE, True, FAKE),  # move, hide cursor, alt screen
        (b"\x1b7\x1bM\x1b8\x1bc\x1b(0x\x1b(B", True, b"x"),  # save/restore, reverse index, reset, charset
        (b"\x1b]0;title\x07a\x1b]8;;http://x\x1b\\b\x1b]8;;\x1b\\", True, b"ab"),  # OSC title, hyperlink
        (b"\x1bP+q544e\x1b\\a\x1b_apc\x1b\\", True, b"a"),  # DCS, APC
        (b"\x1b[31", True, b"31"),  # cut short by the end of the line: ESC [ goes, the text stays
        (b"lone\x1b", True, b"lone"),
        (b"a\x08\x08\x08b\x0bc\x0cd\x0e\x0fe\x00\x07\x7ff", True, b"abcdef"),  # C0 controls and DEL
        (b"\xc2\x9b2J\xc2\x85x", True, b"2Jx"),  # C1 CSI and NEL, UTF-8 encoded
        (b"\xc2\xb0C caf\xc3\xa9", True, b"\xc2\xb0C caf\xc3\xa9"),  # other non-ASCII text stays
        (b"line\r\nnext\r\n", False, b"line\nnext\n"),  # a pty's line ends
        (b"\r" + FAKE, True, FAKE),
        (b"50%\r100%", True, b"100%"),
        (b" 50%\r 75%\r100%\r", True, b"100%"),  # `print(x, end="\r")`: the final state
        (b"a\rb\nc\rd", False, b"b\nd"),
        (RED + b"50%\r100%" + RESET, True, RED + b"100%" + RESET),  # colors set before a CR still apply
        (RED + b"50%\r100%" + RESET, False, b"100%"),
    ],
)
def test_sanitize(data: bytes, color: bool, expected: bytes) -> None:
    assert sanitize(data, color=color) == expected


def test_nothing_a_terminal_acts_on_survives_but_sgr() -> None:
    every_byte = bytes(range(256)) * 3 + b"\x1b[5mx\x1b[5Ax"
    for color in (True, False):
        out = sanitize(every_byte, color=color)
        assert not set(out) & (set(range(32)) - set(b"\t\n\x1b")) and 0x7F not in out
        escapes = out.count(b"\x1b")
        assert escapes == (out.count(b"\x1b[5m") if color else 0)
