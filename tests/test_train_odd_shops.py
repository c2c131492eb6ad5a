"""`churnrec train all` on shops the data cannot fully support: skip with a reason, never crash."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnrec.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def ingest_rows(tmp_path: Path, rows: list[tuple[str, date]]) -> Path:
    orders = tmp_path / "orders.csv"
    lines = ["customer_id,ordered_at", *(f"{c},{d.isoformat()}" for c, d in rows)]
    orders.write_text("\n".join(lines) + "\n")
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    return ws


@pytest.mark.parametrize("n_customers", [1, 2])
def test_tiny_shop_skips_every_job_with_a_reason_and_exits_1(tmp_path: Path, n_customers: int):
    """Every job skipped: each says why, and the command fails (nothing was trained)."""
    start = date(2024, 1, 1)
    rows = [
        (f"c{i}", start + timedelta(days=40 * k + i)) for i in range(n_customers) for k in range(3)
    ]
    ws = ingest_rows(tmp_path, rows)
    result = runner.invoke(app, ["train", "all", "--workspace", str(ws)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for kind in ("churn", "repurchase", "recommender", "clv", "uplift", "demand"):
        assert f"{kind:<12} skipped: " in result.stdout
    assert (
        "trained: none; skipped: churn, repurchase, recommender, clv, uplift, demand"
        in result.stdout
    )
    assert "nothing was trained" in result.stderr


def test_never_churning_shop_skips_churn_and_trains_repurchase(tmp_path: Path) -> None:
    # 30 loyal customers ordering every 9..15 days for a year: nobody is ever gone for 60 days
    start = date(2023, 1, 1)
    rows = []
    for i in range(30):
        gap = 9 + i % 7
        rows += [(f"c{i:02d}", start + timedelta(days=i % 5 + gap * k)) for k in range(365 // gap)]
    ws = ingest_rows(tmp_path, rows)
    result = runner.invoke(app, ["train", "all", "--workspace", str(ws), "--horizon-days", "60"])
    assert result.exit_code == 0, result.output
    churn_line = next(line for line in result.stdout.splitlines() if line.startswith("churn "))
    assert "no customer churned within 60 days" in churn_line
    assert "try --horizon-days 20" in churn_line
    # a year of weekly sales (one series: the lines carry no item id) is enough for demand
    assert "trained: repurchase, demand; skipped: churn, recommender, clv, uplift" in result.stdout
