"""MLflow tracking for churnrec jobs: one SQLite store per workspace (`mlruns/mlflow.db`), small
named log functions; nothing is configured at import time."""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

import churnrec
from churnrec.files import owner_only_umask, private_tree
from churnrec.progress import say
from churnrec.store.registry import Tag, ensure_experiment, store_exists, tracking_client
from churnrec.workspace import Workspace

MAX_PARAM_CHARS = 6000  # MLflow's limit on one param value
SCHEMA_SAMPLE_ROWS = 10_000  # rows a logged dataset's column types are read from
METRICS_VS_BASELINES_JSON = "metrics_vs_baselines.json"
METRICS_VS_BASELINES_PNG = "metrics_vs_baselines.png"
FEATURES_JSON = "features.json"
STALE_WITHOUT_PID_S = 24 * 3600  # runs from before the pid tag: failed when this old


def mark_dead_runs(workspace: Workspace | str | Path) -> list[str]:
    """Mark RUNNING runs whose process is gone (a kill leaves them RUNNING forever) as FAILED:
    its pid on this host is gone, or (no pid tag) older than `STALE_WITHOUT_PID_S`; other hosts'
    runs cannot be checked and stay. Returns the run ids marked."""
    from churnrec.features.db import process_alive

    ws = Workspace.at(workspace)
    if not store_exists(ws):
        return []
    client = tracking_client(ws)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    host = socket.gethostname()
    now_ms = time.time() * 1000
    marked = []
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'"):
        tags = run.data.tags
        pid = tags.get(Tag.PID)
        if pid is not None:
            dead = tags.get(Tag.HOST) == host and pid.isdigit() and not process_alive(int(pid))
        else:
            dead = now_ms - (run.info.start_time or now_ms) > STALE_WITHOUT_PID_S * 1000
        if dead:
            client.set_tag(
                run.info.run_id, "failure_reason", "process ended without closing the run"
            )
            client.set_terminated(run.info.run_id, status="FAILED")
            marked.append(run.info.run_id)
    if marked:
        say(f"[churnrec] marked {len(marked)} abandoned MLflow run(s) FAILED")
    return marked


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(churnrec.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version_tags() -> dict[str, str]:
    """Which code trained the run: git commit of the churnrec checkout, dirty flag, version."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "churnrec_version": churnrec.__version__,
    }


@contextmanager
def start_run(
    workspace: Workspace | str | Path,
    experiment: str,
    *,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Open a run in `experiment` (created on first use) in the workspace store, tagged with
    the code version; FAILED when the block raises. Artifacts hold customer-level data, so all
    written meanwhile is owner-only, and the store is closed to the owner again afterwards."""
    ws = Workspace.at(workspace)
    # Progress bars for local artifact copies are noise between churnrec's own stage lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(ws.tracking_uri)
    mlflow.set_registry_uri(ws.tracking_uri)
    experiment_id = ensure_experiment(ws, experiment)
    all_tags = {
        **code_version_tags(),
        Tag.PID: str(os.getpid()),
        Tag.HOST: socket.gethostname(),
        **{k: str(v) for k, v in (tags or {}).items()},
    }
    try:
        with (
            owner_only_umask(),
            mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags) as run,
        ):
            yield run
    finally:
        private_tree(ws.mlruns_dir)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"model": {"depth": 3}}` -> `{"model.depth": "3"}`, longer values cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
            continue
        text = str(value)
        flat[name] = text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."
    return flat


def log_params(params: Mapping[str, Any]) -> None:
    """Log (nested) parameters to the active run, flattened with dots."""
    flat = flatten_params(params)
    if flat:
        mlflow.log_params(flat)


def metrics_vs_baselines(
    metrics: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float | None]]:
    """`{metric: {"model": v, <baseline>: v, ...}}` for every metric the model reports."""
    return {
        metric: {"model": _finite_or_none(value)}
        | {b: _finite_or_none(v[metric]) for b, v in baselines.items() if metric in v}
        for metric, value in metrics.items()
    }


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def log_metrics_with_baselines(
    metrics: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]]
) -> None:
    """Log the model's metrics, each baseline's as `<baseline>_<metric>` (comparable column by
    column in the MLflow UI), and a JSON table and chart of model vs baselines."""
    flat = {name: float(value) for name, value in metrics.items()}
    for baseline, values in baselines.items():
        flat.update({f"{baseline}_{name}": float(value) for name, value in values.items()})
    if flat:
        mlflow.log_metrics(flat)
    table = metrics_vs_baselines(metrics, baselines)
    mlflow.log_dict(table, METRICS_VS_BASELINES_JSON)
    if table:
        from churnrec.store.plots import grouped_metrics_figure

        log_figure(grouped_metrics_figure(table), METRICS_VS_BASELINES_PNG)


def dataset_fingerprint(df: pd.DataFrame) -> str:
    """Hash of every row, the column names and dtypes (MLflow's own digest samples rows)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _local_source(source: str | Path) -> Any:
    """A "local" dataset source built directly: MLflow finds two equal readings of a bare path."""
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json

    uri = str(Path(source).resolve()) if "://" not in str(source) else str(source)
    return get_dataset_source_from_json(json.dumps({"uri": uri}), source_type="local")


def _sampled_schema(df: pd.DataFrame, rows: int = SCHEMA_SAMPLE_ROWS) -> Any:
    """The frame's MLflow schema from its first `rows` rows (MLflow types text value by value:
    a minute per million rows); None, to let MLflow infer it, when a text column is empty."""
    from mlflow.types.utils import _infer_schema

    head = df.head(rows)
    text = [c for c in head.columns if pd.api.types.is_string_dtype(head[c].dtype)]  # object too
    if any(head[c].isna().all() for c in text):
        return None
    return _infer_schema(head)


def log_dataset(df: pd.DataFrame, *, name: str, context: str, source: str | Path) -> str:
    """Record a frame used by the run (e.g. context "training"/"holdout"); return its fingerprint.
    Params `data_<context>_fingerprint` and `_rows` make runs on other data stand out."""
    fingerprint = dataset_fingerprint(df)
    dataset = mlflow.data.from_pandas(
        df, source=_local_source(source), name=name, digest=fingerprint
    )
    schema = _sampled_schema(df)
    if schema is not None:
        dataset.__dict__["schema"] = schema  # fills MLflow's cached property
    mlflow.log_input(dataset, context=context)
    mlflow.log_params(
        {f"data_{context}_fingerprint": fingerprint, f"data_{context}_rows": str(len(df))}
    )
    return fingerprint


def log_figure(fig: Any, filename: str) -> None:
    """Log a matplotlib figure as an artifact and release it."""
    mlflow.log_figure(fig, filename)
    import matplotlib.pyplot as plt  # close() is a no-op for figures pyplot does not manage

    plt.close(fig)


def log_feature_list(names: Sequence[str]) -> None:
    """The model's input features, in order, as `features.json` plus param `n_features`."""
    mlflow.log_dict({"features": list(names)}, FEATURES_JSON)
    mlflow.log_param("n_features", len(names))
