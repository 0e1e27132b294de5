"""`supervise logs` in `up`: the recent lines of some names, then, with `-f`, the new ones as they come.

The control server hands a `logs` request here. The answer is chunks of
whole lines, `[time, name, text]` (text joined by "\\n", as `up` shows it),
merged in the order they came; the client splits, filters and formats them,
so `up` does no per-line work and never runs a user's regular expression.

    {"v": 1, "op": "logs", "names": [], "lines": 100, "follow": false}
    -> {"v": 1, "ok": true, "names": ["web.1", ...], "kinds": ["web", ...],
        "lines": [[1763906527.1, "web.1", "text"], ...]}

With `"follow": true` the answer's `lines` is empty, and the stream after it
carries the recent lines first, then the new ones:

    -> {"v": 1, "ok": true, "lines": [...], "history": true}
    -> {"v": 1, "ok": true, "lines": [...]}      one per loop wakeup with new output
    -> {"v": 1, "ok": true, "end": true}          `up` is stopping; the stream ends

The stream takes the history and subscribes in one step of the loop, so a
follower sees every line once, and a client gone before its stream began
leaves no subscription behind. A reader too slow to keep up is not allowed to
grow `up`'s memory: past LAG_LIMIT bytes waiting for it, new lines are
skipped and counted, and a `system` line says how many. A reader that shows
only the newest lines (the page of `up --web`, `keep`) gets at most that many
per batch instead: the older ones are skipped, and a `system` line before the
batch says how many.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from supervise.errors import UsageError
from supervise.runtime.output.format import SYSTEM, decode
from supervise.runtime.output.ring import Chunk, RecentOutput

LAG_LIMIT = 8 << 20
"""Bytes of new output a follower may have waiting before lines are skipped for it."""


class LogSource(Protocol):
    """What a `logs` request reads: the running `up`'s names and recent output."""

    def instance_names(self) -> list[str]: ...

    def process_types(self) -> list[str]: ...

    def resolve(self, names: Sequence[str]) -> list[str]: ...

    def recent_output(self) -> RecentOutput: ...


def records(chunks: Iterable[Chunk]) -> list[list[Any]]:
    """Chunks as JSON-ready `[time, name, text]`, raw (the client sanitizes as `up` does)."""
    return [[now, name, decode(data)] for now, name, data in chunks]


def open_logs(
    source: LogSource, names: Sequence[str], request: Mapping[str, Any], keep: int | None = None
) -> tuple[dict[str, Any], Follower | None]:
    """The answer's fields (the recent lines) and, for `follow`, the Follower that streams them instead.

    `keep`: the Follower's reader shows only that many newest lines (see Follower).
    """
    lines = request.get("lines", 100)
    follow = request.get("follow", False)
    if lines is not None and (isinstance(lines, bool) or not isinstance(lines, int) or lines < 0):
        raise UsageError("bad request: lines must be a non-negative integer or null")
    if not isinstance(follow, bool):
        raise UsageError("bad request: follow must be true or false")
    recent = source.recent_output()
    instances = source.instance_names()
    wanted = None if not names else set(_resolve(source, recent, instances, names))
    fields = {"names": instances, "kinds": source.process_types()}
    if follow:
        return {**fields, "lines": []}, Follower(recent, wanted, lines, keep)
    return {**fields, "lines": records(recent.tail(wanted, lines))}, None


def _resolve(
    source: LogSource, recent: RecentOutput, instances: list[str], names: Sequence[str]
) -> list[str]:
    """Instance, process and group names as for `status`, plus `system` and other output names (`then`)."""
    extra = ({SYSTEM} | set(recent.names)) - set(instances)
    found = [name for name in names if name in extra]
    rest = [name for name in names if name not in extra]
    return found + (source.resolve(rest) if rest else [])


