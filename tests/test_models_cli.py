"""`churnrec models` moves the champion by hand with tags; dead runs are marked FAILED."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.models.base import ModelKind
from churnrec.models.baseline_models import RecencyChurnBaseline
from churnrec.store import tracking
from churnrec.store.packaging import log_churnrec_model
from churnrec.store.registry import Tag, aliases, tracking_client
from churnrec.training.promotion import register_and_promote
from churnrec.workspace import Workspace

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
EXAMPLE = pd.DataFrame({C.CUSTOMER_ID: ["a", "b"], "recency_days": [3.0, 90.0]})


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.at(tmp_path_factory.mktemp("models"))
    for value in (0.70, 0.75):  # v1 first, v2 better on the same holdout record
        with tracking.start_run(ws, "churn") as run:
            uri = log_churnrec_model(
                RecencyChurnBaseline(0.02, -1.0, 30.0), ModelKind.CHURN, input_example=EXAMPLE
            )
        register_and_promote(
            ws,
            uri,
            name="churn",
            run_id=run.info.run_id,
            metric="roc_auc",
            value=value,
            holdout_id="h1",
        )
    return ws


def test_list_promote_rollback(ws: Workspace) -> None:
    root = str(ws.root)
    listed = runner.invoke(app, ["models", "list", "--workspace", root])
    assert listed.exit_code == 0, listed.output
    assert "v2" in listed.stdout and "@champion" in listed.stdout
    assert "@previous_champion" in listed.stdout and "holdout=h1" in listed.stdout
    assert "repurchase: no registered versions" in listed.stdout

    back = runner.invoke(app, ["models", "rollback", "churn", "--workspace", root])
    assert back.exit_code == 0, back.output
    assert aliases(ws, "churn") == {"champion": "1", "previous_champion": "2"}
    client = tracking_client(ws)
    assert (
        client.get_model_version("churn", "1")
        .tags["promotion_reason"]
        .startswith("rolled back by hand")
    )
    again = runner.invoke(app, ["models", "promote", "churn", "2", "--workspace", root])
    assert again.exit_code == 0, again.output
    assert aliases(ws, "churn") == {"champion": "2", "previous_champion": "1"}
    assert "last_action" in client.get_registered_model("churn").tags

    missing = runner.invoke(app, ["models", "promote", "churn", "9", "--workspace", root])
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output


def test_runs_of_dead_processes_are_marked_failed(ws: Workspace) -> None:
    client = MlflowClient(tracking_uri=ws.tracking_uri)
    experiment = client.get_experiment_by_name("churn").experiment_id
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = tracking.socket.gethostname()
    dead = client.create_run(experiment, tags={Tag.PID: str(gone.pid), Tag.HOST: host})
    alive = client.create_run(experiment, tags={Tag.PID: str(tracking.os.getpid()), Tag.HOST: host})
    other_host = client.create_run(experiment, tags={Tag.PID: str(gone.pid), Tag.HOST: "elsewhere"})
    marked = tracking.mark_dead_runs(ws)
    assert marked == [dead.info.run_id]
    assert client.get_run(dead.info.run_id).info.status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert client.get_run(other_host.info.run_id).info.status == "RUNNING"


def test_a_version_left_without_a_decision_is_tagged_by_the_next_command(ws: Workspace) -> None:
    from churnrec.store.registry import register_version

    client = tracking_client(ws)
    with tracking.start_run(ws, "churn") as run:
        uri = log_churnrec_model(
            RecencyChurnBaseline(0.02, -1.0, 30.0), ModelKind.CHURN, input_example=EXAMPLE
        )
    # a kill right after registering: no decision tags, no alias
    version = register_version(client, uri, name="churn", run_id=run.info.run_id, tags={})
    before = aliases(ws, "churn")
    result = runner.invoke(app, ["models", "list", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    tags = client.get_model_version("churn", version).tags
    assert tags["promotion_decision"] == "none"
    assert tags["promotion_reason"] == "training ended before a promotion decision"
    assert aliases(ws, "churn") == before  # never served


def test_models_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "run `churnrec train` first" in result.stderr
