"""CPU % and memory of an instance's process tree (PRODUCT.md §8 `status`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from supervise.runtime import proctree
from supervise.runtime.usage import (
    MIN_WINDOW,
    ProcUsage,
    Sample,
    UsageMeter,
    UsageTable,
    children_of,
    parse_cpu_time,
    tree,
    tree_usage,
    usage_table,
)

MiB = 1 << 20

# 10: the instance's leader (group 10); 11 its child; 12 a grandchild that called setsid
# (group 12, parent 11); 20 another instance; 30 unrelated.
TABLE: UsageTable = {
    10: ProcUsage(ppid=1, pgid=10, cpu=1.0, rss=2 * MiB, start=100),
    11: ProcUsage(ppid=10, pgid=10, cpu=5.0, rss=30 * MiB, start=101),
    12: ProcUsage(ppid=11, pgid=12, cpu=2.0, rss=10 * MiB, start=102),
    20: ProcUsage(ppid=1, pgid=20, cpu=9.0, rss=99 * MiB, start=103),
    30: ProcUsage(ppid=1, pgid=30, cpu=9.0, rss=99 * MiB, start=104),
}


def later(**cpu: float) -> UsageTable:
    """TABLE with more CPU time for some pids (`p11=6.0`)."""
    return {pid: u._replace(cpu=cpu.get(f"p{pid}", u.cpu)) for pid, u in TABLE.items()}


def test_tree_is_the_group_and_every_descendant_of_its_members() -> None:
    assert tree(TABLE, 10) == {10, 11, 12}
    assert tree(TABLE, 20) == {20}
    assert tree(TABLE, 99) == set()
    assert tree(TABLE, 10, children_of(TABLE)) == {10, 11, 12}  # one map, shared by every instance


def test_cpu_is_the_trees_cpu_time_over_the_window() -> None:
    before = Sample(0.0, TABLE)
    after = Sample(2.0, later(p11=6.0, p12=2.5, p20=20.0))
    usage = tree_usage(before, after, tree(after.table, 10))
    assert usage.cpu == pytest.approx(75.0)  # 1.5 s of CPU in 2 s
    assert usage.memory == 42 * MiB


def test_a_process_new_in_the_window_counts_all_its_time() -> None:
    table = {**TABLE, 13: ProcUsage(ppid=10, pgid=10, cpu=0.5, rss=MiB, start=200)}
    usage = tree_usage(Sample(0.0, TABLE), Sample(1.0, table), tree(table, 10))
    assert usage.cpu == pytest.approx(50.0)


def test_a_reused_pid_is_a_new_process() -> None:
    table = {**TABLE, 11: ProcUsage(ppid=10, pgid=10, cpu=0.25, rss=MiB, start=999)}
    usage = tree_usage(Sample(0.0, TABLE), Sample(1.0, table), tree(table, 10))
    assert usage.cpu == pytest.approx(25.0)


def test_no_window_means_no_cpu_figure_but_memory() -> None:
    usage = tree_usage(None, Sample(1.0, TABLE), {10})
    assert (usage.cpu, usage.memory) == (None, 2 * MiB)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:00.03", 0.03), ("1:02.50", 62.5), ("2:00:01", 7201.0), ("1-00:00:00", 86400.0), ("junk", None)],
)
def test_ps_cpu_time(text: str, seconds: float | None) -> None:
    result = parse_cpu_time(text)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_meter_waits_one_window_at_first_then_measures_since_the_last_request() -> None:
    clock = FakeClock()
    tables = iter([TABLE, later(p11=5.25), later(p11=7.25)])
    meter = UsageMeter(clock, read=lambda: next(tables))

    async def scenario() -> list[float | None]:
        figures = []
        task = asyncio.ensure_future(meter.measure())
        await asyncio.sleep(0)  # took the first sample, now waits MIN_WINDOW
        clock.now = MIN_WINDOW
        await task
        usage = meter.of_group(10)
        figures.append(usage.cpu if usage else None)
        clock.now = MIN_WINDOW + 4.0
        await meter.measure()  # no wait: the previous sample is recent enough
        usage = meter.of_group(10)
        figures.append(usage.cpu if usage else None)
        await meter.measure()  # a window that just closed is reused, not re-read
        return figures

    assert asyncio.run(scenario()) == [pytest.approx(100.0), pytest.approx(50.0)]
    assert meter.of_group(99) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_busy_child_shows_cpu_and_its_memory() -> None:
    """A real tree: a shell whose child spins; measured from the group as `status` does."""
    spin = (
        "import time\nx = bytearray(64 << 20)\nprint('allocated', flush=True)\n"
        "end = time.time() + 30\nwhile time.time() < end: pass\n"
    )
    proc = subprocess.Popen(
        ["/bin/sh", "-c", f'{sys.executable} -c "{spin}"; :'],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"allocated\n"
        meter = UsageMeter(time.monotonic)
        asyncio.run(meter.measure())
        usage = meter.of_group(proc.pid)
        assert usage is not None and usage.cpu is not None
        assert usage.memory > 64 * MiB
        assert usage.cpu > 20.0  # a whole core when it has one to itself
        assert os.getpid() not in tree(usage_table(), proc.pid)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_our_subtree_holds_a_grandchild_and_nothing_that_is_not_ours() -> None:
    """What `status` reads as a subreaper: us and every descendant, not the machine's other processes."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 30 & echo $!; wait"], start_new_session=True, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        grandchild = int(proc.stdout.readline())
        ours = proctree.subtree(os.getpid())
        assert ours is not None
        assert {os.getpid(), proc.pid, grandchild} <= set(ours)
        assert 1 not in ours
        table = usage_table(os.getpid())
        assert grandchild in table and proc.pid in table
        assert set(table) <= set(ours)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
