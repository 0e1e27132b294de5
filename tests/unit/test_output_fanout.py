"""Where the Printer's chunks go besides the terminal: JSON lines, the recent-output ring, log files."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervise.config.model import LogPolicy
from supervise.runtime.output import Printer
from supervise.runtime.output.format import IsoTime, JsonFormat, LineFormat
from supervise.runtime.output.logfile import LogFiles
from supervise.runtime.output.ring import CUT_MARK, MAX_BYTES, RecentOutput

T = 1_700_000_000.0
ISO = IsoTime()


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    yield out
    os.close(out)


def written(tmp_path: Path) -> str:
    return (tmp_path / "out").read_text()


def record(now: float, name: str, text: str) -> str:
    return json.dumps({"time": ISO(now), "name": name, "text": text})


# -- JSON lines ----------------------------------------------------------------------------


def test_json_view_is_one_object_per_line_as_json_dumps_writes_it(fd: int, tmp_path: Path) -> None:
    now = [T + 0.123]
    p = Printer(fd, ["web.1"], color=True, clock=lambda: now[0], as_json=True)
    p.feed("web.1", b'first\n"quoted" \\n \xff\r\n\x1b[31mred\n')
    now[0] = T + 1.5
    p.system("web.1 started (pid 4)")
    p.feed("web.1", b"no newline")
    p.end("web.1")
    p.flush()
    assert written(tmp_path).splitlines() == [
        record(T + 0.123, "web.1", "first"),
        record(T + 0.123, "web.1", '"quoted" \\n \ufffd'),
        record(T + 0.123, "web.1", "\x1b[31mred"),
        record(T + 1.5, "system", "web.1 started (pid 4)"),
        record(T + 1.5, "web.1", "no newline"),
    ]


def test_iso_time_has_milliseconds_and_the_utc_offset() -> None:
    stamp = IsoTime()(T + 0.9999)
    local = time.localtime(T)
    assert stamp.startswith(time.strftime("%Y-%m-%dT%H:%M:%S.999", local))
    offset = time.strftime("%z", local)
    assert stamp.endswith(f"{offset[:3]}:{offset[3:]}")


def test_json_lines_of_a_chunk_survive_every_character() -> None:
    text = "\n".join(["", '", "', "}\n{", "\\", "\u2028", "\x00\x1f", "caf\u00e9", '{"time": "x"}'])
    lines = JsonFormat().lines("web.1", T, text).splitlines()
    assert [json.loads(line)["text"] for line in lines] == text.split("\n")


def test_line_format_is_shared_by_up_and_logs() -> None:
    fmt = LineFormat(["web.1", "worker.10"], color=False)
    stamp = time.strftime("%H:%M:%S", time.localtime(T))
    assert fmt.lines("web.1", T, b"a\nb") == f"{stamp} web.1     | a\n{stamp} web.1     | b\n".encode()


# -- the ring ------------------------------------------------------------------------------


def test_the_ring_gets_whole_lines_with_their_chunk_time(fd: int) -> None:
    recent = RecentOutput()
    now = [T]
    p = Printer(fd, ["web.1"], color=False, clock=lambda: now[0], recent=recent)
    p.feed("web.1", b"one\ntw")
    now[0] = T + 1
    p.feed("web.1", b"o\nthree")
    p.system("stopping")
    p.end("web.1")
    assert recent.tail() == [
        (T, "web.1", b"one"),
        (T + 1, "web.1", b"two"),
        (T + 1, "system", b"stopping"),
        (T + 1, "web.1", b"three"),
    ]


# -- log files -----------------------------------------------------------------------------


def test_log_files_get_the_raw_bytes_and_supervise_log_the_system_lines(fd: int, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    files = LogFiles.open(logs, LogPolicy(logs))
    p = Printer(fd, ["web.1"], color=True, clock=lambda: T, files=files)
    raw = [b"\x1b[32mgreen\x1b[0m\r\n", b"half a li", b"ne\n\xff", b"unterminated"]
    for data in raw:
        p.feed("web.1", data)
    p.system("web.1 exited with code 0")
    p.end("web.1")
    p.flush()
    files.close()
    assert (logs / "web.1.log").read_bytes() == b"".join(raw)
    assert (logs / "supervise.log").read_text() == f"{ISO(T)} web.1 exited with code 0\n"


def test_a_broken_terminal_stops_the_view_but_not_the_ring_nor_the_files(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    recent = RecentOutput()
    p = Printer(write_fd, ["web.1"], color=False, clock=lambda: T, recent=recent, files=files)
    try:
        os.close(read_fd)
        p.feed("web.1", b"first\n")
        p.flush()
        assert p.broken
        p.feed("web.1", b"second\n")
        p.flush()
    finally:
        os.close(write_fd)
        files.close()
    assert (tmp_path / "web.1.log").read_bytes() == b"first\nsecond\n"
    assert [data for _, _, data in recent.tail()] == [b"first", b"second"]


def test_a_log_file_problem_becomes_one_system_line(fd: int, tmp_path: Path) -> None:
    (tmp_path / "web.1.log").mkdir()
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    p = Printer(fd, ["web.1"], color=False, clock=lambda: T, files=files)
    p.feed("web.1", b"a\n")
    p.flush()
    p.feed("web.1", b"b\n")
    p.flush()
    p.flush()
    files.close()
    out = written(tmp_path).splitlines()
    assert [line.split("| ", 1)[1] for line in out][::2] == ["a", "b"]
    assert sum("cannot open" in line for line in out) == 1


def test_a_wakeup_that_reads_a_lot_writes_every_mebibyte_not_all_at_the_end(tmp_path: Path) -> None:
    writes: list[int] = []
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def write(fd: int, data: memoryview) -> int:
        writes.append(len(data))
        return os.write(fd, data)

    async def main() -> None:
        p = Printer(
            out, ["web.1"], color=False, clock=lambda: T, loop=asyncio.get_running_loop(), write=write
        )
        chunk = b"x" * 999 + b"\n"
        for _ in range(5000):  # 5 MB in one wakeup, as 200 full pipes give
            p.feed("web.1", chunk)
        assert 4 <= len(writes) <= 6 and max(writes) < 2 << 20
        await asyncio.sleep(0)

    try:
        asyncio.run(main())
    finally:
        os.close(out)
    assert len((tmp_path / "out").read_bytes().splitlines()) == 5000


@pytest.mark.parametrize(
    ("zone", "stamp"),
    [
        ("UTC", "2023-11-14T22:13:20.500+00:00"),
        ("America/St_Johns", "2023-11-14T18:43:20.500-03:30"),
        ("Asia/Kolkata", "2023-11-15T03:43:20.500+05:30"),
    ],
)
def test_iso_time_is_local_with_its_offset(monkeypatch: pytest.MonkeyPatch, zone: str, stamp: str) -> None:
    if not Path(f"/usr/share/zoneinfo/{zone}").exists():
        pytest.skip(f"no {zone} zone here")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert IsoTime()(T + 0.5) == stamp
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_line_a_read_cut_goes_out_with_the_lines_after_it_in_one_batch(fd: int, tmp_path: Path) -> None:
    recent = RecentOutput()
    seen: list[bytes] = []
    recent.follow(lambda now, name, data: seen.append(data))
    p = Printer(fd, ["web.1"], color=False, clock=lambda: T, recent=recent)
    p.feed("web.1", b"one\ntw")
    p.feed("web.1", b"o\nthree\nfour\nfi")
    p.flush()
    assert seen == [b"one", b"two\nthree\nfour"]  # the ring, sanitizer and view see one chunk per read
    shown = [line.split("| ", 1)[1] for line in written(tmp_path).splitlines()]
    assert shown == ["one", "two", "three", "four"]


def test_a_line_printed_in_16_mib_pieces_reaches_the_ring_as_the_end_of_each_piece(fd: int) -> None:
    recent = RecentOutput()
    seen: list[bytes] = []
    recent.follow(lambda now, name, data: seen.append(data))
    p = Printer(fd, ["web.1"], color=False, clock=lambda: T, recent=recent)
    for _ in range(17 * 1024):
        p.feed("web.1", b"c" * 1024)  # 17 MiB with no newline
    p.feed("web.1", b"END\nnext\n")
    p.flush()
    assert len(seen) == 3  # a 16 MiB piece, the rest of the line, the next line
    assert all(data.startswith(CUT_MARK) and len(data) < MAX_BYTES for data in seen[:2])
    assert seen[1].endswith(b"cEND") and seen[2] == b"next"
    assert [data for _, _, data in recent.tail()] == [b"next"]  # 1 MiB holds no more than that
