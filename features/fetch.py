"""Query results as pandas frames with the dtypes of DuckDB's `.df()`, fetched through Arrow:
`.df()` is single-threaded and builds Python strings (a third of a 1M-row snapshot's time);
where Arrow's dtypes differ (nullable ints, DATE, DECIMAL, all-NULL text) they are mapped back."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _arrow_column(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """DATE -> timestamp[us] and DECIMAL -> double, as `.df()` converts them."""
    if pa.types.is_date(array.type):
        return pc.cast(array, pa.timestamp("us"))
    if pa.types.is_decimal(array.type):
        return pc.cast(array, pa.float64())
    return array


def like_df(table: pa.Table) -> pa.Table:
    """`table` with the Arrow types `.df()` would give its columns (see `_arrow_column`)."""
    return pa.table([_arrow_column(c) for c in table.columns], names=table.column_names)


def _dtype_override(arrow_type: pa.DataType, null_count: int, num_rows: int) -> object | None:
    """The `.df()` dtype where plain Arrow `to_pandas` differs from it (None: no difference)."""
    if arrow_type in _NULLABLE and null_count:
        return _NULLABLE[arrow_type]
    if pa.types.is_string(arrow_type) and null_count == num_rows:
        return object
    return None


def to_frame(table: pa.Table) -> pd.DataFrame:
    """pandas frame of an Arrow query result, with `.df()`'s dtypes (see the module doc)."""
    table = like_df(table)
    frame = table.to_pandas()
    for i, array in enumerate(table.columns):
        dtype = _dtype_override(array.type, array.null_count, table.num_rows)
        if dtype is object:
            frame.isetitem(i, pd.Series([None] * table.num_rows, dtype=object))
        elif dtype is not None:
            frame.isetitem(i, array.to_pandas(types_mapper=_NULLABLE.get))
    return frame


def pandas_file_schema(schema: pa.Schema, null_counts: dict[str, int], num_rows: int) -> pa.Schema:
    """The schema of the file `to_frame(result).to_parquet(path, index=False)` would write,
    for a result written in pieces (each with `conform`): its pandas metadata restores
    `to_frame`'s dtypes. `null_counts` are the whole result's nulls per column."""
    frame = schema.empty_table().to_pandas()
    fields = list(schema)
    for i, field in enumerate(schema):
        dtype = _dtype_override(field.type, null_counts.get(field.name, 0), num_rows)
        if dtype is object:
            fields[i] = pa.field(field.name, pa.null())
        if dtype is not None:
            frame.isetitem(i, frame.iloc[:, i].astype(dtype))
    metadata = pa.Schema.from_pandas(frame, preserve_index=False).metadata[b"pandas"]
    return pa.schema(fields, metadata={b"pandas": metadata})


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A piece of a result, with `like_df` types, in the `pandas_file_schema` of the whole."""
    table = like_df(table)
    columns = [
        pa.nulls(table.num_rows) if field.type == pa.null() else table.column(i)
        for i, field in enumerate(schema)
    ]
    return pa.table(columns, schema=schema)


def fetch_frame(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, object] | None = None
) -> pd.DataFrame:
    """Run `query` and return its rows as `.df()` would, through Arrow (faster on big results)."""
    return to_frame(con.sql(query, params=params or None).to_arrow_table())
