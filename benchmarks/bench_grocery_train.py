"""Benchmark: `churnrec train all` on a grocery shop (600 shoppers, ~150k order lines).

    .venv/bin/python benchmarks/bench_grocery_train.py --label after      # generate, ingest, train
    .venv/bin/python benchmarks/bench_grocery_train.py --report           # write BENCHMARKS.md

Each run writes the export (`_gen_grocery.write_grocery_shop`) and ingests it with
`churnrec ingest` into a fresh workspace under benchmarks/_work/ (git-ignored), then runs
`churnrec train all` in a subprocess through `_timed_train.py`, which times every BG/NBD,
Pareto/NBD and Gamma-Gamma fit. It records the total wall time, the seconds of every
`[churnrec] ... done in Xs` stage line on stderr, and the fits, in
benchmarks/_work/grocery_train_<label>.json. `--report` puts every stored label side by side
in the dated `## Grocery training` section of BENCHMARKS.md, with the machine. Run a label on
the code you want to measure (e.g. `before` on a checkout of main's models files).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _gen_grocery import write_grocery_shop
from _report import machine_line, replace_section

WORK = ROOT / "benchmarks" / "_work"
CLI = [sys.executable, "-m", "churnrec.cli"]
STAGE = re.compile(r"^\[churnrec\] (.+?) done in ([0-9.]+)s")


def _run(cmd: list[str], log: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return proc.returncode, elapsed, proc.stderr


def run(label: str, shoppers: int, lines: int, seed: int) -> dict:
    """Generate, ingest and train once; returns (and stores) the measurements."""
    home = WORK / f"grocery_{label}"
    shutil.rmtree(home, ignore_errors=True)
    files = write_grocery_shop(home / "export", shoppers=shoppers, target_lines=lines, seed=seed)
    n_lines = sum(1 for _ in files["orders"].open()) - 1
    ws = home / "ws"
    ws.mkdir()
    code, ingest_s, _ = _run(
        [
            *CLI,
            "ingest",
            str(files["orders"]),
            "--customers",
            str(files["customers"]),
            "--items",
            str(files["items"]),
            "--workspace",
            str(ws),
        ],
        home / "ingest.log",
    )
    if code != 0:
        raise SystemExit(f"ingest failed (exit {code}); see {home / 'ingest.log'}")
    fits_file = home / "fits.json"
    timed = [sys.executable, str(ROOT / "benchmarks" / "_timed_train.py"), str(fits_file)]
    code, train_s, stderr = _run(
        [*timed, "train", "all", "--workspace", str(ws)], home / "train.log"
    )
    stages = [
        {"stage": m.group(1), "seconds": float(m.group(2))}
        for m in map(STAGE.match, stderr.splitlines())
        if m
    ]
    fits = json.loads(fits_file.read_text()) if fits_file.exists() else []
    result = {
        "label": label,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_line(),
        "order_lines": n_lines,
        "shoppers": shoppers,
        "ingest_s": round(ingest_s, 1),
        "train_all_s": round(train_s, 1),
        "exit_code": code,
        "stages": stages,
        "fits": fits,
        "skipped": [ln for ln in stderr.splitlines() if "skipped" in ln or "left out" in ln],
    }
    (WORK / f"grocery_train_{label}.json").write_text(json.dumps(result, indent=1))
    return result


def _fit_summary(fits: list[dict]) -> str:
    by_model: dict[str, list[float]] = {}
    for f in fits:
        by_model.setdefault(f["model"], []).append(f["seconds"])
    parts = [
        f"{m} {len(s)} fits, {sum(s):.1f} s (max {max(s):.1f} s)"
        for m, s in sorted(by_model.items())
    ]
    return "; ".join(parts) or "none"


def report(labels: list[str]) -> str:
    """The BENCHMARKS.md section for the stored labels."""
    results = [json.loads((WORK / f"grocery_train_{label}.json").read_text()) for label in labels]
    lines = [
        (
            "`.venv/bin/python benchmarks/bench_grocery_train.py --label L` then `--report`: a "
            "grocery export (daily orders, 10+ lines per basket, a third of shoppers lapse; "
            "`benchmarks/_gen_grocery.py`) ingested with `churnrec ingest` into a fresh "
            "workspace, then `churnrec train all`, timed end to end in a subprocess. BTYD fits "
            "are timed one by one (`benchmarks/_timed_train.py`). The machine is shared with "
            "other work, so single seconds are noisy."
        ),
        "",
        (
            "| run | date | machine | lines | shoppers | train all (s) | BTYD fits: total s | "
            "slowest fit (s) | exit |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        fits = r["fits"]
        slowest = max(fits, key=lambda f: f["seconds"]) if fits else None
        slow = f"{slowest['seconds']:.1f} ({slowest['model']})" if slowest else "-"
        lines.append(
            f"| {r['label']} | {r['date']} | {r['machine']} | {r['order_lines']:,} | "
            f"{r['shoppers']} | {r['train_all_s']:.1f} | "
            f"{sum(f['seconds'] for f in fits):.1f} | {slow} | {r['exit_code']} |"
        )
    for r in results:
        lines += [
            "",
            f"**{r['label']}** stages (seconds, from the `[churnrec] ... done in` lines):",
        ]
        lines.append(
            ", ".join(f"{s['stage']} {s['seconds']:.1f}" for s in r["stages"] if s["seconds"] >= 1)
        )
        lines.append(f"BTYD fits: {_fit_summary(r['fits'])}.")
        failed = [f for f in r["fits"] if f["outcome"] != "ok"]
        if failed:
            lines.append(
                "Failed fits: "
                + "; ".join(
                    f"{f['model']} after {f['seconds']:.1f} s: {f['outcome'].rstrip('.')}"
                    for f in failed
                )
                + "."
            )
        if r["skipped"]:
            skipped = [line.removeprefix("[churnrec] ").rstrip(".") for line in r["skipped"]]
            lines.append("Skipped / left out: " + "; ".join(skipped) + ".")
        slowest = max((f["seconds"] for f in r["fits"]), default=0.0)
        ok = r["train_all_s"] < 120 and slowest <= 30 and r["exit_code"] == 0
        lines.append(
            f"Issue 18's bar (train all under 2 minutes, no fit over 30 s): "
            f"{'met' if ok else 'not met'}."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", help="name of this run (e.g. before, after)")
    parser.add_argument("--shoppers", type=int, default=600)
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", nargs="*", metavar="LABEL", help="labels to report")
    args = parser.parse_args()
    if args.label:
        r = run(args.label, args.shoppers, args.lines, args.seed)
        print(json.dumps({k: v for k, v in r.items() if k not in ("stages", "fits")}, indent=1))
        print(_fit_summary(r["fits"]))
    if args.report is not None:
        labels = args.report or sorted(
            p.stem.removeprefix("grocery_train_") for p in WORK.glob("grocery_train_*.json")
        )
        replace_section(ROOT / "BENCHMARKS.md", "## Grocery training", report(labels))


if __name__ == "__main__":
    main()
