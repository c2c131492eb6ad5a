"""Write a DuckDB query result straight to Parquet, never whole in memory, so it reads back as
`fetch_frame(...).to_parquet(...)` would: DuckDB `COPY`s it to a raw file, rewritten row group
by row group with `.df()`'s types; owner-only from the first byte, renamed into place."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from churnrec.features.fetch import conform, like_df, pandas_file_schema
from churnrec.features.sql import literal
from churnrec.files import owner_only, owner_only_umask, private_dir


def _null_counts(parquet: pq.ParquetFile) -> dict[str, int]:
    """Nulls per column from the row-group statistics DuckDB writes (no data is read)."""
    meta = parquet.metadata
    counts = dict.fromkeys(parquet.schema_arrow.names, 0)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            if stats is None or not stats.has_null_count:
                raise ValueError(f"{column.path_in_schema}: no null count in the raw file")
            counts[column.path_in_schema] += stats.null_count
    return counts


def write_query_parquet(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: dict[str, object] | None,
    path: Path,
) -> int:
    """Write the rows of `query` to the Parquet file `path`; returns how many rows."""
    private_dir(path.parent)
    raw = path.with_name(f".{path.name}.raw")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with owner_only_umask():  # DuckDB and pyarrow create both files 0600
            con.execute(f"COPY ({query}) TO {literal(str(raw))} (FORMAT parquet)", params or None)
            source = pq.ParquetFile(raw)
            num_rows = source.metadata.num_rows
            schema = like_df(source.schema_arrow.empty_table()).schema
            schema = pandas_file_schema(schema, _null_counts(source), num_rows)
            with pq.ParquetWriter(tmp, schema) as writer:
                for g in range(source.num_row_groups):
                    writer.write_table(conform(source.read_row_group(g), schema))
        owner_only(tmp)
        tmp.replace(path)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return num_rows
