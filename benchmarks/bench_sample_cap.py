"""Benchmark: validation quality and fit time of the churn and repurchase learners per sample cap.

    .venv/bin/python benchmarks/bench_sample_cap.py                       # 1M-customer shop
    .venv/bin/python benchmarks/bench_sample_cap.py --customers 100000 --caps 10000 50000

Picks the default of `churnrec.settings.TRAIN_CUSTOMERS_PER_CUTOFF` on *validation* (never the
holdout): the shop of `bench_training.py` (reused from benchmarks/_work/), each job's default
plan, its training frames sampled at the largest cap exactly as the job samples them, smaller
caps drawn from those rows (a uniform sample of a uniform sample). Churn: BG/NBD features as in
the job, then LightGBM and XGBoost with the default config, early-stopped and calibrated on the
validation cut-off; validation ROC-AUC. Repurchase: the AFT model early-stopped on the
validation cut-off; validation concordance of its median days. Fit seconds are wall and CPU
(user+sys) of this process. Results replace the `## Training sample size` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine_line, replace_section

SECTION = "## Training sample size"


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _capped(train, cap: int, seed: int):
    """Each cut-off's rows sampled to `cap` customers (`training.datasets.sample_customers`)."""
    import pandas as pd

    from churnrec import columns as C
    from churnrec.training.datasets import sample_customers

    parts = []
    for i, (_, rows) in enumerate(train.groupby(C.AS_OF, sort=True)):
        keep = set(sample_customers(rows[C.CUSTOMER_ID].tolist(), cap, seed + i))
        parts.append(rows[rows[C.CUSTOMER_ID].isin(keep)].reset_index(drop=True))
    return pd.concat(parts, ignore_index=True)


def churn_rows(con, caps: list[int]) -> list[dict]:
    from sklearn.metrics import roc_auc_score

    from churnrec import columns as C
    from churnrec.models.churn import ChurnModel
    from churnrec.training.churn import ChurnTrainConfig, add_btyd_features
    from churnrec.training.datasets import build_training_frames, data_span, model_feature_columns
    from churnrec.training.splits import plan_cutoffs

    config = ChurnTrainConfig()
    first, last = data_span(con)
    plan = plan_cutoffs(
        first,
        last,
        config.horizon_days,
        n_train_cutoffs=config.n_train_cutoffs,
        step_days=config.step_days,
    )
    frames = build_training_frames(
        con, plan, max_customers_per_cutoff=max(caps), seed=config.model.seed
    )
    frames, btyd, _ = add_btyd_features(
        frames, config.btyd_features, plan.horizon_days, config.btyd_fit_customers
    )
    features = [f for f in model_feature_columns(frames.train) if f in frames.holdout.columns]
    valid = frames.validation
    y = valid[C.CHURNED].to_numpy(dtype="float64")
    rows = []
    for cap in sorted(caps):
        train = _capped(frames.train, cap, config.model.seed)
        for learner in config.model.learners:
            model, wall, cpu = _timed(
                lambda train=train, learner=learner: ChurnModel().fit(
                    train, features, config.model, learner, btyd=btyd, valid_frame=valid
                )
            )
            auc = roc_auc_score(y, model.predict_proba(valid, derive_btyd=False))
            rows.append(
                {
                    "job": f"churn {learner}",
                    "cap": cap,
                    "rows": len(train),
                    "metric": f"ROC-AUC {auc:.4f}",
                    "wall": wall,
                    "cpu": cpu,
                    "note": f"{model.best_iteration} trees",
                }
            )
            print(rows[-1], flush=True)
    return rows


def repurchase_rows(con, caps: list[int]) -> list[dict]:
    from churnrec import columns as C
    from churnrec.models.repurchase import RepurchaseModel
    from churnrec.training import survival_metrics as sm
    from churnrec.training.datasets import model_feature_columns, planned_frames
    from churnrec.training.job import splitter
    from churnrec.training.repurchase import RepurchaseTrainConfig

    config = RepurchaseTrainConfig()
    frames = planned_frames(
        con,
        splitter(config),
        "repurchase",
        max_customers_per_cutoff=max(caps),
        seed=config.model.seed,
    )
    holdout_features = set(model_feature_columns(frames.holdout))
    features = [f for f in model_feature_columns(frames.train) if f in holdout_features]
    valid = frames.validation
    t = valid[C.DAYS_TO_NEXT_ORDER].to_numpy(dtype=float)
    cens = valid[C.CENSORED].to_numpy(dtype=bool)
    rows = []
    for cap in sorted(caps):
        train = _capped(frames.train, cap, config.model.seed)
        model, wall, cpu = _timed(
            lambda train=train: RepurchaseModel.fit(train, features, config.model, valid)
        )
        c = sm.concordance_index(t, model.median_days(valid), cens)
        rows.append(
            {
                "job": "repurchase AFT",
                "cap": cap,
                "rows": len(train),
                "metric": f"concordance {c:.4f}",
                "wall": wall,
                "cpu": cpu,
                "note": f"{model.n_trees} trees",
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--caps", nargs="+", type=int, default=[50_000, 100_000, 200_000])
    parser.add_argument("--jobs", nargs="+", choices=["churn", "repurchase"], default=None)
    parser.add_argument("--no-write", action="store_true", help="print, do not edit BENCHMARKS.md")
    args = parser.parse_args()

    from bench_training import ensure_workspace

    from churnrec.features.db import connect
    from churnrec.workspace import Workspace

    started, load = datetime.now(), os.getloadavg()
    root, _ = ensure_workspace(args.customers)
    con = connect(Workspace.at(root))
    rows: list[dict] = []
    jobs = args.jobs or ["churn", "repurchase"]
    if "churn" in jobs:
        rows += churn_rows(con, args.caps)
    if "repurchase" in jobs:
        rows += repurchase_rows(con, args.caps)
    con.close()
    body = [
        (
            f"`benchmarks/bench_sample_cap.py`, run {started:%Y-%m-%d %H:%M} on: {machine_line()}; "
            f"load average at the start: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (shared "
            "machine: wall times carry its load, CPU seconds much less)."
        ),
        "",
        "Command: `" + " ".join(["python benchmarks/bench_sample_cap.py", *sys.argv[1:]]) + "`",
        "",
        (
            f"Shop of `bench_training.py` ({args.customers:,} generated customers), default job "
            "configs; training rows sampled per training cut-off to the cap; every number is on the "
            "validation cut-off (all its customers), not the holdout."
        ),
        "",
        (
            "| learner | customers per cut-off | train rows | validation | fit wall (s) | fit CPU (s) "
            "| |"
        ),
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        body.append(
            f"| {r['job']} | {r['cap']:,} | {r['rows']:,} | {r['metric']} | {r['wall']:.1f} | "
            f"{r['cpu']:.1f} | {r['note']} |"
        )
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", SECTION, text)
        print(f"wrote {SECTION} to BENCHMARKS.md")


if __name__ == "__main__":
    main()
