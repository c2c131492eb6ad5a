"""The customer snapshot on PySpark, from the one SQL source in `features/sql.py` (translated by
sqlglot, cut-off inlined) and read back through `fetch.to_frame`, so both engines give the same
frame. `SESSION_CONF` makes Spark agree with DuckDB (naive timestamps, UTC, x / 0 is NULL)."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from churnrec import columns as C
from churnrec.features import sql
from churnrec.features.db import _view_sql
from churnrec.features.fetch import to_frame
from churnrec.features.snapshot import LINES_TABLE, as_date, channel_columns
from churnrec.workspace import Workspace

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"

SESSION_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


class SparkUnavailableError(RuntimeError):
    """PySpark (or Java) is not installed where `--engine spark` was asked for."""


def spark_session(master: str = DEFAULT_MASTER, conf: dict[str, str] | None = None) -> SparkSession:
    """A Spark session with the settings above (`conf` adds or overrides, e.g. memory)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SparkUnavailableError(
            "--engine spark needs PySpark: pip install 'churnrec[spark]' (and Java 17+)"
        ) from exc
    builder = SparkSession.builder.master(master).appName("churnrec-features")
    # Local runs start with a few shuffle partitions (`fit_local_partitions` raises them to the
    # input's size); a cluster keeps its spark-defaults value.
    local = {}
    if master.startswith("local") and "spark.sql.shuffle.partitions" not in (conf or {}):
        local = {"spark.sql.shuffle.partitions": "2", _FIT_PARTITIONS: "true"}
    for key, value in {**SESSION_CONF, **local, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


_FIT_PARTITIONS = "spark.churnrec.fitShufflePartitions"  # set when the count is ours to choose
LOCAL_BYTES_PER_PARTITION = 32 * 2**20  # of Parquet input: ~150 MiB of rows once decoded
MAX_LOCAL_PARTITIONS = 400


def local_shuffle_partitions(data_root: str | Path) -> int:
    """Shuffle partitions for a local session: one per 32 MiB of orders Parquet, at least 2 (a
    fixed 2 put 5 GB of 100M order lines into each shuffle task, sorted and spilled whole)."""
    path = Path(str(data_root)) / f"{C.ORDERS}.parquet"
    if "://" in str(data_root) or not path.exists():
        return 2
    files = [path] if path.is_file() else list(path.rglob("*.parquet"))
    size = sum(f.stat().st_size for f in files)
    return int(min(MAX_LOCAL_PARTITIONS, max(2, size // LOCAL_BYTES_PER_PARTITION)))


def fit_local_partitions(spark: SparkSession, data_root: str | Path) -> None:
    """Set a local session's shuffle partitions from the input size, unless they were chosen
    (a `conf` value given to `spark_session`, or a session made elsewhere)."""
    if spark.conf.get(_FIT_PARTITIONS, "false") == "true":
        spark.conf.set("spark.sql.shuffle.partitions", str(local_shuffle_partitions(data_root)))


def _literal(value: object) -> str:
    """A bind value as a DuckDB literal (the text is translated to Spark afterwards)."""
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return sql.literal(str(value))


def inline_params(query: str, params: dict[str, object]) -> str:
    """`query` with each `$name` marker replaced by its value as a literal."""
    for name in sorted(params, key=len, reverse=True):  # $start_30 before $start
        query = re.sub(rf"\${name}\b", lambda _m, v=params[name]: _literal(v), query)
    leftover = re.search(r"\$[A-Za-z_]\w*", query)
    if leftover:
        raise ValueError(f"no value for parameter {leftover.group(0)} in the query")
    return query


def to_spark_sql(query: str, params: dict[str, object] | None = None) -> str:
    """The DuckDB query text of `features/sql.py`, parameters inlined, as Spark SQL."""
    import sqlglot

    (translated,) = sqlglot.transpile(
        inline_params(query, params or {}),
        read="duckdb",
        write="spark",
        unsupported_level=sqlglot.ErrorLevel.RAISE,
    )
    return translated


def register_views(spark: SparkSession, data_root: str | Path) -> None:
    """Temp views with the canonical columns over `data_root`'s `<kind>.parquet` (a folder or a
    URI): the SELECTs of `features.db` translated, so defaults and casts are the same."""
    root = str(data_root).rstrip("/")
    for kind in C.TABLE_KINDS:
        path = f"{root}/{kind}.parquet"
        if "://" in path or Path(path).exists():  # a URI (s3a://, hdfs://) is assumed to exist
            raw = f"_raw_{kind}"
            spark.read.parquet(path).createOrReplaceTempView(raw)
            view = _view_sql(kind, raw, spark.table(raw).columns)
        else:
            view = _view_sql(kind, None, ())
        spark.sql(to_spark_sql(view)).createOrReplaceTempView(kind)


def _rows(spark: SparkSession, query: str, params: dict[str, object] | None = None) -> list:
    return spark.sql(to_spark_sql(query, params)).collect()


def snapshot_dataframe(spark: SparkSession, as_of: date) -> tuple[object, bool]:
    """The snapshot at T as a Spark DataFrame (lazy) and whether it has monetary columns."""
    params = sql.cutoff_params(as_of)
    monetary = bool(_rows(spark, sql.has_monetary_sql(), params))
    lines = spark.sql(to_spark_sql(sql.history_sql(), params)).cache()
    lines.createOrReplaceTempView(LINES_TABLE)
    channels = channel_columns(_rows(spark, sql.channels_sql(LINES_TABLE)))
    with_attributes = bool(spark.sql(f"SELECT 1 FROM {C.CUSTOMERS} LIMIT 1").collect())
    query = sql.snapshot_sql(
        channels, has_monetary=monetary, with_customer_attributes=with_attributes, lines=LINES_TABLE
    )
    return spark.sql(to_spark_sql(query, params)), monetary


def build_customer_snapshot_spark(
    workspace: Workspace | str | Path,
    as_of: date | str,
    *,
    master: str = DEFAULT_MASTER,
    spark: SparkSession | None = None,
    data_root: str | Path | None = None,
) -> pd.DataFrame:
    """`snapshot.build_customer_snapshot` on Spark, written to a scratch Parquet folder and read
    back, so the driver never collects rows through Python."""
    ws = Workspace.at(workspace)
    as_of = as_date(as_of)
    session = spark or spark_session(master)
    fit_local_partitions(session, data_root or ws.data_dir)
    register_views(session, data_root or ws.data_dir)
    frame, monetary = snapshot_dataframe(session, as_of)
    ws.features_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".spark-", dir=ws.features_dir))
    try:
        out = scratch / "customer_snapshot.parquet"
        frame.write.mode("overwrite").parquet(str(out))
        snapshot = to_frame(pq.read_table(str(out)).sort_by(C.CUSTOMER_ID))  # DuckDB's dtypes
    finally:
        session.catalog.dropTempView(LINES_TABLE)
        session.catalog.clearCache()
        shutil.rmtree(scratch, ignore_errors=True)
    snapshot.attrs["has_monetary"] = monetary
    return snapshot
