"""The `logs` request on a real control socket, served from a fake target with a real ring."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from supervise.errors import ControlError, UsageError
from supervise.runtime.control import logstream
from supervise.runtime.control.client import request, stream
from supervise.runtime.control.protocol import InstanceStatus
from supervise.runtime.control.server import ControlServer
from supervise.runtime.output.ring import RecentOutput


class Target:
    """web.1, web.2 and worker.1, with a ring the test fills from the loop."""

    def __init__(self) -> None:
        self.recent = RecentOutput()
        self.recent.add("web.1", 1.0, b"w1 a\nw1 b")
        self.recent.add("system", 1.5, b"web.2 started")
        self.recent.add("web.2", 2.0, b"w2 a")
        self.recent.add("worker.1", 3.0, b"k a\r")

    def statuses(self) -> list[InstanceStatus]:
        return []

    def instance_names(self) -> list[str]:
        return ["web.1", "web.2", "worker.1"]

    def process_types(self) -> list[str]:
        return ["release", "web", "worker"]

    def terminal(self, name: str) -> Any:
        raise AssertionError("no terminals here")

    def recent_output(self) -> RecentOutput:
        return self.recent

    def resolve(self, names: Sequence[str]) -> list[str]:
        found = [i for name in names for i in self.instance_names() if name in (i, i.split(".")[0])]
        if not found:
            raise UsageError(f'unknown instance, process or group "{names[0]}"')
        return found

    async def restart(self, instances: Sequence[str]) -> None: ...

    async def stop(self, instances: Sequence[str]) -> None: ...

    async def start(self, instances: Sequence[str]) -> None: ...


@pytest.fixture
def environ() -> Iterator[dict[str, str]]:
    runtime = tempfile.mkdtemp(prefix="sv-", dir="/tmp")
    try:
        yield {"XDG_RUNTIME_DIR": runtime}
    finally:
        shutil.rmtree(runtime)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


def serve(
    root: Path, environ: dict[str, str], client: Callable[[], Any], target: Target | None = None
) -> Any:
    async def main() -> Any:
        server = ControlServer(root, target or Target(), environ=environ)
        await server.start()
        try:
            return await asyncio.wait_for(asyncio.to_thread(client), 10)
        finally:
            await server.close()

    return asyncio.run(main())


def test_history_is_merged_in_arrival_order_with_the_instance_names(
    root: Path, environ: dict[str, str]
) -> None:
    answer = serve(root, environ, lambda: request(root, {"op": "logs", "names": []}, 5, environ))
    assert (answer["names"], answer["kinds"]) == (
        ["web.1", "web.2", "worker.1"],
        ["release", "web", "worker"],
    )
    assert answer["lines"] == [
        [1.0, "web.1", "w1 a\nw1 b"],
        [1.5, "system", "web.2 started"],
        [2.0, "web.2", "w2 a"],
        [3.0, "worker.1", "k a\r"],  # raw: the client sanitizes as up does
    ]


@pytest.mark.parametrize(
    ("message", "names"),
    [
        ({"names": ["web"], "lines": 2}, [("web.1", "w1 b"), ("web.2", "w2 a")]),
        ({"names": ["system"]}, [("system", "web.2 started")]),
        (
            {"names": ["worker", "system"], "lines": None},
            [("system", "web.2 started"), ("worker.1", "k a\r")],
        ),
        ({"names": [], "lines": 0}, []),
    ],
)
def test_names_and_lines_pick_the_history(
    root: Path, environ: dict[str, str], message: dict[str, Any], names: list[tuple[str, str]]
) -> None:
    answer = serve(root, environ, lambda: request(root, {"op": "logs", **message}, 5, environ))
    assert [(name, text) for _, name, text in answer["lines"]] == names


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"lines": -1}, "bad request: lines must be a non-negative integer or null"),
        ({"lines": "10"}, "bad request: lines must be a non-negative integer or null"),
        ({"lines": True}, "bad request: lines must be a non-negative integer or null"),
        ({"follow": "yes"}, "bad request: follow must be true or false"),
        ({"names": ["nobody"]}, 'unknown instance, process or group "nobody"'),
    ],
)
def test_bad_logs_requests_get_an_error_answer(
    root: Path, environ: dict[str, str], message: dict[str, Any], error: str
) -> None:
    def client() -> ControlError:
        with pytest.raises(ControlError) as caught:
            request(root, {"op": "logs", "names": [], **message}, 5, environ)
        return caught.value

    caught = serve(root, environ, client)
    assert (str(caught), caught.exit_code) == (error, 2)


def test_follow_gets_new_chunks_then_the_end_when_up_stops(root: Path, environ: dict[str, str]) -> None:
    target = Target()
    got_history = threading.Event()

    def client() -> list[Any]:
        answers = stream(root, {"op": "logs", "names": ["web"], "lines": 1, "follow": True}, 5, environ)
        seen = [next(answers), next(answers)]  # the answer, then the history
        got_history.set()
        seen += list(answers)  # until `up` closes the stream
        return seen

    async def main() -> list[Any]:
        server = ControlServer(root, target, environ=environ)
        await server.start()
        reader = asyncio.ensure_future(asyncio.to_thread(client))
        await asyncio.wait_for(asyncio.to_thread(got_history.wait), 5)
        target.recent.add("web.1", 4.0, b"new 1")
        target.recent.add("worker.1", 4.5, b"not wanted")
        target.recent.add("web.2", 5.0, b"new 2\nnew 3")
        await asyncio.sleep(0)
        target.recent.add("system", 6.0, b"stopping")
        target.recent.add("web.1", 6.5, b"last words")
        await asyncio.wait_for(server.close(), 5)
        return await asyncio.wait_for(reader, 5)

    answer, history, *rest = asyncio.run(main())
    assert (answer["lines"], answer["names"]) == ([], ["web.1", "web.2", "worker.1"])
    assert history["history"] is True and history["lines"] == [[2.0, "web.2", "w2 a"]]
    streamed = [line for message in rest for line in message.get("lines", [])]
    assert streamed == [[4.0, "web.1", "new 1"], [5.0, "web.2", "new 2\nnew 3"], [6.5, "web.1", "last words"]]
    assert rest[-1] == {"v": 1, "ok": True, "end": True}
    assert target.recent._listeners == []


def test_a_client_that_goes_away_is_unfollowed(root: Path, environ: dict[str, str]) -> None:
    target = Target()

    async def main() -> None:
        server = ControlServer(root, target, environ=environ)
        await server.start()

        def client() -> None:
            answers = stream(root, {"op": "logs", "names": [], "follow": True}, 5, environ)
            next(answers)
            next(answers)
            answers.close()  # Ctrl-C in `logs -f`

        await asyncio.to_thread(client)
        for _ in range(500):
            if not target.recent._listeners:
                break
            await asyncio.sleep(0.01)
        assert target.recent._listeners == []
        await server.close()

    asyncio.run(main())


def test_a_reader_that_does_not_keep_up_gets_a_count_of_what_was_skipped(
    root: Path, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logstream, "LAG_LIMIT", 64 << 10)
    target = Target()
    line = b"x" * 1023

    async def main() -> list[Any]:
        server = ControlServer(root, target, environ=environ)
        await server.start()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await asyncio.to_thread(sock.connect, str(server.path))
        sock.sendall(b'{"v": 1, "op": "logs", "names": ["web.1"], "lines": 0, "follow": true}\n')
        reader = sock.makefile("rb")
        await asyncio.to_thread(reader.readline)  # the answer
        await asyncio.to_thread(reader.readline)  # the (empty) history
        for k in range(20_000):  # 20 MB, and nobody reads
            target.recent.add("web.1", 10.0 + k, line)
            if k % 100 == 0:
                await asyncio.sleep(0)
        closing = asyncio.ensure_future(server.close())
        messages = await asyncio.to_thread(lambda: [json.loads(m) for m in reader])
        await closing
        sock.close()
        return messages

    messages = asyncio.run(main())
    records = [record for message in messages for record in message.get("lines", [])]
    skipped = [text for _, name, text in records if name == "system"]
    kept = sum(1 for _, name, _ in records if name == "web.1")
    assert skipped and all(" line(s) skipped here: this reader did not keep up" in s for s in skipped)
    assert kept + sum(int(s.split()[2]) for s in skipped) == 20_000
    assert kept < 20_000


def test_a_view_that_keeps_the_newest_lines_gets_only_those_after_a_count() -> None:
    recent = RecentOutput()

    async def main() -> list[logstream.Chunk] | None:
        follower = logstream.Follower(recent, None, 0, keep=10)
        assert follower.start() == []
        for k in range(100):  # 100 chunks of 3 lines: 300 lines in one wakeup
            recent.add("web.1", 10.0 + k, b"%d a\n%d b\n%d c" % (k, k, k))
        batch = await asyncio.wait_for(follower.next_batch(), 5)
        follower.stop()
        return batch

    batch = asyncio.run(main())
    assert batch is not None
    (now, name, note), *kept = batch
    assert name == "system"
    assert note.endswith(b"line(s) not shown here: more came at once than this view keeps")
    lines = b"\n".join(data for _, _, data in kept).split(b"\n")
    assert lines[-1] == b"99 c" and 10 <= len(lines) < 13  # whole chunks: the newest 10 lines and a few
    assert int(note.split()[0]) + len(lines) == 300
    assert now == kept[0][0]


def test_a_view_that_keeps_the_newest_lines_never_holds_more_than_the_lag_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logstream, "LAG_LIMIT", 64 << 10)
    recent = RecentOutput()
    follower = logstream.Follower(recent, None, 0, keep=5)
    follower.start()
    for k in range(20_000):  # 20 MB, and nobody reads
        recent.add("web.1", float(k), b"%08d" % k + b"x" * 1015)
        assert follower._waiting_bytes <= (64 << 10) + 1024  # what `up` holds for it stays bounded
    batch = asyncio.run(follower.next_batch())
    follower.stop()
    assert batch is not None
    assert batch[-1][2].startswith(b"00019999")
    assert int(batch[0][2].split()[0]) + len(batch) - 1 == 20_000


def test_next_batch_waits_until_not_before_and_takes_what_came_meanwhile() -> None:
    recent = RecentOutput()

    async def main() -> tuple[float, list[logstream.Chunk] | None]:
        loop = asyncio.get_running_loop()
        follower = logstream.Follower(recent, None, 0)
        follower.start()
        recent.add("web.1", 1.0, b"first")
        start = loop.time()
        batch = asyncio.ensure_future(follower.next_batch(start + 0.2))
        await asyncio.sleep(0.05)
        recent.add("web.1", 2.0, b"second")
        got = await asyncio.wait_for(batch, 5)
        follower.stop()
        return loop.time() - start, got

    waited, batch = asyncio.run(main())
    assert waited >= 0.2
    assert batch is not None and [data for _, _, data in batch] == [b"first", b"second"]
