"""Scenario: `up --web` with its page open in headless Chromium (selenium), following the merged log.

- idle: 20 x `sleep 1000` as in idle.py, the page open; the runner's CPU and
  wakeups per second over the window (the page's status event comes once a second).
- throughput: the throughput producers, the page open and following every
  line; time from the go signal to the last line, against `direct`.
Needs Debian's chromium and chromium-driver and `supervise[web]`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import idle
import procs
import project
import throughput
from runners import Runner

URL = re.compile(rb"page: (http://\S+)")


@contextmanager
def browser() -> Iterator[Any]:
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(shutil.which("chromedriver") or "chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver: Any, url: str, name: str) -> None:
    """Load the page and wait (bounded) until its rows came from the event stream."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-name="{name}"] td.cpu')
    )


def idle_with_page(runner: Runner, window: float = idle.WINDOW) -> idle.Idle:
    entries = {f"s{i:02d}": "sleep 1000" for i in range(1, idle.COUNT + 1)}
    with project.started(runner, "idle-web", entries, extra=("--web", "0")) as run, browser() as driver:
        pid = run.proc.pid
        ready = project.wait_until(lambda: procs.count_supervised(pid, "sleep") >= idle.COUNT, 60)
        project.wait_until(lambda: URL.search(run.text().encode()) is not None, 30)
        found = URL.search(run.text().encode())
        if ready is None or found is None:
            return idle.Idle(None, window, None, 0, 0)
        open_page(driver, found.group(1).decode(), "s01.1")
        time.sleep(idle.SETTLE)
        own = procs.own_processes(pid)
        cpu0, switches0, t0 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
        time.sleep(window)
        cpu1, switches1, t1 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
        return idle.Idle(
            cpu1 - cpu0, t1 - t0, (switches1 - switches0) / (t1 - t0), len(own), procs.threads(own)
        )


def throughput_with_page(runner: Runner, count: int) -> throughput.Run:
    """The producers start on a go file, once the page follows the log."""
    entries = {
        f"p{p}": f"while [ ! -e go ]; do sleep 0.02; done; exec {throughput.producer_command(p, count)}"
        for p in throughput.producers()
    }
    with project.started(runner, "throughput-web", entries, pipe=True, extra=("--web", "0")) as run:
        assert run.proc.stdout is not None
        fd = run.proc.stdout.fileno()
        head = b""
        deadline = time.perf_counter() + 30
        while not URL.search(head) and time.perf_counter() < deadline:
            head += os.read(fd, 1 << 16)
        match = URL.search(head)
        assert match is not None, head
        with browser() as driver:
            open_page(driver, match.group(1).decode(), "p1.1")
            t0 = time.perf_counter()
            (run.root / "go").touch()
            chunks, times = throughput.collect(fd, count, throughput.PRODUCERS)
            cpu = procs.cpu_seconds(procs.own_processes(run.proc.pid))
    result = throughput.measure(chunks, times, t0, count, prefixed=True)
    import dataclasses

    return dataclasses.replace(result, runner_cpu=cpu)
