"""What the service serves: the champions of the registry and the scores of the latest snapshot.

A `ServingState` is immutable. Reloading builds a complete new state next to the old one and
then swaps one reference, so a request in flight finishes on the state it started with and no
request ever sees half a reload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.progress import say
from churnrec.serving.scoring import score_snapshot
from churnrec.serving.value_columns import add_value_columns
from churnrec.workspace import Workspace, WorkspaceError

SNAPSHOT_FILE = "customer_snapshot.parquet"
MODEL_NAMES = ("churn", "repurchase", "recommender")


@dataclass(frozen=True)
class ServedVersions:
    """Which registry versions and which snapshot are being served; also the reload key."""

    churn: str | None
    repurchase: str | None
    recommender: str | None
    snapshot: str | None  # snapshot folder name, e.g. "as_of=2025-12-31"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "churn": self.churn,
            "repurchase": self.repurchase,
            "recommender": self.recommender,
            "snapshot": self.snapshot,
        }


@dataclass(frozen=True)
class ServingState:
    versions: ServedVersions
    snapshot_as_of: str | None
    # Scores as plain Python lists per column plus a position per customer id: a request reads
    # a few list items instead of a pandas row lookup (about 50x faster per id).
    columns: dict[str, list[Any]]
    position: dict[str, int]
    recommender: Any | None
    fallback_churn_probability: float
    fallback_timing: dict[str, float]
    loaded_at: float = field(default_factory=time.time)
    model_details: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_customers(self) -> int:
        return len(self.position)

    def row(self, customer_id: str) -> dict[str, Any] | None:
        """One scored customer as a dict (see serving.scoring.SCORE_COLUMNS), or None."""
        i = self.position.get(customer_id)
        if i is None:
            return None
        return {name: values[i] for name, values in self.columns.items()}


def current_versions(ws: Workspace) -> ServedVersions:
    """Cheap look at the registry aliases and the newest snapshot folder (for hot reload)."""
    from churnrec.store.registry import champion_version

    try:
        snapshot = ws.latest_snapshot_dir().name
    except WorkspaceError:
        snapshot = None
    return ServedVersions(
        churn=champion_version(ws, "churn"),
        repurchase=champion_version(ws, "repurchase"),
        recommender=champion_version(ws, "recommender"),
        snapshot=snapshot,
    )


def load_state(ws: Workspace) -> ServingState:
    """Load the champions and score the latest snapshot; raises with a clear message if absent."""
    from churnrec.store.registry import ModelNotFoundError, load_champion

    started = time.perf_counter()
    churn = load_champion(ws, "churn")
    repurchase = load_champion(ws, "repurchase")
    try:
        recommender = load_champion(ws, "recommender")
    except ModelNotFoundError:
        recommender = None  # e.g. orders without item ids: the endpoint says so
    snapshot_dir = ws.latest_snapshot_dir()
    snapshot = pd.read_parquet(snapshot_dir / SNAPSHOT_FILE)
    scores = score_snapshot(snapshot, churn.model, repurchase.model)
    scores = add_value_columns(ws, snapshot, scores)  # clv, expected_loss, uplift when trained
    timing_cols = ["expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d"]
    new_customers = scores[scores[C.LIFECYCLE_STAGE] == "new"]
    prior_rows = new_customers if len(new_customers) else scores
    versions = ServedVersions(
        churn=churn.version,
        repurchase=repurchase.version,
        recommender=recommender.version if recommender else None,
        snapshot=snapshot_dir.name,
    )
    details = {
        loaded.name: {"version": loaded.version, "run_id": loaded.run_id, "metrics": loaded.metrics}
        for loaded in (churn, repurchase, recommender)
        if loaded is not None
    }
    say(
        f"[churnrec] serving state loaded in {time.perf_counter() - started:.1f}s: "
        f"{len(scores):,} customers scored, versions {versions.as_dict()}"
    )
    return ServingState(
        versions=versions,
        snapshot_as_of=snapshot_dir.name.removeprefix("as_of="),
        columns={name: scores[name].tolist() for name in scores.columns},
        position={cid: i for i, cid in enumerate(scores[C.CUSTOMER_ID].tolist())},
        recommender=recommender.model if recommender else None,
        fallback_churn_probability=float(prior_rows["churn_probability"].mean()),
        fallback_timing={c: float(prior_rows[c].mean()) for c in timing_cols},
        model_details=details,
    )


def snapshot_path(ws: Workspace) -> Path:
    return ws.latest_snapshot_dir() / SNAPSHOT_FILE
