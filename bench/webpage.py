"""Scenario web: `up --web` with its page open in headless Chromium (selenium), following the merged log.

- idle: 20 x `sleep 1000` as in idle.py, the page open; the runner's CPU and
  wakeups per second over the window (the page's status event comes once a second).
- throughput: the throughput producers, the page open and following every
  line; time from the go signal to the last line, against `direct`. The
  browser's CPU is read too: on a machine with few cores it competes with the
  producers and the runner, so a page that costs the browser much costs the figure.
Needs Debian's chromium and chromium-driver, selenium in the harness's Python
and `supervise[web]` in the runner's (runners.py installs it); without them the
scenario says why it did not run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import idle
import procs
import project
import throughput
from runners import Runner

URL = re.compile(rb"page: (http://\S+)")
URL_TIMEOUT = 30.0
CAUGHT_UP = 5.0


class NotRun(Exception):
    """The scenario cannot run here; the message says why."""


@dataclass(frozen=True)
class PageRun:
    """One throughput run with the page open: the lines' figures and what the browser spent meanwhile."""

    run: throughput.Run  # its runner_cpu: the runner's CPU seconds from the go signal to the last line
    browser_cpu: float | None  # the same for Chromium's processes
    page_caught_up: bool  # the page's log view ended on the last line printed, within CAUGHT_UP s


def why_not() -> str | None:
    """Why the scenario cannot run here (None: it can)."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found (Debian: apt install chromium chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed in the harness's Python (pip install selenium)"
    return None


@contextmanager
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

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
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        raise NotRun(f"Chromium did not start: {error.msg}") from None
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def browser_processes(driver: Any) -> list[procs.Proc]:
    """Chromium's processes: everything below chromedriver."""
    return procs.descendants(driver.service.process.pid)


def settle(processes: list[procs.Proc], timeout: float = 10.0) -> None:
    """Wait (bounded) until the browser is done opening the page: under 5 % of a core over 0.25 s."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        before = procs.cpu_time(processes)
        time.sleep(0.25)
        if procs.cpu_time(processes) - before < 0.0125:
            return


def open_page(driver: Any, url: str, name: str) -> None:
    """Load the page and wait (bounded) until its rows came from the event stream."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-name="{name}"] td.cpu')
    )


def _no_page(run: project.Started) -> NotRun:
    """The runner printed no page URL: its own last line on stderr says why (e.g. aiohttp missing)."""
    errors = (run.root / "stderr.txt").read_text(errors="replace").strip().splitlines()
    return NotRun(f"no page URL from `up --web` ({errors[-1] if errors else 'nothing on stderr'})")


def idle_with_page(runner: Runner, window: float = idle.WINDOW) -> idle.Idle:
    entries = {f"s{i:02d}": "sleep 1000" for i in range(1, idle.COUNT + 1)}
    with project.started(runner, "idle-web", entries, extra=("--web", "0")) as run:
        pid = run.proc.pid
        project.wait_until(lambda: URL.search(run.text().encode()) is not None, URL_TIMEOUT)
        found = URL.search(run.text().encode())
        if found is None:
            raise _no_page(run)
        ready = project.wait_until(lambda: procs.count_supervised(pid, "sleep") >= idle.COUNT, 60)
        if ready is None:
            return idle.Idle(None, window, None, 0, 0)
        with browser() as driver:
            open_page(driver, found.group(1).decode(), "s01.1")
            time.sleep(idle.SETTLE)
            own = procs.own_processes(pid)
            cpu0, switches0, t0 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
            time.sleep(window)
            cpu1, switches1, t1 = procs.cpu_time(own), procs.context_switches(own), time.perf_counter()
        wakeups = (switches1 - switches0) / (t1 - t0)
        return idle.Idle(cpu1 - cpu0, t1 - t0, wakeups, len(own), procs.threads(own))


def throughput_with_page(runner: Runner, count: int) -> PageRun:
    """The producers start on a go file, once the page follows the log."""
    entries = {
        f"p{p}": f"while [ ! -e go ]; do sleep 0.02; done; exec {throughput.producer_command(p, count)}"
        for p in throughput.producers()
    }
    with project.started(runner, "throughput-web", entries, pipe=True, extra=("--web", "0")) as run:
        assert run.proc.stdout is not None
        fd = run.proc.stdout.fileno()
        head = b""
        deadline = time.perf_counter() + URL_TIMEOUT
        while not URL.search(head) and time.perf_counter() < deadline:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            head += chunk
        match = URL.search(head)
        if match is None:
            raise _no_page(run)
        with browser() as driver:
            open_page(driver, match.group(1).decode(), "p1.1")
            chromium = browser_processes(driver)
            settle(chromium)  # the page is open and following: what is measured is what following costs
            own = procs.own_processes(run.proc.pid)
            t0 = time.perf_counter()
            runner0, browser0 = procs.cpu_time(own), procs.cpu_time(chromium)
            (run.root / "go").touch()
            chunks, times = throughput.collect(fd, count, throughput.PRODUCERS)
            runner1, browser1 = procs.cpu_time(own), procs.cpu_time(chromium)
            caught_up = shows_last_line(driver, b"".join(chunks))
    result = throughput.measure(chunks, times, t0, count, prefixed=True)
    return PageRun(dataclasses.replace(result, runner_cpu=runner1 - runner0), browser1 - browser0, caught_up)


def shows_last_line(driver: Any, output: bytes) -> bool:
    """Whether the page's log view ends (within CAUGHT_UP s) on the last producer line the runner printed.

    The runner's own lines (`system`, e.g. a producer's exit) are left out on both sides.
    """
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    produced = [line for line in output.split(b"\n") if b" | " in line and b" system " not in line]
    last = produced[-1].partition(b" | ")[2].decode() if produced else None
    script = (
        "const e = [...document.querySelectorAll('#log .line:not([data-name=\"system\"])')].pop();"
        " return e ? e.textContent : ''"
    )
    try:
        # A page too busy to answer (a script timeout) is asked again, until CAUGHT_UP.
        WebDriverWait(driver, CAUGHT_UP, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)).until(
            lambda d: str(d.execute_script(script)).partition(" | ")[2] == last
        )
    except TimeoutException:
        return False
    return True
