"""The daily job: ingest -> snapshot at the new cut-off -> drift -> retrain when due -> re-score.

Idempotent, resumable step by step, and one at a time (`flock`); training may not import
serving, so the CLI passes scoring in.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.exports import mark_stale_exports, settle_stale_exports
from churnrec.features.db import connect, default_as_of
from churnrec.features.labels import build_labels
from churnrec.features.snapshot import build_customer_snapshot
from churnrec.files import FILE_MODE, private_dir, write_json
from churnrec.models.base import ModelKind
from churnrec.progress import say
from churnrec.scores.champions import Champions, load_champions
from churnrec.scores.export import score_customers
from churnrec.scores.workspace_scores import model_scores
from churnrec.settings import HORIZON_DAYS
from churnrec.store.registry import (
    ModelNotFoundError,
    Tag,
    ensure_experiment,
    load_champion,
    tracking_client,
)
from churnrec.training import drift as drift_mod
from churnrec.training.promotion import undo_versions_of_step
from churnrec.workspace import Workspace

RetrainMode = Literal["auto", "always", "never"]
# The served scores whose drift is watched: churn probability, and P(order in 30 d) if timed.
DRIFT_SCORES = (
    Score.CHURN_PROBABILITY,
    Score.P_ORDER_30D,
)
EXPERIMENT = "refresh"


class RefreshConfigError(ValueError):
    """The refresh config file cannot be read or does not match the schema."""


class RefreshConfig(BaseModel):
    """`refresh.yaml` (workspace root, or `--refresh-config FILE`; docs/RUNNING_DAILY.md)."""

    model_config = ConfigDict(extra="forbid")

    retrain_every_days: int | None = Field(28, ge=1)
    drift: drift_mod.DriftThresholds = Field(default_factory=drift_mod.DriftThresholds)


def load_refresh_config(ws: Workspace, path: Path | None = None) -> RefreshConfig:
    """`path`, else `<workspace>/refresh.yaml` when present, else the defaults."""
    path = path or (ws.root / "refresh.yaml")
    if not Path(path).exists():
        return RefreshConfig()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        return RefreshConfig.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise RefreshConfigError(f"refresh config {path} is not valid: {exc}") from exc


@dataclass
class RefreshResult:
    """What one `churnrec refresh` did (the `--json` object)."""

    status: Literal["refreshed", "resumed", "up_to_date"]
    fingerprint: str
    as_of: str | None = None
    snapshot_path: str | None = None
    scores_path: str | None = None
    retrained: bool = False
    retrain_reason: str = ""
    promotions: dict[str, str] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    parent_run_id: str | None = None
    ingest: dict[str, Any] | None = None
    removed_exports: list[str] = field(default_factory=list)
    undone_versions: list[str] = field(default_factory=list)  # of a killed earlier step
    demand_forecast: dict[str, Any] | None = None  # the served forecast on weeks since

    @property
    def drift_warning(self) -> bool:
        return bool(self.drift and self.drift.get("drift"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "drift_warning": self.drift_warning}

    def lines(self) -> list[str]:
        if self.status == "up_to_date":
            return [f"up to date: nothing new since the last refresh ({self.fingerprint[:12]})"]
        out = [f"{self.status}: snapshot at {self.as_of} -> {self.snapshot_path}"]
        out.append(f"retrained ({self.retrain_reason})" if self.retrained else self.retrain_reason)
        out += [f"  {kind}: {decision}" for kind, decision in self.promotions.items()]
        if self.drift is None:
            out.append("drift: not checked (no churn champion yet)")
        else:
            flagged = self.drift["drifted_features"] + self.drift["drifted_scores"]
            perf = self.drift.get("performance") or {}
            out.append(
                "drift: WARNING " + ", ".join(flagged or ["champion performance"])
                if self.drift_warning
                else "drift: none over the thresholds"
            )
            if perf.get("roc_auc") is not None:
                out.append(
                    f"champion on the newest observed window ({perf['as_of']}, "
                    f"{perf['horizon_days']}d): ROC AUC {perf['roc_auc']:.3f} "
                    f"(training holdout {perf.get('training_roc_auc')})"
                )
        if self.demand_forecast:
            from churnrec.training.demand_tracking import summary_line

            out.append(summary_line(self.demand_forecast))
        if self.scores_path:
            out.append(f"scores written to {self.scores_path}")
        out += self.removed_exports
        out += [f"undone: {line}" for line in self.undone_versions]
        out.append(f"MLflow parent run {self.parent_run_id}")
        return out


# --- state, lock, fingerprint ---------------------------------------------------------------
def refresh_dir(ws: Workspace) -> Path:
    return ws.data_dir / "refresh"


def _state_path(ws: Workspace) -> Path:
    return refresh_dir(ws) / "state.json"


def read_state(ws: Workspace) -> dict[str, Any]:
    path = _state_path(ws)
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(ws: Workspace, state: dict[str, Any]) -> None:
    write_json(_state_path(ws), state, sort_keys=True)  # atomic, 0600 in a 0700 folder


@contextmanager
def _exclusive(ws: Workspace) -> Iterator[None]:
    lock = private_dir(refresh_dir(ws)) / "lock"
    with os.fdopen(os.open(lock, os.O_WRONLY | os.O_CREAT, FILE_MODE), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another refresh is running in {ws.root} (lock {lock})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def data_fingerprint(ws: Workspace) -> str:
    """Hash of what was ingested: rows and date range per table (not when or from where)."""
    tables = ws.read_manifest().get("tables", {})
    keep = {
        kind: {k: v for k, v in info.items() if k in ("rows", "min_ordered_at", "max_ordered_at")}
        for kind, info in sorted(tables.items())
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


# --- MLflow parent / child runs ---------------------------------------------------------------
def _roll_back_unfinished(client: Any, parent: str, experiment_id: str, ws: Workspace) -> list:
    """Children left RUNNING by a crash are marked FAILED (their step runs again) and the versions
    they registered are undone; returns what was undone, one line per version."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{Tag.PARENT_RUN}` = '{parent}'", max_results=100
    )
    undone = []
    for run in runs:
        if run.info.status == "RUNNING":
            undone += undo_versions_of_step(ws, run.info.run_id)
            client.set_tag(run.info.run_id, "rolled_back", "true")
            client.set_terminated(run.info.run_id, status="FAILED")
    return undone


