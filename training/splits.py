"""Time-based cut-off plans for training on rolling snapshots.

The holdout cut-off is the latest one whose whole horizon is observed; every training
cut-off's label window ends on or before the holdout cut-off, so no training label peeks
into the holdout period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


class NotEnoughHistoryError(ValueError):
    """The data span is too short for the requested horizon and number of cut-offs."""


@dataclass(frozen=True)
class CutoffPlan:
    train_cutoffs: tuple[date, ...]  # oldest first
    holdout_cutoff: date
    horizon_days: int
    observed_until: date

    @property
    def train_observed_until(self) -> date:
        """Training labels may look at data up to here and no further (the holdout cut-off)."""
        return self.holdout_cutoff


def plan_cutoffs(
    first_order: date,
    last_order: date,
    horizon_days: int,
    *,
    n_train_cutoffs: int = 4,
    step_days: int | None = None,
    min_history_days: int = 30,
    holdout_cutoff: date | None = None,
) -> CutoffPlan:
    """Plan a holdout cut-off and up to `n_train_cutoffs` earlier training cut-offs.

    `step_days` defaults to the horizon (non-overlapping label windows). Training cut-offs
    need at least `min_history_days` of history before them. `holdout_cutoff` can be given to
    reproduce a published split (e.g. CDNOW: 1997-12-31 with a 181-day horizon).
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    holdout = holdout_cutoff or (last_order - timedelta(days=horizon_days))
    if holdout + timedelta(days=horizon_days) > last_order:
        raise NotEnoughHistoryError(
            f"holdout cut-off {holdout} + {horizon_days} days goes past the last order {last_order}"
        )
    if holdout < first_order + timedelta(days=min_history_days):
        raise NotEnoughHistoryError(
            f"orders span {first_order}..{last_order}: too short for a {horizon_days}-day horizon "
            f"with {min_history_days} days of history (need at least "
            f"{horizon_days + min_history_days} days); try a smaller --horizon-days"
        )
    step = step_days or horizon_days
    cutoffs: list[date] = []
    t = holdout - timedelta(days=horizon_days)
    while len(cutoffs) < n_train_cutoffs and t >= first_order + timedelta(days=min_history_days):
        cutoffs.append(t)
        t -= timedelta(days=step)
    if not cutoffs:
        raise NotEnoughHistoryError(
            f"orders span {first_order}..{last_order}: no training cut-off fits before the holdout "
            f"{holdout} with a {horizon_days}-day horizon; need at least "
            f"{2 * horizon_days + min_history_days} days of orders or a smaller --horizon-days"
        )
    return CutoffPlan(
        train_cutoffs=tuple(sorted(cutoffs)),
        holdout_cutoff=holdout,
        horizon_days=horizon_days,
        observed_until=last_order,
    )
