"""HTTP hardening (issue 19, item 5), probed on the real server on 127.0.0.1.

None of these need a model, so the server runs on an empty workspace and starts in seconds:
body limit against Content-Length plus chunked, 415 for bodies that are not JSON, ingest's date
rules on `POST /events`, failed authentication logged and rate-limited per client address, short
keys, and a docs page that fetches nothing from third parties.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server_process import REPO, running_server

API_KEY = "hardening-12"  # 12 characters: accepted with a warning
AUTH = {"Authorization": f"Bearer {API_KEY}"}
EVENT = {"customer_id": "C1", "item_id": "I1", "event_type": "view"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[str]:
    with running_server(root, API_KEY, "--reload-seconds", "0", ready_path="/healthz") as base:
        yield base


def _log_since(log: Path, offset: int) -> str:
    time.sleep(0.5)  # the worker's log lines reach the file through a pipe
    with log.open() as f:
        f.seek(offset)
        return f.read()


def _raw_request(base: str, head: str, body_chunks: Iterator[bytes]) -> int:
    """Send a hand-made request (headers httpx will not combine) and return the status."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed before the body ended: read its answer
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1])


# --- body limit ---------------------------------------------------------------------------------
def test_content_length_plus_chunked_cannot_carry_a_body_past_the_limit(server: str) -> None:
    padding = b"x" * (1024 * 1024)
    head = (
        "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        "Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:  # a 24 MiB JSON body, chunked, under a declared 10 bytes
        start = b'{"customer_id": "C1", "item_id": "I1", "event_type": "view", "pad": "'
        for piece in [start, *[padding] * 24, b'"}']:
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    assert _raw_request(server, head, chunks()) == 413
    assert httpx.post(f"{server}/events", json=EVENT, headers=AUTH).status_code == 200


# --- media type ---------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_bodies_that_are_not_json_get_415(server: str, content_type: str | None) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = b'{"customer_id": "C1", "item_id": "I1", "event_type": "view"}'
    answer = httpx.post(f"{server}/events", content=body, headers=headers)
    assert answer.status_code == 415, answer.text
    assert "application/json" in answer.json()["error"]
    headers["Content-Type"] = "application/json; charset=utf-8"
    assert httpx.post(f"{server}/events", content=body, headers=headers).status_code == 200


# --- /events dates ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("occurred_at", "words"),
    [
        ("2999-01-01T00:00:00", "future_date"),
        ("1970-01-01T00:00:00", "implausible_date"),
        ("not a date", "ISO 8601"),
        (1700000000, "ISO 8601"),
    ],
)
def test_events_apply_ingests_date_rules_with_the_usual_400(
    server: str, root: Path, occurred_at: object, words: str
) -> None:
    answer = httpx.post(
        f"{server}/events", json={**EVENT, "occurred_at": occurred_at}, headers=AUTH
    )
    assert answer.status_code == 400
    body = answer.json()
    other = httpx.post(f"{server}/events", json={**EVENT, "event_type": "x"}, headers=AUTH)
    assert other.status_code == 400
    assert isinstance(body, dict) and set(body) == set(other.json()) == {"error", "detail"}
    assert [d["loc"] for d in body["detail"]] == [["occurred_at"]]
    assert words in body["detail"][0]["msg"]
    log = (root / "data" / "live_events" / "events.csv").read_text()
    assert str(occurred_at)[:4] not in {line.split(",")[1][:4] for line in log.splitlines()[1:]}


def test_a_plausible_occurred_at_is_accepted(server: str) -> None:
    sent = {**EVENT, "occurred_at": "2024-03-01T10:00:00+01:00"}
    answer = httpx.post(f"{server}/events", json=sent, headers=AUTH)
    assert answer.status_code == 200
    assert answer.json()["occurred_at"] == "2024-03-01T09:00:00"


# --- failed authentication -------------------------------------------------------------------
def test_failed_authentication_is_logged_without_the_token(server: str, root: Path) -> None:
    log = root / "server.log"
    before = log.stat().st_size
    guess = "guessed-token-0123456789"
    assert httpx.post(f"{server}/events", json=EVENT).status_code == 401
    wrong = {"Authorization": f"Bearer {guess}"}
    assert httpx.post(f"{server}/churn_scores", json={}, headers=wrong).status_code == 401
    new = _log_since(log, before)
    lines = [line for line in new.splitlines() if "failed authentication" in line]
    assert len(lines) == 2, new[-2000:]
    assert "on /events from 127.0.0.1: missing Authorization header" in lines[0]
    assert "on /churn_scores from 127.0.0.1: invalid API key" in lines[1]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line) for line in lines)
    assert all("WARNING" in line for line in lines)
    assert guess not in new and API_KEY not in new


