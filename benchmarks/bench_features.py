"""Benchmark: customer snapshot with the DuckDB pipeline vs a plain pandas groupby of RFM.

    .venv/bin/python benchmarks/bench_features.py                # 1M and 10M lines
    .venv/bin/python benchmarks/bench_features.py --sizes 1000000 10000000 50000000

Order lines are generated once per size under benchmarks/_work/ (git-ignored). Each build
runs in its own subprocess so wall time and peak RSS (ru_maxrss of that process, including
the interpreter and imported libraries) are measured per engine, with the CPU time (user + sys)
of the build and the 1-minute load average before and after it: the machine is shared, so
wall time alone says little (CPU time near 2x wall = both cores were ours). The pandas baseline computes
only recency, frequency, monetary total/avg and tenure; the DuckDB pipeline computes the whole
snapshot (~38 columns). Both checksums must agree. Results replace the `## Feature snapshot`
section of BENCHMARKS.md at the repo root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
SECTION = "## Feature snapshot"


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _dir_bytes(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except OSError:  # the folders come and go with DuckDB's spill files
        return 0


def _child_duckdb(workspace: Path, as_of: date, memory_limit: str | None) -> dict:
    """What `churnrec features` runs: DuckDB writes the snapshot Parquet itself (out of core).

    The checksums read four columns back from the written file; the largest size of DuckDB's
    spill folder is sampled every 0.2 s.
    """
    import threading

    import pyarrow.parquet as pq

    from churnrec.features.db import connect
    from churnrec.features.snapshot import write_customer_snapshot
    from churnrec.workspace import Workspace

    out = WORK / f".snapshot_{workspace.name}.parquet"
    spill_dir = Workspace.at(workspace).duckdb_temp_dir
    spill = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            spill[0] = max(spill[0], _dir_bytes(spill_dir))

    threading.Thread(target=sample, daemon=True).start()
    started, cpu = time.perf_counter(), _cpu_s()
    con = connect(workspace, memory_limit=memory_limit)
    (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    n_rows, _ = write_customer_snapshot(con, as_of, out)
    wall = time.perf_counter() - started
    cpu_s = _cpu_s() - cpu
    done.set()
    names = ["frequency", "monetary_total", "recency_days", "tenure_days"]
    table = pq.read_table(out, columns=names)
    sums = [table[name].to_pandas().sum() for name in names]  # as pandas adds them up
    n_columns = len(pq.read_schema(out).names)
    out.unlink()
    return {
        "wall_s": wall,
        "cpu_s": cpu_s,
        "customers": n_rows,
        "columns": n_columns,
        "memory_limit": limit,
        "spill_mib": spill[0] / 2**20,
        "checksum": [int(sums[0]), round(float(sums[1]), 2), int(sums[2]), int(sums[3])],
    }


def _child_pandas(workspace: Path, as_of: date) -> dict:
    import pandas as pd

    from churnrec import columns as C

    started, cpu = time.perf_counter(), _cpu_s()
    cols = [C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.AMOUNT, C.IS_RETURN]
    lines = pd.read_parquet(workspace / "data" / "orders.parquet", columns=cols)
    end = pd.Timestamp(as_of + timedelta(days=1))
    lines = lines[(lines[C.ORDERED_AT] < end) & ~lines[C.IS_RETURN]]
    orders = lines.groupby([C.CUSTOMER_ID, C.ORDER_ID], sort=False).agg(
        ordered_at=(C.ORDERED_AT, "min"), amount=(C.AMOUNT, "sum")
    )
    del lines
    cust = orders.groupby(level=0).agg(
        first=("ordered_at", "min"),
        last=("ordered_at", "max"),
        frequency=("amount", "size"),
        monetary_total=("amount", "sum"),
    )
    t = pd.Timestamp(as_of)
    cust["recency_days"] = (t - cust["last"].dt.normalize()).dt.days
    cust["tenure_days"] = (t - cust["first"].dt.normalize()).dt.days
    cust["monetary_avg"] = cust["monetary_total"] / cust["frequency"]
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "cpu_s": _cpu_s() - cpu,
        "customers": len(cust),
        "columns": 6,
        "checksum": [
            int(cust["frequency"].sum()),
            round(float(cust["monetary_total"].sum()), 2),
            int(cust["recency_days"].sum()),
            int(cust["tenure_days"].sum()),
        ],
    }


def _run_child(engine: str, workspace: Path, as_of: date, memory_limit: str | None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--workspace",
        str(workspace),
        "--as-of",
        as_of.isoformat(),
    ]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} child failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def _workspace(n_lines: int) -> tuple[Path, float]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _gen_orders import generate_workspace

    ws = WORK / f"lines_{n_lines}"
    if (ws / "data" / "manifest.json").exists():
        return ws, 0.0
    started = time.perf_counter()
    generate_workspace(ws, n_lines)
    return ws, time.perf_counter() - started


def _last_order_date(workspace: Path) -> date:
    import duckdb

    path = workspace / "data" / "orders.parquet"
    [(last,)] = duckdb.sql(f"SELECT MAX(ordered_at) FROM read_parquet('{path}')").fetchall()
    return last.date()


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
        ram = f"{mem_kib / 1024**2:.0f} GiB RAM"
    except OSError:
        ram = "unknown RAM"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), {ram}, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}; "
        f"load average at the end of the run: {load}"
    )


def _row(r: dict) -> str:
    """One table row; memory_limit and spill apply to DuckDB only."""
    duck = f"{r['memory_limit']} | {r['spill_mib']:,.0f}" if "spill_mib" in r else " | "
    return (
        f"| {r['lines']:,} | {r['customers']:,} | {r['engine']} | {r['columns']} | "
        f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} | "
        f"{r['peak_mib']:,.0f} | {duck} |"
    )


def _section(rows: list[dict], notes: list[str]) -> str:
    import duckdb
    import pandas

    head = [
        SECTION,
        "",
        (
            f"`benchmarks/bench_features.py`, run {datetime.now():%Y-%m-%d %H:%M} on: {_machine()}. "
            "Reproduce: `.venv/bin/python benchmarks/bench_features.py` (1M, 10M and 50M lines)."
        ),
        (
            f"DuckDB {duckdb.__version__}, pandas {pandas.__version__}. Synthetic canonical "
            "order lines (`benchmarks/_gen_orders.py`: ~1 customer per 10 lines, ~2.5 lines "
            "per order, 3 channels, 3% returns, 50k items in 40 categories, two years), "
            "cut-off = last order date. Each build runs in a fresh subprocess; peak RSS is that "
            "process's ru_maxrss (interpreter, libraries and DuckDB included). The DuckDB row is "
            "what `churnrec features` runs: `write_customer_snapshot` has DuckDB write the full "
            "snapshot (all feature columns, scores, segments, lifecycle) straight to Parquet, out "
            "of core (default threads = cores, the `memory_limit` shown, spilling to "
            "`data/.duckdb_tmp` in the workspace; spill = the largest size of that folder). The "
            "pandas baseline computes only recency, frequency, monetary total/avg and tenure from "
            "the same Parquet file. The checksums of the shared columns agree. The machine is "
            "shared with other jobs, so wall times carry their load: CPU (s) is user + sys of "
            "the build (near 2x wall = both cores were ours, near 1x = about one), load is the "
            "1-minute load average before and after the build."
        ),
        "",
        (
            "| order lines | customers | engine | columns | wall (s) | CPU (s) | "
            "load before / after | peak RSS (MiB) | memory_limit | spill (MiB) |"
        ),
        "|---:|---:|---|---:|---:|---:|---|---:|---|---:|",
    ]
    body = [_row(r) for r in rows]
    return "\n".join(head + body + [""] + notes) + "\n"


def _write_section(text: str) -> Path:
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(old):
        new = pattern.sub(lambda _: text + "\n", old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--pandas-max",
        type=int,
        default=10_000_000,
        help="skip the pandas baseline above this many lines (memory)",
    )
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB memory_limit (default: what `churnrec features` uses, see features/db.py)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--child", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        sys.path.insert(0, str(ROOT))
        if args.child == "duckdb":
            result = _child_duckdb(args.workspace, args.as_of, args.memory_limit)
        else:
            result = _child_pandas(args.workspace, args.as_of)
        result["peak_mib"] = _peak_mib()
        print(json.dumps(result))
        return

    rows: list[dict] = []
    notes: list[str] = []
    for n in args.sizes:
        ws, gen_s = _workspace(n)
        if gen_s:
            print(f"generated {n:,} lines in {gen_s:.1f}s", file=sys.stderr)
        as_of = _last_order_date(ws)
        engines = ["duckdb"] + (["pandas"] if n <= args.pandas_max else [])
        if n > args.pandas_max:
            notes.append(
                f"pandas baseline not run at {n:,} lines (above --pandas-max "
                f"{args.pandas_max:,}) to keep memory free on this shared machine."
            )
        checks = {}
        for engine in engines:
            result = _run_child(engine, ws, as_of, args.memory_limit)
            checks[engine] = result["checksum"]
            rows.append({"lines": n, "engine": engine, **result})
            print(
                f"{n:>12,} {engine:7} {result['wall_s']:7.1f}s wall {result['cpu_s']:7.1f}s cpu "
                f"load {result['load'][0]:.1f}/{result['load'][1]:.1f} "
                f"{result['peak_mib']:8,.0f} MiB {result['customers']:,} customers"
                + (
                    f" (memory_limit {result['memory_limit']}, spill {result['spill_mib']:,.0f} MiB)"
                    if "spill_mib" in result
                    else ""
                ),
                file=sys.stderr,
            )
        if len(checks) == 2 and checks["duckdb"] != checks["pandas"]:
            raise SystemExit(f"checksums differ at {n:,} lines: {checks}")
    if not args.no_write:
        print(f"updated {_write_section(_section(rows, notes))}", file=sys.stderr)


if __name__ == "__main__":
    main()
