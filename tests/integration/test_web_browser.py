"""The page of `up --web` in a real headless Chromium, driven by selenium (PRODUCT.md §10)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervise.runtime.webpage import MAX_LINES
from tests.support import UpProcess, write_files

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver"
)

ECHO = (  # the FIFO opened read-write: no end of file when a writer closes it
    "import os\n"
    "print('\\x1b[31mred\\x1b[0m and plain', flush=True)\n"
    "with os.fdopen(os.open('in.fifo', os.O_RDWR)) as lines:\n"
    "    for line in lines:\n"
    "        print(line.strip(), flush=True)\n"
)
PROJECT = {
    "echo.py": ECHO,
    "Procfile": "web: cd . && python3 -u echo.py\nworker: exec sleep 600\n",
    "pyproject.toml": '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 2\n',
}
WAIT = 15.0


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="supervise-chromium-")
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
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
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[UpProcess, str, Path]]:
    write_files(tmp_path, PROJECT)
    os.mkfifo(tmp_path / "in.fifo")
    with UpProcess(["--web", "0"], cwd=tmp_path) as running:
        url = running.wait_for(r"page: (http://\S+)").group(1)
        running.wait_for(r"web\.1 +\| .*red")
        running.wait_for(r"worker\.1 started")
        yield running, url, tmp_path
        running.signal(signal.SIGTERM)
        running.finish()


def cell(driver: webdriver.Chrome, name: str, column: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f'tr[data-name="{name}"] td.{column}').text)


def wait(driver: webdriver.Chrome, condition: object) -> object:
    def check(_: object) -> object:
        try:
            return condition(driver)  # type: ignore[operator]
        except Exception:  # an element replaced under us: look again
            return False

    return WebDriverWait(driver, WAIT).until(check)


def click(driver: webdriver.Chrome, selector: str) -> None:
    """Click what `selector` finds; the rows are rebuilt every second, so find it again if it went stale."""

    def clicked(d: webdriver.Chrome) -> bool:
        d.find_element(By.CSS_SELECTOR, selector).click()
        return True

    wait(driver, clicked)


def log_lines(driver: webdriver.Chrome) -> list[str]:
    return [str(e.text) for e in driver.find_elements(By.CSS_SELECTOR, "#log .line")]


def test_rows_restart_new_lines_and_the_filter(
    browser: webdriver.Chrome, up: tuple[UpProcess, str, Path]
) -> None:
    running, url, root = up
    browser.get(url)
    assert "token=" not in browser.current_url  # the cookie holds it from here on
    wait(
        browser,
        lambda d: cell(d, "web.1", "state") == "RUNNING" and cell(d, "worker.1", "state") == "RUNNING",
    )
    first_pid = int(running.wait_for(r"web\.1 started \(pid (\d+)\)").group(1))
    wait(browser, lambda d: cell(d, "web.1", "pid") == str(first_pid))
    wait(browser, lambda d: cell(d, "web.1", "port") == "5000")

    # The output, colored as up colors it: the prefix in its color, the child's red as a span.
    wait(browser, lambda d: any("red and plain" in line for line in log_lines(d)))
    red = browser.find_element(By.CSS_SELECTOR, "#log .line span.f31")
    assert red.text == "red"

    # A line printed after the page loaded arrives without a reload.
    with open(root / "in.fifo", "w") as fifo:
        fifo.write("after-load-line\n")
    wait(browser, lambda d: any(re.search(r"web\.1 \| after-load-line$", line) for line in log_lines(d)))

    # The filter narrows the view live, and widening it brings the lines back.
    search = browser.find_element(By.ID, "filter")
    search.send_keys("after-l.ad")
    wait(browser, lambda d: [line.split(" | ", 1)[1] for line in log_lines(d)] == ["after-load-line"])
    search.clear()
    search.send_keys("x")
    search.send_keys("\b")
    wait(browser, lambda d: len(log_lines(d)) > 2)

    # Restart from the row: a new pid, shown by the page.
    click(browser, 'tr[data-name="web.1"] button[data-action="restart"]')
    restarting = running.wait_for(r"restarting web\.1")
    second = running.wait_for(r"web\.1 started \(pid (\d+)\)", start=restarting.end())
    second_pid = int(second.group(1))
    assert second_pid != first_pid
    wait(browser, lambda d: cell(d, "web.1", "pid") == str(second_pid))
    wait(browser, lambda d: cell(d, "web.1", "restarts") == "1")

    # The group's stop button: the worker row says STOPPED.
    click(browser, '#groups button[data-action="stop"][data-names="worker"]')
    wait(browser, lambda d: cell(d, "worker.1", "state") == "STOPPED")


def texts(driver: webdriver.Chrome) -> list[str]:
    """Every line of the log view, read in one call (a flood has thousands)."""
    script = "return [...document.querySelectorAll('#log .line')].map((e) => e.textContent)"
    return [str(line).split(" | ", 1)[1] for line in driver.execute_script(script)]


def test_a_flood_ends_on_its_last_line_and_scrolling_up_shows_all_the_page_keeps(
    browser: webdriver.Chrome, up: tuple[UpProcess, str, Path]
) -> None:
    running, url, root = up
    browser.get(url)
    wait(browser, lambda d: any("red and plain" in line for line in texts(d)))
    with open(root / "in.fifo", "w") as fifo:
        fifo.write("".join(f"flood-{i}\n" for i in range(5000)))
    running.wait_for(r"web\.1 +\| flood-4999")  # read: a full terminal would pause the output

    # Following, the view ends on the newest line, and never holds more than the page keeps.
    wait(browser, lambda d: texts(d)[-1] == "flood-4999")
    assert len(texts(browser)) <= MAX_LINES

    # Scrolled up, it holds every line the page keeps: the newest MAX_LINES, in order.
    browser.execute_script("document.getElementById('log').scrollTop = 0")
    expected = [f"flood-{i}" for i in range(5000 - MAX_LINES, 5000)]
    wait(browser, lambda d: texts(d) == expected)
