"""What the service serves: the champions of the registry and the scores of one snapshot.

A `ServingState` is immutable. Reloading builds a complete new state next to the old one and
then swaps one reference, so a request in flight finishes on the state it started with and no
request ever sees half a reload.

Readiness is per model: a workspace without a churn model (or without a snapshot) still
serves recommendations; `unavailable` says for each missing model why.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.progress import say
from churnrec.serving.config import ServingConfig
from churnrec.serving.consent import lookup, read_consent
from churnrec.serving.drift_status import read_drift
from churnrec.serving.scoring import TIMING_COLUMNS, score_snapshot, timing_frame
from churnrec.serving.snapshots import (
    SNAPSHOT_FILE,
    freshness_warnings,
    model_facts,
    newest_order_date,
    snapshot_date,
    snapshot_dir_for,
)
from churnrec.serving.tiers import (
    TierCuts,
    expected_loss_fallback_note,
    ranking_values,
    tier_cuts,
)
from churnrec.serving.value_columns import add_value_columns, clv_predictions
from churnrec.serving.watch import InputFingerprint, input_fingerprint
from churnrec.workspace import Workspace, WorkspaceError

MODEL_NAMES = ("churn", "repurchase", "recommender", "demand")


@dataclass(frozen=True)
class ServedVersions:
    """Which registry versions and which snapshot are being served."""

    churn: str | None
    repurchase: str | None
    recommender: str | None
    snapshot: str | None  # snapshot folder name, e.g. "as_of=2025-12-31"
    demand: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "churn": self.churn,
            "repurchase": self.repurchase,
            "recommender": self.recommender,
            "demand": self.demand,
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
    fingerprint: InputFingerprint | None = None
    tier_cuts: TierCuts = field(default_factory=lambda: TierCuts(0.7, 0.4))
    consent: dict[str, bool | None] = field(default_factory=dict)
    unknown_consent_allowed: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    newest_order_date: str | None = None
    drift: dict[str, Any] | None = None  # summary of data/drift/latest.json
    fallback_rank_value: float | None = None  # what an unknown id is tiered on (None: p)
    demand: Any | None = None  # the demand champion (`models.demand.DemandModel`)

    @property
    def n_customers(self) -> int:
        return len(self.position)

    @property
    def serving(self) -> list[str]:
        return [name for name in MODEL_NAMES if name not in self.unavailable]

    def serves(self, name: str) -> bool:
        return name not in self.unavailable

    def row(self, customer_id: str) -> dict[str, Any] | None:
        """One scored customer as a dict (see serving.scoring.SCORE_COLUMNS), or None."""
        i = self.position.get(customer_id)
        if i is None:
            return None
        return {name: values[i] for name, values in self.columns.items()}

    def recorded_consent(self, customer_id: str) -> bool | None:
        return self.consent.get(customer_id)


def current_versions(
    ws: Workspace, as_of: dt.date | None = None, previous: InputFingerprint | None = None
) -> InputFingerprint:
    """Cheap look at everything a state depends on (for the reload watch)."""
    return input_fingerprint(ws, as_of, previous)


def load_state(
    ws: Workspace, config: ServingConfig | None = None, as_of: dt.date | None = None
) -> ServingState:
    """Load whichever champions exist and score the snapshot; never raises for a missing one."""
    from churnrec.store.registry import ModelNotFoundError, load_champion

    config = config or ServingConfig()
    started = time.perf_counter()
    fingerprint = input_fingerprint(ws, as_of)
    unavailable: dict[str, str] = {}
    loaded: dict[str, Any] = {}
    for name in MODEL_NAMES:
        try:
            loaded[name] = load_champion(ws, name)
        except ModelNotFoundError as exc:
            unavailable[name] = str(exc)
    snapshot: pd.DataFrame | None = None
    snapshot_dir: Path | None = None
    try:
        snapshot_dir = snapshot_dir_for(ws, as_of)
        snapshot = pd.read_parquet(snapshot_dir / SNAPSHOT_FILE)
    except WorkspaceError as exc:
        for name in ("churn", "repurchase"):  # both score the snapshot: say every reason
            unavailable[name] = "; ".join(filter(None, (unavailable.get(name), str(exc))))
    recorded = read_consent(ws)
    clv = clv_predictions(ws, snapshot) if config.tiers.rank_by == "expected_loss" else None
    scores = _score(snapshot, loaded, recorded, config, clv)
    if snapshot is not None and len(scores):
        scores = add_value_columns(ws, snapshot, scores)  # clv, expected_loss, uplift
    ranked, rank_by = (
        ranking_values(scores["churn_probability"].to_numpy(), clv, config.tiers)
        if "churn_probability" in scores
        else (pd.Series(dtype=float).to_numpy(), "churn_probability")
    )
    cuts = replace(tier_cuts(ranked, config.tiers), rank_by=rank_by)
    new_customers = (
        scores[scores[C.LIFECYCLE_STAGE] == "new"] if C.LIFECYCLE_STAGE in scores else scores
    )
    prior_rows = new_customers if len(new_customers) else scores
    details = {name: model_facts(ws, model) for name, model in loaded.items()}
    newest = newest_order_date(ws)
    as_of_served = snapshot_date(snapshot_dir) if snapshot_dir is not None else None
    served_models = {k: v for k, v in details.items() if k not in unavailable}
    warnings = (
        freshness_warnings(as_of_served, newest, served_models) if as_of_served else []
    ) + config.warnings()
    if "churn_probability" in scores:
        warnings += expected_loss_fallback_note(config.tiers, clv)
    drift, drift_lines = read_drift(ws)
    warnings += drift_lines
    versions = ServedVersions(
        churn=_version(loaded, unavailable, "churn"),
        repurchase=_version(loaded, unavailable, "repurchase"),
        recommender=_version(loaded, unavailable, "recommender"),
        snapshot=snapshot_dir.name if snapshot_dir is not None else None,
        demand=_version(loaded, unavailable, "demand"),
    )
    say(
        f"[churnrec] serving state loaded in {time.perf_counter() - started:.1f}s: "
        f"{len(scores):,} customers scored, versions {versions.as_dict()}"
    )
    for line in warnings:
        say(f"[churnrec] WARNING: {line}")
    return ServingState(
        versions=versions,
        snapshot_as_of=as_of_served.isoformat() if as_of_served else None,
        columns={name: scores[name].tolist() for name in scores.columns},
        position={cid: i for i, cid in enumerate(scores[C.CUSTOMER_ID].tolist())}
        if C.CUSTOMER_ID in scores
        else {},
        recommender=loaded["recommender"].model if "recommender" in loaded else None,
        fallback_churn_probability=_mean(prior_rows, "churn_probability"),
        fallback_rank_value=_mean(
            prior_rows, rank_by if rank_by in prior_rows else "churn_probability"
        ),
        fallback_timing={c: _mean(prior_rows, c) for c in TIMING_COLUMNS},
        model_details=details,
        fingerprint=fingerprint,
        tier_cuts=cuts,
        consent={str(k): (None if pd.isna(v) else bool(v)) for k, v in recorded.items()},
        unknown_consent_allowed=config.unknown_consent_allowed,
        unavailable=unavailable,
        warnings=tuple(warnings),
        newest_order_date=newest.isoformat() if newest else None,
        drift=drift,
        demand=loaded["demand"].model if "demand" in loaded else None,
    )


def _score(
    snapshot: pd.DataFrame | None,
    loaded: dict[str, Any],
    recorded: pd.Series,
    config: ServingConfig,
    clv: Any = None,
) -> pd.DataFrame:
    if snapshot is None:
        return pd.DataFrame()
    repurchase = loaded["repurchase"].model if "repurchase" in loaded else None
    if "churn" in loaded:
        consent = lookup(recorded, snapshot[C.CUSTOMER_ID].astype(str))
        return score_snapshot(
            snapshot, loaded["churn"].model, repurchase, consent=consent, config=config, clv=clv
        )
    if repurchase is None:
        return pd.DataFrame()
    timing = timing_frame(snapshot, repurchase)
    timing.insert(0, C.CUSTOMER_ID, snapshot[C.CUSTOMER_ID].astype(str).to_numpy())
    return timing


def _version(loaded: dict[str, Any], unavailable: dict[str, str], name: str) -> str | None:
    return loaded[name].version if name in loaded and name not in unavailable else None


def _mean(frame: pd.DataFrame, column: str) -> float:
    if column not in frame or frame.empty:
        return float("nan")
    return float(frame[column].mean())
