"""Start the real `churnrec serve` on 127.0.0.1 for a test and stop it afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(
    workspace_root: Path, api_key: str, *extra_args: str, timeout_s: float = 180
) -> Iterator[str]:
    """Run `churnrec serve --workspace ROOT` until the block ends; yield its base URL."""
    port = free_port()
    env = dict(os.environ, CHURNREC_API_KEY=api_key)
    for name in ("CHURNREC_AUTH_DISABLED", "CHURNREC_WORKSPACE", "CHURNREC_RELOAD_SECONDS"):
        env.pop(name, None)  # `churnrec serve` must pass workspace and reload interval itself
    log_path = workspace_root / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(workspace_root)]
            + ["--host", "127.0.0.1", "--port", str(port), *extra_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("server exited:\n" + log_path.read_text()[-3000:])
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("server not ready:\n" + log_path.read_text()[-3000:])
                time.sleep(0.5)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
