"""Score a workspace's snapshot with its champions: the one sequence the HTTP state, `churnrec
score` and refresh run, so they cannot disagree about a customer's scores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models.base import ModelKind
from churnrec.scores.champions import SCORING_KINDS, Champions, load_champions
from churnrec.scores.config import ServingConfig
from churnrec.scores.consent import lookup, read_consent
from churnrec.scores.snapshots import (
    SNAPSHOT_FILE,
    freshness_warnings,
    model_facts,
    newest_order_date,
    snapshot_date,
    snapshot_dir_for,
)
from churnrec.scores.table import add_timing, score_snapshot, unscored_rows
from churnrec.scores.tiers import expected_loss_fallback_note
from churnrec.scores.value_columns import add_value_columns, read_customers
from churnrec.workspace import Workspace, WorkspaceError


@dataclass(frozen=True)
class WorkspaceScores:
    """The scores table of one snapshot and everything needed to say where it came from."""

    scores: pd.DataFrame  # one row per customer; see scores.table.SCORE_COLUMNS
    champions: Champions
    snapshot: pd.DataFrame | None
    snapshot_dir: Path | None
    recorded_consent: pd.Series  # customer_id -> True / False / <NA>, from the customers table
    clv: np.ndarray | None  # per snapshot row, when tiers rank by expected loss
    warnings: list[str] = field(default_factory=list)
    snapshot_problem: str | None = None  # why no snapshot was scored

    @property
    def snapshot_as_of(self) -> dt.date | None:
        return snapshot_date(self.snapshot_dir) if self.snapshot_dir is not None else None


def score_workspace(
    ws: Workspace,
    config: ServingConfig | None = None,
    *,
    as_of: dt.date | None = None,
    champions: Champions | None = None,
) -> WorkspaceScores:
    """Score the snapshot at `as_of` (default: the newest) with whatever champions exist. Never
    raises for a missing model or snapshot: the table is smaller and the reason is in
    `champions.missing` / `snapshot_problem`."""
    config = config or ServingConfig()
    champions = champions or load_champions(ws, SCORING_KINDS)
    snapshot, folder, problem = read_snapshot(ws, as_of)
    customers = read_customers(ws)  # read once: consent, the rows to score and uplift agree
    recorded = read_consent(ws, customers)
    warnings: list[str] = []
    if folder is not None:
        facts = {kind: model_facts(ws, found) for kind, found in champions.loaded.items()}
        warnings += freshness_warnings(snapshot_date(folder), newest_order_date(ws), facts)
    clv = None
    if ModelKind.CHURN in champions and snapshot is not None:
        if config.tiers.rank_by == Score.EXPECTED_LOSS:
            clv = tier_clv(champions, snapshot)
            warnings += expected_loss_fallback_note(config.tiers, clv)
        consent = lookup(recorded, snapshot[C.CUSTOMER_ID].astype(str))
        scores = score_snapshot(
            snapshot,
            champions.model(ModelKind.CHURN),
            champions.model(ModelKind.REPURCHASE),
            consent=consent,
            config=config,
            clv=clv,
        )
    else:
        ids = _customer_ids(snapshot, customers)
        scores = unscored_rows(
            snapshot,
            ids,
            champions.model(ModelKind.REPURCHASE),
            consent=lookup(recorded, ids),
            config=config,
        )
    history = snapshot
    if snapshot is None and ModelKind.UPLIFT in champions:  # uplift reads the order history
        history, note = history_for_uplift(ws)
        warnings += [note] if note else []
    if len(scores):
        scores = add_value_columns(
            history if history is not None else pd.DataFrame(),
            scores,
            clv_model=champions.model(ModelKind.CLV),
            uplift_model=champions.model(ModelKind.UPLIFT),
            customers=customers,
            clv=clv,
        )
    return WorkspaceScores(
        scores=scores,
        champions=champions,
        snapshot=snapshot,
        snapshot_dir=folder,
        recorded_consent=recorded,
        clv=clv,
        warnings=warnings + config.warnings(),
        snapshot_problem=problem,
    )


def model_scores(snapshot: pd.DataFrame, champions: Champions) -> pd.DataFrame:
    """The bare model outputs per snapshot row (churn probability, timing), for what compares
    scores rather than acts on them (drift check, report): no consent, tiers or actions."""
    out = pd.DataFrame(index=range(len(snapshot)))
    churn = champions.model(ModelKind.CHURN)
    if churn is not None:
        frame = snapshot.reset_index(drop=True)
        out[Score.CHURN_PROBABILITY] = np.asarray(churn.predict_proba(frame), dtype=float)
    if ModelKind.REPURCHASE in champions:
        add_timing(out, snapshot, champions.model(ModelKind.REPURCHASE))
    return out


def read_snapshot(
    ws: Workspace, as_of: dt.date | None = None
) -> tuple[pd.DataFrame | None, Path | None, str | None]:
    """(snapshot, its folder, None), or (None, None, why there is none)."""
    try:
        folder = snapshot_dir_for(ws, as_of)
    except WorkspaceError as exc:
        return None, None, str(exc)
    return pd.read_parquet(folder / SNAPSHOT_FILE), folder, None


def tier_clv(champions: Champions, snapshot: pd.DataFrame) -> np.ndarray | None:
    """CLV per snapshot row for `rank_by: expected_loss` tiers (None without a clv champion)."""
    model = champions.model(ModelKind.CLV)
    if model is None or snapshot.empty:
        return None
    return np.asarray(model.predict(snapshot), dtype="float64")


def _customer_ids(snapshot: pd.DataFrame | None, customers: pd.DataFrame | None) -> pd.Series:
    """The rows to score: the snapshot's customers, else the customers table's (may be none)."""
    if snapshot is not None:
        return snapshot[C.CUSTOMER_ID].astype(str).reset_index(drop=True)
    if customers is None:
        return pd.Series([], dtype=str)
    return customers[C.CUSTOMER_ID].astype(str).drop_duplicates().reset_index(drop=True)


def history_for_uplift(ws: Workspace) -> tuple[pd.DataFrame | None, str | None]:
    """Order-history features for uplift when no snapshot was built, as of the newest order:
    uplift was fitted on a snapshot plus attributes, and would lack its history columns."""
    from churnrec.features.db import connect
    from churnrec.features.snapshot import build_customer_snapshot

    newest = newest_order_date(ws)
    if newest is None or not ws.table_path(C.ORDERS).exists():
        return None, None
    snapshot = build_customer_snapshot(connect(ws), newest)
    note = (
        f"no feature snapshot: uplift read the order history up to the newest order "
        f"({newest}); run `churnrec features` to score a snapshot you keep"
    )
    return snapshot, note
