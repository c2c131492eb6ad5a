"""Oversized request bodies: status, time to answer and server memory (issue 8, item 14).

Usage: .venv/bin/python benchmarks/bench_body_limit.py WORKSPACE   (a trained workspace)

Starts `churnrec serve` on 127.0.0.1, then posts 20 MB and 200 MB bodies to /churn_scores,
once with a Content-Length and once chunked, and reports the status, the seconds to the
answer and the resident memory of the server's processes (sum over the tree) before and after.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

KEY = "bench-key"


def tree_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def main(workspace: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, CHURNREC_API_KEY=KEY)
    server = subprocess.Popen(
        [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(workspace),
         "--port", str(port), "--reload-seconds", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(
                    f"`churnrec serve` exited with code {server.returncode}: "
                    f"is {workspace} a trained workspace?"
                )
            if time.time() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.5)
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        print("| body | sent as | status | seconds | server RSS before MB | after MB |")
        print("|---|---|---|---|---|---|")
        for mb in (20, 200):
            body = b'{"customer_ids": ["' + b"x" * (mb * 2**20) + b'"]}'

            def chunks(body: bytes = body) -> Iterator[bytes]:
                for i in range(0, len(body), 2**20):
                    yield body[i : i + 2**20]

            for how, content in (("Content-Length", body), ("chunked", chunks())):
                before = tree_rss_mb(server.pid)
                started = time.perf_counter()
                try:
                    status = httpx.post(
                        f"{base}/churn_scores", content=content, headers=headers, timeout=120
                    ).status_code
                except httpx.HTTPError as exc:  # the server may close once it has answered
                    status = type(exc).__name__
                seconds = time.perf_counter() - started
                time.sleep(0.5)
                print(
                    f"| {mb} MB | {how} | {status} | {seconds:.2f} | {before:.0f} "
                    f"| {tree_rss_mb(server.pid):.0f} |"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path, help="a trained workspace")
    main(parser.parse_args().workspace.resolve())
