"""Following `train`'s own hint ("use a smaller holdout_days") down to a tiny holdout ends in a
trained model or a clear message, never a traceback (it crashed scoring cart baskets that a
two-day validation window did not have)."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from churnrec.cli import app
from churnrec.synthetic import ShopConfig
from tests.generated_shop import ingested_shop

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.parametrize("holdout_days", [1, 2])
def test_tiny_holdout_days_end_in_a_message_not_a_traceback(tmp_path, holdout_days) -> None:
    shop = ShopConfig(
        n_customers=40, n_items=30, seed=1, start=date(2024, 8, 1), end=date(2024, 9, 5)
    )
    ws = ingested_shop(tmp_path, shop)
    hinted = runner.invoke(app, ["train", "recommender", "--workspace", str(ws.root)])
    assert "use a smaller holdout_days" in hinted.output  # the hint being followed
    config = tmp_path / "tiny.yaml"
    config.write_text(f"recommender:\n  holdout_days: {holdout_days}\n")
    result = runner.invoke(
        app, ["train", "recommender", "--workspace", str(ws.root), "--config", str(config)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("recommender "))
    assert "quality: " in line or "skipped: " in line
