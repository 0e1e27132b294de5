"""`supervise attach`'s frames and the screenful it starts with: pure parts, no processes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from supervise.config.model import ProcessSpec
from supervise.plan import Instance
from supervise.runtime.control import attach
from supervise.runtime.output import Printer
from supervise.runtime.terminal import RECENT_BYTES, Terminal, Terminals


def test_frames_arrive_whole_however_the_stream_is_cut() -> None:
    stream = (
        attach.frame(attach.OUTPUT, b"hello") + attach.size_frame((120, 40)) + attach.frame(attach.END, b"")
    )
    reader = attach.FrameReader()
    frames = [frame for i in range(len(stream)) for frame in reader.feed(stream[i : i + 1])]
    assert frames == [
        (attach.OUTPUT, b"hello"),
        (attach.SIZE, attach.SIZE_PAYLOAD.pack(120, 40)),
        (attach.END, b""),
    ]


def test_a_frame_longer_than_any_peer_sends_is_refused() -> None:
    with pytest.raises(ValueError):
        attach.FrameReader().feed(attach.HEADER.pack(attach.OUTPUT, attach.MAX_FRAME + 1))


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ([80, 24], (80, 24)),
        ([0, 24], None),
        ([80], None),
        ("80x24", None),
        ([True, 24], None),
        ([70000, 1], None),
    ],
)
def test_a_requested_size_is_two_plausible_numbers(value: object, size: tuple[int, int] | None) -> None:
    assert attach.parse_size(value) == size


def test_the_recent_screen_is_the_last_rows_lines_prompt_included() -> None:
    async def screen() -> tuple[bytes, bytes, int]:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            terminal = Terminal("web.1", Printer(fd, ["web.1"], color=False), lambda: (80, 24))
            terminal._remember(b"".join(b"line %d\r\n" % n for n in range(100)) + b"(Pdb) ")
            three = terminal.recent_screen(3)
            terminal._remember(b"x" * (3 * RECENT_BYTES))
            return three, terminal.recent_screen(3), terminal._recent_size
        finally:
            os.close(fd)

    three, long_line, kept = asyncio.run(screen())
    assert three == b"line 98\r\nline 99\r\n(Pdb) "
    assert long_line == b"x" * RECENT_BYTES
    assert kept <= 2 * RECENT_BYTES


def test_the_terminal_of_an_instance_a_reload_removed_is_let_go() -> None:
    def instance(name: str) -> Instance:
        return Instance(f"{name}.1", ProcessSpec(name=name, command="x"), 1, None, {}, Path("/"))

    async def kept() -> list[str]:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            terminals = Terminals(Printer(fd, ["a.1", "b.1"], color=False))
            old = terminals.terminal(instance("a"))
            old._remember(b"x" * RECENT_BYTES)  # what it would hold on to
            old.close()
            terminals.terminal(instance("b"))
            return [terminal.name for terminal in terminals.terminals]
        finally:
            os.close(fd)

    assert asyncio.run(kept()) == ["b.1"]