def _log(client: Any, run_id: str, metrics: dict[str, float], params: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if value is not None and np.isfinite(value):
            client.log_metric(run_id, key, float(value))
    for key, value in params.items():
        client.log_param(run_id, key, str(value)[:500])


# --- steps ------------------------------------------------------------------------------------
def _champion_reference(ws: Workspace, champions: Champions) -> tuple[Any, date, int] | None:
    """(churn champion, the newest cut-off whose rows it learned from, its horizon), or None; a
    fit tagged `trained_through` learned from the holdout cut-off's rows too."""
    champion = champions.loaded.get(ModelKind.CHURN)
    if champion is None:
        return None
    params = tracking_client(ws).get_run(champion.run_id).data.params
    cutoffs = [c for c in params.get("train_cutoffs", "").split(",") if c]
    refitted = "trained_through" in champion.tags and params.get("holdout_cutoff")
    ref = params["holdout_cutoff"] if refitted else (max(cutoffs) if cutoffs else None)
    ref = ref or params.get("plan_holdout_cutoff")
    return champion, date.fromisoformat(ref), int(params.get("horizon_days", HORIZON_DAYS))


def _performance(
    con: Any, churn: Any, horizon: int, thresholds: drift_mod.DriftThresholds
) -> dict[str, Any] | None:
    """Champion ROC AUC on the newest window whose labels are fully observed."""
    from sklearn.metrics import roc_auc_score

    last = default_as_of(con)
    window = last - timedelta(days=horizon)
    snapshot = build_customer_snapshot(con, window)
    labels = build_labels(con, window, horizon, observed_until=last)
    y = snapshot[[C.CUSTOMER_ID]].merge(labels, on=C.CUSTOMER_ID)[C.CHURNED].astype(int)
    if y.nunique() < 2:
        return None
    p = model_scores(snapshot, Champions({"churn": churn}))[Score.CHURN_PROBABILITY]
    auc = float(roc_auc_score(y, p))
    trained = churn.metrics.get("roc_auc")
    degraded = trained is not None and auc < trained - thresholds.auc_drop
    return {
        "as_of": window.isoformat(),
        "horizon_days": horizon,
        "n": len(y),
        "roc_auc": auc,
        "training_roc_auc": trained,
        "degraded": bool(degraded),
    }


def check_drift(
    ws: Workspace, snapshot: pd.DataFrame, thresholds: drift_mod.DriftThresholds
) -> dict[str, Any] | None:
    """Drift of `snapshot` (features and champion scores) against the champion's reference."""
    champions = load_champions(ws, (ModelKind.CHURN, ModelKind.REPURCHASE))
    found = _champion_reference(ws, champions)
    if found is None:
        return None
    champion, ref_as_of, horizon = found
    con = connect(ws)
    reference = build_customer_snapshot(con, ref_as_of)
    scores = drift_mod.frame_drift(
        model_scores(reference, champions),
        model_scores(snapshot, champions),
        thresholds,
        DRIFT_SCORES,
    )
    result = drift_mod.drift_result(
        reference_as_of=ref_as_of.isoformat(),
        current_as_of=pd.Timestamp(snapshot[C.AS_OF].iloc[0]).date().isoformat(),
        features=drift_mod.frame_drift(reference, snapshot, thresholds),
        scores=scores,
        thresholds=thresholds,
        performance=_performance(con, champion, horizon, thresholds),
    )
    result["champion_version"] = champion.version
    return result


def retrain_due(
    ws: Workspace, mode: RetrainMode, config: RefreshConfig, drift: dict[str, Any] | None
) -> tuple[bool, str]:
    """Whether to retrain now, and why (said in the summary and logged)."""
    if mode == "always":
        return True, "--retrain always"
    if mode == "never":
        return False, "not retrained (--retrain never)"
    try:
        champion = load_champion(ws, "churn")
    except ModelNotFoundError:
        return True, "no churn champion yet"
    if drift and drift.get("drift"):
        return True, "drift over the thresholds"
    if config.retrain_every_days is not None and champion.created_at_ms is not None:
        age = datetime.now(UTC) - datetime.fromtimestamp(champion.created_at_ms / 1000, UTC)
        if age >= timedelta(days=config.retrain_every_days):
            return True, f"champion is {age.days} days old (every {config.retrain_every_days})"
    return False, "not retrained (no drift; champion within its retrain schedule)"


# --- the job ---------------------------------------------------------------------------------
def run_refresh(
    workspace: Workspace | str | Path,
    *,
    ingest_step: Callable[[], Any] | None,
    score_step: Callable[[Workspace], Path] | None = None,
    retrain: RetrainMode = "auto",
    config: RefreshConfig | None = None,
) -> RefreshResult:
    """Run (or resume) one refresh; `score_step` replaces the export only where a test needs the
    step to fail."""
    ws = Workspace.at(workspace)
    score_step = score_step or (lambda w: score_customers(w).out)
    config = config or load_refresh_config(ws)
    with _exclusive(ws):
        summary = ingest_step() if ingest_step is not None else None
        ingest_info = summary.to_dict() if hasattr(summary, "to_dict") else None
        fingerprint = data_fingerprint(ws)
        state = read_state(ws)
        done = state.get("fingerprint") == fingerprint and state.get("status") == "done"
        stale = mark_stale_exports(ws)  # a consent change alone also calls for new scores
        if done and retrain != "always" and not stale:
            return RefreshResult("up_to_date", fingerprint, ingest=ingest_info)
        resumed = state.get("fingerprint") == fingerprint and state.get("status") == "running"
        client = tracking_client(ws)
        experiment_id = ensure_experiment(ws, EXPERIMENT)
        undone: list[str] = []
        if resumed:
            parent = state["parent_run_id"]
            undone = _roll_back_unfinished(client, parent, experiment_id, ws)
            say(f"[churnrec] resuming refresh {parent} after {state['steps_done'] or 'nothing'}")
        else:
            if state.get("status") == "running":  # crashed on older data: close it, start anew
                undone = _roll_back_unfinished(client, state["parent_run_id"], experiment_id, ws)
                client.set_tag(state["parent_run_id"], "rolled_back", "true")
                client.set_terminated(state["parent_run_id"], status="FAILED")
            parent = client.create_run(
                experiment_id, run_name=f"refresh {date.today()}", tags={"job": "refresh"}
            ).info.run_id
            state = {"fingerprint": fingerprint, "status": "running", "parent_run_id": parent}
            state.update(steps_done=[], outputs={})
            _write_state(ws, state)
        result = RefreshResult("resumed" if resumed else "refreshed", fingerprint)
        result.parent_run_id, result.ingest = parent, ingest_info
        result.undone_versions = undone

        def run_step(name: str, step: Callable[[str], tuple[dict, dict, dict]]) -> None:
            """Run a step as a child run (`step` gets its id), unless a crashed refresh already
            finished it; its outputs (recorded in the state) go on the result either way."""
            if name not in state["steps_done"]:
                tags = {Tag.PARENT_RUN: parent, "step": name}
                child = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
                metrics, params, outputs = step(child)
                _log(client, child, metrics, params)
                client.set_terminated(child, status="FINISHED")
                state["steps_done"].append(name)
                state["outputs"][name] = outputs
                _write_state(ws, state)
            for key, value in state["outputs"].get(name, {}).items():
                setattr(result, key, value)

        run_step("features", lambda child: _features_step(ws))
        run_step("drift", lambda child: _drift_step(ws, config, result))
        run_step("retrain", lambda child: _retrain_step(ws, retrain, config, result, child))
        run_step("score", lambda child: _score_step(ws, score_step))
        result.removed_exports = settle_stale_exports(ws)  # the scores were rewritten above
        state["status"] = "done"
        _write_state(ws, state)
        _log(client, parent, {"drift_flag": float(result.drift_warning)}, {"as_of": result.as_of})
        client.set_terminated(parent, status="FINISHED")
        return result


def _features_step(ws: Workspace) -> tuple[dict, dict, dict]:
    from churnrec.features.pipeline import run_features

    built = run_features(ws)
    as_of = built.as_of.isoformat()
    outputs = {"as_of": as_of, "snapshot_path": str(built.snapshot_path)}
    return {"n_customers": built.n_customers}, {"as_of": as_of}, outputs


def _drift_step(ws: Workspace, config: RefreshConfig, result: RefreshResult) -> tuple:
    from churnrec.training import demand_tracking

    snapshot = pd.read_parquet(result.snapshot_path)
    found = check_drift(ws, snapshot, config.drift)
    demand = demand_tracking.served_forecast_error(ws)  # before a retrain replaces it
    demand_metrics = demand_tracking.mlflow_metrics(demand) if demand else {}
    if found is None:
        outputs = {"drift": None, "demand_forecast": demand}
        return demand_metrics, {"drift": "no champion"}, outputs
    if demand:
        found["demand_forecast"] = demand
    drift_mod.write_latest(ws, found)
    return (
        {**drift_mod.mlflow_metrics(found), **demand_metrics},
        {"reference_as_of": found["reference_as_of"]},
        {"drift": found, "demand_forecast": demand},
    )


def _retrain_step(
    ws: Workspace,
    mode: RetrainMode,
    config: RefreshConfig,
    result: RefreshResult,
    step_run_id: str | None = None,
) -> tuple:
    due, reason = retrain_due(ws, mode, config, result.drift)
    promotions = {}
    if due:
        from churnrec.training.jobs import train_models

        tags = {Tag.STEP: step_run_id} if step_run_id else None
        client = tracking_client(ws)
        for outcome in train_models(ws, target="all", run_tags=tags).outcomes:
            if outcome.run_id:
                client.set_tag(outcome.run_id, Tag.PARENT_RUN, result.parent_run_id or "")
            promo = outcome.promotion
            promotions[outcome.kind] = (
                f"v{promo.version} @{promo.alias}: {promo.reason}"
                if promo is not None
                else f"skipped: {outcome.skipped}"
            )
    outputs = {"retrained": due, "retrain_reason": reason, "promotions": promotions}
    return {"retrained": float(due)}, {"retrain_reason": reason}, outputs


def _score_step(ws: Workspace, score: Callable[[Workspace], Path]) -> tuple:
    path = score(ws)
    return {}, {"scores_path": path}, {"scores_path": str(path)}
