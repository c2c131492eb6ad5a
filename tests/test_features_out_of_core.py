"""The out-of-core snapshot path: DuckDB writes the Parquet file itself, with its settings.

`write_customer_snapshot` (what `churnrec features` uses) must write exactly what the
in-memory `build_customer_snapshot` frame would (values, order, dtypes as `pd.read_parquet`
gives them back), and `connect` must spill inside the workspace with the configured memory.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.features.db import MEMORY_ENV, connect, connect_frames, default_memory_limit
from churnrec.features.snapshot import build_customer_snapshot, write_customer_snapshot
from churnrec.synthetic import ShopConfig
from churnrec.workspace import Workspace
from tests.generated_shop import ingested_shop

AS_OF = date(2025, 12, 31)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A generated shop with returns, channels, categories, attributes and events."""
    config = ShopConfig(n_customers=300, n_items=60, seed=11, return_rate=0.1)
    return ingested_shop(tmp_path_factory.mktemp("shop"), config)


def test_written_snapshot_reads_back_as_the_in_memory_frame(shop: Workspace, tmp_path: Path):
    frame = build_customer_snapshot(connect(shop), AS_OF)
    path = tmp_path / "snap.parquet"
    n_rows, monetary = write_customer_snapshot(connect(shop), AS_OF, path)
    written = pd.read_parquet(path)
    assert (n_rows, monetary) == (len(frame), frame.attrs["has_monetary"])
    assert list(written.dtypes.astype(str)) == list(frame.dtypes.astype(str))
    pd.testing.assert_frame_equal(written, frame, check_exact=True)
    assert not list(tmp_path.glob(".*")), "raw or temporary files left behind"


def test_nullable_integer_and_boolean_columns_survive_the_file(tmp_path: Path) -> None:
    """Customers without visits or consent give NULLs: `Int64` / `boolean` columns in pandas."""
    orders = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "a", "b", "c"],
            C.ORDER_ID: ["o1", "o2", "o3", "o4"],
            C.ORDERED_AT: pd.to_datetime(["2025-01-05", "2025-03-01", "2025-02-01", "2025-06-01"]),
            C.AMOUNT: [10.0, 20.0, None, 5.0],
            C.CHANNEL: ["web", "app", None, "web"],
        }
    )
    customers = pd.DataFrame({C.CUSTOMER_ID: ["a", "b"], C.MARKETING_CONSENT: [True, None]})
    events = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a"],
            C.OCCURRED_AT: pd.to_datetime(["2025-05-01"]),
            C.EVENT_TYPE: [C.EVENT_VIEW],
        }
    )
    con = connect_frames(orders, customers=customers, events=events)
    frame = build_customer_snapshot(con, AS_OF)
    assert {"Int64", "boolean"} <= set(frame.dtypes.astype(str))
    path = tmp_path / "snap.parquet"
    write_customer_snapshot(con, AS_OF, path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame, check_exact=True)


def test_connect_spills_inside_the_workspace_with_the_configured_memory(
    shop: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MEMORY_ENV, "700MB")
    assert default_memory_limit() == "700MB"
    con = connect(shop)
    temp, memory = con.execute(
        "SELECT current_setting('temp_directory'), current_setting('memory_limit')"
    ).fetchone()
    assert Path(temp).parent == shop.duckdb_temp_dir  # this process's own folder in it
    assert memory.startswith("667") and "MiB" in memory  # 700 MB as DuckDB reports it
    explicit = connect(shop, memory_limit="300MB")
    (memory,) = explicit.execute("SELECT current_setting('memory_limit')").fetchone()
    assert memory.startswith("286")


def test_default_memory_limit_is_a_share_of_the_machine(monkeypatch: pytest.MonkeyPatch):
    import os

    monkeypatch.delenv(MEMORY_ENV, raising=False)
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    limit = default_memory_limit()
    assert limit.endswith("MB")
    assert 0 < int(limit[:-2]) <= max(512, total_mb / 2)


def test_cli_snapshot_and_csv_out_match_the_in_memory_frame(shop: Workspace, tmp_path: Path):
    out = tmp_path / "snap.csv"
    args = ["features", "--as-of", AS_OF.isoformat(), "--workspace", str(shop.root)]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = build_customer_snapshot(connect(shop), AS_OF)
    written = pd.read_parquet(shop.snapshot_dir(AS_OF) / "customer_snapshot.parquet")
    pd.testing.assert_frame_equal(written, frame, check_exact=True)
    assert out.read_text() == frame.to_csv(index=False)
    counts = frame["rfm_segment"].value_counts()
    top, n = counts.index[0], counts.iloc[0]
    assert f"{top} {n:,}" in result.output


def test_spill_left_by_a_killed_process_is_removed_and_live_ones_are_kept(shop: Workspace):
    """A job killed mid-spill leaves its files; the next connection frees that disk."""
    import socket
    import subprocess
    import sys

    root = shop.duckdb_temp_dir
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = socket.gethostname()
    left = root / f"{host}-{dead.stdout.strip()}"
    (left / "nested").mkdir(parents=True)
    (left / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1024)
    live = root / f"{host}-{os.getpid()}"
    live.mkdir(parents=True, exist_ok=True)
    other_host = root / f"not-{host}-1"
    other_host.mkdir(parents=True)

    connect(shop).close()
    assert not left.exists()
    assert live.exists() and other_host.exists()
