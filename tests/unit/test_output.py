"""`supervise up`'s output: whole, prefixed, colored lines, one write per wakeup."""

from __future__ import annotations

import asyncio
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from supervise.runtime.output import PALETTE, RESET, SYSTEM_STYLE, Printer, use_color

T = 1_700_000_000.0
STAMP = time.strftime("%H:%M:%S", time.localtime(T))
SGR = re.compile(r"\x1b\[[0-9;]*m")


class Out:
    """A temp file as the Printer's fd, with the writes counted through the `write` seam."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.writes = 0

    def write(self, fd: int, data: memoryview) -> int:
        self.writes += 1
        return os.write(fd, data)

    def printer(
        self,
        names: Sequence[str] = ("web.1",),
        *,
        color: bool = False,
        kinds: Sequence[str] = (),
        clock: Callable[[], float] = lambda: T,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Printer:
        return Printer(self.fd, names, color=color, kinds=kinds, clock=clock, loop=loop, write=self.write)

    def text(self) -> str:
        return self.path.read_bytes().decode("utf-8")

    def lines(self) -> list[str]:
        return self.text().split("\n")[:-1]


@pytest.fixture
def out(tmp_path: Path) -> Iterator[Out]:
    o = Out(tmp_path / "out")
    yield o
    os.close(o.fd)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


# --- use_color ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("isatty", "environ", "flag", "expected"),
    [
        (True, {}, False, True),
        (False, {}, False, False),
        (True, {"NO_COLOR": "1"}, False, False),
        (True, {"NO_COLOR": ""}, False, True),
        (True, {}, True, False),
        (False, {"FORCE_COLOR": "1"}, False, True),
        (False, {"FORCE_COLOR": "0"}, False, False),
        (False, {"FORCE_COLOR": ""}, False, False),
        (False, {"FORCE_COLOR": "1"}, True, False),
        (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
    ],
)
def test_use_color_follows_the_conventions(
    isatty: bool, environ: dict[str, str], flag: bool, expected: bool
) -> None:
    assert use_color(isatty=isatty, environ=environ, no_color_flag=flag) is expected


# --- the prefix --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "name", "prefix"),
    [
        (["web.1"], "web.1", f"{STAMP} web.1  | "),
        (["web.1"], "system", f"{STAMP} system | "),
        (["web.1", "worker.10"], "web.1", f"{STAMP} web.1     | "),
        (["web.1", "worker.10"], "system", f"{STAMP} system    | "),
        (["a.1"], "a.1", f"{STAMP} a.1    | "),
    ],
)
def test_prefix_is_time_and_name_padded_to_the_longest_including_system(
    out: Out, names: list[str], name: str, prefix: str
) -> None:
    p = out.printer(names)
    if name == "system":
        p.system("hello")
    else:
        p.feed(name, b"hello\n")
    p.flush()
    assert out.text() == f"{prefix}hello\n"


def test_timestamp_is_taken_once_per_chunk(out: Out) -> None:
    calls: list[float] = []

    def clock() -> float:
        calls.append(T)
        return T

    p = out.printer(clock=clock)
    p.feed("web.1", b"line\n" * 1000)
    p.flush()
    assert len(calls) == 1
    assert len(out.lines()) == 1000


def test_timestamp_follows_the_clock(out: Out) -> None:
    now = [T]
    p = out.printer(clock=lambda: now[0])
    p.feed("web.1", b"one\n")
    now[0] = T + 3661
    p.feed("web.1", b"two\n")
    p.flush()
    later = time.strftime("%H:%M:%S", time.localtime(T + 3661))
    assert out.lines() == [f"{STAMP} web.1  | one", f"{later} web.1  | two"]


def test_without_color_there_are_no_escape_codes(out: Out) -> None:
    p = out.printer(["web.1", "worker.1"])
    p.feed("web.1", b"a\n")
    p.feed("worker.1", b"b\n")
    p.system("c")
    p.flush()
    assert "\x1b" not in out.text()


def test_color_wraps_only_the_prefix_and_resets_at_line_end(out: Out) -> None:
    p = out.printer(["web.1"], color=True)
    p.feed("web.1", b"\x1b[31mred, never reset\nplain\n")
    p.flush()
    prefix = f"\x1b[{PALETTE[0]}m{STAMP} web.1  | {RESET}"
    assert out.lines() == [
        f"{prefix}\x1b[31mred, never reset{RESET}",
        f"{prefix}plain{RESET}",
    ]


def test_one_color_per_process_type_and_system_apart(out: Out) -> None:
    p = out.printer(["web.1", "web.2", "worker.1", "my.app.1"], color=True)
    for name in ("web.1", "web.2", "worker.1", "my.app.1"):
        p.feed(name, b"x\n")
    p.system("y")
    p.flush()
    styles = [SGR.match(line).group() for line in out.lines()]  # type: ignore[union-attr]
    assert styles == [
        f"\x1b[{PALETTE[0]}m",
        f"\x1b[{PALETTE[0]}m",
        f"\x1b[{PALETTE[1]}m",
        f"\x1b[{PALETTE[2]}m",
        f"\x1b[{SYSTEM_STYLE}m",
    ]
    assert SYSTEM_STYLE not in PALETTE


def test_a_type_keeps_its_color_whatever_is_selected(out: Out) -> None:
    kinds = ["web", "worker", "assets"]
    everything = out.printer(["web.1", "worker.1", "assets.1"], color=True, kinds=kinds)
    some = out.printer(["assets.1", "worker.1"], color=True, kinds=kinds)
    for p in (everything, some):
        p.feed("assets.1", b"x\n")
        p.flush()
    assert [SGR.match(line).group() for line in out.lines()] == [f"\x1b[{PALETTE[2]}m"] * 2  # type: ignore[union-attr]


def test_children_cannot_fake_a_line_or_move_the_cursor(out: Out) -> None:
    p = out.printer(["web.1"], color=True)
    fake = f"{STAMP} system | web.1 exited with code 0"
    p.feed("web.1", f"\x1b[2J\x1b[H\x1b[1A\x1b[2K\r{fake}\n".encode())
    p.feed("web.1", f"progress\x1b[1G{fake}\n\x1b]0;title\x07\x1b[31mred\x1b[0m\n".encode())
    p.flush()
    prefix = f"\x1b[{PALETTE[0]}m{STAMP} web.1  | {RESET}"
    assert out.lines() == [
        f"{prefix}{fake}{RESET}",
        f"{prefix}progress{fake}{RESET}",
        f"{prefix}\x1b[31mred\x1b[0m{RESET}",
    ]


def test_without_color_a_childs_colors_are_removed(out: Out) -> None:
    p = out.printer()
    p.feed("web.1", b"\x1b[1;31mred\x1b[0m\n")
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | red"]


def test_system_messages_are_sanitized_too(out: Out) -> None:
    p = out.printer(color=True)
    p.system("src/\x1b[2Jevil\r.py changed")
    p.flush()
    assert "\x1b[2J" not in out.text() and "\r" not in out.text()


def test_a_waiting_partial_line_can_be_shown_and_the_rest_follows_on_its_own_line(out: Out) -> None:
    p = out.printer()
    p.feed("web.1", b"(Pdb) ")
    assert p.pending("web.1")
    p.end("web.1")
    assert not p.pending("web.1")
    p.feed("web.1", b"p 6*7\r\n42\r\n")
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | {line}" for line in ("(Pdb) ", "p 6*7", "42")]


def test_width_is_the_prefix_length(out: Out) -> None:
    p = out.printer(["web.1", "worker.10"])
    p.feed("web.1", b"x\n")
    p.flush()
    assert p.width == len(f"{STAMP} worker.10 | ")
    names = ["web.1", "worker.10"]
    assert Printer(out.fd, names, color=False, timestamp=False).width == len("worker.10 | ")
    assert Printer(out.fd, names, color=False, prefix=False).width == 0


def test_system_message_with_newlines_prefixes_every_line(out: Out) -> None:
    p = out.printer()
    p.system("first\nsecond\n")
    p.flush()
    assert out.lines() == [f"{STAMP} system | first", f"{STAMP} system | second"]


# --- whole lines ------------------------------------------------------------------------


def test_partial_line_is_kept_until_its_newline(out: Out) -> None:
    p = out.printer()
    p.feed("web.1", b"hel")
    p.feed("web.1", b"lo wo")
    p.flush()
    assert out.text() == ""
    p.feed("web.1", b"rld\nnext")
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | hello world"]


@pytest.mark.parametrize(
    ("chunks_", "expected"),
    [
        ([b"no newline"], ["no newline"]),
        ([b"done\n", b"last"], ["done", "last"]),
        ([b"all\n"], ["all"]),
        ([], []),
        ([b"x\r"], ["x"]),
    ],
)
def test_end_prints_the_unterminated_last_line(out: Out, chunks_: list[bytes], expected: list[str]) -> None:
    p = out.printer()
    for chunk in chunks_:
        p.feed("web.1", chunk)
    p.end("web.1")
    p.end("web.1")  # a second EOF prints nothing more
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | {line}" for line in expected]


@pytest.mark.parametrize(
    ("chunks_", "expected"),
    [
        ([b"a\xffb\n"], "a\ufffdb"),
        ([b"\xc3\x28\n"], "\ufffd("),
        ([b"caf\xc3", b"\xa9\n"], "caf\u00e9"),
        ([b"\xe2\x82", b"\xac euro\n"], "\u20ac euro"),
        ([b"\xf0\x9f", b"\x98", b"\x80\n"], "\U0001f600"),
    ],
)
def test_bytes_decode_as_utf8_with_replacement(out: Out, chunks_: list[bytes], expected: str) -> None:
    p = out.printer()
    for chunk in chunks_:
        p.feed("web.1", chunk)
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | {expected}"]


@pytest.mark.parametrize(
    ("chunks_", "expected"),
    [
        ([b"a\r\nb\r\n"], ["a", "b"]),
        ([b"a\r", b"\nb\n"], ["a", "b"]),
        ([b"50%\r100%\n"], ["100%"]),
        ([b"a\r\r\n"], ["a"]),
        ([b"50%\r", b"100%\r", b"\n"], ["100%"]),
    ],
)
def test_crlf_loses_its_cr_and_a_line_shows_its_final_state(
    out: Out, chunks_: list[bytes], expected: list[str]
) -> None:
    p = out.printer()
    for chunk in chunks_:
        p.feed("web.1", chunk)
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | {line}" for line in expected]


def test_empty_lines_are_printed(out: Out) -> None:
    p = out.printer()
    p.feed("web.1", b"\n\na\n")
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | "] * 2 + [f"{STAMP} web.1  | a"]


@pytest.mark.parametrize("size", [1 << 20, 10 << 20])
def test_a_huge_line_is_printed_whole(out: Out, size: int) -> None:
    p = out.printer(["web.1", "worker.1"])
    p.feed("web.1", b"before\n")
    for chunk in chunks(b"x" * size + b"\n", 65536):
        p.feed("web.1", chunk)
        p.feed("worker.1", b"interleaved\n")
        p.flush()
    lines = out.lines()
    big = [line for line in lines if line.startswith(f"{STAMP} web.1")]
    assert big == [f"{STAMP} web.1    | before", f"{STAMP} web.1    | " + "x" * size]
    assert len(lines) == 2 + (size + 1 + 65535) // 65536


def test_a_binary_blob_is_never_a_crash(out: Out) -> None:
    blob = random.Random(4).randbytes(300_000)
    p = out.printer()
    for chunk in chunks(blob, 4096):
        p.feed("web.1", chunk)
    p.end("web.1")
    p.flush()
    assert len(out.lines()) == blob.count(b"\n") + (not blob.endswith(b"\n"))


def test_many_instances_in_interleaved_chunks_never_tear_lines(out: Out) -> None:
    rng = random.Random(7)
    names = [f"proc{i}.{j}" for i in range(3) for j in range(1, 4)]
    streams = {n: b"".join(f"{n} line {k} caf\u00e9\n".encode() for k in range(300)) for n in names}
    offsets = dict.fromkeys(names, 0)
    p = out.printer(names)
    while any(offsets[n] < len(streams[n]) for n in names):
        name = rng.choice(names)
        step = rng.randint(1, 200)
        p.feed(name, streams[name][offsets[name] : offsets[name] + step])
        offsets[name] += step
        if rng.random() < 0.2:
            p.flush()
    p.flush()
    seen: dict[str, list[str]] = {n: [] for n in names}
    for line in out.lines():
        name, text = re.fullmatch(r"\d\d:\d\d:\d\d (\S+) +\| (.*)", line).groups()  # type: ignore[union-attr]
        seen[name].append(text)
    assert seen == {n: [f"{n} line {k} caf\u00e9" for k in range(300)] for n in names}


# --- writing -----------------------------------------------------------------------------


def test_one_write_per_flush_and_none_before(out: Out) -> None:
    p = out.printer(["web.1", "worker.1"])
    for k in range(100):
        p.feed("web.1", f"w{k}\n".encode())
        p.feed("worker.1", f"k{k}\n".encode())
    p.system("started")
    assert out.writes == 0
    p.flush()
    assert out.writes == 1
    assert len(out.lines()) == 201
    p.flush()
    assert out.writes == 1  # nothing queued, nothing written


def test_with_a_loop_everything_from_one_wakeup_is_one_write(out: Out) -> None:
    async def main() -> None:
        p = out.printer(["web.1", "worker.1"], loop=asyncio.get_running_loop())
        p.feed("web.1", b"a\nb\n")
        p.feed("worker.1", b"c\n")
        p.system("d")
        assert out.writes == 0
        await asyncio.sleep(0)  # one loop iteration runs the scheduled flush
        assert out.writes == 1
        p.feed("web.1", b"e\n")
        await asyncio.sleep(0)
        assert out.writes == 2

    asyncio.run(main())
    assert [line.rsplit("| ", 1)[1] for line in out.lines()] == ["a", "b", "c", "d", "e"]


def test_partial_writes_are_continued(out: Out) -> None:
    def trickle(fd: int, data: memoryview) -> int:
        out.writes += 1
        return os.write(fd, data[:1000])

    p = Printer(out.fd, ["web.1"], color=False, clock=lambda: T, write=trickle)
    p.feed("web.1", b"".join(b"%05d\n" % k for k in range(10_000)))
    p.flush()
    assert out.lines() == [f"{STAMP} web.1  | {k:05d}" for k in range(10_000)]
    assert out.writes > 1


def pipe_printer(write: Callable[[int, memoryview], int] = os.write) -> tuple[Printer, int, int]:
    read_fd, write_fd = os.pipe()
    return Printer(write_fd, ["web.1"], color=False, clock=lambda: T, write=write), read_fd, write_fd


def test_a_closed_reader_marks_the_printer_broken_and_never_raises() -> None:
    writes: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        writes.append(len(data))
        return os.write(fd, data)

    p, read_fd, write_fd = pipe_printer(write)
    try:
        p.feed("web.1", b"first\n")
        p.flush()
        assert os.read(read_fd, 100) == f"{STAMP} web.1  | first\n".encode()
        os.close(read_fd)  # `supervise up | head -1`: head has what it wanted
        p.feed("web.1", b"second\n")
        p.flush()
        assert p.broken
        p.feed("web.1", b"third\n")
        p.system("stopping")
        p.end("web.1")
        p.flush()
        assert len(writes) == 2  # nothing is attempted once broken
    finally:
        os.close(write_fd)


def test_a_full_non_blocking_fd_is_waited_on_not_dropped() -> None:
    p, read_fd, write_fd = pipe_printer()
    os.set_blocking(write_fd, False)
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        payload = b"".join(b"%07d\n" % k for k in range(200_000))  # 1.6 MB, far above a pipe's buffer
        p.feed("web.1", payload)
        p.flush()
        assert not p.broken
    finally:
        os.close(write_fd)
        reader.join(timeout=10)
        os.close(read_fd)
    assert not reader.is_alive()
    lines = received.decode().split("\n")[:-1]
    assert lines == [f"{STAMP} web.1  | {k:07d}" for k in range(200_000)]


# --- lines longer than 16 MiB: pieces, and bounded memory -----------------------------------

LIMIT = 16 * 1024 * 1024


def _sizes(out: Out, name: str = "web.1") -> list[int]:
    prefix = f"{STAMP} {name}  | "
    return [len(line) - len(prefix) for line in out.lines() if line.startswith(prefix)]


def test_a_line_of_exactly_16_mib_is_printed_whole(out: Out) -> None:
    p = out.printer()
    for chunk in chunks(b"x" * LIMIT + b"\n", 1 << 18):
        p.feed("web.1", chunk)
    p.flush()
    assert _sizes(out) == [LIMIT]


def test_a_line_longer_than_16_mib_is_printed_in_16_mib_pieces(out: Out) -> None:
    size = 2 * LIMIT + 5
    p = out.printer()
    p.feed("web.1", b"before\n")
    for chunk in chunks(b"y" * size + b"\nafter\n", 1 << 18):
        p.feed("web.1", chunk)
    p.flush()
    assert _sizes(out) == [6, LIMIT, LIMIT, 5, 5]


def test_pieces_are_printed_as_the_line_grows_not_at_its_end(out: Out) -> None:
    p = out.printer()
    for chunk in chunks(b"z" * (LIMIT + 1), 1 << 18):
        p.feed("web.1", chunk)
    p.flush()
    assert _sizes(out) == [LIMIT]  # the first piece is out; 1 byte waits for more
    p.end("web.1")
    p.flush()
    assert _sizes(out) == [LIMIT, 1]


def test_a_piece_is_cut_between_utf8_characters(out: Out) -> None:
    text = "é" * (LIMIT // 2 + 1)  # two bytes each: byte LIMIT is the start of a character
    data = ("a" + text + "\n").encode()  # shifted by one: byte LIMIT is in the middle of one
    p = out.printer()
    for chunk in chunks(data, 1 << 18):
        p.feed("web.1", chunk)
    p.flush()
    body = [line.split(" | ", 1)[1] for line in out.lines()]
    assert "\ufffd" not in "".join(body)
    assert "".join(body) == "a" + text
    assert len(body[0].encode()) == LIMIT - 1


def test_a_single_chunk_bigger_than_16_mib_is_cut_too(out: Out) -> None:
    p = out.printer()
    p.feed("web.1", b"short\n" + b"w" * (LIMIT + 10) + b"\nend\n")
    p.flush()
    assert _sizes(out) == [5, LIMIT, 10, 3]


# -- --no-timestamp and --no-prefix ------------------------------------------------------


def test_no_timestamp_keeps_the_padded_name(out: Out) -> None:
    printer = Printer(out.fd, ["web.1", "worker.1"], color=False, clock=lambda: T, timestamp=False)
    printer.feed("web.1", b"a\nb\n")
    printer.system("hello")
    printer.flush()
    assert out.lines() == ["web.1    | a", "web.1    | b", "system   | hello"]


def test_no_timestamp_never_reads_the_clock(out: Out) -> None:
    def clock() -> float:
        raise AssertionError("the clock was read")

    printer = Printer(out.fd, ["web.1"], color=True, clock=clock, timestamp=False)
    printer.feed("web.1", b"x\n")
    printer.flush()
    assert SGR.sub("", out.text()) == "web.1  | x\n"


def test_no_prefix_prints_lines_as_written_color_or_not(out: Out) -> None:
    for color in (False, True):
        printer = Printer(out.fd, ["web.1"], color=color, clock=lambda: T, prefix=False)
        printer.feed("web.1", b"first\nsecond\npartial")
        printer.end("web.1")
        printer.system("web.1 exited")
        printer.flush()
    assert out.lines() == ["first", "second", "partial", "web.1 exited"] * 2  # no prefix left to color
