"""Time `churnrec report` on 1M order lines and 5M events (canonical tables written directly).

Orders and items come from `_gen_orders.py` (~100k customers); customers get an acquisition
channel; events are sessions of those customers (1 + Poisson(2) views, then cart / checkout /
purchase with falling odds, a few payment errors), each with a traffic channel and a
platform. The report runs in a fresh process; wall time and peak RSS are that process's.

    .venv/bin/python benchmarks/bench_report.py [--lines 1000000] [--events 5000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("direct", "organic", "paid_search", "social", "referral", "email")
PLATFORMS = ("desktop", "mobile_web", "ios_app", "android_app")


def _events(rng: np.random.Generator, n_events: int, n_customers: int) -> pa.Table:
    from _gen_orders import SPAN_SECONDS, START

    n_sessions = n_events // 4
    views = 1 + rng.poisson(2.0, n_sessions)
    cart = rng.random(n_sessions) < 0.35
    checkout = cart & (rng.random(n_sessions) < 0.55)
    purchase = checkout & (rng.random(n_sessions) < 0.65)
    error = checkout & (rng.random(n_sessions) < 0.05)
    steps = views + cart + checkout + purchase + error
    keep = np.cumsum(steps) <= n_events
    views, cart, checkout, purchase, error, steps = (
        a[keep] for a in (views, cart, checkout, purchase, error, steps)
    )
    n_sessions = len(steps)
    session = np.repeat(np.arange(n_sessions), steps)
    pos = np.arange(len(session)) - np.repeat(np.cumsum(steps) - steps, steps)
    # event kind by position: views first, then cart, checkout, error, purchase
    kind = np.where(pos < views[session], 0, 1 + pos - views[session])
    kinds = np.array(["view", "add_to_cart", "checkout", "payment_error", "purchase"])
    order = np.stack([np.ones(n_sessions), cart, checkout, error, purchase], axis=1).astype(bool)
    extra = np.where(kind > 0, kind, 0)
    cumulative = np.cumsum(order[:, 1:], axis=1)  # n-th extra step -> which kind
    which = np.argmax(cumulative[session] >= np.maximum(extra, 1)[:, None], axis=1) + 1
    label = np.where(kind == 0, 0, which)
    customer = (n_customers * rng.random(n_sessions) ** 1.7).astype(np.int64)
    start = START + rng.integers(0, SPAN_SECONDS, n_sessions).astype("timedelta64[s]")
    at = start[session] + (pos * 60).astype("timedelta64[s]")
    channel = rng.integers(0, len(CHANNELS), n_sessions)
    platform = rng.integers(0, len(PLATFORMS), n_sessions)
    return pa.table(
        {
            "customer_id": pa.array(np.char.add("c", customer[session].astype(str))),
            "occurred_at": pa.array(at.astype("datetime64[us]")),
            "event_type": pa.array(kinds[label]),
            "session_id": pa.array(np.char.add("s", session.astype(str))),
            "channel": pa.array(np.array(CHANNELS)[channel[session]]),
            "platform": pa.array(np.array(PLATFORMS)[platform[session]]),
        }
    )


def build_workspace(root: Path, n_lines: int, n_events: int) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _gen_orders import generate_workspace

    generate_workspace(root, n_lines)
    rng = np.random.default_rng(11)
    n_customers = max(1, n_lines // 10)
    data = root / "data"
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(np.char.add("c", np.arange(n_customers).astype(str))),
                "acquisition_channel": pa.array(
                    np.array(CHANNELS[1:])[rng.integers(0, 5, n_customers)]
                ),
            }
        ),
        data / "customers.parquet",
    )
    pq.write_table(_events(rng, n_events, n_customers), data / "events.parquet")
    return root


def _child(workspace: str) -> None:
    from churnrec.insights.report.build import build_report

    started = time.perf_counter()
    result = build_report(workspace)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_mib": usage.ru_maxrss / 1024,
                "out": str(result.out),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help="keep (or reuse) the workspace here")
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="churnrec-bench-report-") as tmp:
        started = time.perf_counter()
        ws = args.workspace or Path(tmp) / "ws"
        if not (ws / "data" / "events.parquet").exists():
            build_workspace(ws, args.lines, args.events)
        events = pq.read_metadata(ws / "data" / "events.parquet").num_rows
        print(f"generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
        load_before = os.getloadavg()[0]
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(ws)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"| {args.lines:,} | {events:,} | {result['seconds']:.1f} | "
            f"{result['cpu_seconds']:.1f} | {load_before:.1f} / {os.getloadavg()[0]:.1f} | "
            f"{result['peak_mib']:,.0f} |"
        )
        print(proc.stderr[-1500:], file=sys.stderr)


if __name__ == "__main__":
    main()
