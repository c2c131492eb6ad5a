"""A shop without a consent column: `churnrec score --min-risk medium` (the README's own
example) writes no row, and says why and what to add instead of exiting quietly."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from churnrec.cli import app

runner = CliRunner()


def test_an_empty_export_says_why_and_what_to_add(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["ingest", "--sample", "cdnow", "--workspace", ws]).exit_code == 0
    config = tmp_path / "fast.yaml"
    config.write_text("churn:\n  n_train_cutoffs: 2\n  model: {learners: [lightgbm]}\n")
    trained = runner.invoke(
        app, ["train", "churn", "--workspace", ws, "--horizon-days", "90", "--config", str(config)]
    )
    assert trained.exit_code == 0, trained.output
    assert runner.invoke(app, ["features", "--workspace", ws]).exit_code == 0
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score", "--workspace", ws, "--out", str(out), "--min-risk", "medium"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 0 rows" in result.output
    assert "none of the" in result.output and "has recorded marketing consent" in result.output
    assert "--customers" in result.output and "consent_default: allow" in result.output


def test_an_empty_marketing_recommendation_export_says_why(tmp_path: Path) -> None:
    """`recommend --for-marketing` on a shop whose customers file has no consent column."""
    import pandas as pd

    from churnrec.synthetic import ShopConfig, generate_shop, write_shop

    files = write_shop(
        generate_shop(ShopConfig(n_customers=300, seed=5, with_events=False)), tmp_path, "csv"
    )
    customers = pd.read_csv(files["customers"]).drop(columns=["marketing_consent"])
    customers.to_csv(files["customers"], index=False)
    ws = str(tmp_path / "ws")
    ingest_args = ["ingest", str(files["orders"]), "--workspace", ws]
    ingest_args += ["--customers", str(files["customers"]), "--items", str(files["items"])]
    assert runner.invoke(app, ingest_args).exit_code == 0
    trained = runner.invoke(app, ["train", "recommender", "--workspace", ws])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "recs.csv"
    args = ["recommend", "--workspace", ws, "--out", str(out), "--for-marketing"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 0 rows" in result.output
    assert "none of the" in result.output and "consent_default: allow" in result.output
