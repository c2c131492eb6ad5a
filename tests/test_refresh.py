"""`churnrec refresh` on a trained workspace: a new day of orders, idempotence, crash + resume,
and a running service that switches to the new snapshot without a restart or a failed request.
"""

from __future__ import annotations

import hashlib
import json
import stat
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.workspace import Workspace

pytestmark = pytest.mark.timeout(900)
API_KEY = "refresh-test-key"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A trained workspace holding all but the last two days of orders, and those two days."""
    from churnrec.features.pipeline import run_features
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models

    root = tmp_path_factory.mktemp("refresh")
    files = write_shop(generate_shop(ShopConfig(n_customers=800, seed=11)), root / "shop", "csv")
    orders = pd.read_csv(files["orders"], dtype=str)
    day = pd.to_datetime(orders["ordered_at"]).dt.normalize()
    last = day.max()
    days = {}
    for name, rows in (
        ("history", day < last - timedelta(days=1)),
        ("day1", day == last - timedelta(days=1)),
        ("day2", day == last),
    ):
        days[name] = root / f"orders_{name}.csv"
        orders[rows].to_csv(days[name], index=False)
    ws = Workspace.at(root / "ws")
    ingest(
        ws,
        days["history"],
        customers=files["customers"],
        items=files["items"],
        events=files["events"],
    )
    run_features(ws)
    train_models(ws, target="all")
    return {"ws": ws, "days": days, "last": last.date()}


def _refresh(ws: Workspace, orders: Path, *extra: str):
    args = ["refresh", str(orders), "--workspace", str(ws.root), "--retrain", "never", "--json"]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code in (0, 3), result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.exit_code == (3 if body["drift_warning"] else 0)
    return body


def _scores(ws: Workspace) -> pd.DataFrame:
    return pd.read_csv(ws.outputs_dir / "churn_scores.csv", dtype={C.CUSTOMER_ID: str})


def test_a_new_day_is_served_without_restart_and_a_rerun_changes_nothing(shop) -> None:
    from tests.server_process import running_server

    ws: Workspace = shop["ws"]
    new_day = (shop["last"] - timedelta(days=1)).isoformat()
    with running_server(ws.root, API_KEY, "--reload-seconds", "1") as base:
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"})
        probe = pd.read_parquet(ws.latest_snapshot_dir() / "customer_snapshot.parquet")
        ids = probe[C.CUSTOMER_ID].head(5).tolist()
        failures: list[str] = []
        stop = threading.Event()

        def hammer() -> None:  # requests all through the switch
            while not stop.is_set():
                try:
                    r = http.post("/churn_scores", json={"customer_ids": ids}, timeout=30)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

        thread = threading.Thread(target=hammer, daemon=True)
        thread.start()
        try:
            body = _refresh(ws, shop["days"]["day1"])
            served = None
            for _ in range(120):
                served = http.get("/metadata").json().get("snapshot_as_of")
                if served == new_day:
                    break
                threading.Event().wait(0.5)
        finally:
            stop.set()
            thread.join(timeout=60)
        assert body["status"] == "refreshed" and body["as_of"] == new_day
        snapshot = pd.read_parquet(body["snapshot_path"])
        assert (snapshot[C.AS_OF] == pd.Timestamp(new_day)).all()
        assert served == new_day, "service did not switch to the new snapshot"
        assert failures == []
        scores = _scores(ws).set_index(C.CUSTOMER_ID)
        some = [c for c in ids if c in scores.index][:3]
        answer = http.post("/churn_scores", json={"customer_ids": some}).json()["scores"]
        for row in answer:
            expected = scores.loc[row["customer_id"], "churn_probability"]
            assert row["churn_probability"] == pytest.approx(expected, abs=1e-9)

    # drift was checked against the champion and written owner-only for /metadata
    latest = ws.data_dir / "drift" / "latest.json"
    assert stat.S_IMODE(latest.stat().st_mode) == 0o600
    drift = json.loads(latest.read_text())
    assert drift["current_as_of"] == new_day and "recency_days" in drift["features"]
    assert "churn_probability" in drift["scores"]

    # the same file again: nothing rebuilt, rescored or logged
    before = {
        p: _digest(p) for p in (Path(body["snapshot_path"]), ws.outputs_dir / "churn_scores.csv")
    }
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    again = _refresh(ws, shop["days"]["day1"])
    assert again["status"] == "up_to_date"
    assert {p: _digest(p) for p in before} == before
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes


def test_a_crashed_refresh_is_finished_by_the_next_run(shop) -> None:
    from churnrec.ingest import ingest
    from churnrec.scores.export import score_customers
    from churnrec.store.registry import tracking_client
    from churnrec.training.refresh import read_state, run_refresh

    ws: Workspace = shop["ws"]

    def crash(_ws: Workspace) -> Path:
        raise KeyboardInterrupt("power cut while scoring")

    with pytest.raises(KeyboardInterrupt):
        run_refresh(
            ws,
            ingest_step=lambda: ingest(ws, shop["days"]["day2"]),
            score_step=crash,
            retrain="never",
        )
    state = read_state(ws)
    assert state["status"] == "running"
    assert state["steps_done"] == ["features", "drift", "retrain"]

    body = _refresh(ws, shop["days"]["day2"])
    assert body["status"] == "resumed" and body["as_of"] == shop["last"].isoformat()
    assert body["parent_run_id"] == state["parent_run_id"]
    assert read_state(ws)["status"] == "done"
    assert _scores(ws)[C.CUSTOMER_ID].nunique() > 0

    # one parent run; its children are the steps, the crashed one marked FAILED (rolled back)
    client = tracking_client(ws)
    parent = client.get_run(body["parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
    )
    by_status = sorted((r.data.tags["step"], r.info.status) for r in children)
    assert by_status == [
        ("drift", "FINISHED"),
        ("features", "FINISHED"),
        ("retrain", "FINISHED"),
        ("score", "FAILED"),
        ("score", "FINISHED"),
    ]
    assert score_customers  # the CLI's scoring step is the batch export


def test_drift_thresholds_decide_the_warning(shop) -> None:
    from churnrec.training.drift import DriftThresholds
    from churnrec.training.refresh import RefreshResult, check_drift

    ws: Workspace = shop["ws"]
    snapshot = pd.read_parquet(ws.latest_snapshot_dir() / "customer_snapshot.parquet")
    strict = check_drift(ws, snapshot, DriftThresholds(psi=1e-9, ks_statistic=1e-9))
    lax = check_drift(ws, snapshot, DriftThresholds(psi=1e9, ks_statistic=1.0, auc_drop=1.0))
    assert strict["drift"] is True and "recency_days" in strict["drifted_features"]
    assert lax["drift"] is False and lax["drifted_features"] == []
    perf = lax["performance"]
    assert 0.5 < perf["roc_auc"] <= 1 and perf["horizon_days"] == 90
    assert RefreshResult("refreshed", "f", drift=strict).to_dict()["drift_warning"] is True


def test_retrain_policy_without_a_champion(tmp_path: Path) -> None:
    from churnrec.training.refresh import RefreshConfig, retrain_due

    ws = Workspace.at(tmp_path)
    config = RefreshConfig()
    assert retrain_due(ws, "never", config, None) == (False, "not retrained (--retrain never)")
    assert retrain_due(ws, "always", config, None)[0] is True
    assert retrain_due(ws, "auto", config, None) == (True, "no churn champion yet")


def test_refresh_rejects_a_bad_retrain_mode(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["refresh", "--workspace", str(tmp_path), "--retrain", "x"])
    assert result.exit_code != 0 and "--retrain" in result.output
