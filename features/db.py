"""DuckDB connections whose views `orders`, `customers`, `items`, `events` have the canonical
columns, over workspace Parquet or pandas frames. An absent table is an empty view and an absent
column a typed NULL (or its documented default), so queries never ask what exists."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from churnrec import columns as C
from churnrec.features.sql import literal
from churnrec.workspace import Workspace

# Canonical column types, in the order the views expose them.
SCHEMAS: dict[str, dict[str, str]] = {
    C.ORDERS: {
        C.LINE_ID: "VARCHAR",
        C.CUSTOMER_ID: "VARCHAR",
        C.ORDER_ID: "VARCHAR",
        C.ORDERED_AT: "TIMESTAMP",
        C.ITEM_ID: "VARCHAR",
        C.QUANTITY: "DOUBLE",
        C.AMOUNT: "DOUBLE",
        C.CHANNEL: "VARCHAR",
        C.STATUS: "VARCHAR",
        C.IS_RETURN: "BOOLEAN",
    },
    C.CUSTOMERS: {
        C.CUSTOMER_ID: "VARCHAR",
        C.SIGNED_UP_AT: "TIMESTAMP",
        C.REGION: "VARCHAR",
        C.AGE: "DOUBLE",
        C.GENDER: "VARCHAR",
        C.ACQUISITION_CHANNEL: "VARCHAR",
        C.MARKETING_CONSENT: "BOOLEAN",
    },
    C.ITEMS: {
        C.ITEM_ID: "VARCHAR",
        C.CATEGORY: "VARCHAR",
        C.BRAND: "VARCHAR",
        C.PRICE: "DOUBLE",
    },
    C.EVENTS: {
        C.CUSTOMER_ID: "VARCHAR",
        C.OCCURRED_AT: "TIMESTAMP",
        C.EVENT_TYPE: "VARCHAR",
        C.ITEM_ID: "VARCHAR",
        C.SESSION_ID: "VARCHAR",
        C.CHANNEL: "VARCHAR",
    },
}

# What a missing optional orders column means (ARCHITECTURE.md: quantity defaults to 1, an
# absent order id is `customer_id|ordered_at`, a line is not a return unless it says so).
_ORDERS_DEFAULTS: dict[str, str] = {
    C.QUANTITY: "1.0",
    C.ORDER_ID: f"{C.CUSTOMER_ID} || '|' || CAST({C.ORDERED_AT} AS VARCHAR)",
    C.IS_RETURN: "FALSE",
}


def _view_sql(kind: str, source_sql: str | None, present: Iterable[str]) -> str:
    """SELECT exposing the canonical columns of `kind` from `source_sql` (None: empty view)."""
    present = set(present)
    schema = SCHEMAS[kind]
    if source_sql is None:
        cols = ", ".join(f"CAST(NULL AS {typ}) AS {name}" for name, typ in schema.items())
        return f"SELECT {cols} WHERE 1 = 0"
    missing_required = [c for c in C.REQUIRED_COLUMNS[kind] if c not in present]
    if missing_required:
        raise ValueError(f"{kind} table lacks required column(s) {missing_required}: {source_sql}")
    defaults = _ORDERS_DEFAULTS if kind == C.ORDERS else {}
    exprs = []
    for name, typ in schema.items():
        if name in present:
            expr = f"CAST({name} AS {typ})"
            if name in defaults:
                expr = f"COALESCE({expr}, {defaults[name]})"
        else:
            expr = f"CAST({defaults.get(name, 'NULL')} AS {typ})"
        exprs.append(f"{expr} AS {name}")
    return f"SELECT {', '.join(exprs)} FROM {source_sql}"


MEMORY_ENV = "CHURNREC_DUCKDB_MEMORY"
# Share of the machine's RAM DuckDB may hold for workspace queries before it spills to disk.
# DuckDB's own default (80%) leaves too little for the Python process and anything else running
# on a shared machine; a quarter kept 100M order lines within 8 GiB (BENCHMARKS.md).
MEMORY_SHARE = 0.25
_MIN_MEMORY_MIB = 512


def default_memory_limit() -> str:
    """`$CHURNREC_DUCKDB_MEMORY` (e.g. `6GB`) if set, else a quarter of the machine's RAM."""
    configured = os.environ.get(MEMORY_ENV, "").strip()
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return "2GB"
    return f"{max(_MIN_MEMORY_MIB, int(total * MEMORY_SHARE / 2**20))}MB"


