"""`churnrec score`: every contactable customer in one file the retention team can use as is,
from whatever champions exist. It holds personal data: owner-only, formula-safe CSV, and
`<out>.quality.json` beside it says how far to trust each model."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.exports import record_export
from churnrec.files import check_table_path, write_json, write_table
from churnrec.models.base import ModelKind
from churnrec.progress import stage
from churnrec.scores.champions import SCORING_KINDS, Champions, load_champions
from churnrec.scores.config import ServingConfig
from churnrec.scores.table import FACT_COLUMNS, TIMING_COLUMNS
from churnrec.scores.tiers import TIERS, tier_rank
from churnrec.scores.value_columns import read_customers
from churnrec.scores.workspace_scores import score_workspace
from churnrec.workspace import Workspace, WorkspaceError

EXPORT_COLUMNS = (
    C.AS_OF,
    Score.MODEL_VERSION,
    C.CUSTOMER_ID,
    *FACT_COLUMNS,
    *TIMING_COLUMNS,
    Score.ACTION,
    Score.ACTION_DESCRIPTION,
    Score.REASONS,
    C.MARKETING_CONSENT,
    Score.CONTACTABLE,
)


class NothingToScoreError(ValueError):
    """No champion of any model `score` can use: say what to train."""


@dataclass(frozen=True)
class BatchScoreResult:
    out: Path
    customers_scored: int
    rows_written: int
    excluded_no_consent: int
    excluded_unknown_consent: int
    excluded_below_min_risk: int
    by_tier: dict[str, int]
    by_action: dict[str, int]
    snapshot: str | None
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # every model that scored
    quality_warning: str | None = None  # a model below "fair": `score` says so loudly

    def summary_lines(self) -> list[str]:
        used = " and ".join(f"{name} v{v}" for name, v in self.versions.items())
        lines = [
            (
                f"scored {self.customers_scored:,} customers from "
                f"{self.snapshot or 'the customers table'} with {used}"
            ),
            (
                f"left out: {self.excluded_no_consent:,} who said no to marketing, "
                f"{self.excluded_unknown_consent:,} with unknown consent, "
                f"{self.excluded_below_min_risk:,} below the minimum risk tier"
            ),
        ]
        if self.by_tier:
            lines.append(
                "by risk tier: " + ", ".join(f"{k}={v:,}" for k, v in self.by_tier.items())
            )
        if self.by_action:
            lines.append("by action: " + ", ".join(f"{k}={v:,}" for k, v in self.by_action.items()))
        lines.append(f"wrote {self.rows_written:,} rows to {self.out} (owner-only)")
        lines.append(f"model quality beside it: {quality_path(self.out)}")
        return lines


def quality_path(out: Path) -> Path:
    """Where an export's quality statement goes: `<out>.quality.json`."""
    return out.with_name(out.name + ".quality.json")


def write_quality(ws: Workspace, out: Path, champions: Champions) -> str | None:
    """Write `<out>.quality.json` (no personal data) and return its `warning` (None: none)."""
    from churnrec.scores.snapshots import model_facts

    facts = {kind: model_facts(ws, found) for kind, found in champions.loaded.items()}
    models = {
        kind: {k: f[k] for k in ("version", "quality", "quality_reason", "warning")}
        for kind, f in facts.items()
        if kind != ModelKind.RECOMMENDER
    }
    lines = [m["warning"] for m in models.values() if m["warning"]]
    warning = "; ".join(lines) or None
    write_json(quality_path(out), {"models": models, "warning": warning}, indent=2)
    return warning


def empty_export_reason(n_scored: int, n_unknown: int, min_risk: str | None) -> str:
    """Why an export came out empty, and what to add: never an empty file without a word."""
    if n_unknown == n_scored:
        return (
            f"the export is empty: none of the {n_scored:,} customers has recorded marketing "
            "consent, and unknown consent counts as no. Ingest a customers file with a consent "
            "column (`churnrec ingest ... --customers customers.csv`, e.g. `--column "
            "marketing_consent=OptIn`), or, if your shop may contact customers who never said "
            "no, set `consent_default: allow` in the serving config (--config; it warns each time)"
        )
    if min_risk:
        return (
            f"the export is empty: no contactable customer is at risk tier {min_risk!r} or "
            "above; lower --min-risk or leave it out"
        )
    return "the export is empty: every scored customer said no to marketing or is not contactable"


