"""Who to contact in the next campaign: ranked by expected incremental profit from uplift.

Profit = uplift x margin - cost per contact; consenting, profitable customers only. The expected
gain is what the uplift model's *holdout* supports (its own sum promised far more), with a 95% CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.exports import record_export
from churnrec.files import check_table_path, write_table
from churnrec.models.base import ModelKind
from churnrec.scores.consent import contactable, lookup, read_consent
from churnrec.scores.value_columns import read_customers, uplift_scores
from churnrec.scores.workspace_scores import read_snapshot
from churnrec.store.quality import holdout_calibration, supported_per_contact
from churnrec.workspace import Workspace

EXPECTED_PROFIT = "expected_incremental_profit"
RANK = "rank"


class TargetingError(ValueError):
    """The request cannot be answered (no uplift model, bad size/budget)."""


@dataclass(frozen=True)
class TargetResult:
    out: Path
    contacts: int
    candidates: int
    excluded_no_consent: int
    excluded_not_profitable: int
    expected_incremental_outcome: float
    expected_incremental_profit: float
    outcome: str
    campaign_id: str
    model_incremental_outcome: float = math.nan  # the sum of the model's own predictions
    interval: tuple[float, float] = (math.nan, math.nan)  # of expected_incremental_outcome
    calibrated_on_share: float | None = None  # top share of held-out customers it comes from

    def summary_lines(self) -> list[str]:
        left_out = (
            f"{self.excluded_no_consent:,} without explicit marketing consent, "
            f"{self.excluded_not_profitable:,} not expected to pay off"
        )
        if self.calibrated_on_share is None:
            support = " (the model's own figure: this version has no holdout calibration)"
        else:
            low, high = self.interval
            support = (
                f" (95% interval {low:+,.1f} to {high:+,.1f}: observed on the uplift model's "
                f"held-out customers, top {self.calibrated_on_share:.0%}; the model's own sum "
                f"is {self.model_incremental_outcome:+,.1f})"
            )
        expected = (
            f"expected incremental {self.outcome}: {self.expected_incremental_outcome:+,.1f}"
            f"{support}, expected incremental profit: {self.expected_incremental_profit:+,.2f}"
        )
        return [
            f"uplift model from campaign {self.campaign_id!r} (outcome {self.outcome})",
            f"contact {self.contacts:,} of {self.candidates:,} customers; left out: {left_out}",
            expected,
            f"wrote {self.contacts:,} rows to {self.out}",
        ]


def build_target_list(
    workspace: Workspace | str | Path,
    *,
    campaign_size: int | None = None,
    budget: float | None = None,
    cost_per_contact: float = 0.0,
    margin: float = 1.0,
    out: Path | None = None,
) -> TargetResult:
    """Rank consenting customers by expected incremental profit; write the top of the list."""
    from churnrec.store.registry import ModelNotFoundError, load_champion

    ws = Workspace.at(workspace)
    if (campaign_size is None) == (budget is None):
        raise TargetingError(
            "give either --campaign-size N or --budget B (with --cost-per-contact)"
        )
    if budget is not None and cost_per_contact <= 0:
        raise TargetingError("--budget needs a positive --cost-per-contact")
    if campaign_size is not None and campaign_size < 1:
        raise TargetingError(f"--campaign-size must be at least 1, got {campaign_size}")
    if cost_per_contact < 0 or margin <= 0:
        raise TargetingError("--cost-per-contact must be >= 0 and --margin > 0")
    out = out or ws.outputs_dir / "target_list.csv"
    check_table_path(out, TargetingError)  # before the uplift model is loaded and scored
    try:
        loaded = load_champion(ws, ModelKind.UPLIFT)
    except ModelNotFoundError as exc:
        raise TargetingError(f"{exc} (train one on a past campaign first)") from None
    model = loaded.model
    scores = uplift_scores(model, read_snapshot(ws)[0], read_customers(ws))
    # recorded consent only (unknown counts as no), by the one rule of every marketing output
    recorded = lookup(read_consent(ws), scores[C.CUSTOMER_ID].astype(str))
    consent = contactable(recorded, unknown_allowed=False)
    scores[EXPECTED_PROFIT] = scores[Score.UPLIFT] * margin - cost_per_contact
    profitable = scores[EXPECTED_PROFIT].to_numpy() > 0
    ranked = scores[consent & profitable].sort_values(
        [EXPECTED_PROFIT, C.CUSTOMER_ID], ascending=[False, True], kind="mergesort"
    )
    limit = campaign_size if campaign_size is not None else math.floor(budget / cost_per_contact)
    chosen = ranked.head(limit).reset_index(drop=True)
    chosen.insert(0, RANK, np.arange(1, len(chosen) + 1))
    # formula-safe CSV or Parquet, atomic and owner-only: it is a list of people to contact
    write_table(chosen[[RANK, C.CUSTOMER_ID, Score.UPLIFT, EXPECTED_PROFIT]], out)
    record_export(ws, out, "target_list")  # marked stale if a listed customer opts out later
    own = float(chosen[Score.UPLIFT].sum())
    supported, low, high, share = own, math.nan, math.nan, None
    calibration = holdout_calibration(ws, loaded.run_id) if loaded.run_id else None
    if calibration is not None and len(chosen):
        per_contact, lo, hi, share = supported_per_contact(calibration, len(chosen) / len(scores))
        supported, low, high = (len(chosen) * v for v in (per_contact, lo, hi))
    return TargetResult(
        out=out,
        contacts=len(chosen),
        candidates=len(scores),
        excluded_no_consent=int((~consent).sum()),
        excluded_not_profitable=int((consent & ~profitable).sum()),
        expected_incremental_outcome=supported,
        expected_incremental_profit=supported * margin - cost_per_contact * len(chosen),
        outcome=model.outcome,
        campaign_id=model.campaign_id,
        model_incremental_outcome=own,
        interval=(low, high),
        calibrated_on_share=share,
    )
