"""Log files (PRODUCT.md §7): raw bytes, rotation as supervisord's, no line split, nothing lost."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from supervise.config.model import LogPolicy
from supervise.errors import UsageError
from supervise.runtime.output.logfile import LogFile, LogFiles


def generations(path: Path) -> list[Path]:
    """`path.N` ... `path.1`, `path`: oldest first, the ones that exist."""
    backups = sorted(path.parent.glob(f"{path.name}.*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*backups, path] if path.exists() else backups


def numbered(count: int, width: int = 9) -> list[bytes]:
    return [b"%0*d\n" % (width, k) for k in range(count)]


def test_bytes_are_written_exactly_as_given(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "web.1.log", 0, 5)
    raw = [
        b"\x1b[31mred\x1b[0m\r\n",
        b"caf\xc3",
        b"\xa9 \xff\xfe\n",
        b"50%\r100%\n",
        b"no newline at the end",
    ]
    for data in raw:
        log.write(data)
    log.flush()
    log.close()
    assert (tmp_path / "web.1.log").read_bytes() == b"".join(raw)


def test_files_rotate_past_max_bytes_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 100, 50)
    lines = numbered(200)  # 10 bytes each: 10 lines per file
    for k in range(0, 200, 3):
        log.write(b"".join(lines[k : k + 3]))
        log.flush()
    log.close()
    files = generations(path)
    assert [p.name for p in files[-3:]] == ["web.1.log.2", "web.1.log.1", "web.1.log"]
    assert b"".join(p.read_bytes() for p in files) == b"".join(lines)
    for file in files:
        data = file.read_bytes()
        assert len(data) <= 100
        assert data.endswith(b"\n")  # a line is never split across files


def test_only_log_backups_old_files_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 100, 3)
    lines = numbered(100)
    for line in lines:
        log.write(line)
        log.flush()
    log.close()
    assert [p.name for p in generations(path)] == ["web.1.log.3", "web.1.log.2", "web.1.log.1", "web.1.log"]
    assert b"".join(p.read_bytes() for p in generations(path)) == b"".join(lines[-40:])


def test_no_backups_empties_the_file_as_supervisord_does(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 100, 0)
    for line in numbered(25):
        log.write(line)
        log.flush()
    log.close()
    assert generations(path) == [path]
    assert path.read_bytes() == b"".join(numbered(25)[20:])


def test_max_bytes_0_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 0, 5)
    log.write(b"x" * 100_000 + b"\n")
    log.flush()
    log.close()
    assert generations(path) == [path]


def test_a_line_longer_than_max_bytes_is_kept_whole_in_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 100, 5)
    log.write(b"short\n" + b"L" * 250 + b"\nafter\n")
    log.flush()
    log.close()
    assert [p.read_bytes() for p in generations(path)] == [b"short\n", b"L" * 250 + b"\n", b"after\n"]


def test_a_line_begun_in_a_file_ends_in_it(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    log = LogFile(path, 20, 5)
    log.write(b"0123456789\npartial ")  # the batch ends inside a line
    log.flush()
    log.write(b"line goes on and on\nnext\n")
    log.flush()
    log.close()
    assert [p.read_bytes() for p in generations(path)] == [
        b"0123456789\npartial line goes on and on\n",
        b"next\n",
    ]


def test_an_existing_file_is_appended_to_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    path.write_bytes(b"x" * 95 + b"\n")
    log = LogFile(path, 100, 5)
    log.write(b"new line\n")
    log.flush()
    log.close()
    assert [p.read_bytes() for p in generations(path)] == [b"x" * 95 + b"\n", b"new line\n"]


def test_an_existing_file_ending_inside_a_line_is_not_rotated_before_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "web.1.log"
    path.write_bytes(b"y" * 99)
    log = LogFile(path, 100, 5)
    log.write(b"end\nnext\n")
    log.flush()
    log.close()
    assert [p.read_bytes() for p in generations(path)] == [b"y" * 99 + b"end\n", b"next\n"]


def test_random_batches_keep_every_byte_in_order(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "w.log"
    log = LogFile(path, 500, 300)
    written = bytearray()
    for _ in range(400):
        batch = b"".join(b"l" * rng.randint(0, 80) + b"\n" for _ in range(rng.randint(0, 6)))
        batch += b"p" * rng.randint(0, 30) * (rng.random() < 0.3)  # sometimes a partial line
        written += batch
        log.write(batch)
        if rng.random() < 0.5:
            log.flush()
    log.flush()
    log.close()
    files = [p.read_bytes() for p in generations(path)]
    assert b"".join(files) == written
    for data in files[:-1]:
        assert data.endswith(b"\n")
        assert len(data) <= 500 + 111  # at most the rest of a line begun before the limit


def test_supervise_lines_are_stamped_in_supervise_log(tmp_path: Path) -> None:
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    files.system(1_700_000_000.25, b"web.1 started (pid 42)")
    files.system(1_700_000_001.5, b"two\nlines")
    assert files.flush() == []
    files.close()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:[+-]\d\d:\d\d|Z)"
    lines = (tmp_path / "supervise.log").read_text().splitlines()
    assert [re.fullmatch(f"({stamp}) (.*)", line).group(2) for line in lines] == [  # type: ignore[union-attr]
        "web.1 started (pid 42)",
        "two",
        "lines",
    ]
    assert ".250" in lines[0] and ".500" in lines[1]


def test_each_name_gets_its_own_file_and_one_write_per_flush(tmp_path: Path) -> None:
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    for k in range(100):
        files.write("web.1", b"w%d\n" % k)
        files.write("worker.1", b"k%d\n" % k)
    assert not (tmp_path / "web.1.log").exists() or (tmp_path / "web.1.log").read_bytes() == b""
    files.flush()
    files.close()
    assert (tmp_path / "web.1.log").read_bytes() == b"".join(b"w%d\n" % k for k in range(100))
    assert (tmp_path / "worker.1.log").read_bytes() == b"".join(b"k%d\n" % k for k in range(100))


def test_a_file_that_cannot_be_opened_is_said_once_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "web.1.log").mkdir()  # a folder where the file should be
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    files.write("web.1", b"a\n")
    files.write("worker.1", b"b\n")
    problems = files.flush()
    assert len(problems) == 1
    assert problems[0].startswith(f"log file {tmp_path / 'web.1.log'}: cannot open: ")
    files.write("web.1", b"c\n")
    assert files.flush() == []
    files.close()
    assert (tmp_path / "worker.1.log").read_bytes() == b"b\n"


def test_a_full_disk_is_said_once(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / "web.1.log").symlink_to("/dev/full")
    files = LogFiles(tmp_path, LogPolicy(tmp_path))
    files.write("web.1", b"a\n")
    problems = files.flush()
    assert problems == [
        f"log file {tmp_path / 'web.1.log'}: cannot write: No space left on device; "
        "no more output is written to it"
    ]
    files.write("web.1", b"b\n")
    assert files.flush() == []
    files.close()


def test_the_folder_is_created_and_an_unusable_one_is_a_usage_error(tmp_path: Path) -> None:
    LogFiles.open(tmp_path / "a" / "b", LogPolicy())
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"log folder .*/file/logs: cannot create it: Not a directory"):
        LogFiles.open(tmp_path / "file" / "logs", LogPolicy())
