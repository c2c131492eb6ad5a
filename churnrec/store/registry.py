"""Registered models of a workspace, one per kind: write a version, move aliases, look up, load.

*Whether* to promote is the training layer's policy (`training.promotion`); this only does it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from churnrec.files import owner_only, owner_only_umask, private_dir
from churnrec.models.base import resolve_class
from churnrec.store.packaging import load_model_folder
from churnrec.store.relocate import relocate_if_moved, resolve_artifact_path
from churnrec.workspace import Workspace

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"

EVALUATED_MODEL_DIR = "evaluated_model"  # run artifact: the measured fit (`save` folder)
MEASURED_CLASS_FILE = "class.json"


# Marks an experiment as classic model training, so the MLflow UI (3.x) opens its runs,
# metrics and models rather than its GenAI view (traces, judges, prompts). A kind chosen by
# hand in the UI is left as it is.
MODEL_TRAINING_KIND = "custom_model_development"


class Tag:
    """Every tag churnrec writes on MLflow runs, model versions and experiments: one home."""

    ERASED_AT = "erased_at"
    METRIC = "metric"
    VALUE = "metric_value"
    HOLDOUT = "holdout_id"
    HIGHER_IS_BETTER = "higher_is_better"
    DECISION = "promotion_decision"
    REASON = "promotion_reason"
    # what every kind's versions say about their data (set by `training.publish`):
    TRAINED_THROUGH = "trained_through"  # last day of outcomes the served fit learned from
    EVALUATED_ON = "evaluated_on"  # `START..END`: the holdout window it was measured on
    EXPERIMENT_KIND = "mlflow.experimentKind"
    PID = "churnrec.pid"  # which process runs it, so a later command can tell a dead run
    HOST = "churnrec.host"
    BEATS_BASELINES = "beats_baselines"
    BASELINES_NOT_BEATEN = "baselines_not_beaten"
    COMPARED_WITH = "compared_with"
    CHAMPION_VALUE = "champion_metric_value"
    DIFF = "paired_diff"
    CI_LOW = "paired_ci_low"
    CI_HIGH = "paired_ci_high"
    GUARDS = "guards"
    IS_BASELINE = "is_baseline"
    BASELINE_STRATEGY = "baseline_strategy"
    LAST_ACTION = "last_action"
    STEP = "churnrec.refresh_step"  # the refresh step (child run) a training run belongs to
    PARENT_RUN = "mlflow.parentRunId"
    QUALITY = "quality"  # the holdout quality band (`training.quality`)
    QUALITY_REASON = "quality_reason"  # one sentence: the numbers the band came from


def ensure_experiment(workspace: Workspace | str | Path, name: str) -> str:
    """The id of experiment `name` (created with its artifacts under `mlruns/<name>/`), marked
    as a model-training experiment. The one place churnrec creates experiments."""
    ws = Workspace.at(workspace)
    client = tracking_client(ws)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(
            name,
            artifact_location=(ws.mlruns_dir / name).as_uri(),
            tags={Tag.EXPERIMENT_KIND: MODEL_TRAINING_KIND},
        )
    if Tag.EXPERIMENT_KIND not in experiment.tags:
        client.set_experiment_tag(
            experiment.experiment_id, Tag.EXPERIMENT_KIND, MODEL_TRAINING_KIND
        )
    return experiment.experiment_id


class ModelNotFoundError(LookupError):
    """No servable model (no store, no registered model, or no such alias) in the workspace."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # the churnrec object (ChurnModel, RepurchaseModel, Recommender, ...)
    version: str
    run_id: str
    name: str
    alias: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at_ms: int | None = None


def store_exists(workspace: Workspace | str | Path) -> bool:
    """Checked before opening a client, which would create (and migrate) an empty database."""
    return (Workspace.at(workspace).mlruns_dir / "mlflow.db").exists()


def tracking_client(workspace: Workspace | str | Path) -> MlflowClient:
    """A client bound to the workspace store, independent of MLflow's global state; a moved
    workspace has its recorded locations rewritten first."""
    ws = Workspace.at(workspace)
    private_dir(ws.mlruns_dir)  # runs hold customer-level artifacts: owner-only
    relocate_if_moved(ws.mlruns_dir)
    with owner_only_umask():  # the client creates mlflow.db (SQLite gives -wal/-shm its mode)
        client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    for db in ws.mlruns_dir.glob("mlflow.db*"):  # stores made before files were owner-only
        if db.stat().st_mode & 0o077:
            owner_only(db)
    return client


def version_by_alias(client: MlflowClient, name: str, alias: str) -> Any | None:
    """The model version behind `name@alias`, or None (unknown model or unset alias)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _model_id(model_uri: str) -> str | None:
    """`models:/m-…` (MLflow 3 logged model) -> its id; registry URIs and runs:/ -> None."""
    if not model_uri.startswith("models:/"):
        return None
    rest = model_uri.removeprefix("models:/")
    return rest if rest.startswith("m-") and "/" not in rest and "@" not in rest else None


def _link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Tag the logged model with its registered versions, as `mlflow.register_model` does."""
    existing = client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
    versions = (json.loads(existing) if existing else []) + [{"name": name, "version": version}]
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(versions)})


