"""`data/manifest.json`: what is stored, so later stages need not read the tables. Entries carry
the `ingest_id` that the table's Parquet metadata also holds (`TABLE_RUN_KEY`), so a manifest out
of step with its tables (a crash between the two) is detectable (recovery.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.workspace import Workspace

TABLE_RUN_KEY = b"churnrec_ingest_id"
LINE_KEY_VERSION = "order_line_v2"  # orders keyed by order line (keys.py), not by content


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def manifest_entry(
    kind: str,
    frame: pd.DataFrame,
    sources: list[str],
    ingest_id: str | None = None,
    extra_columns: list[str] | None = None,
) -> dict[str, Any]:
    """What later stages need to know about one stored table without reading it."""
    entry: dict[str, Any] = {"rows": len(frame), "sources": sources, "ingest_id": ingest_id}

    def has(name: str) -> bool:
        return name in frame.columns and bool(frame[name].notna().any())

    if kind == C.ORDERS:
        entry.update(
            has_monetary=has(C.AMOUNT),
            has_item_ids=has(C.ITEM_ID),
            has_channel=has(C.CHANNEL),
            has_status=has(C.STATUS),
            customers=int(frame[C.CUSTOMER_ID].nunique()),
            min_ordered_at=_iso(frame[C.ORDERED_AT].min()),
            max_ordered_at=_iso(frame[C.ORDERED_AT].max()),
            line_key=LINE_KEY_VERSION,
        )
    elif kind == C.CUSTOMERS:
        entry.update({f"has_{name}": has(name) for name in C.OPTIONAL_COLUMNS[C.CUSTOMERS]})
        entry["extra_columns"] = list(extra_columns or [])
    elif kind == C.ITEMS:
        entry.update(has_category=has(C.CATEGORY), has_brand=has(C.BRAND), has_price=has(C.PRICE))
    elif kind == C.EVENTS:
        entry.update(
            has_item_ids=has(C.ITEM_ID),
            has_session_ids=has(C.SESSION_ID),
            has_channel=has(C.CHANNEL),
            event_types=sorted(frame[C.EVENT_TYPE].dropna().unique().tolist()),
            min_occurred_at=_iso(frame[C.OCCURRED_AT].min()),
            max_occurred_at=_iso(frame[C.OCCURRED_AT].max()),
        )
    elif kind == C.CAMPAIGNS:
        entry.update(
            campaigns=sorted(frame[C.CAMPAIGN_ID].dropna().unique().tolist()),
            arms=sorted(frame[C.ARM].dropna().unique().tolist()),
            has_converted=has(C.CONVERTED),
            has_revenue=has(C.REVENUE),
            has_visited=has(C.VISITED),
        )
    return entry


def read_manifest(workspace: Workspace) -> dict[str, Any]:
    path = workspace.manifest_path
    return json.loads(path.read_text()) if path.exists() else {"tables": {}}


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2) + "\n"


def table_run_id(path: Path) -> str | None:
    """The ingest_id stored in a table's Parquet metadata (None for files from elsewhere)."""
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(TABLE_RUN_KEY)
    return value.decode() if value is not None else None
