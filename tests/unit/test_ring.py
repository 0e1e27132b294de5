"""The recent-output ring (PRODUCT.md §7): the last 1,000 lines or 1 MiB per name, whichever is smaller."""

from __future__ import annotations

import random

import pytest

from supervise.runtime.output.ring import (
    BLOCK_BYTES,
    CUT_MARK,
    MAX_BYTES,
    MAX_LINES,
    Entry,
    History,
    RecentOutput,
)


def lines_of(entries: list[Entry]) -> list[bytes]:
    return [line for _, _, data in entries for line in data.split(b"\n")]


def chunks(entries: list[Entry]) -> list[tuple[float, bytes]]:
    return [(now, data) for _, now, data in entries]


def kept_bytes(history: History) -> int:
    return sum(len(block.data) for block in history._blocks)


def test_keeps_the_last_1000_lines_of_short_lines() -> None:
    history = History()
    for k in range(5000):
        history.add(float(k), b"line %d" % k)
    assert lines_of(history.tail()) == [b"line %d" % k for k in range(4000, 5000)]
    assert kept_bytes(history) < MAX_LINES * 12 + BLOCK_BYTES * 2  # older blocks were dropped


def test_keeps_1_mib_of_long_lines() -> None:
    history = History()
    line = b"x" * 4095  # 4 KiB with its newline: 256 lines make 1 MiB
    for k in range(1000):
        history.add(float(k), b"%04d" % k + line[4:])
    kept = lines_of(history.tail())
    assert len(kept) == MAX_BYTES // 4096
    assert kept[-1].startswith(b"0999")
    assert kept_bytes(history) <= MAX_BYTES + BLOCK_BYTES + 4096


def test_tail_takes_the_last_lines_across_and_inside_chunks() -> None:
    history = History()
    history.add(1.0, b"a\nb\nc")
    history.add(2.0, b"d")
    history.add(3.0, b"e\nf")
    assert chunks(history.tail(4)) == [(1.0, b"c"), (2.0, b"d"), (3.0, b"e\nf")]
    assert chunks(history.tail(1)) == [(3.0, b"f")]
    assert history.tail(0) == []
    assert lines_of(history.tail(100)) == [b"a", b"b", b"c", b"d", b"e", b"f"]


def test_a_chunk_of_many_lines_is_trimmed_to_the_limit() -> None:
    history = History(max_lines=10)
    history.add(1.0, b"\n".join(b"%d" % k for k in range(100)))
    assert lines_of(history.tail()) == [b"%d" % k for k in range(90, 100)]


def test_empty_lines_count_as_lines() -> None:
    history = History(max_lines=3)
    history.add(1.0, b"\n\n\n\n")  # five empty lines
    assert chunks(history.tail()) == [(1.0, b"\n\n")]


def test_a_line_longer_than_the_limit_keeps_its_end_marked() -> None:
    history = History()
    history.add(1.0, b"before")
    history.add(2.0, b"y" * (3 * MAX_BYTES) + b"END")
    ((now, data),) = chunks(history.tail())
    assert now == 2.0
    assert data.startswith(CUT_MARK) and data.endswith(b"yEND")
    assert len(data) < MAX_BYTES


def test_a_huge_chunk_keeps_its_last_whole_lines() -> None:
    history = History()
    chunk = b"\n".join(b"%07d" % k + b"z" * 1000 for k in range(3000))  # ~3 MB
    history.add(1.0, chunk)
    kept = lines_of(history.tail())
    assert kept[-1].startswith(b"0002999")
    assert all(len(line) == 1007 for line in kept)  # whole lines only
    assert sum(len(line) + 1 for line in kept) <= MAX_BYTES


def test_random_chunks_read_back_as_the_exact_suffix() -> None:
    rng = random.Random(3)
    history = History(max_lines=50, max_bytes=2000)
    everything: list[bytes] = []
    for k in range(3000):
        lines = [b"%d-" % k + b"q" * rng.randint(0, 60) for _ in range(rng.randint(1, 8))]
        everything += lines
        history.add(float(k), b"\n".join(lines))
        if k % 97 == 0:
            count = rng.randint(1, 60)
            kept = lines_of(history.tail(count))
            assert kept == everything[-len(kept) :]
            assert len(kept) <= min(count, 50)
            assert sum(len(line) + 1 for line in kept) <= 2000
            # nothing more would have fitted: the line before the kept ones breaks a limit
            if len(kept) < min(count, 50, len(everything)):
                before = everything[-len(kept) - 1]
                assert sum(len(line) + 1 for line in kept) + len(before) + 1 > 2000


def test_recent_output_merges_names_in_the_order_they_came() -> None:
    recent = RecentOutput()
    recent.add("web.1", 1.0, b"w1\nw2")
    recent.add("system", 1.0, b"s1")
    recent.add("worker.1", 0.5, b"k1")  # the clock stepped back: arrival order still wins
    recent.add("web.1", 2.0, b"w3")
    assert recent.tail() == [
        (1.0, "web.1", b"w1\nw2"),
        (1.0, "system", b"s1"),
        (0.5, "worker.1", b"k1"),
        (2.0, "web.1", b"w3"),
    ]
    assert recent.tail(count=3) == [(1.0, "system", b"s1"), (0.5, "worker.1", b"k1"), (2.0, "web.1", b"w3")]
    assert recent.tail(["web.1", "nobody"]) == [(1.0, "web.1", b"w1\nw2"), (2.0, "web.1", b"w3")]
    assert recent.names == ["web.1", "system", "worker.1"]


def test_followers_get_every_new_chunk_until_they_stop() -> None:
    recent = RecentOutput()
    seen: list[tuple[float, str, bytes]] = []
    stop = recent.follow(lambda now, name, data: seen.append((now, name, data)))
    recent.add("web.1", 1.0, b"a\nb")
    stop()
    stop()  # twice is harmless
    recent.add("web.1", 2.0, b"c")
    assert seen == [(1.0, "web.1", b"a\nb")]


@pytest.mark.parametrize("count", [1, 999, 1000, 1001])
def test_tail_never_returns_more_than_the_limit(count: int) -> None:
    history = History()
    for k in range(1200):
        history.add(float(k), b"%d" % k)
    assert len(lines_of(history.tail(count))) == min(count, MAX_LINES)