def register_version(
    client: MlflowClient, model_uri: str, *, name: str, run_id: str, tags: dict[str, str]
) -> str:
    """Register `model_uri` (a logged model) as a new version of `name`; return the version.
    Under an owner-only umask: whatever MLflow writes for it is 0600/0700."""
    with owner_only_umask():
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        model_id = _model_id(model_uri)
        # MLflow resolves `models:/m-…` through the *global* tracking URI; resolve it here.
        source = client.get_logged_model(model_id).artifact_location if model_id else model_uri
        version = client.create_model_version(
            name=name, source=source, run_id=run_id, model_id=model_id, tags=tags
        ).version
        if model_id:
            _link_logged_model(client, model_id, name, str(version))
        return str(version)


def champion_version(workspace: Workspace | str | Path, name: str) -> str | None:
    """The version behind `@champion`, or None; cheap enough to poll for hot reloads."""
    return alias_version(workspace, name, CHAMPION)


def alias_version(workspace: Workspace | str | Path, name: str, alias: str) -> str | None:
    """The version behind `name@alias`, or None."""
    if not store_exists(workspace):
        return None
    found = version_by_alias(tracking_client(workspace), name, alias)
    return str(found.version) if found is not None else None


def aliases(workspace: Workspace | str | Path, name: str) -> dict[str, str]:
    """`{alias: version}` of a registered model; empty when there is none."""
    if not store_exists(workspace):
        return {}
    try:
        model = tracking_client(workspace).get_registered_model(name)
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in model.aliases.items()}


def list_versions(workspace: Workspace | str | Path, name: str) -> list[Any]:
    """Every version of `name`, newest first (MLflow `ModelVersion` objects)."""
    if not store_exists(workspace):
        return []
    client = tracking_client(workspace)
    found = client.search_model_versions(f"name = '{name}'")
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def load_champion(workspace: Workspace | str | Path, name: str) -> LoadedModel:
    """Load the churnrec object behind `<name>@champion` with its version, run and metrics."""
    return load_alias(workspace, name, CHAMPION)


def load_alias(workspace: Workspace | str | Path, name: str, alias: str) -> LoadedModel:
    """Load the churnrec object behind `<name>@<alias>` (champion, challenger, ...)."""
    ws = Workspace.at(workspace)
    client = tracking_client(ws) if store_exists(ws) else None
    found = version_by_alias(client, name, alias) if client is not None else None
    if found is None:
        raise ModelNotFoundError(
            f"no {alias} for {name!r} in {ws.mlruns_dir}; run `churnrec train {name}`"
        )
    return _load(ws, client, found, alias)


def load_version(workspace: Workspace | str | Path, name: str, version: str) -> LoadedModel:
    """Load one registered version by number."""
    ws = Workspace.at(workspace)
    if not store_exists(ws):
        raise ModelNotFoundError(f"no model store in {ws.mlruns_dir}")
    client = tracking_client(ws)
    try:
        found = client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise ModelNotFoundError(f"no version {version} of {name!r} in {ws.mlruns_dir}") from exc
    return _load(ws, client, found, f"v{version}")


def _load(ws: Workspace, client: MlflowClient, found: Any, alias: str) -> LoadedModel:
    # Straight from the model folder, without MLflow's pyfunc loader: it would put the model's
    # own code copy on sys.path of this (serving) process.
    location = client.get_model_version_download_uri(found.name, found.version)
    model = load_model_folder(resolve_artifact_path(location, ws.mlruns_dir))
    metrics = dict(client.get_run(found.run_id).data.metrics) if found.run_id else {}
    return LoadedModel(
        model=model,
        version=str(found.version),
        run_id=found.run_id or "",
        name=found.name,
        alias=alias,
        metrics=metrics,
        tags=dict(found.tags),
        created_at_ms=found.creation_timestamp,
    )


def load_measured_fit(workspace: Workspace | str | Path, run_id: str) -> Any:
    """The measured fit a run logged beside its served model (`ModelNotFoundError`: none)."""
    ws = Workspace.at(workspace)
    client = tracking_client(ws)
    root = resolve_artifact_path(client.get_run(run_id).info.artifact_uri, ws.mlruns_dir)
    folder = root / EVALUATED_MODEL_DIR
    if not (folder / MEASURED_CLASS_FILE).exists():
        raise ModelNotFoundError(f"run {run_id} logged no measured fit ({EVALUATED_MODEL_DIR}/)")
    return load_measured_fit_folder(folder)


def load_measured_fit_folder(folder: Path) -> Any:
    """The model saved in a measured-fit folder, by the class its `class.json` names."""
    cls = resolve_class(json.loads((folder / MEASURED_CLASS_FILE).read_text())["class"])
    return cls.load(folder)
