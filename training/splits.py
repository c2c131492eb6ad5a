"""Time-based cut-off plans: training cut-offs, then a validation cut-off V = H - horizon, then
the holdout H, which is only reported. With no room for training labels that end by V, they run
to H (`overlapping`) and validation uses customers kept out of training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, Literal

from churnrec.settings import HORIZON_DAYS, MIN_HISTORY_DAYS, N_TRAIN_CUTOFFS, STEP_DAYS


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
        v = self.validation_cutoff
        return "overlapping" if v is not None and self.train_observed_until > v else "disjoint"

    def evaluation_dates(self) -> dict[str, Any]:
        """An `Evaluation`'s dates: the served refit learns through the newest observed day and
        is judged on the holdout window (`evaluated_on` is `START..END`)."""
        start = self.holdout_cutoff + timedelta(days=1)
        end = self.holdout_cutoff + timedelta(days=self.horizon_days)
        return {
            "trained_through": self.observed_until,
            "evaluated_on": f"{start}..{end}",
            "holdout_start": start,
        }

    def describe(self) -> str:
        """One line for the progress output."""
        return (
            f"train {', '.join(map(str, self.train_cutoffs))}; validation "
            f"{self.validation_cutoff}; holdout {self.holdout_cutoff} (+{self.horizon_days} days, "
            f"data to {self.observed_until}; {self.windows} windows)"
        )

    def fold_id(self, fold: Literal["train", "validation", "holdout"], fingerprint: str) -> str:
        """The one id format of a fold: its label window and a fingerprint of its labels."""
        if fold == "train":
            return fold_id(self.train_cutoffs[0], self.train_observed_until, fingerprint)
        if fold == "validation":
            return fold_id(self.validation_cutoff, self.holdout_cutoff, fingerprint)
        return fold_id(self.holdout_cutoff, self.observed_until, fingerprint)

    def ids(self) -> dict[str, str]:
        """The three parts of the split as loggable strings."""
        return {
            "train_cutoffs": ",".join(map(str, self.train_cutoffs)),
            "validation_cutoff": str(self.validation_cutoff),
            "holdout_cutoff": str(self.holdout_cutoff),
            "train_labels_until": str(self.train_observed_until),
            "label_windows": self.windows,
        }


def fold_id(start: object, end: object, fingerprint: str) -> str:
    """`START..END#fingerprint`: every kind names its folds (and holdout ids) this one way."""
    return f"{start}..{end}#{fingerprint}"


@dataclass(frozen=True)
class TimeSplitter:
    """Plans every time-based kind's cut-offs the same way (RecTools' TimeRangeSplitter), so
    every kind degrades the same way on short data."""

    horizon_days: int = HORIZON_DAYS
    n_train_cutoffs: int = N_TRAIN_CUTOFFS
    step_days: int | None = STEP_DAYS
    min_history_days: int = MIN_HISTORY_DAYS
    holdout_cutoff: date | None = None

    def plan(self, first_order: date, last_order: date) -> CutoffPlan:
        return plan_cutoffs(first_order, last_order, **asdict(self))

    def fits(self, first_order: date, last_order: date) -> bool:
        """Whether `plan` succeeds on this span (for kinds that try several horizons)."""
        try:
            self.plan(first_order, last_order)
        except NotEnoughHistoryError:
            return False
        return True


def _steps_back(start: date, step: int, n: int, earliest: date) -> list[date]:
    """Up to `n` days from `start` back, `step` apart, none before `earliest`."""
    days = (start - timedelta(days=step * i) for i in range(n))
    return [t for t in days if t >= earliest]


def plan_cutoffs(
    first_order: date,
    last_order: date,
    horizon_days: int,
    *,
    n_train_cutoffs: int = N_TRAIN_CUTOFFS,
    step_days: int | None = None,
    min_history_days: int = MIN_HISTORY_DAYS,
    holdout_cutoff: date | None = None,
) -> CutoffPlan:
    """Plan the holdout, the validation cut-off and up to `n_train_cutoffs` before it, `step_days`
    apart; `holdout_cutoff` reproduces a published split (CDNOW: 1997-12-31, 181 days)."""
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
