"""Merge checked rows into the workspace's canonical Parquet tables, all or nothing.

Orders and events are merged by `line_id` (a content hash), so re-ingesting a file adds
nothing; customers and items by their id, the last write winning. Every output (tables,
quarantine files, manifest) is first written to a temporary file next to its target and only
then moved into place with `os.replace`; the manifest moves last.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.ingest.validate import KEY_COLUMN, TABLE_COLUMNS, line_ids
from churnrec.workspace import Workspace

_TS = pa.timestamp("us")
_TYPES: dict[str, pa.DataType] = {
    C.ORDERED_AT: _TS,
    C.SIGNED_UP_AT: _TS,
    C.OCCURRED_AT: _TS,
    C.QUANTITY: pa.float64(),
    C.AMOUNT: pa.float64(),
    C.AGE: pa.float64(),
    C.PRICE: pa.float64(),
    C.IS_RETURN: pa.bool_(),
    C.MARKETING_CONSENT: pa.bool_(),
}


def table_schema(kind: str) -> pa.Schema:
    """The canonical Arrow schema of one table kind (ids and labels are strings)."""
    return pa.schema([(name, _TYPES.get(name, pa.string())) for name in TABLE_COLUMNS[kind]])


def to_arrow(kind: str, frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(
        frame[list(TABLE_COLUMNS[kind])], schema=table_schema(kind), preserve_index=False
    )


def read_existing(workspace: Workspace, kind: str) -> pd.DataFrame | None:
    """The stored table in canonical columns (missing columns as nulls), or None."""
    path = workspace.table_path(kind)
    if not path.exists():
        return None
    table = pq.read_table(path)
    schema = table_schema(kind)
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    frame = pa.Table.from_arrays(columns, schema=schema).to_pandas()
    if KEY_COLUMN[kind] == C.LINE_ID and frame[C.LINE_ID].isna().any():  # written by another tool
        content = tuple(c for c in TABLE_COLUMNS[kind] if c != C.LINE_ID)
        frame[C.LINE_ID] = frame[C.LINE_ID].fillna(line_ids(frame, content))
    return frame


def _isin(values: pd.Series, universe: pd.Series) -> np.ndarray:
    """Vectorised membership of string keys (pandas' str isin loops in Python)."""
    hit = pc.is_in(
        pa.array(values, type=pa.string()),
        value_set=pa.array(universe.dropna().unique(), type=pa.string()),
    )
    return hit.fill_null(False).to_numpy(zero_copy_only=False)


@dataclass
class Merged:
    frame: pd.DataFrame
    rows_new: int
    rows_already_present: int


def merge(kind: str, existing: pd.DataFrame | None, incoming: pd.DataFrame) -> Merged:
    """Add incoming rows to the stored ones; counts say which rows were already there."""
    key = KEY_COLUMN[kind]
    if existing is None or existing.empty:
        return Merged(incoming.reset_index(drop=True), len(incoming), 0)
    present = _isin(incoming[key], existing[key])
    n_present = int(present.sum())
    if key == C.LINE_ID:
        parts = [existing, incoming.loc[~present]]
    else:  # last write wins for customers and items
        parts = [existing.loc[~_isin(existing[key], incoming[key])], incoming]
    parts = [p for p in parts if not p.empty]
    frame = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    return Merged(frame, len(incoming) - n_present, n_present)


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def manifest_entry(kind: str, frame: pd.DataFrame, sources: list[str]) -> dict[str, Any]:
    """What later stages need to know about one stored table without reading it."""
    entry: dict[str, Any] = {"rows": len(frame), "sources": sources}

    def has(name: str) -> bool:
        return bool(frame[name].notna().any())

    if kind == C.ORDERS:
        entry.update(
            has_monetary=has(C.AMOUNT),
            has_item_ids=has(C.ITEM_ID),
            has_channel=has(C.CHANNEL),
            has_status=has(C.STATUS),
            customers=int(frame[C.CUSTOMER_ID].nunique()),
            min_ordered_at=_iso(frame[C.ORDERED_AT].min()),
            max_ordered_at=_iso(frame[C.ORDERED_AT].max()),
        )
    elif kind == C.CUSTOMERS:
        entry.update({f"has_{name}": has(name) for name in C.OPTIONAL_COLUMNS[C.CUSTOMERS]})
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
    return entry


def read_manifest(workspace: Workspace) -> dict[str, Any]:
    path = workspace.manifest_path
    return json.loads(path.read_text()) if path.exists() else {"tables": {}}


def _temp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


@dataclass
class Pending:
    """One table's outputs, ready to be written."""

    kind: str
    table: pd.DataFrame
    quarantine: pd.DataFrame
    source: str


def commit(workspace: Workspace, pending: list[Pending], ingested_at: datetime) -> None:
    """Write every output to a temp file, then move them all into place, manifest last."""
    manifest = read_manifest(workspace)
    tables = manifest.setdefault("tables", {})
    staged: list[tuple[Path, Path]] = []
    try:
        for item in pending:
            tmp = _temp_beside(workspace.table_path(item.kind))
            staged.append((tmp, workspace.table_path(item.kind)))
            pq.write_table(to_arrow(item.kind, item.table), tmp)
            tmp = _temp_beside(workspace.quarantine_path(item.kind))
            staged.append((tmp, workspace.quarantine_path(item.kind)))
            item.quarantine.to_csv(tmp, index=False)
            previous = tables.get(item.kind, {}).get("sources", [])
            sources = list(dict.fromkeys([*previous, item.source]))
            tables[item.kind] = manifest_entry(item.kind, item.table, sources)
        manifest["ingested_at"] = ingested_at.isoformat()
        tmp = _temp_beside(workspace.manifest_path)
        staged.append((tmp, workspace.manifest_path))
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
