"""Minimum-data rules are checked before training and named, with both numbers, when they stop
a job; the job is skipped and `churnrec train` exits non-zero when nothing was trained."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from churnrec.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _lapsing_shop(tmp_path: Path, n_customers: int) -> Path:
    """Customers who order every 10..40 days for a while, then some stop for good."""
    rng = np.random.default_rng(4)
    start, lines = date(2023, 1, 1), ["customer_id,ordered_at"]
    for i in range(n_customers):
        day, stop = int(rng.integers(0, 30)), int(rng.integers(100, 700))
        while day < min(stop, 500):
            lines.append(f"c{i:03d},{(start + timedelta(days=day)).isoformat()}")
            day += int(rng.integers(10, 40))
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join(lines) + "\n")
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    return ws


def test_too_few_customers_stops_churn_naming_the_rule_and_numbers(tmp_path: Path) -> None:
    ws = _lapsing_shop(tmp_path, 60)
    result = runner.invoke(app, ["train", "churn", "--workspace", str(ws)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("churn "))
    assert (
        "stopped by the minimum-data rule churn.minimum_data.customers: 60 customers with "
        "orders, at least 100 needed" in line
    )
    assert "nothing was trained" in result.stderr


def test_rules_are_configurable_and_outcome_counts_are_named(tmp_path: Path) -> None:
    ws = _lapsing_shop(tmp_path, 60)
    config = tmp_path / "rules.yaml"
    config.write_text("churn:\n  minimum_data: {customers: 50, positives: 1000000}\n")
    result = runner.invoke(app, ["train", "churn", "--workspace", str(ws), "--config", str(config)])
    assert result.exit_code == 1, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("churn "))
    assert "churn.minimum_data.positives: " in line
    assert "churned rows on the training cut-offs, at least 1,000,000 needed" in line
