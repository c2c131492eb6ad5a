"""The model registry: register each trained model and decide who serves (champion/challenger).

Policy (one registered model per kind, names `churn`, `repurchase`, `recommender`):

- Every registered version carries tags `metric`, `metric_value`, `holdout_id` and
  `higher_is_better`: what it scored, on which holdout.
- No `@champion` yet: the new version becomes champion ("first model").
- The champion was scored on another holdout, or with another metric: the scores are not
  like-for-like, so they are not compared; the newest version becomes champion
  ("holdout changed" / "metric changed"). A new holdout normally means newer data, and a
  model trained on newer data is the better default; the old champion keeps
  `@previous_champion` for an easy rollback.
- Otherwise the new version becomes champion only if it is strictly better (a NaN score never
  wins); the old champion then gets `@previous_champion` and a stale `@challenger` is
  removed (it lost to an older champion). If not better, the new version gets `@challenger`
  and the champion stays.

The decision and its reason are written as tags (`promotion_decision`, `promotion_reason`)
on the model version and on the training run, so both the registry and the run table say why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from churnrec.training.tracking import tracking_client
from churnrec.workspace import Workspace

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

TAG_METRIC = "metric"
TAG_VALUE = "metric_value"
TAG_HOLDOUT = "holdout_id"
TAG_HIGHER_IS_BETTER = "higher_is_better"
TAG_DECISION = "promotion_decision"
TAG_REASON = "promotion_reason"


class ModelNotFoundError(LookupError):
    """No servable model (no store, no registered model, or no @champion) in the workspace."""


@dataclass(frozen=True)
class PromotionDecision:
    name: str
    version: str
    alias: Literal["champion", "challenger"]
    promoted: bool
    reason: str
    metric: str
    value: float
    champion_value: float | None


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # the churnrec object (ChurnModel, RepurchaseModel, Recommender)
    version: str
    run_id: str
    name: str
    alias: str
    metrics: dict[str, float] = field(default_factory=dict)


def _workspace(workspace: Workspace | str | Path) -> Workspace:
    return Workspace.at(workspace)


def _store_exists(ws: Workspace) -> bool:
    """Checked before opening a client, which would create (and migrate) an empty database."""
    return (ws.mlruns_dir / "mlflow.db").exists()


def _version_by_alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:  # unknown registered model or unset alias
        return None


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise


def _model_id(model_uri: str) -> str | None:
    """`models:/m-…` (MLflow 3 logged model) -> its id; registry URIs and runs:/ -> None."""
    if not model_uri.startswith("models:/"):
        return None
    rest = model_uri.removeprefix("models:/")
    return rest if rest.startswith("m-") and "/" not in rest and "@" not in rest else None


def _link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Tag the logged model with its registered versions, as `mlflow.register_model` does (UI link)."""
    existing = client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
    versions = (json.loads(existing) if existing else []) + [{"name": name, "version": version}]
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(versions)})


def _better(value: float, champion_value: float, higher_is_better: bool) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(champion_value):
        return True
    return value > champion_value if higher_is_better else value < champion_value


def decide(
    *,
    metric: str,
    value: float,
    holdout_id: str,
    higher_is_better: bool,
    champion_tags: dict[str, str] | None,
    champion_version: str | None,
) -> tuple[bool, str, float | None]:
    """(promote?, reason, champion's value) from the champion's recorded tags; pure, for tests."""
    if champion_tags is None:
        return True, "first model", None
    champion_metric = champion_tags.get(TAG_METRIC)
    champion_holdout = champion_tags.get(TAG_HOLDOUT)
    raw = champion_tags.get(TAG_VALUE)
    champion_value = float(raw) if raw is not None else None
    if champion_holdout != holdout_id:
        reason = (
            f"holdout changed: champion v{champion_version} was scored on holdout "
            f"{champion_holdout!r}, this version on {holdout_id!r}; not comparable, newest wins"
        )
        return True, reason, champion_value
    if champion_metric != metric or champion_value is None:
        reason = (
            f"metric changed: champion v{champion_version} was scored on {champion_metric!r}, "
            f"this version on {metric!r}; not comparable, newest wins"
        )
        return True, reason, champion_value
    promoted = _better(value, champion_value, higher_is_better)
    verb = "beats" if promoted else "does not beat"
    direction = "higher" if higher_is_better else "lower"
    reason = (
        f"{metric} {value:.6g} {verb} champion v{champion_version} {champion_value:.6g} "
        f"({direction} is better, holdout {holdout_id!r})"
    )
    return promoted, reason, champion_value


