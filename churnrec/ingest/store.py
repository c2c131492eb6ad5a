"""Merge checked rows into the canonical Parquet tables by key, *column-wise*: a refresh with
fewer columns never wipes the others, and a blank consent keeps the stored one (the last one a
customer gave). Outputs go to temp files moved into place together (recovery.py), owner-only."""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.files import owner_only, owner_only_umask, private_dir
from churnrec.ingest.keys import content_ids, order_line_ids
from churnrec.ingest.manifest import (
    LINE_KEY_VERSION,
    TABLE_RUN_KEY,
    manifest_entry,
    manifest_text,
    read_manifest,
    table_run_id,
)
from churnrec.ingest.quarantine import write_quarantine
from churnrec.ingest.recovery import move_into_place
from churnrec.ingest.validate import (
    KEEP_STORED_ON_BLANK,
    KEY_COLUMN,
    TABLE_COLUMNS,
    id_text,
    is_return,
)
from churnrec.workspace import Workspace

_TYPES: dict[str, pa.DataType] = {  # the rest are strings
    **dict.fromkeys((C.ORDERED_AT, C.SIGNED_UP_AT, C.OCCURRED_AT, C.SENT_AT), pa.timestamp("us")),
    **dict.fromkeys(
        (C.QUANTITY, C.AMOUNT, C.AGE, C.PRICE, C.CONVERTED, C.REVENUE, C.VISITED), pa.float64()
    ),
    **dict.fromkeys((C.IS_RETURN, C.MARKETING_CONSENT, C.AVAILABLE, C.RECOMMENDABLE), pa.bool_()),
}


def new_ingest_id() -> str:
    """Id of one ingest run: sortable by time, unique."""
    return f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def table_schema(kind: str) -> pa.Schema:
    """The canonical Arrow schema of one table kind (ids and labels are strings)."""
    return pa.schema([(name, _TYPES.get(name, pa.string())) for name in TABLE_COLUMNS[kind]])


def _extra_array(values: pd.Series) -> pa.Array:
    """An extra customer attribute: float64 when numeric, else text."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pa.array(values.astype("float64"), pa.float64(), from_pandas=True)
    as_text = values.astype("str").where(values.notna(), None).astype("object")
    return pa.array(as_text, pa.string(), from_pandas=True)


def to_arrow(kind: str, frame: pd.DataFrame, ingest_id: str | None = None) -> pa.Table:
    """The stored form of a table: canonical columns and types, then extra attributes."""
    table = pa.Table.from_pandas(
        frame[list(TABLE_COLUMNS[kind])], schema=table_schema(kind), preserve_index=False
    )
    if kind == C.CUSTOMERS:  # only customers keep the shop's own attributes
        for name in frame.columns:
            if name not in TABLE_COLUMNS[kind]:
                table = table.append_column(str(name), _extra_array(frame[name]))
    if ingest_id is not None:
        table = table.replace_schema_metadata({TABLE_RUN_KEY: ingest_id.encode()})
    return table


def read_existing(workspace: Workspace, kind: str) -> pd.DataFrame | None:
    """The stored table in canonical columns (missing ones as nulls) plus extras, or None."""
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
    if kind == C.CUSTOMERS:
        for name in table.column_names:
            if name not in schema.names:
                frame[name] = table.column(name).to_pandas()
    frame = _canonical_customer_ids(kind, frame)
    entry = read_manifest(workspace).get("tables", {}).get(kind, {})
    foreign = table_run_id(path) is None  # written by an older churnrec or another tool
    if kind == C.ORDERS and (foreign or entry.get("line_key") != LINE_KEY_VERSION):
        # stored by an older churnrec (content-hash ids) or another tool: key lines as now
        frame[C.LINE_ID] = order_line_ids(frame[C.ORDER_ID], frame[C.ITEM_ID]).to_numpy()
    elif KEY_COLUMN[kind] == C.LINE_ID and frame[C.LINE_ID].isna().any():
        content = tuple(c for c in TABLE_COLUMNS[kind] if c != C.LINE_ID)
        frame[C.LINE_ID] = frame[C.LINE_ID].fillna(content_ids(frame, content))
    return frame


def _canonical_customer_ids(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored customer ids by the one id rule, so ids stored before it (`José` in two Unicode
    forms) meet new ones; customers that become one keep the last row, no if either said no."""
    if C.CUSTOMER_ID not in frame.columns:
        return frame
    frame[C.CUSTOMER_ID] = id_text(frame[C.CUSTOMER_ID])
    if kind != C.CUSTOMERS or not frame[C.CUSTOMER_ID].duplicated().any():
        return frame
    consent = frame[C.MARKETING_CONSENT].astype("boolean")
    said_no = consent.eq(False).fillna(False).groupby(frame[C.CUSTOMER_ID]).transform("any")
    frame[C.MARKETING_CONSENT] = consent.mask(said_no.astype(bool), False)
    return frame.drop_duplicates(C.CUSTOMER_ID, keep="last").reset_index(drop=True)


