"""The `churnrec` command as a user meets it: help texts, the demo, and fixable errors (exit 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import COMMANDS, app

# Wide terminal so that rich never wraps or cuts an option name in the help tables.
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

KEY_OPTIONS = {
    "generate": ["--customers", "--items", "--start", "--end", "--seed", "--out", "--format"],
    "ingest": [
        "--column",
        "--customers",
        "--items",
        "--events",
        "--config",
        "--date-format",
        "--workspace",
        "--json",
        "--sample",
    ],
    "features": ["--as-of", "--out", "--horizon-days", "--workspace"],
    "train": ["--workspace", "--config", "--horizon-days", "--horizon-weeks", "--level"],
    "score": ["--workspace", "--out", "--min-risk", "--as-of", "--config"],
    "serve": ["--workspace", "--port", "--host", "--as-of", "--config"],
    "recommend": ["--out", "--k", "--customers", "--for-marketing", "--filters", "--workspace"],
    "forecast": ["--out", "--items", "--weeks", "--level", "--workspace"],
    "demo": ["--workspace", "--customers", "--seed"],
    "report": ["--workspace", "--as-of", "--out", "--json", "--spend"],
    "campaign": ["--control", "--json", "--window-days", "--baseline-rate", "--mde"],
    "target": ["--campaign-size", "--budget", "--cost-per-contact", "--margin", "--workspace"],
    "models": ["--workspace", "--alias", "--from-readout"],
    "recs": ["readout", "--since", "--json", "--window-days", "--workspace"],
    "items": ["--out", "--workspace"],
    "refresh": [
        "--workspace",
        "--retrain",
        "--customers",
        "--events",
        "--campaigns",
        "--column",
        "--config",
        "--decimal",
    ],
    "forget": ["--file", "--workspace", "--json"],
}


def test_every_command_is_registered() -> None:
    assert set(COMMANDS) == set(KEY_OPTIONS)
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = re.findall(r"^[^\w-]+([a-z]+) {2,}\S", result.stdout, re.MULTILINE)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("name", sorted(KEY_OPTIONS))
def test_subcommand_help_lists_its_key_options(name: str) -> None:
    result = runner.invoke(app, [name, "--help"], prog_name="churnrec")
    assert result.exit_code == 0, result.output
    assert f"churnrec {name}" in result.stdout
    for option in KEY_OPTIONS[name]:
        assert re.search(rf"{re.escape(option)}\b", result.stdout), f"{name} {option}"


def test_train_help_names_the_targets() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert "all|churn|repurchase|recommender|clv|uplift" in result.stdout


@pytest.mark.heavy
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    ws = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--workspace", str(ws), "--customers", "300"])
    assert result.exit_code == 0, result.output
    scores = ws / "outputs" / "churn_scores.csv"
    assert str(scores) in result.stdout
    assert scores.exists()
    frame = pd.read_csv(scores, dtype={C.CUSTOMER_ID: str})
    assert f"{scores} ({len(frame):,} customers)" in result.stdout
    for kind in ("churn", "repurchase", "recommender", "clv"):
        assert re.search(
            rf"^\s+{kind}\s+run \w+: .*-> {kind} v1 @champion; trained through "
            r"\d{4}-\d\d-\d\d, evaluated on \S+(  WARNING: .*)?$",
            result.stdout,
            re.MULTILINE,
        ), kind
    assert (ws / "mlruns" / "mlflow.db").exists()
    report = ws / "outputs" / "report.html"
    assert report.exists() and re.search(
        rf"^  insight report\s+{re.escape(str(report))}$", result.stdout, re.MULTILINE
    )
    assert "[churnrec]" in result.stderr and "[churnrec]" not in result.stdout


def test_train_on_an_empty_workspace_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "no ingested data" in result.stderr
    assert "churnrec ingest" in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    orders = tmp_path / "orders.csv"
    orders.write_text("customer_id,ordered_at\na,2024-01-01\nb,2024-02-01\na,2024-03-01\n")
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["ingest", str(orders), "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    return ws


def test_train_with_an_unknown_config_key_exits_2_naming_it(ingested: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("churn:\n  horizon_days: 30\n  n_estimatorz: 5\n")
    result = runner.invoke(app, ["train", "--workspace", str(ingested), "--config", str(config)])
    assert result.exit_code == 2
    assert "churn.n_estimatorz" in result.stderr
    assert str(config) in result.stderr
    assert not (ingested / "mlruns").exists()  # refused before any run was opened


def test_train_with_an_unknown_section_exits_2(ingested: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("recommendr:\n  k: 5\n")
    result = runner.invoke(app, ["train", "--workspace", str(ingested), "--config", str(config)])
    assert result.exit_code == 2
    assert "recommendr" in result.stderr


def test_train_with_a_missing_config_file_exits_2(ingested: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["train", "--workspace", str(ingested), "--config", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.stderr


def test_serve_without_an_api_key_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CHURNREC_API_KEY", "CHURNREC_API_KEY_FILE", "CHURNREC_AUTH_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["serve", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "no API key" in result.stderr
    assert "CHURNREC_API_KEY" in result.stderr


def test_version_is_printed() -> None:
    import churnrec

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"churnrec {churnrec.__version__}"


@pytest.mark.parametrize("command", ["features", "score", "train", "serve"])
def test_commands_on_a_missing_workspace_say_so(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = runner.invoke(app, [command, "--workspace", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"workspace folder {missing} does not exist" in result.output
    assert not missing.exists()  # nothing was created on the way


@pytest.mark.parametrize(
    "command", [["score"], ["recommend"], ["forecast"], ["target", "--campaign-size", "10"]]
)
def test_an_out_file_of_another_kind_is_refused_before_any_work(
    command: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "scores.xlsx"
    result = runner.invoke(app, [*command, "--workspace", str(tmp_path), "--out", str(out)])
    assert result.exit_code != 0
    assert "--out must end in .csv or .parquet, got scores.xlsx" in result.output
    assert not out.exists()


def test_a_bad_since_date_is_reported_against_since(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["models", "promote", "recommender", "--from-readout", "--since", "BAD"]
        + ["--workspace", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "--since" in result.output and "'BAD' is not a date" in result.output
    assert "--as-of" not in result.output
