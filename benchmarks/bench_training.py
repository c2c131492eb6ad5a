"""Benchmark: training wall time and peak memory of the churn, repurchase and ALS jobs.

    .venv/bin/python benchmarks/bench_training.py          # 100k and 1M customers, 10M interactions
    .venv/bin/python benchmarks/bench_training.py --customer-sizes 20000 --interaction-sizes 200000
    .venv/bin/python benchmarks/bench_training.py --customer-sizes 1000000 --no-als  # jobs only

Churn and repurchase: a canonical workspace per size is written once under benchmarks/_work/
(git-ignored) from `churnrec.synthetic.generate_shop` (no events; it has a churn signal,
unlike uniform random orders), then `training.churn.train_churn` and
`training.repurchase.train_repurchase` each run with their default config in a fresh
subprocess, end to end: cut-off plan, point-in-time features + labels for every rolling
cut-off, both fits, baselines, MLflow logging and registry. ALS: a synthetic interactions
table (users x items with Zipf item popularity, ~10 distinct items per user) goes straight
into the recommender's ALS candidate source (`models.ranking.sources.fit_als`, 64 factors);
then the ALS baseline's batch top-10 (`als_top_k`) for 10k users and its one-user latency. Peak RSS is each subprocess's own ru_maxrss
(interpreter and libraries included). Results replace the `## Training` section of
BENCHMARKS.md at the repo root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine_line, replace_section

from churnrec.settings import BTYD_FIT_CUSTOMERS, TRAIN_CUSTOMERS_PER_CUTOFF

WORK = ROOT / "benchmarks" / "_work"
SECTION = "## Training"
ALS_ITEMS = 50_000
ALS_PER_USER = 10
ALS_ZIPF_S = 1.0
BATCH_USERS = 10_000
SINGLE_CALLS = 1_000
ALS_HEADING = "ALS: `Recommender.fit`"
ALS_KEPT_NOTE = "(ALS rows above: from an earlier run; `--no-als` skipped it.)"
STAGE_RE = re.compile(r"^\[churnrec\] (?P<name>.+?) done in (?P<s>[0-9.]+)s")


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """User + system CPU seconds of this process, all its threads (load inflates wall, not this)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- children (one case per process) ---------------------------------------------------------
def _child_job(kind: str, workspace: Path) -> dict:
    from churnrec.workspace import Workspace

    ws = Workspace.at(workspace)
    started = time.perf_counter()
    if kind == "churn":
        from churnrec.training.churn import train_churn

        result = train_churn(ws)
        extra = {
            "train_rows": int(result.metrics["n_train_rows"]),
            "holdout_rows": int(result.metrics["n_holdout_rows"]),
            "headline": f"ROC-AUC {result.metrics['roc_auc']:.4f} ({result.chosen})",
        }
    else:
        from churnrec.training.repurchase import train_repurchase

        result = train_repurchase(ws)
        extra = {
            "train_rows": int(result.metrics["n_train_rows"]),
            "holdout_rows": int(result.metrics["n_holdout_rows"]),
            "headline": f"concordance {result.metrics['concordance']:.4f}",
        }
    return {"wall_s": time.perf_counter() - started, **extra}


def als_interactions(n_interactions: int, seed: int = 7):
    """Distinct (user, item) pairs: ~10 per user, Zipf(s=1) item popularity over 50k items."""
    import numpy as np
    import pandas as pd

    from churnrec import columns as C

    rng = np.random.default_rng(seed)
    n_users = max(1, n_interactions // ALS_PER_USER)
    p = 1.0 / np.arange(1, ALS_ITEMS + 1) ** ALS_ZIPF_S
    draw = int(n_interactions * 1.25)  # popular items repeat per user; drop duplicates after
    users = rng.integers(0, n_users, draw, dtype=np.int64)
    items = rng.choice(ALS_ITEMS, draw, p=p / p.sum()).astype(np.int64)
    keys = np.unique(users * ALS_ITEMS + items)
    if keys.size > n_interactions:
        keys = np.sort(rng.choice(keys, n_interactions, replace=False))
    users, items = keys // ALS_ITEMS, keys % ALS_ITEMS
    n_orders = (rng.poisson(0.3, keys.size) + 1).astype(np.float64)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    last = start + rng.integers(0, 730 * 86400, keys.size).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: np.char.add("c", users.astype(str)),
            C.ITEM_ID: np.char.add("i", items.astype(str)),
            C.WEIGHT: n_orders,
            "n_orders": n_orders,
            "last_ordered_at": last.astype("datetime64[us]"),
        }
    )