@dataclass
class Merged:
    frame: pd.DataFrame
    rows_new: int
    rows_updated: int
    rows_unchanged: int


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per row: equal values (two missing values are equal), without Python loops."""
    if pd.api.types.is_datetime64_any_dtype(a.dtype) and pd.api.types.is_datetime64_any_dtype(
        b.dtype
    ):
        a_ns = a.to_numpy(dtype="datetime64[us]").view("i8")
        return a_ns == b.to_numpy(dtype="datetime64[us]").view("i8")
    try:
        x, y = pa.array(a, from_pandas=True), pa.array(b, from_pandas=True)
        if x.type != y.type:
            y = y.cast(x.type)
        equal = pc.fill_null(pc.equal(x, y), False)
        both_missing = pc.and_(pc.is_null(x), pc.is_null(y))
        return pc.or_(equal, both_missing).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        x, y = a.astype("object"), b.astype("object")
        both_missing = (x.isna() & y.isna()).to_numpy()
        return (x.to_numpy() == y.to_numpy()) | both_missing


def _align(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every column of `like` (missing ones as nulls of `like`'s type)."""
    for name in like.columns:
        if name not in frame.columns:
            dtype = like[name].dtype
            if pd.api.types.is_bool_dtype(dtype):
                dtype = pd.BooleanDtype()  # plain bool cannot hold "missing"
            frame[name] = pd.Series(None, index=frame.index, dtype=dtype)
    return frame


def merge(
    kind: str,
    existing: pd.DataFrame | None,
    incoming: pd.DataFrame,
    provided: frozenset[str],
) -> Merged:
    """Upsert `incoming` into `existing` by key, column-wise (see module docstring)."""
    key = KEY_COLUMN[kind]
    if existing is None or existing.empty:
        return Merged(incoming.reset_index(drop=True), len(incoming), 0, 0)
    existing = _align(existing.reset_index(drop=True), incoming)
    incoming = _align(incoming.reset_index(drop=True), existing)[list(existing.columns)]
    found = pc.index_in(  # row of each key in the stored table, -1 where it is new
        pa.array(incoming[key], type=pa.string(), from_pandas=True),
        value_set=pa.array(existing[key], type=pa.string(), from_pandas=True),
    )
    positions = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    present = positions >= 0
    old = existing.iloc[positions[present]].reset_index(drop=True)
    fresh = incoming.loc[present].reset_index(drop=True)
    updated = old.copy()
    for name in provided - {key}:
        values = fresh[name]
        if name in KEEP_STORED_ON_BLANK:
            values = values.where(values.notna(), old[name])
        updated[name] = values
    if kind == C.ORDERS:
        updated[C.IS_RETURN] = is_return(updated)
    changed = ~np.logical_and.reduce([_same(old[name], updated[name]) for name in old.columns])
    frame = existing
    if changed.any():
        rows = positions[present][changed]
        frame = existing.copy()
        for name in existing.columns:
            values, column = updated.loc[changed, name], existing[name]
            out = column.astype("object") if column.dtype != values.dtype else column.copy()
            out.iloc[rows] = values.to_numpy(dtype=out.dtype if out.dtype == object else None)
            frame[name] = out
    new_rows = incoming.loc[~present]
    parts = [p for p in (frame, new_rows) if not p.empty]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    n_changed = int(changed.sum())
    return Merged(out, int((~present).sum()), n_changed, int(present.sum()) - n_changed)


def _temp_beside(target: Path, staged: list[tuple[Path, Path]]) -> Path:
    """A temp file beside `target`, staged to be moved onto it."""
    private_dir(target.parent)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    staged.append((Path(name), target))
    return Path(name)


@dataclass
class Pending:
    """One table's outputs, ready to be written (table None: only the quarantine)."""

    kind: str
    table: pd.DataFrame | None
    quarantine: pd.DataFrame
    source: str


def commit(
    workspace: Workspace, pending: list[Pending], ingested_at: datetime, ingest_id: str
) -> None:
    """Write every output to a temp file, then move them all into place (recovery.py)."""
    private_dir(workspace.data_dir)
    private_dir(workspace.quarantine_dir)
    manifest = read_manifest(workspace)
    tables = manifest.setdefault("tables", {})
    staged: list[tuple[Path, Path]] = []
    try:
        with owner_only_umask():  # each temp file is 0600 from its first byte
            for item in pending:
                if item.table is not None:
                    target = workspace.table_path(item.kind)
                    tmp = _temp_beside(target, staged)
                    pq.write_table(to_arrow(item.kind, item.table, ingest_id), tmp)
                    owner_only(tmp)
                    previous = tables.get(item.kind, {}).get("sources", [])
                    sources = list(dict.fromkeys([*previous, item.source]))
                    extras = [c for c in item.table.columns if c not in TABLE_COLUMNS[item.kind]]
                    tables[item.kind] = manifest_entry(
                        item.kind, item.table, sources, ingest_id, extras
                    )
                target = workspace.quarantine_path(item.kind)
                if item.kind == C.GUEST_ORDERS:  # their file's quarantine is the orders'
                    continue
                if len(item.quarantine) or not target.exists():
                    tmp = _temp_beside(target, staged)
                    write_quarantine(target, tmp, item.quarantine, ingest_id, ingested_at)
            if any(item.table is not None for item in pending):
                manifest["ingested_at"] = ingested_at.isoformat()
                manifest["ingest_id"] = ingest_id
                tmp = _temp_beside(workspace.manifest_path, staged)
                tmp.write_text(manifest_text(manifest))
                owner_only(tmp)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    move_into_place(workspace, staged)
