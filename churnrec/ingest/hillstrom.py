"""The Hillstrom e-mail experiment (MineThatData, 2008), not bundled (`CHURNREC_HILLSTROM` or
`shared/datasets/hillstrom/`): per row a customer (consent yes), one past order (`history`,
`recency` months before) and a campaign row, all through the same row rules as a shop file."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.ingest.errors import IngestError
from churnrec.ingest.mapping import kind_columns
from churnrec.ingest.options import ReadOptions
from churnrec.ingest.pipeline import ingest_raw
from churnrec.ingest.readers import RawTable
from churnrec.ingest.summary import IngestSummary
from churnrec.workspace import Workspace

ENV_VAR = "CHURNREC_HILLSTROM"
FILE_NAME = "hillstrom_email.csv.gz"
SHARED_DIR = Path("shared") / "datasets" / "hillstrom"
CAMPAIGN_ID = "hillstrom_2008_03"
SENT_AT = pd.Timestamp("2008-03-01")
ARMS = {"Mens E-Mail": "mens_email", "Womens E-Mail": "womens_email", "No E-Mail": "control"}
ATTRIBUTES = ("recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie")
ATTRIBUTES += ("channel",)


def hillstrom_path() -> Path:
    """Where the file is; IngestError saying where it was looked for when it is nowhere."""
    given = os.environ.get(ENV_VAR)
    if given:
        path = Path(given)
        path = path / FILE_NAME if path.is_dir() else path
        if path.is_file():
            return path
        raise IngestError(f"{ENV_VAR}={given}: no file {FILE_NAME} there")
    folders = [parent / SHARED_DIR for parent in [Path.cwd(), *Path(__file__).resolve().parents]]
    for folder in folders:
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    raise IngestError(
        f"the Hillstrom sample ({FILE_NAME}) is not bundled and was not found; set {ENV_VAR} "
        f"to the file or its folder. Looked in: {', '.join(dict.fromkeys(map(str, folders)))}"
    )


def _tables(source: str, raw: pd.DataFrame) -> list[tuple[RawTable, dict[str, str]]]:
    ids = pd.Series(range(1, len(raw) + 1), dtype="int64").astype("str")
    customers = raw[list(ATTRIBUTES)].astype("str").copy()
    customers.insert(0, C.CUSTOMER_ID, ids)
    customers[C.MARKETING_CONSENT] = "yes"
    months = pd.to_numeric(raw["recency"]).astype("int64")
    by_months = {m: SENT_AT - pd.DateOffset(months=int(m)) for m in months.unique()}
    orders = pd.DataFrame(
        {
            C.ORDER_ID: "past-" + ids,
            C.CUSTOMER_ID: ids,
            C.ORDERED_AT: months.map(by_months).dt.strftime("%Y-%m-%d"),
            C.AMOUNT: raw["history"].astype("str"),
        }
    )
    arm = raw["segment"].map(ARMS)
    campaigns = pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CAMPAIGN_ID: CAMPAIGN_ID,
            C.ARM: arm.where(arm.notna(), raw["segment"]),
            C.SENT_AT: SENT_AT.strftime("%Y-%m-%d"),
            C.CONVERTED: raw["conversion"].astype("str"),
            C.REVENUE: raw["spend"].astype("str"),
            C.VISITED: raw["visit"].astype("str"),
        }
    )
    out = []
    for kind, frame in ((C.CUSTOMERS, customers), (C.ORDERS, orders), (C.CAMPAIGNS, campaigns)):
        cols = {c: c for c in frame.columns if c in kind_columns(kind)}
        out.append((RawTable(kind, f"{source} ({kind})", frame.reset_index(drop=True)), cols))
    return out


def ingest_hillstrom(workspace: Workspace, *, now: datetime | None = None) -> IngestSummary:
    """Convert and ingest the Hillstrom file (see module docstring)."""
    path = hillstrom_path()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return ingest_raw(workspace, _tables(str(path), raw), options=ReadOptions(), now=now)