def _child_als(n_interactions: int) -> dict:
    import numpy as np

    from churnrec import columns as C
    from churnrec.models.ranking.baskets import BasketLog
    from churnrec.models.ranking.sources import als_top_k, fit_als, item_stats

    t0 = time.perf_counter()
    frame = als_interactions(n_interactions)
    gen_s = time.perf_counter() - t0
    rss_before_fit = _peak_mib()
    started = time.perf_counter()
    log = BasketLog.from_lines(frame.rename(columns={"last_ordered_at": C.ORDERED_AT}))
    factors = fit_als(log, 64, 15, 0.01, 42)
    stats = item_stats(log, np.full(len(log.items), -1))
    fit_s = time.perf_counter() - started
    users = log.users.external_ids.astype(str)

    def top(ids: list[str]) -> dict[str, list[str]]:
        return als_top_k(log, stats, factors, ids, 10, exclude_purchased=True)

    rng = np.random.default_rng(1)
    batch_ids = rng.choice(users, min(BATCH_USERS, users.size), replace=False).tolist()
    started = time.perf_counter()
    top(batch_ids)
    batch_s = time.perf_counter() - started
    single_ids = rng.choice(users, min(SINGLE_CALLS, users.size), replace=False).tolist()
    top(single_ids[:1])  # warm-up
    latencies = []
    for cid in single_ids:
        t = time.perf_counter()
        top([cid])
        latencies.append(time.perf_counter() - t)
    ms = np.asarray(latencies) * 1000
    return {
        "wall_s": fit_s,
        "users": len(users),
        "items": len(log.items),
        "interactions": len(frame),
        "generate_s": gen_s,
        "peak_before_fit_mib": rss_before_fit,
        "batch_users": len(batch_ids),
        "batch_s": batch_s,
        "single_p50_ms": float(np.percentile(ms, 50)),
        "single_p95_ms": float(np.percentile(ms, 95)),
    }


def child_main(args: argparse.Namespace) -> None:
    if args.child == "als":
        out = _child_als(args.n)
    else:
        out = _child_job(args.child, Path(args.workspace))
    out["peak_rss_mib"] = _peak_mib()
    out["cpu_s"] = _cpu_s()
    print("RESULT " + json.dumps(out), flush=True)


