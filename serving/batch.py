"""`churnrec score`: every contactable customer in one file the retention team can use as is.

One row per customer, highest risk first: as-of date, model version, last order date, orders,
total spend, segment, lifecycle, churn probability, tier, expected days to the next order,
suggested action, reasons in words, and the raw contributions in `reason_<n>_*` columns for
analysts. The export feeds campaigns, so only *contactable* customers are in it (recorded
consent, or unknown consent when the shop set `consent_default: allow`); the others are
counted. The file holds personal data: it is written owner-only (0600), and CSV text cells
cannot start a spreadsheet formula.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.progress import stage
from churnrec.serving.config import ServingConfig
from churnrec.serving.consent import lookup, read_consent
from churnrec.serving.private_files import write_private_table
from churnrec.serving.scoring import TIMING_COLUMNS, score_snapshot, sort_by_risk
from churnrec.serving.snapshots import (
    SNAPSHOT_FILE,
    freshness_warnings,
    model_facts,
    newest_order_date,
    snapshot_date,
    snapshot_dir_for,
)
from churnrec.serving.tiers import TIERS, tier_rank
from churnrec.serving.value_columns import CLV, EXPECTED_LOSS, UPLIFT, add_value_columns
from churnrec.workspace import Workspace

EXPORT_COLUMNS = (
    C.AS_OF,
    "model_version",
    C.CUSTOMER_ID,
    "last_order_date",
    "orders",
    "total_spend",
    C.RFM_SEGMENT,
    C.LIFECYCLE_STAGE,
    "churn_probability",
    "risk_tier",
    *TIMING_COLUMNS,
    "action",
    "action_description",
    "reasons",
    C.MARKETING_CONSENT,
    "contactable",
)


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
    churn_version: str
    repurchase_version: str
    snapshot: str
    warnings: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        return [
            (
                f"scored {self.customers_scored:,} customers from {self.snapshot} "
                f"with churn v{self.churn_version} and repurchase v{self.repurchase_version}"
            ),
            (
                f"left out: {self.excluded_no_consent:,} who said no to marketing, "
                f"{self.excluded_unknown_consent:,} with unknown consent, "
                f"{self.excluded_below_min_risk:,} below the minimum risk tier"
            ),
            "by risk tier: " + ", ".join(f"{k}={v:,}" for k, v in self.by_tier.items()),
            "by action: " + ", ".join(f"{k}={v:,}" for k, v in self.by_action.items()),
            f"wrote {self.rows_written:,} rows to {self.out} (owner-only)",
        ]


def score_customers(
    workspace: Workspace,
    *,
    out: Path | None = None,
    min_risk: str | None = None,
    as_of: dt.date | None = None,
    config: ServingConfig | None = None,
) -> BatchScoreResult:
    """Score a snapshot (default: the newest) with the champions and write the export."""
    from churnrec.store.registry import load_champion

    config = config or ServingConfig()
    min_rank = tier_rank(min_risk) if min_risk else 0
    out = out or workspace.outputs_dir / "churn_scores.csv"
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise ValueError(f"--out must end in .csv or .parquet, got {out.name}")
    with stage("load champions"):
        churn = load_champion(workspace, "churn")
        repurchase = load_champion(workspace, "repurchase")
    folder = snapshot_dir_for(workspace, as_of)
    models = {
        "churn": model_facts(workspace, churn),
        "repurchase": model_facts(workspace, repurchase),
    }
    warnings = freshness_warnings(snapshot_date(folder), newest_order_date(workspace), models)
    with stage("score customers") as s:
        snapshot = pd.read_parquet(folder / SNAPSHOT_FILE)
        consent = lookup(read_consent(workspace), snapshot[C.CUSTOMER_ID].astype(str))
        scores = sort_by_risk(
            score_snapshot(snapshot, churn.model, repurchase.model, consent=consent, config=config)
        )
        scores = add_value_columns(workspace, snapshot, scores)  # clv, expected_loss, uplift
        s.note(f"{len(scores):,} customers")
    recorded = pd.Series(scores[C.MARKETING_CONSENT].tolist(), dtype="boolean")
    may_contact = scores["contactable"].astype(bool).to_numpy()
    keep_risk = (scores["risk_tier"].map(tier_rank) >= min_rank).to_numpy()
    export = export_frame(scores[may_contact & keep_risk], churn.version)
    write_private_table(export, out)
    said_no = recorded.eq(False).fillna(False).to_numpy()
    return BatchScoreResult(
        out=out,
        customers_scored=len(scores),
        rows_written=len(export),
        excluded_no_consent=int(said_no.sum()),
        excluded_unknown_consent=int((~may_contact & ~said_no).sum()),
        excluded_below_min_risk=int((may_contact & ~keep_risk).sum()),
        by_tier={t: int((export["risk_tier"] == t).sum()) for t in reversed(TIERS)},
        by_action={str(k): int(v) for k, v in export["action"].value_counts().items()},
        churn_version=churn.version,
        repurchase_version=repurchase.version,
        snapshot=folder.name,
        warnings=warnings + config.warnings(),
    )


def export_frame(scores: pd.DataFrame, model_version: str) -> pd.DataFrame:
    """The export's columns: words for people, `reason_<n>_*` numbers for analysts."""
    out = scores.copy()
    out["model_version"] = model_version
    out["reasons"] = out["reasons"].map(lambda words: "; ".join(words))
    value = [c for c in (CLV, EXPECTED_LOSS, UPLIFT) if c in out.columns]  # when trained
    frame = out[[*EXPORT_COLUMNS, *value]].reset_index(drop=True)
    n = max((len(r) for r in out["top_reasons"]), default=0)
    for i in range(n):
        raw = [r[i] if i < len(r) else {} for r in out["top_reasons"]]
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