class Follower:
    """One `supervise logs -f`: new chunks of the wanted names, sent once per loop wakeup.

    With `keep`, for a reader that shows only the newest `keep` lines: a batch
    holds the newest whole chunks that make up `keep` lines, and what came
    before them is skipped, so `up` neither sends nor keeps what would not be shown.
    """

    def __init__(
        self, recent: RecentOutput, wanted: set[str] | None, lines: int | None, keep: int | None = None
    ) -> None:
        self._recent = recent
        self._wanted = wanted
        self._lines = lines
        self._keep = keep
        self._pending: list[Chunk] = []
        self._waiting_bytes = 0
        self._skipped = 0
        self._skipped_at = 0.0
        self._wake = asyncio.Event()
        self._closing = False
        self._unfollow: Callable[[], None] | None = None

    def start(self) -> list[Chunk]:
        """Follow from now on, and the recent lines from before, in one step: none lost or doubled."""
        self._unfollow = self._recent.follow(self._on_chunk)
        return self._recent.tail(self._wanted, self._lines)

    def stop(self) -> None:
        """Follow no more: the reader is gone."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None

    def close(self) -> None:
        """`up` is stopping: send what is left, then the end."""
        self._closing = True
        self._wake.set()

    async def run(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        message: Callable[[dict[str, Any]], bytes],
    ) -> None:
        """The recent lines, then new ones until `close`, or until the client goes away (EOF on its side)."""
        history = self.start()
        gone = asyncio.ensure_future(reader.read(1))
        gone.add_done_callback(lambda _: self._stop_now())
        try:
            writer.write(message({"lines": records(history), "history": True}))
            await writer.drain()
            while not gone.done():
                await self._wake.wait()
                self._wake.clear()
                if gone.done():
                    break
                batch = self._take()
                if batch:
                    writer.write(message({"lines": records(batch)}))
                    await writer.drain()
                if self._closing and not self._pending:
                    writer.write(message({"end": True}))
                    await writer.drain()
                    break
        finally:
            gone.cancel()
            self.stop()

    async def next_batch(self, not_before: float = 0.0) -> list[Chunk] | None:
        """The chunks that came since the last call, once there are some; None once closed and sent.

        For a reader other than the control socket's (the page of `up --web`).
        Lines that come before `not_before` (the loop's time) wait for it, so a
        flood reaches the reader in few batches while a line after a pause goes at once.
        """
        while not self._pending and not self._skipped:
            if self._closing:
                return None
            await self._wake.wait()
            self._wake.clear()
        delay = not_before - asyncio.get_running_loop().time()
        if delay > 0 and not self._closing:
            await asyncio.sleep(delay)
        return self._take()

    def _stop_now(self) -> None:
        self._wake.set()

    def _on_chunk(self, now: float, name: str, data: bytes) -> None:
        if self._wanted is not None and name not in self._wanted:
            return
        if self._waiting_bytes > LAG_LIMIT:
            if self._keep is None:
                self._skipped += data.count(b"\n") + 1
                self._skipped_at = now
                return
            self._pending = self._newest(self._pending)
            self._waiting_bytes = sum(len(chunk) for _, _, chunk in self._pending)
        self._pending.append((now, name, data))
        self._waiting_bytes += len(data)
        self._wake.set()

    def _take(self) -> list[Chunk]:
        batch, self._pending = self._pending, []
        self._waiting_bytes = 0
        if self._keep is not None:
            batch = self._newest(batch)
            if self._skipped:
                note = f"{self._skipped} line(s) not shown here: more came at once than this view keeps"
                batch.insert(0, (self._skipped_at, SYSTEM, note.encode()))
                self._skipped = 0
        elif self._skipped:
            note = f"supervise logs: {self._skipped} line(s) skipped here: this reader did not keep up"
            batch.append((self._skipped_at, SYSTEM, note.encode()))
            self._skipped = 0
        return batch

    def _newest(self, chunks: list[Chunk]) -> list[Chunk]:
        """The newest whole chunks that hold `keep` lines; the older ones are counted as skipped."""
        assert self._keep is not None
        lines = 0
        first = len(chunks)
        while first > 0 and lines < self._keep:
            first -= 1
            lines += chunks[first][2].count(b"\n") + 1
        if first:
            self._skipped += sum(data.count(b"\n") + 1 for _, _, data in chunks[:first])
            self._skipped_at = chunks[first][0]
        return chunks[first:]
