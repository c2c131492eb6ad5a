"""Check the BG/NBD and Pareto/NBD baselines against published CDNOW numbers.

Run: `python benchmarks/cdnow_btyd_check.py`. Prints, for the 1/10th sample (calibration weeks
1-39), the fitted parameters, log-likelihoods and holdout expectations; and for the master
file (calibration 1997, holdout 1998-01-01..06-30) the ROC-AUC of P(purchase in the holdout)
for "buys again in the holdout", next to recency and frequency alone.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnrec.columns import CUSTOMER_ID, ORDERED_AT
from churnrec.features.btyd import build_btyd_summary, build_holdout_purchases
from churnrec.features.db import connect_frames
from churnrec.models.bgnbd import BGNBD, BTYDModel
from churnrec.models.paretonbd import ParetoNBD

SAMPLES = Path(__file__).resolve().parents[1] / "churnrec" / "samples" / "cdnow"


def read_sample() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLES / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype=str)
    return pd.DataFrame({CUSTOMER_ID: raw[1], ORDERED_AT: pd.to_datetime(raw[2], format="%Y%m%d")})


def read_master() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLES / "CDNOW_master.txt.gz", sep=r"\s+", dtype=str)
    return pd.DataFrame(
        {CUSTOMER_ID: raw["customer_id"], ORDERED_AT: pd.to_datetime(raw["date"], format="%Y%m%d")}
    )


def evaluate(name: str, orders: pd.DataFrame, as_of: date, holdout_end: date) -> None:
    """Fit both models at `as_of` and score "buys again in (as_of, holdout_end]"."""
    con = connect_frames(orders)
    summary = build_btyd_summary(con, as_of)
    freq, rec, age = summary["frequency"], summary["recency"], summary["T"]
    actual = build_holdout_purchases(con, as_of, holdout_end).reindex(summary.index, fill_value=0)
    bought = (actual > 0).to_numpy()
    horizon = (holdout_end - as_of).days / 7.0
    print(
        f"\n== {name}: {len(summary):,} customers, as_of {as_of}, holdout {horizon * 7:.0f} days; "
        f"{int(freq.sum()):,} repeat purchases in calibration, {int(actual.sum()):,} in holdout, "
        f"{bought.mean():.1%} buy again"
    )
    model: BTYDModel
    for model in (BGNBD(), ParetoNBD()):
        started = time.perf_counter()
        model.fit(freq, rec, age)
        seconds = time.perf_counter() - started
        params = ", ".join(f"{k}={v:.3f}" for k, v in model.params.items())
        prob = model.prob_purchase_within(horizon, freq, rec, age)
        expected = model.expected_purchases(horizon, freq, rec, age).sum()
        print(
            f"{model.KIND:>10}: {params}, LL={model.log_likelihood:.1f}, fit {seconds:.2f}s; "
            f"expected holdout purchases {expected:,.0f}; "
            f"AUC P(buy)={roc_auc_score(bought, prob):.3f}, "
            f"AUC P(alive)={roc_auc_score(bought, model.p_alive(freq, rec, age)):.3f}"
        )
    weeks_since_last = (age - rec).to_numpy()
    print(
        f"{'baselines':>10}: AUC recency (-weeks since last purchase)="
        f"{roc_auc_score(bought, -weeks_since_last):.3f}, "
        f"AUC frequency={roc_auc_score(bought, freq.to_numpy()):.3f}, "
        f"AUC frequency/T={roc_auc_score(bought, (freq / np.maximum(age, 1e-9)).to_numpy()):.3f}"
    )


def main() -> None:
    evaluate("CDNOW sample", read_sample(), date(1997, 9, 30), date(1998, 6, 30))
    evaluate("CDNOW sample, 1997 calibration", read_sample(), date(1997, 12, 31), date(1998, 6, 30))
    evaluate("CDNOW master, 1997 calibration", read_master(), date(1997, 12, 31), date(1998, 6, 30))


if __name__ == "__main__":
    main()
