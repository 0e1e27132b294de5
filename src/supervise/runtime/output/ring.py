"""The recent output `up` keeps for `supervise logs`: per name, the last 1,000 lines or 1 MiB.

It is fed what the Printer already has, a chunk of whole lines with the one
timestamp it took for them, and it stores the chunk as it is: its bytes are
appended to a block (a bytearray), its time and end offset to two arrays, and
its lines are counted with `bytes.count`. No per-line objects are made while
`up` runs; reading (`tail`) does the per-line work, for the few lines asked.

Whole blocks are dropped from the front once the blocks after them hold the
limit on their own, so a name keeps at most the limit plus one block, and a
chunk larger than the byte limit keeps only its last lines (or, for one huge
line, its end).
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Callable, Iterable, Iterator

MAX_LINES = 1000
MAX_BYTES = 1 << 20
BLOCK_BYTES = 16 << 10
"""A block is closed once it holds this much; the excess a name may keep."""
BLOCK_CHUNKS = 256
CUT_MARK = b"[...] "
"""Starts what is kept of a single line longer than MAX_BYTES."""

Chunk = tuple[float, str, bytes]
"""(time, name, whole lines joined by b"\\n", none at the end)."""
Listener = Callable[[float, str, bytes], None]
Entry = tuple[int, float, bytes]
"""(arrival number, time, whole lines): one kept chunk of a History."""


class _Block:
    __slots__ = ("data", "ends", "lines", "order", "times")

    def __init__(self) -> None:
        self.data = bytearray()
        self.times = array("d")
        self.order = array("Q")
        self.ends = array("I")
        self.lines = 0


class History:
    """One name's recent chunks; `tail` reads back the exact last lines."""

    def __init__(self, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._blocks: collections.deque[_Block] = collections.deque()
        self._lines = 0
        self._bytes = 0

    def add(self, now: float, data: bytes, order: int = 0) -> None:
        """Keep a chunk of whole lines (joined by b"\\n", none at the end); `order`: its arrival number."""
        if len(data) >= self.max_bytes:
            data = _last_bytes(data, self.max_bytes - 1)
        block = self._blocks[-1] if self._blocks else None
        if block is None or len(block.data) >= BLOCK_BYTES or len(block.times) >= BLOCK_CHUNKS:
            block = _Block()
            self._blocks.append(block)
        lines = data.count(b"\n") + 1
        block.data += data
        block.times.append(now)
        block.order.append(order)
        block.ends.append(len(block.data))
        block.lines += lines
        self._lines += lines
        self._bytes += len(data) + 1  # with its newlines: a line of n bytes costs n + 1
        blocks = self._blocks
        while len(blocks) > 1:
            first = blocks[0]
            rest_lines = self._lines - first.lines
            rest_bytes = self._bytes - len(first.data) - len(first.times)
            if rest_lines < self.max_lines and rest_bytes < self.max_bytes:
                break
            blocks.popleft()
            self._lines, self._bytes = rest_lines, rest_bytes

    def tail(self, count: int | None = None) -> list[Entry]:
        """The last `count` lines kept (None: all), as chunks, oldest first."""
        wanted = self.max_lines if count is None else min(count, self.max_lines)
        budget = self.max_bytes
        out: list[Entry] = []
        for order, now, data in self._newest_first():
            if wanted <= 0:
                break
            lines = data.count(b"\n") + 1
            if lines > wanted or len(data) + 1 > budget:
                last = _last_lines(data, wanted, budget)
                if last is not None:
                    out.append((order, now, last))
                break
            out.append((order, now, data))
            wanted -= lines
            budget -= len(data) + 1
        out.reverse()
        return out

    def _newest_first(self) -> Iterator[Entry]:
        for block in reversed(self._blocks):
            end = len(block.data)
            for index in range(len(block.times) - 1, -1, -1):
                start = block.ends[index - 1] if index else 0
                yield block.order[index], block.times[index], bytes(block.data[start:end])
                end = start


def _last_bytes(data: bytes | memoryview, limit: int) -> bytes:
    """The whole lines that fit in the last `limit` bytes, or the end of one huge line, marked."""
    end = bytes(data[len(data) - limit :])  # from a memoryview too: only this much is copied
    cut = end.find(b"\n")
    if cut >= 0:
        return end[cut + 1 :]
    return CUT_MARK + end[len(CUT_MARK) :]


def _last_lines(data: bytes, count: int, budget: int) -> bytes | None:
    """The last lines of a chunk: at most `count`, at most `budget` bytes with newlines; None if none fits."""
    start: int | None = None
    bound = len(data)
    lines = 0
    while lines < count:
        newline = data.rfind(b"\n", 0, bound)
        if len(data) - newline > budget:  # the candidate suffix with its final newline
            break
        start, lines = newline + 1, lines + 1
        if newline < 0:
            break
        bound = newline
    return None if start is None else data[start:]


class RecentOutput:
    """Every name's History, and the listeners that follow new output (`supervise logs -f`)."""

    def __init__(self, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._histories: dict[str, History] = {}
        self._listeners: list[Listener] = []
        self._arrivals = 0
        """Numbers the chunks: merging by arrival is time order even if the clock steps back."""

    def add(self, name: str, now: float, data: bytes | memoryview) -> None:
        """A chunk of whole lines of `name` at `now`: kept, and handed to every listener.

        A chunk over the byte limit (a 16 MiB piece of a longer line comes as a
        memoryview) is cut to its end first, so followers see what is kept.
        """
        if len(data) >= self.max_bytes:
            data = _last_bytes(data, self.max_bytes - 1)
        elif isinstance(data, memoryview):
            data = bytes(data)
        history = self._histories.get(name)
        if history is None:
            history = self._histories[name] = History(self.max_lines, self.max_bytes)
        self._arrivals += 1
        history.add(now, data, self._arrivals)
        for listener in self._listeners:
            listener(now, name, data)

    @property
    def names(self) -> list[str]:
        """The names that have output, in the order they first had it."""
        return list(self._histories)

    def tail(self, names: Iterable[str] | None = None, count: int | None = None) -> list[Chunk]:
        """The last `count` lines of `names` (default all), merged in time order, as chunks."""
        chosen = self._histories if names is None else [n for n in names if n in self._histories]
        entries = [(entry, name) for name in chosen for entry in self._histories[name].tail(count)]
        entries.sort(key=lambda item: item[0][0])
        merged = [(now, name, data) for (_, now, data), name in entries]
        return merged if count is None else _last_of(merged, count)

    def last_lines(self, name: str, count: int) -> list[str]:
        """The last `count` lines of `name` that are not blank, as text (for a "not ready" report)."""
        history = self._histories.get(name)
        if history is None:
            return []
        text = b"\n".join(data for _, _, data in history.tail(count * 4)).decode("utf-8", "replace")
        return [line for line in text.replace("\r", "").split("\n") if line.strip()][-count:]

    def follow(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(time, name, data)` for every new chunk; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop


def _last_of(chunks: list[Chunk], count: int) -> list[Chunk]:
    """The last `count` lines of time-ordered chunks."""
    kept: list[Chunk] = []
    for now, name, data in reversed(chunks):
        if count <= 0:
            break
        lines = data.count(b"\n") + 1
        if lines > count:
            data = _last_lines(data, count, len(data) + count) or b""
            lines = count
        kept.append((now, name, data))
        count -= lines
    kept.reverse()
    return kept