def _new_connection(
    threads: int | None, memory_limit: str | None, temp_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database=":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    if temp_directory is not None:
        con.execute(f"SET temp_directory = {literal(str(temp_directory))}")
    # Row order of results is fixed by explicit ORDER BY; not preserving insertion order lets
    # DuckDB stream large aggregations with less memory.
    con.execute("SET preserve_insertion_order = false")
    return con


def process_spill_dir(root: Path) -> Path:
    """This process's spill folder under `root`, named by host and pid."""
    return root / f"{socket.gethostname()}-{os.getpid()}"


def sweep_dead_spill_dirs(root: Path) -> list[Path]:
    """Remove (and return) the spill folders of this host's dead processes: a killed job leaves
    gigabytes behind. Other hosts' folders (a shared mount) are left alone."""
    prefix = f"{socket.gethostname()}-"
    removed = []
    for folder in root.glob(f"{prefix}*") if root.is_dir() else ():
        pid = folder.name[len(prefix) :]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs on this host (leftover temp folders and MLflow runs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def connect(
    workspace: Workspace | str | Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connection with canonical views over the workspace's `data/<kind>.parquet` files, out of
    core: past `memory_limit` DuckDB spills to the workspace's disk, so big histories build."""
    import pyarrow.parquet as pq

    ws = Workspace.at(workspace)
    sweep_dead_spill_dirs(ws.duckdb_temp_dir)
    spill = process_spill_dir(ws.duckdb_temp_dir)
    con = _new_connection(threads, memory_limit or default_memory_limit(), spill)
    views = {kind: (kind, ws.table_path(kind)) for kind in C.TABLE_KINDS}
    guests = ws.table_path(C.GUEST_ORDERS)
    if guests.exists():  # guest lines: read by item-level queries only (features/demand.py)
        views[C.GUEST_ORDERS] = (C.ORDERS, guests)
    for name, (kind, path) in views.items():
        source = f"read_parquet({literal(str(path))})" if path.exists() else None
        names = pq.read_schema(path).names if path.exists() else ()
        con.execute(f"CREATE VIEW {name} AS {_view_sql(kind, source, names)}")
    return con


def connect_frames(
    orders: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    *,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """The same canonical views over in-memory pandas frames (tests, training, notebooks)."""
    con = _new_connection(threads, None)
    frames = {C.ORDERS: orders, C.CUSTOMERS: customers, C.ITEMS: items, C.EVENTS: events}
    for kind, frame in frames.items():
        raw, names = None, ()
        if frame is not None:
            raw, names = f"_raw_{kind}", map(str, frame.columns)
            con.register(raw, frame)
        con.execute(f"CREATE VIEW {kind} AS {_view_sql(kind, raw, names)}")
    return con


def default_as_of(con: duckdb.DuckDBPyConnection) -> date:
    """The date of the last order line (the default cut-off and default `observed_until`)."""
    # fetchall, not fetchone: a half-read result blocks the connection's next `register`
    ((last,),) = con.execute(f"SELECT MAX({C.ORDERED_AT}) FROM {C.ORDERS}").fetchall()
    if last is None:
        raise ValueError("orders table is empty: no order lines, so no default cut-off date")
    return last.date() if isinstance(last, datetime) else last


@contextmanager
def registered_customers(
    con: duckdb.DuckDBPyConnection, name: str, customers: Sequence[str]
) -> Iterator[str]:
    """`customers` as the one-column relation `name` (customer_id) while the block runs."""
    import pyarrow as pa

    con.register(name, pa.table({C.CUSTOMER_ID: pa.array(list(customers), type=pa.string())}))
    try:
        yield name
    finally:
        con.unregister(name)


def restricted(query: str, subset: str) -> str:
    """`query`'s rows of the customers in the relation `subset` (a customer_id column each)."""
    return (
        f"SELECT * FROM ({query}) q "
        f"WHERE q.{C.CUSTOMER_ID} IN (SELECT {C.CUSTOMER_ID} FROM {subset})"
    )
