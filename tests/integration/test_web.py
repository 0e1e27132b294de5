"""`up --web` over plain HTTP: the token, the cookie, same-origin actions, the Host check (PRODUCT.md §10)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import UpProcess, clean_env, run_cli, write_files

PROJECT = {
    "Procfile": "web: cd . && exec sleep 600\nworker: exec sleep 600\n",
    "pyproject.toml": '[tool.supervise]\nprocfile = "Procfile"\nstop_timeout = 2\n',
}
URL = r"system +\| page: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))"


class Page:
    """The running `up` with its page: where it is and how to ask it."""

    def __init__(self, up: UpProcess, url: str, port: int, token: str) -> None:
        self.up, self.url, self.port, self.token = up, url, port, token
        self.origin = f"http://127.0.0.1:{port}"

    def ask(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_host=True)
            sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
            for key, value in sent.items():
                connection.putheader(key, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    write_files(tmp_path, PROJECT)
    with UpProcess(["--web", "0"], cwd=tmp_path) as up:
        match = up.wait_for(URL)
        up.wait_for(r"worker\.1 started")
        yield Page(up, match.group(1), int(match.group(2)), match.group(3))
        up.signal(signal.SIGTERM)
        up.finish()


def restart_body() -> bytes:
    return json.dumps({"names": ["web"]}).encode()


def started_lines(page: Page) -> int:
    return len(re.findall(r"web\.1 started", page.up.output))


def test_the_token_opens_the_page_and_sets_a_strict_httponly_cookie(page: Page) -> None:
    status, headers, _ = page.ask("GET", f"/?token={page.token}")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert f"supervise_token={page.token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, body = page.ask("GET", "/", {"Cookie": f"supervise_token={page.token}"})
    assert status == 200
    assert b"web.1" in body and b"worker.1" in body and b"<script>" in body
    assert b"http://" not in body.replace(b'http://" +', b"")  # nothing fetched from elsewhere


def test_without_the_token_the_page_and_its_events_are_refused(page: Page) -> None:
    for path in ("/", "/events", "/?token=wrong"):
        status, _, body = page.ask("GET", path)
        assert status == 403, path
        assert b"supervise web" in body
    status, _, _ = page.ask("GET", "/", {"Cookie": "supervise_token=wrong"})
    assert status == 403


def test_a_post_without_the_token_or_from_another_origin_changes_nothing(page: Page) -> None:
    json_type = {"Content-Type": "application/json"}
    cookie = {"Cookie": f"supervise_token={page.token}"}
    refused = [
        {**json_type, "Origin": page.origin},  # no token
        {**json_type, **cookie, "Origin": "http://evil.example"},
        {**json_type, **cookie, "Origin": "http://127.0.0.1:1"},
        {**json_type, **cookie, "Sec-Fetch-Site": "cross-site"},
        {**json_type, **cookie},  # a cookie alone, without a browser's word on where it comes from
        {**json_type, "X-Supervise-Token": "wrong"},
    ]
    before = started_lines(page)
    for headers in refused:
        status, _, _ = page.ask("POST", "/api/restart", headers, restart_body())
        assert status == 403, headers
    status, _, _ = page.ask("GET", "/api/restart", {**cookie})
    assert status == 405  # actions are POSTs only
    # The same request from the page itself does restart, and the output shows it once.
    status, _, body = page.ask(
        "POST", "/api/restart", {**json_type, **cookie, "Origin": page.origin}, restart_body()
    )
    assert status == 200 and json.loads(body)["ok"] is True
    restarting = page.up.wait_for(r"restarting web\.1")
    page.up.wait_for(r"web\.1 started \(pid \d+\)", start=restarting.end())
    assert started_lines(page) == before + 1


def test_a_script_may_act_with_the_token_in_a_header(page: Page) -> None:
    status, _, body = page.ask(
        "POST",
        "/api/stop",
        {"Content-Type": "application/json", "X-Supervise-Token": page.token},
        json.dumps({"names": ["worker"]}).encode(),
    )
    assert status == 200
    assert [s["state"] for s in json.loads(body)["instances"] if s["name"] == "worker.1"] == ["STOPPED"]


def test_a_foreign_host_header_is_refused(page: Page) -> None:
    cookie = {"Cookie": f"supervise_token={page.token}"}
    for host in ("evil.example", f"evil.example:{page.port}", "127.0.0.1:1", f"127.0.0.2:{page.port}"):
        connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
        connection.putrequest("GET", f"/?token={page.token}", skip_host=True)
        connection.putheader("Host", host)
        for key, value in cookie.items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 421, host
        assert "Set-Cookie" not in dict(response.getheaders())
        connection.close()
    status, _, _ = page.ask("GET", "/", {**cookie})
    assert status == 200
    localhost = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    localhost.request("GET", "/", headers={"Host": f"localhost:{page.port}", **cookie})
    assert localhost.getresponse().status == 200
    localhost.close()


def test_supervise_web_prints_the_url_with_its_token(page: Page, tmp_path: Path) -> None:
    result = run_cli("web", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == page.url + "\n"
    query = urllib.parse.parse_qs(urllib.parse.urlparse(result.stdout.strip()).query)
    assert query["token"] == [page.token]


def test_supervise_web_without_up_or_without_a_page_is_one_line_exit_1(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    result = run_cli("web", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no supervise up is running" in result.stderr
    with UpProcess([], cwd=tmp_path) as up:
        up.wait_for(r"worker\.1 started")
        result = run_cli("web", cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert result.stderr == "supervise: this supervise up has no page; start it with --web [HOST:]PORT\n"
        up.signal(signal.SIGTERM)
        up.finish()


def test_web_in_pyproject_serves_the_page_and_a_bad_value_names_the_key(tmp_path: Path) -> None:
    write_files(tmp_path, {**PROJECT, "pyproject.toml": PROJECT["pyproject.toml"] + 'web = "127.0.0.1:0"\n'})
    with UpProcess([], cwd=tmp_path) as up:
        up.wait_for(URL)
        up.signal(signal.SIGTERM)
        up.finish()
    write_files(tmp_path, {"pyproject.toml": PROJECT["pyproject.toml"] + 'web = "127.0.0.1:http"\n'})
    result = run_cli("up", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("supervise: pyproject.toml")
    assert "tool.supervise.web" in result.stderr and result.stderr.count("\n") == 1
    write_files(tmp_path, PROJECT)
    result = run_cli("up", "--web", "70000", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--web" in result.stderr and "65535" in result.stderr


def test_a_non_loopback_host_prints_a_warning(tmp_path: Path) -> None:
    write_files(tmp_path, PROJECT)
    with UpProcess(["--web", "0.0.0.0:0"], cwd=tmp_path) as up:
        up.wait_for(URL)
        up.wait_for(r"system +\| warning: the page on 0\.0\.0\.0:0 can be reached from other machines")
        up.signal(signal.SIGTERM)
        up.finish()


def test_without_aiohttp_web_says_what_to_install_and_exits_2(tmp_path: Path) -> None:
    # A package named aiohttp that cannot be imported, ahead of the real one on the path.
    shim = tmp_path / "shim"
    write_files(
        shim,
        {"aiohttp/__init__.py": "raise ModuleNotFoundError(\"No module named 'aiohttp'\", name='aiohttp')\n"},
    )
    project = tmp_path / "project"
    write_files(project, PROJECT)
    env = clean_env(PYTHONPATH=str(shim))
    result = run_cli("up", "--web", "0", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "supervise: --web needs the web extra: pip install 'supervise[web]' (it adds aiohttp)\n"
    )
    assert "started" not in result.stdout
    plain = run_cli("status", cwd=project, env=env)  # and without --web, nothing asks for it
    assert plain.returncode == 1