def test_repeated_failures_from_one_address_get_429(server: str, root: Path) -> None:
    log = root / "server.log"
    before = log.stat().st_size
    wrong = {"Authorization": "Bearer not-the-key-at-all"}
    # another loopback address: the other tests' client (127.0.0.1) must stay unaffected
    transport = httpx.HTTPTransport(local_address="127.0.0.7")
    with httpx.Client(base_url=server, transport=transport, timeout=30) as noisy:
        statuses = [noisy.post("/events", json=EVENT, headers=wrong).status_code for _ in range(25)]
        assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 5
        blocked = noisy.post("/events", json=EVENT, headers=AUTH)  # even the right key waits
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert "too many failed authentications" in blocked.json()["error"]
        assert noisy.get("/healthz").status_code == 200
    assert httpx.post(f"{server}/events", json=EVENT, headers=AUTH).status_code == 200
    new = _log_since(log, before)
    assert new.count("failed authentication on /events from 127.0.0.7") == 20
    assert new.count("127.0.0.7 blocked for 60 s") == 1


# --- keys -----------------------------------------------------------------------------------
def test_a_short_key_is_warned_about_at_start(server: str, root: Path) -> None:
    log = (root / "server.log").read_text()
    assert "API key has only 12 characters" in log
    assert API_KEY not in log


def test_a_very_short_key_is_refused_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNREC_")}
    env["CHURNREC_API_KEY"] = "k"
    proc = subprocess.Popen(
        [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(tmp_path)]
        + ["--port", "1"],  # never bound: the command must stop before
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("churnrec serve started with a one-character API key")
    assert proc.returncode == 2
    assert "CHURNREC_API_KEY" in err and "has 1 characters" in err and "at least 8" in err


# --- the docs page -----------------------------------------------------------------------------
class _References(HTMLParser):
    """Every URL the page would fetch or link, and the text of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in {"src", "href", "action", "data"} and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(data)


def _third_party(url: str) -> bool:
    return bool(re.match(r"^(https?:)?//", url.strip(), re.IGNORECASE))


def test_docs_page_fetches_and_links_nothing_from_third_parties(server: str) -> None:
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    refs = _References()
    refs.feed(page.text)
    assert refs.urls, "the page loads Swagger UI from somewhere"
    assert [u for u in refs.urls if _third_party(u)] == []
    assert not any(re.search(r"https?://", text) for text in refs.inline)
    for url in refs.urls:  # what it loads is served here, without a key
        assert httpx.get(f"{server}/{url.removeprefix('./')}").status_code == 200, url
    script = httpx.get(f"{server}/docs.js").text
    assert "validatorUrl: null" in script and not re.search(r"https?://", script)
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


def test_docs_page_renders_in_chromium_under_its_policy(server: str, tmp_path: Path) -> None:
    """As a person opens it: Swagger UI draws every route under the page's own
    Content-Security-Policy (a blocked script would show as a console error), and every
    request the browser makes stays on this server."""
    from tests.browser import chromium_or_skip, inspect_url

    chromium_or_skip()
    page = inspect_url(
        f"{server}/",
        tmp_path / "docs.png",
        expression="document.querySelectorAll('.opblock').length",
        settle=3.0,
    )
    assert page.console_errors == []
    origin = server.rstrip("/")
    elsewhere = [u for u in page.requests if not u.startswith((origin, "data:"))]
    assert elsewhere == []  # data: URIs are Swagger UI's inline icons, not requests
    assert page.value and page.value >= 5  # the routes are drawn, not a blank page


def test_failure_limiter_forgets_after_the_window_and_the_block() -> None:
    from churnrec.serving.auth import FailureLimiter

    limiter = FailureLimiter(limit=3, window=60, block=60)
    assert not limiter.failed("a", 0) and not limiter.failed("a", 1)
    assert not limiter.failed("a", 70)  # the first two fell out of the minute
    assert not limiter.failed("a", 71) and limiter.failed("a", 72)
    assert limiter.retry_after("a", 73) == 59 and limiter.retry_after("b", 73) is None
    assert limiter.retry_after("a", 132) is None  # the block is over
    assert not any(FailureLimiter(limit=0).failed("a", t) for t in range(100))  # 0 = off


def test_a_path_cannot_forge_log_lines(server: str, root: Path) -> None:
    log = root / "server.log"
    before = log.stat().st_size
    assert httpx.get(f"{server}/x%0A2026-01-01T00:00:00+0000 [INFO] forged").status_code == 401
    new = _log_since(log, before)
    assert not any(line.startswith("2026-01-01T00:00:00") for line in new.splitlines())
    assert "failed authentication on /x\\n2026-01-01" in new