def score_customers(
    workspace: Workspace,
    *,
    out: Path | None = None,
    min_risk: str | None = None,
    as_of: dt.date | None = None,
    config: ServingConfig | None = None,
) -> BatchScoreResult:
    """Score a snapshot (default: the newest) with the champions there are; write the export.
    Uplift alone, without a snapshot, scores the customers table (it reads attributes)."""
    config = config or ServingConfig()
    min_rank = tier_rank(min_risk) if min_risk else 0
    out = out or workspace.outputs_dir / "churn_scores.csv"
    check_table_path(out)
    with stage("load champions"):
        champions = load_champions(workspace, SCORING_KINDS)
    if not champions.loaded:
        raise NothingToScoreError(
            f"no model to score with in {workspace.root}: train one first "
            "(`churnrec train churn`, `churnrec train repurchase`, `churnrec train clv` or "
            "`churnrec train uplift --campaign ...`)"
        )
    churn = champions.loaded.get(ModelKind.CHURN)
    if min_risk and churn is None:
        raise ValueError("--min-risk needs a churn model; run `churnrec train churn` first")
    with stage("score customers") as s:
        scored = score_workspace(workspace, config, as_of=as_of, champions=champions)
        # churn, timing and CLV score snapshot features; uplift alone can score attributes
        needs_snapshot = any(
            k in champions for k in (ModelKind.CHURN, ModelKind.REPURCHASE, ModelKind.CLV)
        )
        if scored.snapshot_problem and (as_of is not None or needs_snapshot):
            raise WorkspaceError(scored.snapshot_problem)
        if scored.snapshot is None and read_customers(workspace) is None:
            raise FileNotFoundError(
                f"no feature snapshot and no customers table in {workspace.data_dir}; "
                "run `churnrec ingest` first"
            )
        scores = _sort(scored.scores, by_expected_loss=config.tiers.rank_by == Score.EXPECTED_LOSS)
        s.note(f"{len(scores):,} customers")
    warnings = list(scored.warnings)
    recorded = pd.Series(scores[C.MARKETING_CONSENT].tolist(), dtype="boolean")
    may_contact = scores[Score.CONTACTABLE].astype(bool).to_numpy()
    keep_risk = (
        (scores[Score.RISK_TIER].map(tier_rank) >= min_rank).to_numpy()
        if Score.RISK_TIER in scores.columns
        else np.ones(len(scores), dtype=bool)
    )
    versions = champions.versions()
    export = export_frame(
        scores[may_contact & keep_risk],
        churn.version if churn else ", ".join(f"{k} v{v}" for k, v in versions.items()),
    )
    write_table(export, out)
    quality_warning = write_quality(workspace, out, champions)
    rule = "not_refused" if config.unknown_consent_allowed else "explicit"
    record_export(workspace, out, "scores", rule)  # stale if a listed customer opts out later
    said_no = recorded.eq(False).fillna(False).to_numpy()
    unknown = ~may_contact & ~said_no
    if len(export) == 0 and len(scores):
        warnings.append(empty_export_reason(len(scores), int(unknown.sum()), min_risk))
    return BatchScoreResult(
        out=out,
        customers_scored=len(scores),
        rows_written=len(export),
        excluded_no_consent=int(said_no.sum()),
        excluded_unknown_consent=int(unknown.sum()),
        excluded_below_min_risk=int((may_contact & ~keep_risk).sum()),
        by_tier={t: int((export[Score.RISK_TIER] == t).sum()) for t in reversed(TIERS)}
        if Score.RISK_TIER in export.columns
        else {},
        by_action={str(k): int(v) for k, v in export[Score.ACTION].value_counts().items()}
        if Score.ACTION in export.columns
        else {},
        snapshot=scored.snapshot_dir.name if scored.snapshot_dir is not None else None,
        warnings=warnings,
        versions=versions,
        quality_warning=quality_warning,
    )


def _sort(scores: pd.DataFrame, *, by_expected_loss: bool = False) -> pd.DataFrame:
    """Highest risk (what the tiers rank), else largest uplift, first; ties by customer id."""
    keys = [Score.EXPECTED_LOSS] if by_expected_loss else []
    keys += [Score.CHURN_PROBABILITY, Score.UPLIFT, Score.EXPECTED_LOSS, Score.CLV]
    key = next((c for c in keys if c in scores.columns), None)
    if key is None:
        return scores.sort_values(C.CUSTOMER_ID, kind="mergesort").reset_index(drop=True)
    return scores.sort_values(
        [key, C.CUSTOMER_ID], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


def export_frame(scores: pd.DataFrame, model_version: str) -> pd.DataFrame:
    """The export's columns: words for people, `reason_<n>_*` numbers for analysts."""
    out = scores.copy()
    out[Score.MODEL_VERSION] = model_version
    if Score.REASONS in out.columns:
        out[Score.REASONS] = out[Score.REASONS].map(lambda words: "; ".join(words))
    value = [
        c for c in (Score.CLV, Score.EXPECTED_LOSS, Score.UPLIFT) if c in out.columns
    ]  # when trained
    present = [c for c in EXPORT_COLUMNS if c in out.columns]  # churn columns need churn
    frame = out[[*present, *value]].reset_index(drop=True)
    reasons = out[Score.TOP_REASONS] if Score.TOP_REASONS in out.columns else []
    n = max((len(r) for r in reasons), default=0)
    for i in range(n):
        raw = [r[i] if i < len(r) else {} for r in out[Score.TOP_REASONS]]
        frame[f"reason_{i + 1}_feature"] = [r.get("feature") for r in raw]
        frame[f"reason_{i + 1}_value"] = _one_type([r.get("value") for r in raw])
        frame[f"reason_{i + 1}_contribution"] = [r.get("contribution") for r in raw]
    return frame


def _one_type(values: list[object]) -> pd.Series:
    """Numbers as floats; a column with any text as text (Parquet needs one type)."""
    try:
        return pd.to_numeric(pd.Series(values, dtype=object), errors="raise").astype(float)
    except (TypeError, ValueError):
        return pd.Series([None if v is None else str(v) for v in values], dtype=object)
