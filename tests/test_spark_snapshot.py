"""The Spark engine gives the DuckDB snapshot, column by column, from the same SQL source.

Spark runs in local mode (`local[2]`, one session for the module). Two workspaces: the bundled
CDNOW sample (prices, no items/channels/events) and a generated shop with returns, channels,
categories, customer attributes and clickstream events.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")

from churnrec.cli import app
from churnrec.features.db import connect
from churnrec.features.snapshot import build_customer_snapshot
from churnrec.features.spark import (
    build_customer_snapshot_spark,
    spark_session,
    to_spark_sql,
)
from churnrec.synthetic import ShopConfig
from churnrec.workspace import Workspace
from tests.generated_shop import ingested_shop

# a JVM per worker and CDNOW through Spark: run by .ci/run (`make test-heavy`), not `make test`
pytestmark = [pytest.mark.timeout(600), pytest.mark.heavy]


@pytest.fixture(scope="module")
def spark():
    # Tiny tables: compiling generated code costs more than it saves (the CLI test keeps it on).
    session = spark_session(
        "local[2]",
        {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("cdnow")
    result = CliRunner().invoke(app, ["ingest", "--sample", "cdnow", "--workspace", str(root)])
    assert result.exit_code == 0, result.output
    return Workspace.at(root)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    config = ShopConfig(n_customers=400, n_items=80, seed=5, return_rate=0.15)
    return ingested_shop(tmp_path_factory.mktemp("shop"), config)


def assert_same_snapshot(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    """Same customers in the same order, same columns, same dtypes, values within 1e-9."""
    assert list(spark.columns) == list(duck.columns)
    assert len(spark) == len(duck) > 0
    for name in duck.columns:
        left, right = duck[name], spark[name]
        assert right.dtype == left.dtype, f"{name}: {right.dtype} != {left.dtype}"
        if pd.api.types.is_float_dtype(left):
            pd.testing.assert_series_equal(right, left, check_exact=False, rtol=1e-9, atol=1e-9)
        else:
            pd.testing.assert_series_equal(right, left, check_exact=True)


def test_cdnow_snapshot_is_the_same_on_spark(spark, cdnow: Workspace) -> None:
    as_of = date(1997, 9, 30)
    duck = build_customer_snapshot(connect(cdnow), as_of)
    on_spark = build_customer_snapshot_spark(cdnow, as_of, spark=spark)
    assert len(duck) == 2357
    assert on_spark.attrs["has_monetary"] is True
    assert_same_snapshot(duck, on_spark)


def test_generated_shop_snapshot_is_the_same_on_spark(spark, shop: Workspace) -> None:
    as_of = date(2025, 12, 31)
    duck = build_customer_snapshot(connect(shop), as_of)
    # the shop exercises every family of features, not only RFM
    assert (duck["return_rate"] > 0).any()
    assert any(c.startswith("channel_share_") for c in duck.columns)
    assert duck["sessions"].sum() > 0 and duck["distinct_categories"].max() > 1
    assert duck["region"].notna().any()
    assert_same_snapshot(duck, build_customer_snapshot_spark(shop, as_of, spark=spark))


def test_cli_engine_spark_writes_the_duckdb_snapshot(spark, shop: Workspace) -> None:
    as_of = "2025-06-30"
    args = ["features", "--as-of", as_of, "--workspace", str(shop.root)]
    assert CliRunner().invoke(app, args).exit_code == 0
    path = shop.snapshot_dir(date.fromisoformat(as_of)) / "customer_snapshot.parquet"
    duck = pd.read_parquet(path)
    result = CliRunner().invoke(app, [*args, "--engine", "spark", "--master", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "(spark)" in result.output
    assert_same_snapshot(duck, pd.read_parquet(path))
    assert not list(shop.features_dir.glob(".spark-*")), "scratch output left behind"


def test_translation_inlines_the_cutoff_and_rejects_missing_parameters() -> None:
    text = to_spark_sql(
        "SELECT date_diff('day', CAST(x AS DATE), CAST($as_of AS DATE)) FROM t WHERE x < $end",
        {"as_of": date(2024, 1, 31), "end": pd.Timestamp("2024-02-01").to_pydatetime()},
    )
    assert "$" not in text and "2024-01-31" in text and "2024-02-01 00:00:00" in text
    with pytest.raises(ValueError, match=r"\$end"):
        to_spark_sql("SELECT 1 FROM t WHERE x < $end", {})


def test_cli_rejects_unknown_engine(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["features", "--engine", "polars", "--workspace", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "--engine" in result.output
