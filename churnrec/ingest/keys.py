"""Row keys that make re-ingest an update, not a duplicate. An order line's key is which line it
is (md5 of order id | shop line id or item id | occurrence), so a new status updates it; events
have no identity of their own, so their key hashes their content (`content_ids`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from churnrec import columns as C

_NULL = "\u2400"  # stands for a missing value inside a hashed key


def run_sql(table: pa.Table, query: str) -> pa.Table:
    """`query` over `table` (named `t`) in DuckDB: vectorised and multi-threaded."""
    import duckdb

    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.register("t", table)
        return con.sql(query).to_arrow_table()


def _md5(table: pa.Table, query: str, index: pd.Index) -> pd.Series:
    ids = run_sql(table, query).column("line_id").to_pandas()
    return pd.Series(ids.to_numpy(), index=index, dtype="str")


def order_line_ids(
    order_id: pd.Series, item_id: pd.Series, shop_line_id: pd.Series | None = None
) -> pd.Series:
    """Key of each order line (see module docstring); rows without an order id get <NA>."""
    part = "i:" + item_id.fillna(_NULL).astype("str")
    if shop_line_id is not None:
        part = ("l:" + shop_line_id.astype("str")).where(shop_line_id.notna(), part)
    table = pa.table(
        {
            "o": pa.array(order_id.astype("object").where(order_id.notna(), None), pa.string()),
            "p": pa.array(part.astype("object"), pa.string()),
            "_pos": pa.array(np.arange(len(order_id), dtype=np.int64)),
        }
    )
    query = """
        select case when o is null then null else
               md5(o || chr(31) || p || chr(31) ||
                   cast(row_number() over (partition by o, p order by _pos) - 1 as varchar))
               end as line_id
        from t order by _pos
    """
    return _md5(table, query, order_id.index)


def _key_expr(name: str, dtype: pa.DataType) -> str:
    col = f'"{name}"'
    text = (
        f"cast(epoch_us({col}) as varchar)"
        if pa.types.is_timestamp(dtype)
        else f"cast({col} as varchar)"
    )
    return f"coalesce({text}, '{_NULL}')"


def content_ids(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """md5 (hex) of the canonical fields of each row, stable across runs; the n-th copy of
    identical content gets its occurrence mixed in, so it too keeps its id on re-ingest."""
    table = pa.Table.from_pandas(frame[list(columns)], preserve_index=False)
    table = table.append_column("_pos", pa.array(np.arange(len(frame), dtype=np.int64)))
    key = ", ".join(_key_expr(f.name, f.type) for f in table.schema if f.name != "_pos")
    query = f"""
        with keyed as (select _pos, concat_ws(chr(31), {key}) as _key from t),
        numbered as (select _pos, _key,
                            row_number() over (partition by _key order by _pos) - 1 as _n
                     from keyed)
        select md5(case when _n = 0 then _key else _key || chr(30) || cast(_n as varchar) end)
               as line_id
        from numbered order by _pos
    """
    return _md5(table, query, frame.index)


# What an order line says, apart from its key: a re-sent line matches its stored copy on these.
_LINE_CONTENT = (C.CUSTOMER_ID, C.ORDERED_AT, C.ITEM_ID, C.QUANTITY, C.AMOUNT)


def relabelled_lines(
    existing: pd.DataFrame | None, incoming: pd.DataFrame, provided: frozenset[str]
) -> int:
    """How many incoming order lines are stored lines under a new key (a mapping that adds or
    drops an id column re-keys every line): a new key whose content, in the columns both sides
    give, equals a stored line that was not re-sent."""
    if existing is None or existing.empty or incoming.empty:
        return 0
    key = C.LINE_ID
    fresh = incoming[~incoming[key].isin(set(existing[key]))]
    unclaimed = existing[~existing[key].isin(set(incoming[key]))]
    if fresh.empty or unclaimed.empty:
        return 0
    columns = [  # what both sides say: given by this file, and known in the stored lines
        c
        for c in _LINE_CONTENT
        if c in provided and c in unclaimed.columns and unclaimed[c].notna().any()
    ]

    def content(frame: pd.DataFrame) -> pd.Series:
        parts = [frame[c].astype("string").fillna(_NULL) for c in columns]
        return pd.Series(
            pd.util.hash_pandas_object(pd.concat(parts, axis=1), index=False).to_numpy()
        )

    return int(content(fresh).isin(set(content(unclaimed))).sum())