# --- parent ----------------------------------------------------------------------------------
def write_shop_workspace(root: Path, n_customers: int) -> None:
    """`generate_shop` (no events) written straight as canonical tables + manifest.

    The same columns and types `churnrec ingest` stores (`churnrec.ingest.store.to_arrow`,
    `manifest_entry`), without ingest's row-by-row validation of a file, which is not what this
    benchmark measures: amount = quantity x unit price, `is_return` from the status, a
    positional `line_id`.
    """
    import numpy as np
    import pyarrow.parquet as pq

    from churnrec import columns as C
    from churnrec.ingest.store import manifest_entry, to_arrow
    from churnrec.synthetic import ShopConfig, generate_shop

    config = ShopConfig(n_customers=n_customers, n_items=ALS_ITEMS // 10, with_events=False)
    tables = generate_shop(config).as_dict()
    orders = tables[C.ORDERS]
    orders[C.LINE_ID] = np.char.add("l", np.arange(len(orders)).astype(str))
    orders[C.AMOUNT] = orders[C.QUANTITY].astype("float64") * orders["unit_price"]
    orders[C.QUANTITY] = orders[C.QUANTITY].astype("float64")
    orders[C.STATUS] = orders[C.STATUS].str.lower()
    orders[C.IS_RETURN] = orders[C.STATUS].isin(C.RETURN_STATUSES).to_numpy(dtype=bool)
    items = tables[C.ITEMS]  # every generated item is on sale and may be recommended
    items[C.AVAILABLE] = items[C.RECOMMENDABLE] = True
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"tables": {}, "ingested_at": datetime.now().isoformat(timespec="seconds")}
    source = [f"churnrec.synthetic.generate_shop(n_customers={n_customers}, seed={config.seed})"]
    for kind in (C.ORDERS, C.CUSTOMERS, C.ITEMS):
        pq.write_table(to_arrow(kind, tables[kind]), data / f"{kind}.parquet")
        manifest["tables"][kind] = manifest_entry(kind, tables[kind], source)
    (data / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def ensure_workspace(n_customers: int) -> tuple[Path, float | None]:
    """Shop data for `n_customers`, generated once; returns (root, seconds or None if reused)."""
    root = WORK / f"train_shop_{n_customers}"
    if (root / "data" / "manifest.json").exists():
        return root, None
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    write_shop_workspace(root, n_customers)
    return root, time.perf_counter() - started


def run_child(argv: list[str], timeout: float | None) -> dict:
    """Run one case in a fresh interpreter; result dict plus stage timings from its stderr."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    load1 = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after the {timeout:.0f} s limit"}
    elapsed = time.perf_counter() - started
    result_lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not result_lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": f"exit {proc.returncode}: " + " / ".join(tail)}
    out = json.loads(result_lines[-1][len("RESULT ") :])
    out["process_s"] = elapsed
    out["load1"] = load1
    out["stages"] = [
        (m["name"], float(m["s"])) for m in map(STAGE_RE.match, proc.stderr.splitlines()) if m
    ]
    return out


def _stages(stages: list[tuple[str, float]]) -> str:
    short = [(n.split(": ", 1)[-1], s) for n, s in stages if s >= 0.05]
    return "; ".join(f"{n} {s:.1f}" for n, s in short)


def _orders_summary(root: Path) -> tuple[int, int]:
    import duckdb

    path = (root / "data" / "orders.parquet").as_posix()
    con = duckdb.connect()
    lines, customers = con.execute(
        f"SELECT count(*), count(DISTINCT customer_id) FROM read_parquet('{path}')"
    ).fetchone()
    con.close()
    return int(lines), int(customers)


def previous_als(path: Path = ROOT / "BENCHMARKS.md") -> str:
    """The ALS part of the current `## Training` section (kept when this run skips ALS).

    Its "from an earlier run" note is replaced, not added again, so repeated `--no-als` runs
    leave one copy.
    """
    text = path.read_text() if path.exists() else ""
    section = re.search(rf"^{re.escape(SECTION)}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    body = section.group(1) if section else ""
    start = body.find(ALS_HEADING)
    if start < 0:
        return "ALS: not run (`--no-als`) and no earlier result in BENCHMARKS.md."
    kept = re.sub(r"\n{3,}", "\n\n", body[start:].replace(ALS_KEPT_NOTE, "")).strip()
    return kept + "\n\n" + ALS_KEPT_NOTE


def render(
    jobs: list[dict],
    als: list[dict] | None,
    started: datetime,
    load: tuple,
    command: str,
    notes: list[str],
) -> str:
    out = [
        (
            f"`benchmarks/bench_training.py`, run {started:%Y-%m-%d %H:%M} on: {machine_line()}; "
            f"load average at the start: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}. "
            "The machine is shared with other jobs, so wall times carry their load."
        ),
        "",
        f"Command: `{command}`",
        "",
        (
            "Churn and repurchase: the synthetic shop (`churnrec.synthetic.generate_shop`, "
            "BG/NBD-like buying with dropout, 2024-01-01..2025-12-31, 5,000 items, no events) "
            "written as canonical tables (orders, customers, items); default job configs (90-day horizon, 4 training cut-offs: "
            "30 days apart with BG/NBD features for churn, 90 days apart for repurchase; churn "
            "learner threads by data size (`churnrec.settings.fit_threads`: every core here), "
            "the repurchase AFT fit on one thread; training "
            f"rows sampled to {TRAIN_CUSTOMERS_PER_CUTOFF:,} customers per training cut-off "
            "before their snapshots are built, BG/NBD and "
            f"Pareto/NBD fitted on {BTYD_FIT_CUSTOMERS:,}-customer samples). The wall time "
            "is the whole job in a fresh process: point-in-time snapshots + labels for the 4 training cut-offs and the "
            "holdout, fits, baselines, MLflow run (datasets, plots, model) and registry. Peak RSS "
            "is that process's ru_maxrss."
        ),
        "",
        (
            "| customers | order lines | job | train rows | holdout rows | wall (s) | CPU (s) "
            "| load (1 min) | peak RSS (MiB) | holdout | stages (s) |"
        ),
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in jobs:
        if "error" in r:
            out.append(
                f"| {r['customers']:,} | {r['lines']:,} | {r['job']} | | | | | | | "
                f"not finished: {r['error']} | |"
            )
            continue
        out.append(
            f"| {r['customers']:,} | {r['lines']:,} | {r['job']} | {r['train_rows']:,} | "
            f"{r['holdout_rows']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load1']:.1f} | "
            f"{r['peak_rss_mib']:,.0f} | "
            f"{r['headline']} | {_stages(r['stages'])} |"
        )
    if als is None:  # --no-als: the previous run's ALS part stays as it was
        return "\n".join([*out, *([""] + notes if notes else []), "", previous_als()])
    out += [
        "",
        (
            f"{ALS_HEADING} replaced by the ALS candidate source `fit_als` (64 factors, 15 "
            f"iterations, bm25 weighting, 1 thread) on distinct (customer, item) pairs: ~{ALS_PER_USER} per "
            f"customer, item popularity Zipf(s={ALS_ZIPF_S:g}) over {ALS_ITEMS:,} items. Fit time "
            "includes the basket log, the weighted matrix and item statistics. Batch = "
            f"`als_top_k` top-10 for {BATCH_USERS:,} random known customers; single = "
            f"`als_top_k` of one customer for {SINGLE_CALLS:,} random known customers, one at a time."
        ),
        "",
        (
            "| interactions | customers | items | fit (s) | batch top-10 (s) | single p50 (ms) "
            "| single p95 (ms) | peak RSS (MiB) | peak RSS before fit (MiB) |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in als:
        if "error" in r:
            out.append(f"| {r['n']:,} | not finished: {r['error']} | | | | | | | |")
            continue
        out.append(
            f"| {r['interactions']:,} | {r['users']:,} | {r['items']:,} | {r['wall_s']:.1f} | "
            f"{r['batch_s']:.2f} | {r['single_p50_ms']:.2f} | {r['single_p95_ms']:.2f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['peak_before_fit_mib']:,.0f} |"
        )
    if any("error" not in r and r["peak_rss_mib"] <= r["peak_before_fit_mib"] + 1 for r in als):
        notes.append(
            "ALS: the peak RSS is set while the benchmark builds the interactions table "
            "(drawing and de-duplicating pairs, string ids); the fit itself stays below it."
        )
    if notes:
        out += ["", *notes]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customer-sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--interaction-sizes", nargs="*", type=int, default=[10_000_000])
    parser.add_argument("--jobs", nargs="+", choices=["churn", "repurchase"], default=None)
    parser.add_argument(
        "--no-als", action="store_true", help="skip ALS; keep its earlier rows in BENCHMARKS.md"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per case")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit BENCHMARKS.md")
    parser.add_argument("--child", choices=["churn", "repurchase", "als"], help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return

    started, load = datetime.now(), os.getloadavg()
    command = "python benchmarks/bench_training.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    jobs_to_run = args.jobs or ["churn", "repurchase"]
    notes: list[str] = []
    als: list[dict] | None = None if args.no_als else []
    for n in [] if args.no_als else args.interaction_sizes:
        print(f"== als {n:,} interactions", flush=True)
        r = run_child(["--child", "als", "--n", str(n)], args.timeout)
        r["n"] = n
        print(json.dumps(r), flush=True)
        als.append(r)
    jobs: list[dict] = []
    for n in args.customer_sizes:
        root, gen_s = ensure_workspace(n)
        lines, customers = _orders_summary(root)
        if gen_s is not None:
            notes.append(
                f"Generating {lines:,} order lines ({customers:,} customers) took {gen_s:.0f} s."
            )
        for job in jobs_to_run:
            shutil.rmtree(root / "mlruns", ignore_errors=True)  # every case starts a fresh store
            print(f"== {job} {customers:,} customers", flush=True)
            r = run_child(["--child", job, "--workspace", str(root)], args.timeout)
            r.update(job=job, customers=customers, lines=lines)
            print(json.dumps(r), flush=True)
            jobs.append(r)
    body = render(jobs, als, started, load, command.strip(), notes)
    print(body)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", SECTION, body)
        print(f"wrote {SECTION} to BENCHMARKS.md")


if __name__ == "__main__":
    main()