def register_and_promote(
    workspace: Workspace | str | Path,
    model_uri: str,
    *,
    name: str,
    run_id: str,
    metric: str,
    value: float,
    higher_is_better: bool = True,
    holdout_id: str,
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name` and move `@champion`/`@challenger`."""
    ws = _workspace(workspace)
    client = tracking_client(ws)
    _ensure_registered_model(client, name)
    value = float(value)
    model_id = _model_id(model_uri)
    # MLflow resolves `models:/m-…` through the *global* tracking URI; resolve it here instead.
    source = client.get_logged_model(model_id).artifact_location if model_id else model_uri
    version = client.create_model_version(
        name=name,
        source=source,
        run_id=run_id,
        model_id=model_id,
        tags={
            TAG_METRIC: metric,
            TAG_VALUE: repr(value),
            TAG_HOLDOUT: holdout_id,
            TAG_HIGHER_IS_BETTER: str(higher_is_better).lower(),
        },
    ).version

    if model_id:
        _link_logged_model(client, model_id, name, version)

    champion = _version_by_alias(client, name, CHAMPION)
    promoted, reason, champion_value = decide(
        metric=metric,
        value=value,
        holdout_id=holdout_id,
        higher_is_better=higher_is_better,
        champion_tags=dict(champion.tags) if champion is not None else None,
        champion_version=champion.version if champion is not None else None,
    )
    if promoted:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, champion.version)
        challenger = _version_by_alias(client, name, CHALLENGER)
        if challenger is not None:
            client.delete_registered_model_alias(name, CHALLENGER)
        client.set_registered_model_alias(name, CHAMPION, version)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)

    alias: Literal["champion", "challenger"] = CHAMPION if promoted else CHALLENGER
    for key, tag_value in ((TAG_DECISION, alias), (TAG_REASON, reason)):
        client.set_model_version_tag(name, version, key, tag_value)
        client.set_tag(run_id, key, tag_value)
    client.set_tag(run_id, "registered_version", f"{name}/{version}")
    return PromotionDecision(
        name=name,
        version=str(version),
        alias=alias,
        promoted=promoted,
        reason=reason,
        metric=metric,
        value=value,
        champion_value=champion_value,
    )


def champion_version(workspace: Workspace | str | Path, name: str) -> str | None:
    """The version behind `@champion`, or None; cheap enough to poll for hot reloads."""
    ws = _workspace(workspace)
    if not _store_exists(ws):
        return None
    found = _version_by_alias(tracking_client(ws), name, CHAMPION)
    return str(found.version) if found is not None else None


def load_champion(workspace: Workspace | str | Path, name: str) -> LoadedModel:
    """Load the churnrec object behind `<name>@champion` with its version, run and metrics."""
    return load_alias(workspace, name, CHAMPION)


def load_alias(workspace: Workspace | str | Path, name: str, alias: str) -> LoadedModel:
    """Load the churnrec object behind `<name>@<alias>` (champion, challenger, ...)."""
    ws = _workspace(workspace)
    missing = ModelNotFoundError(
        f"no {alias} for {name!r} in {ws.mlruns_dir}; run `churnrec train {name}`"
    )
    if not _store_exists(ws):
        raise missing
    client = tracking_client(ws)
    found = _version_by_alias(client, name, alias)
    if found is None:
        raise missing
    uri = client.get_model_version_download_uri(name, found.version)
    pyfunc_model = mlflow.pyfunc.load_model(uri)
    metrics = dict(client.get_run(found.run_id).data.metrics) if found.run_id else {}
    return LoadedModel(
        model=pyfunc_model.unwrap_python_model().model,
        version=str(found.version),
        run_id=found.run_id or "",
        name=name,
        alias=alias,
        metrics=metrics,
    )
