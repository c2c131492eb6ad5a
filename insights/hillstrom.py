"""The Hillstrom e-mail experiment (MineThatData 2008) as churnrec campaign and customer tables.

A stop-gap loader for tests and benchmarks until ingest's `--sample hillstrom` is merged: it
turns the one CSV into the campaigns contract (`customer_id`, `campaign_id`, `arm`, `sent_at`,
`converted`, `revenue`, `visited`) and a customers table of the pre-period attributes
(`recency` in months, `history` in $, `mens`, `womens`, `zip_code`, `newbie`, `channel` as
`hillstrom_channel`). The row number (1-based, zero-padded) is the customer id; the file has no
send date, so a fixed one is used.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C

DEFAULT_PATH = Path("/work/shared/datasets/hillstrom/hillstrom_email.csv.gz")
CAMPAIGN = "hillstrom-2008"
CONTROL = "No E-Mail"
SENT_AT = datetime(2008, 3, 1)
ATTRIBUTES = ("recency", "history", "mens", "womens", "zip_code", "newbie", "hillstrom_channel")


def load_hillstrom(path: Path | str = DEFAULT_PATH) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(campaign rows, customer attributes), one row per customer in the file's order."""
    raw = pd.read_csv(path)
    missing = {"segment", "visit", "conversion", "spend", "history"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path} lacks Hillstrom column(s) {sorted(missing)}")
    ids = pd.Series([f"H{i:05d}" for i in range(1, len(raw) + 1)], dtype="string")
    campaigns = pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CAMPAIGN_ID: CAMPAIGN,
            C.ARM: raw["segment"].astype(str),
            C.SENT_AT: pd.Timestamp(SENT_AT),
            C.CONVERTED: raw["conversion"].astype("float64"),
            C.REVENUE: raw["spend"].astype("float64"),
            C.VISITED: raw["visit"].astype("float64"),
        }
    )
    customers = pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            "recency": raw["recency"].astype("float64"),
            "history": raw["history"].astype("float64"),
            "mens": raw["mens"].astype("float64"),
            "womens": raw["womens"].astype("float64"),
            "zip_code": raw["zip_code"].astype(str),
            "newbie": raw["newbie"].astype("float64"),
            "hillstrom_channel": raw["channel"].astype(str),
        }
    )
    return campaigns, customers
