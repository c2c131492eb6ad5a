"""Which snapshot is scored, and whether it is older than the data or the models: scoring a
stale snapshot silently is how a shop calls customers who ordered yesterday."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from churnrec import columns as C
from churnrec.workspace import Workspace, WorkspaceError

SNAPSHOT_FILE = "customer_snapshot.parquet"


def snapshot_dir_for(ws: Workspace, as_of: dt.date | None = None) -> Path:
    """`data/features/as_of=T/` for `as_of`, or the newest; a clear error when absent."""
    if as_of is None:
        return ws.latest_snapshot_dir()
    folder = ws.snapshot_dir(as_of)
    if not (folder / SNAPSHOT_FILE).exists():
        raise WorkspaceError(
            f"no feature snapshot for {as_of} in {ws.features_dir}; "
            f"run `churnrec features --as-of {as_of}` first"
        )
    return folder


def snapshot_date(folder: Path) -> dt.date:
    return dt.date.fromisoformat(folder.name.removeprefix("as_of="))


def newest_order_date(ws: Workspace) -> dt.date | None:
    """Date of the newest ingested order line, from the manifest (None without one)."""
    try:
        orders = ws.read_manifest().get("tables", {}).get(C.ORDERS, {})
    except (WorkspaceError, ValueError):
        return None
    value = orders.get("max_ordered_at")
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def model_facts(ws: Workspace, loaded: Any) -> dict[str, Any]:
    """What /metadata says about one served model version."""
    from mlflow.exceptions import MlflowException

    from churnrec.store.quality import quality_warning
    from churnrec.store.registry import Tag, tracking_client

    tags = dict(loaded.tags or {})
    params: dict[str, str] = {}
    if loaded.run_id:
        try:
            params = dict(tracking_client(ws).get_run(loaded.run_id).data.params)
        except MlflowException:  # a run deleted from the store must not stop serving
            params = {}
    trained_at = (
        dt.datetime.fromtimestamp(loaded.created_at_ms / 1000, tz=dt.UTC).isoformat()
        if loaded.created_at_ms
        else None
    )
    baseline = tags.get(Tag.BASELINE_STRATEGY) or None
    baseline = None if baseline == "none" else baseline  # "none": a trained model serves
    return {
        "version": loaded.version,
        "run_id": loaded.run_id,
        "metrics": loaded.metrics,
        "is_baseline": tags.get(Tag.IS_BASELINE, "").lower() == "true" or baseline is not None,
        "baseline_strategy": baseline,
        "trained_at": trained_at,
        "data_until": params.get("observed_until"),
        # None for versions trained before these tags existed (see `Tag`)
        "trained_through": tags.get(Tag.TRAINED_THROUGH),
        "evaluated_on": tags.get(Tag.EVALUATED_ON),
        # below "fair", `warning` travels with every answer of this model
        "quality": tags.get(Tag.QUALITY),
        "quality_reason": tags.get(Tag.QUALITY_REASON),
        "warning": quality_warning(str(getattr(loaded, "name", "") or "this"), tags),
    }


def freshness_warnings(
    snapshot_as_of: dt.date,
    newest_order: dt.date | None,
    models: dict[str, dict[str, Any]],
) -> list[str]:
    """Plain sentences for every way the snapshot is behind the data or the models."""
    out: list[str] = []
    if newest_order is not None and snapshot_as_of < newest_order:
        out.append(
            f"snapshot as_of={snapshot_as_of} is older than the newest ingested order "
            f"({newest_order}): orders after {snapshot_as_of} are not in these scores; "
            f"run `churnrec features` to build a current snapshot"
        )
    for name, facts in models.items():
        until = facts.get("data_until")
        if until and snapshot_as_of < dt.date.fromisoformat(until[:10]):
            out.append(
                f"snapshot as_of={snapshot_as_of} is older than the data the {name} model "
                f"v{facts['version']} was trained on (up to {until[:10]})"
            )
    return out
