"""Time-based cut-off plans: training cut-offs, then a validation cut-off, then the holdout.

- The **holdout** cut-off H is the latest one whose whole horizon is observed; it is scored and
  reported, never used for a choice.
- The **validation** cut-off V = H - horizon: its labels end at H, so every choice (learner,
  early stopping, calibration, model-vs-baseline) is made on data the holdout never shows.
- **Training** cut-offs lie before V, `step_days` apart. When the span allows, their label
  windows end by V (`disjoint` windows); when it does not (CDNOW with a 181-day horizon has
  18 months of orders), their labels are observed up to H instead (`overlapping` windows):
  training labels then share calendar time with the validation window but never reach the
  holdout's, and validation then uses customers kept out of training
  (`training.datasets.build_training_frames`), so near-duplicate rows of one customer cannot
  flatter the validation score. `CutoffPlan.windows` says which one a run used; it is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from churnrec.settings import MIN_HISTORY_DAYS


class NotEnoughHistoryError(ValueError):
    """The data span is too short for the requested horizon and number of cut-offs."""


@dataclass(frozen=True)
class CutoffPlan:
    train_cutoffs: tuple[date, ...]  # oldest first
    holdout_cutoff: date
    horizon_days: int
    observed_until: date
    validation_cutoff: date | None = None  # None: a two-way plan (hand-built in tests)
    train_labels_until: date | None = None  # None: the holdout cut-off

    @property
    def train_observed_until(self) -> date:
        """Training labels may look at data up to here and no further."""
        return self.train_labels_until or self.holdout_cutoff

    @property
    def windows(self) -> Literal["disjoint", "overlapping"]:
        """Whether training label windows end by the validation cut-off."""
        if self.validation_cutoff is None:
            return "disjoint"
        return "disjoint" if self.train_observed_until <= self.validation_cutoff else "overlapping"

    def ids(self) -> dict[str, str]:
        """The three parts of the split as loggable strings."""
        return {
            "train_cutoffs": ",".join(map(str, self.train_cutoffs)),
            "validation_cutoff": str(self.validation_cutoff),
            "holdout_cutoff": str(self.holdout_cutoff),
            "train_labels_until": str(self.train_observed_until),
            "label_windows": self.windows,
        }


def _steps_back(start: date, step: int, n: int, earliest: date) -> list[date]:
    out: list[date] = []
    t = start
    while len(out) < n and t >= earliest:
        out.append(t)
        t -= timedelta(days=step)
    return out


def plan_cutoffs(
    first_order: date,
    last_order: date,
    horizon_days: int,
    *,
    n_train_cutoffs: int = 4,
    step_days: int | None = None,
    min_history_days: int = MIN_HISTORY_DAYS,
    holdout_cutoff: date | None = None,
) -> CutoffPlan:
    """Plan the holdout, the validation cut-off before it and up to `n_train_cutoffs` before that.

    `step_days` defaults to the horizon. Every cut-off needs `min_history_days` of history.
    `holdout_cutoff` can be given to reproduce a published split (CDNOW: 1997-12-31, 181 days).
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    holdout = holdout_cutoff or (last_order - timedelta(days=horizon_days))
    if holdout + timedelta(days=horizon_days) > last_order:
        raise NotEnoughHistoryError(
            f"holdout cut-off {holdout} + {horizon_days} days goes past the last order {last_order}"
        )
    earliest = first_order + timedelta(days=min_history_days)
    if holdout < earliest:
        raise NotEnoughHistoryError(
            f"orders span {first_order}..{last_order}: too short for a {horizon_days}-day horizon "
            f"with {min_history_days} days of history (need at least "
            f"{horizon_days + min_history_days} days); try a smaller --horizon-days"
        )
    step = step_days or horizon_days
    validation = holdout - timedelta(days=horizon_days)
    disjoint = _steps_back(
        validation - timedelta(days=horizon_days), step, n_train_cutoffs, earliest
    )
    if disjoint:
        cutoffs, labels_until = disjoint, validation
    else:
        cutoffs = _steps_back(validation - timedelta(days=step), step, n_train_cutoffs, earliest)
        labels_until = holdout
    if validation < earliest or not cutoffs:
        raise NotEnoughHistoryError(
            f"orders span {first_order}..{last_order}: no room for training and validation "
            f"cut-offs before the holdout {holdout} with a {horizon_days}-day horizon; need at "
            f"least {2 * horizon_days + step + min_history_days} days of orders or a smaller "
            f"--horizon-days"
        )
    return CutoffPlan(
        train_cutoffs=tuple(sorted(cutoffs)),
        holdout_cutoff=holdout,
        horizon_days=horizon_days,
        observed_until=last_order,
        validation_cutoff=validation,
        train_labels_until=labels_until,
    )
