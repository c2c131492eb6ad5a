"""`churnrec score`: every scored customer in one file for the retention team.

Same fields as `/churn_scores` plus next-purchase estimates, highest risk first. Customers who
opted out of marketing are left out of the export (and counted), because the export exists to
feed campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnrec import columns as C
from churnrec.progress import stage
from churnrec.serving.actions import tier_rank
from churnrec.serving.scoring import reasons_as_text, score_snapshot, sort_by_risk
from churnrec.serving.state import snapshot_path
from churnrec.serving.value_columns import add_value_columns
from churnrec.workspace import Workspace


@dataclass(frozen=True)
class BatchScoreResult:
    out: Path
    customers_scored: int
    rows_written: int
    excluded_no_consent: int
    excluded_below_min_risk: int
    by_tier: dict[str, int]
    by_action: dict[str, int]
    churn_version: str
    repurchase_version: str
    snapshot: str

    def summary_lines(self) -> list[str]:
        return [
            (
                f"scored {self.customers_scored:,} customers from {self.snapshot} "
                f"with churn v{self.churn_version} and repurchase v{self.repurchase_version}"
            ),
            (
                f"left out: {self.excluded_no_consent:,} without marketing consent, "
                f"{self.excluded_below_min_risk:,} below the minimum risk tier"
            ),
            "by risk tier: " + ", ".join(f"{k}={v:,}" for k, v in self.by_tier.items()),
            "by action: " + ", ".join(f"{k}={v:,}" for k, v in self.by_action.items()),
            f"wrote {self.rows_written:,} rows to {self.out}",
        ]


def score_customers(
    workspace: Workspace, *, out: Path | None = None, min_risk: str | None = None
) -> BatchScoreResult:
    """Score the latest snapshot with the champions and write the export (CSV or Parquet)."""
    from churnrec.store.registry import load_champion

    min_rank = tier_rank(min_risk) if min_risk else 0
    out = out or workspace.outputs_dir / "churn_scores.csv"
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise ValueError(f"--out must end in .csv or .parquet, got {out.name}")
    with stage("load champions"):
        churn = load_champion(workspace, "churn")
        repurchase = load_champion(workspace, "repurchase")
    path = snapshot_path(workspace)
    with stage("score customers") as s:
        snapshot = pd.read_parquet(path)
        scores = sort_by_risk(score_snapshot(snapshot, churn.model, repurchase.model))
        scores = add_value_columns(workspace, snapshot, scores)  # clv, expected_loss, uplift
        s.note(f"{len(scores):,} customers")
    consent = scores[C.MARKETING_CONSENT].astype(bool)
    keep_risk = scores["risk_tier"].map(tier_rank) >= min_rank
    export = scores[consent & keep_risk].copy()
    export["top_reasons"] = export["top_reasons"].map(reasons_as_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix.lower() == ".parquet":
        export.to_parquet(tmp, index=False)
    else:
        export.to_csv(tmp, index=False)
    tmp.replace(out)
    return BatchScoreResult(
        out=out,
        customers_scored=len(scores),
        rows_written=len(export),
        excluded_no_consent=int((~consent).sum()),
        excluded_below_min_risk=int((consent & ~keep_risk).sum()),
        by_tier={t: int((export["risk_tier"] == t).sum()) for t in ("high", "medium", "low")},
        by_action={str(k): int(v) for k, v in export["action"].value_counts().items()},
        churn_version=churn.version,
        repurchase_version=repurchase.version,
        snapshot=path.parent.name,
    )
