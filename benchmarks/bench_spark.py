"""DuckDB vs Spark (local mode) on the same snapshot definitions: wall time and peak memory.

    .venv/bin/python benchmarks/bench_spark.py --sizes 1000000 [--master local[2]]

Each engine runs in a fresh child process, as `churnrec features --engine E` runs it: DuckDB
writes the snapshot Parquet itself (out of core), Spark writes Parquet part files that are read
back into pandas. Peak memory is the largest summed RSS of the child and its descendants (the
Spark JVM), sampled every 0.2 s with psutil; CPU s is user + sys of the child and its
descendants, sampled the same way (up to 0.2 s of each process's last CPU can be missed); load
is the 1-minute load average before and after. The workspaces are the ones `bench_features.py` generates (benchmarks/_work/lines_N).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _child(
    engine: str, workspace: Path, as_of: date, master: str, memory: str, partitions: int | None
) -> dict:
    started = time.perf_counter()
    if engine == "duckdb":
        import pyarrow.parquet as pq

        from churnrec.features.db import connect
        from churnrec.features.snapshot import write_customer_snapshot

        out = workspace / "data" / ".bench_spark_snapshot.parquet"
        write_customer_snapshot(connect(workspace), as_of, out)
        wall = time.perf_counter() - started
        snap = pq.read_table(out, columns=["frequency", "monetary_total"]).to_pandas()
        out.unlink()
        return {"wall_s": wall, "customers": len(snap), "checksum": _checksum(snap)}
    else:
        from churnrec.features.spark import build_customer_snapshot_spark, spark_session

        conf = {"spark.driver.memory": memory}
        if partitions:  # fixed; otherwise churnrec picks them from the input size
            conf["spark.sql.shuffle.partitions"] = str(partitions)
        session = spark_session(master, conf)
        ready = time.perf_counter()
        snap = build_customer_snapshot_spark(workspace, as_of, spark=session)
        partitions_used = session.conf.get("spark.sql.shuffle.partitions")
        session.stop()
        started = ready  # session start reported separately
    return {
        "wall_s": time.perf_counter() - started,
        "customers": len(snap),
        "checksum": _checksum(snap),
        "engine": f"spark {master}, {partitions_used} shuffle partitions",
    }


def _checksum(snap) -> list:
    return [int(snap["frequency"].sum()), round(float(snap["monetary_total"].sum()), 2)]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _run(
    engine: str, workspace: Path, as_of: date, master: str, memory: str, partitions: int | None
) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, "--workspace", str(workspace)]
    cmd += ["--as-of", as_of.isoformat(), "--master", master, "--spark-memory", memory]
    cmd += ["--shuffle-partitions", str(partitions or 0)]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0]
    # The JVM is not a waited-for child, so getrusage misses it: CPU is sampled like memory,
    # per process (the largest reading each, as a finished process drops out of the tree).
    cpu_by_pid: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        import psutil

        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            try:
                tree = [psutil.Process(proc.pid)]
                tree += tree[0].children(recursive=True)
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    times = p.cpu_times()
                except psutil.Error:
                    continue
                cpu_by_pid[p.pid] = max(cpu_by_pid.get(p.pid, 0.0), times.user + times.system)
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} child failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["total_s"] = time.perf_counter() - started
    result["cpu_s"] = sum(cpu_by_pid.values())
    result["load"] = (load_before, os.getloadavg()[0])
    result["peak_mib"] = peak[0] / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--spark-memory", default="3g", help="spark.driver.memory (local mode: all of Spark)"
    )
    parser.add_argument(
        "--shuffle-partitions", type=int, default=0, help="fixed count (0: from the input size)"
    )
    parser.add_argument(
        "--engines", nargs="+", choices=["duckdb", "spark"], default=["duckdb", "spark"]
    )
    parser.add_argument("--child", choices=["duckdb", "spark"])
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                _child(
                    args.child,
                    args.workspace,
                    args.as_of,
                    args.master,
                    args.spark_memory,
                    args.shuffle_partitions,
                )
            )
        )
        return
    from bench_features import _last_order_date, _workspace

    print(
        "| order lines | engine | snapshot s | process total s | CPU s | load before / after "
        "| peak MiB | customers |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        ws, _ = _workspace(n)
        as_of = _last_order_date(ws)
        results = {
            e: _run(e, ws, as_of, args.master, args.spark_memory, args.shuffle_partitions)
            for e in args.engines
        }
        checksums = {json.dumps(r["checksum"]) for r in results.values()}
        assert len(checksums) == 1, results  # both engines: the same customers and totals
        for engine, r in results.items():
            print(
                f"| {n:,} | {r.get('engine', engine)} | {r['wall_s']:.1f} | {r['total_s']:.1f} "
                f"| {r['cpu_s']:.1f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} "
                f"| {r['peak_mib']:,.0f} | {r['customers']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
