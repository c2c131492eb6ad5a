"""Benchmark: the Pareto/NBD churn rule's fit on generated 800-customer shops, per cut-off.

    .venv/bin/python benchmarks/bench_btyd_fits.py --label after            # seeds 1-5
    .venv/bin/python benchmarks/bench_btyd_fits.py --report                 # BENCHMARKS.md

Each shop is `churnrec.synthetic.generate_shop` (800 customers, no events); the customer
snapshot at four cut-offs (30, 90, 180 and 365 days before the end) is written to
benchmarks/_work/btyd_fits/ and `BTYDChurnBaseline.fit(snapshot, "paretonbd", 90)` runs on
it in a fresh subprocess with a `--limit` (default 120 s), so code whose fit never ends can be
measured too (it shows as "> limit"). Results go to benchmarks/_work/btyd_fits_<label>.json;
`--report` puts the stored labels side by side in the `## BTYD fit times` section.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine_line, replace_section

WORK = ROOT / "benchmarks" / "_work"
FOLDER = WORK / "btyd_fits"
END = date(2025, 12, 31)
DAYS_BACK = (30, 90, 180, 365)
CHILD = """
import sys, time, warnings
import pandas as pd
from churnrec.models.baseline_models import BTYDChurnBaseline
warnings.simplefilter("ignore")
snapshot = pd.read_parquet(sys.argv[1])
started = time.perf_counter()
try:
    rule = BTYDChurnBaseline.fit(snapshot, "paretonbd", 90)
    outcome = "ok " + ", ".join(f"{k}={v:.3g}" for k, v in rule.model.params.items())
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:120]}"
print(f"{time.perf_counter() - started:.3f}\\t{outcome}")
"""


def write_snapshots(seeds: list[int]) -> list[Path]:
    from churnrec.features.db import connect_frames
    from churnrec.features.snapshot import build_customer_snapshot
    from churnrec.synthetic import ShopConfig, generate_shop

    FOLDER.mkdir(parents=True, exist_ok=True)
    files = []
    for seed in seeds:
        shop = generate_shop(ShopConfig(n_customers=800, seed=seed, with_events=False, end=END))
        con = connect_frames(shop.orders)
        for back in DAYS_BACK:
            file = FOLDER / f"seed{seed}_minus{back}d.parquet"
            build_customer_snapshot(con, END - timedelta(days=back)).to_parquet(file)
            files.append(file)
    return files


def time_fit(file: Path, limit: float) -> dict:
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(file)],
            check=False,
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=ROOT / "benchmarks",
        )
    except subprocess.TimeoutExpired:
        return {"shop": file.stem, "seconds": None, "outcome": f"> {limit:g} s (killed)"}
    line = (proc.stdout.strip().splitlines() or ["\tno output: " + proc.stderr[-200:]])[-1]
    seconds, outcome = line.split("\t", 1)
    fit_s = float(seconds) if seconds else time.perf_counter() - started
    return {"shop": file.stem, "seconds": round(fit_s, 2), "outcome": outcome}


def report(labels: list[str]) -> str:
    runs = [json.loads((WORK / f"btyd_fits_{label}.json").read_text()) for label in labels]
    head = "| shop, cut-off | " + " | ".join(f"{r['label']} (s)" for r in runs) + " |"
    lines = [
        "`.venv/bin/python benchmarks/bench_btyd_fits.py --label L` then `--report`: the "
        "Pareto/NBD churn rule (`BTYDChurnBaseline.fit`, all rows) on the snapshot of a "
        "generated 800-customer shop (`churnrec generate --customers 800 --seed N`) at four "
        "cut-offs, each fit in its own process with a time limit. "
        + "; ".join(f"{r['label']}: {r['date']}, {r['machine']}" for r in runs)
        + ".",
        "",
        head,
        "|---|" + "---:|" * len(runs),
    ]
    for i, row in enumerate(runs[0]["fits"]):
        cells = []
        for r in runs:
            fit = r["fits"][i]
            cells.append(f"{fit['seconds']:.2f}" if fit["seconds"] is not None else fit["outcome"])
        lines.append(f"| {row['shop']} | " + " | ".join(cells) + " |")
    for r in runs:
        done = [f["seconds"] for f in r["fits"] if f["seconds"] is not None]
        killed = sum(f["seconds"] is None for f in r["fits"])
        lines.append("")
        lines.append(
            f"**{r['label']}**: slowest finished fit {max(done):.1f} s, {killed} killed at the "
            f"limit; failed fits: "
            + (
                "; ".join(
                    f"{f['shop']} {f['outcome']}"
                    for f in r["fits"]
                    if f["seconds"] is not None and not f["outcome"].startswith("ok")
                )
                or "none"
            )
            + "."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per fit")
    parser.add_argument("--report", nargs="*", metavar="LABEL")
    args = parser.parse_args()
    if args.label:
        fits = []
        for file in write_snapshots(args.seeds):
            fits.append(time_fit(file, args.limit))
            print(json.dumps(fits[-1]), flush=True)
        result = {
            "label": args.label,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_line(),
            "fits": fits,
        }
        (WORK / f"btyd_fits_{args.label}.json").write_text(json.dumps(result, indent=1))
    if args.report is not None:
        labels = args.report or sorted(
            p.stem.removeprefix("btyd_fits_") for p in WORK.glob("btyd_fits_*.json")
        )
        replace_section(ROOT / "BENCHMARKS.md", "## BTYD fit times", report(labels))


if __name__ == "__main__":
    main()
