"""Open a page (a local HTML file or a URL) in headless Chromium and report what happened, over
the DevTools protocol: every request the page made, console errors and exceptions (a blocked
Content-Security-Policy shows there too), whether each image decoded, and a full-page
screenshot. Used by the report's and the API docs page's browser tests."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-allow-origins=*",
)
WIDTH = 1280


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageReport:
    requests: list[str]  # every URL the page asked for (the page itself included)
    console_errors: list[str]
    images: list[dict[str, Any]]  # {"src", "complete", "width", "height"} per <img>
    screenshot: Path
    height: int
    value: Any = None  # what `expression` evaluated to, after the page loaded


def chromium_or_skip() -> None:
    """Skip without Chromium, unless CI requires it (then fail)."""
    import os

    import pytest

    if find_chromium() is None:
        if os.environ.get("CHURNREC_REQUIRE_CHROMIUM"):
            pytest.fail("CHURNREC_REQUIRE_CHROMIUM is set but chromium is not on PATH")
        pytest.skip("chromium is not installed (`make chromium` installs it as root)")


class _Cdp:
    """Minimal DevTools client: numbered commands, events kept until read."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        self.ws.settimeout(60)
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout}s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))

    def drain(self, seconds: float) -> None:
        """Collect whatever arrives in the next `seconds` (late requests, errors)."""
        import websocket

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _page_socket(port: int, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode}")
        try:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.2)
    raise TimeoutError(f"chromium's DevTools did not answer on port {port} in {timeout}s")


def inspect_page(html: Path, screenshot: Path, *, timeout: float = 60.0) -> PageReport:
    """Load `html` (file://), wait for it, check it and save a full-page PNG to `screenshot`."""
    return inspect_url(html.resolve().as_uri(), screenshot, timeout=timeout)


def inspect_url(
    url: str,
    screenshot: Path,
    *,
    timeout: float = 60.0,
    expression: str | None = None,
    settle: float = 1.0,
) -> PageReport:
    """Load `url`, wait for it (and `settle` seconds for scripts), evaluate `expression`,
    and save a full-page PNG to `screenshot`."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium on PATH")
    port = _free_port()
    # Chromium's helper processes (renderer, crash handler) may still write to the profile
    # when the browser exits: stop the whole process group, and never fail on the clean-up.
    with tempfile.TemporaryDirectory(
        prefix="churnrec-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                f"--window-size={WIDTH},2400",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            cdp = _Cdp(_page_socket(port, process, timeout))
            for domain in ("Network", "Runtime", "Log", "Page"):
                cdp.call(f"{domain}.enable")
            cdp.events.clear()
            cdp.call("Page.navigate", url=url)
            cdp.wait_for("Page.loadEventFired", timeout)
            cdp.drain(settle)
            value = None
            if expression is not None:
                value = cdp.call("Runtime.evaluate", expression=expression, returnByValue=True)[
                    "result"
                ].get("value")
            images = json.loads(
                cdp.call(
                    "Runtime.evaluate",
                    expression="JSON.stringify(Array.from(document.images).map(i => ({"
                    "src: i.src.slice(0, 40), complete: i.complete, "
                    "width: i.naturalWidth, height: i.naturalHeight})))",
                    returnByValue=True,
                )["result"]["value"]
            )
            height = int(cdp.call("Page.getLayoutMetrics")["cssContentSize"]["height"])
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=min(height, 16_000),
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = cdp.call("Page.captureScreenshot", format="png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            cdp.drain(0.3)
        finally:
            _stop_group(process)
    return PageReport(
        requests=[
            e["params"]["request"]["url"]
            for e in cdp.events
            if e.get("method") == "Network.requestWillBeSent"
        ],
        console_errors=_errors(cdp.events),
        images=images,
        screenshot=screenshot,
        height=height,
        value=value,
    )


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found.append(params.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(params["entry"].get("text", ""))
    return found


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the browser and its helpers (one session), SIGKILL whatever is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
