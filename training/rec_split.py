"""Global time holdout for recommenders, over order lines.

The holdout is the last `holdout_days` calendar days of orders, ending with the day of the
last order: `split_at = midnight after the last order day - holdout_days`. Lines before
`split_at` train the model (`train_as_of = split_at - 1 day` in the feature pipeline's cut-off
terms); the items each customer bought from `split_at` on are the truth. One global date (not
a per-customer leave-last-out) so no training line is later than any holdout line. Returned
lines and lines without an item count for neither side. Holdout customers absent from training
are cold-start: their truth is kept apart, since CF can only answer them with popularity.

Guest lines (no customer id) may come with the windows: they feed the basket log's item
statistics at each cut-off (only those before it, like customer lines), never the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import pandas as pd

from churnrec import columns as C
from churnrec.models.ranking.baskets import BasketLog, EncodedLines
from churnrec.training.splits import NotEnoughHistoryError, TimeSplitter

_REQUIRED = (C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT)


@dataclass(frozen=True)
class RecSplit:
    train_lines: pd.DataFrame  # order lines before split_at (returns and item-less lines removed)
    truth: dict[str, set[str]]  # holdout items of customers who also appear in train_lines
    cold_start_truth: dict[str, set[str]]  # holdout items of customers new in the holdout
    split_at: pd.Timestamp  # first instant of the holdout

    @property
    def train_as_of(self) -> date:
        """The feature-pipeline cut-off that sees exactly the training lines."""
        return (self.split_at - pd.Timedelta(days=1)).date()


def _usable_lines(orders: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in orders.columns]
    if missing:
        raise ValueError(f"orders table lacks column(s) {missing} needed for a recommender split")
    lines = orders.dropna(subset=[C.CUSTOMER_ID, C.ITEM_ID, C.ORDERED_AT])
    if C.IS_RETURN in lines.columns:
        lines = lines[~lines[C.IS_RETURN].fillna(False).astype(bool)]
    lines = lines.assign(
        **{
            C.CUSTOMER_ID: lines[C.CUSTOMER_ID].astype(str),
            C.ITEM_ID: lines[C.ITEM_ID].astype(str),
            C.ORDERED_AT: pd.to_datetime(lines[C.ORDERED_AT]),
        }
    )
    return lines.reset_index(drop=True)


def usable_guest_lines(guests: pd.DataFrame) -> pd.DataFrame:
    """Guest lines that count as purchases: an item, a date, not a return."""
    missing = [c for c in (C.ITEM_ID, C.ORDERED_AT) if c not in guests.columns]
    if missing:
        raise ValueError(f"guest order lines lack column(s) {missing} needed for a recommender")
    lines = guests.dropna(subset=[C.ITEM_ID, C.ORDERED_AT])
    if C.IS_RETURN in lines.columns:
        lines = lines[~lines[C.IS_RETURN].fillna(False).astype(bool)]
    lines = lines.assign(
        **{
            C.ITEM_ID: lines[C.ITEM_ID].astype(str),
            C.ORDERED_AT: pd.to_datetime(lines[C.ORDERED_AT]),
        }
    )
    return lines.reset_index(drop=True)


def rec_holdout_split(orders: pd.DataFrame, holdout_days: int = 28) -> RecSplit:
    """Split order lines at one date; see the module docstring."""
    if holdout_days < 1:
        raise ValueError(f"holdout_days must be positive, got {holdout_days}")
    lines = _usable_lines(orders)
    if lines.empty:
        raise ValueError("orders have no non-returned line with an item_id; nothing to split")
    last_day = lines[C.ORDERED_AT].max().normalize()
    split_at = last_day + pd.Timedelta(days=1) - pd.Timedelta(days=holdout_days)
    in_train = lines[C.ORDERED_AT] < split_at
    train, holdout = lines[in_train].reset_index(drop=True), lines[~in_train]
    if train.empty:
        raise ValueError(
            f"no order line before {split_at.date()}: the data spans less than the "
            f"{holdout_days}-day holdout; use a smaller holdout_days"
        )
    known = set(train[C.CUSTOMER_ID])
    truth: dict[str, set[str]] = {}
    cold: dict[str, set[str]] = {}
    for customer, items in holdout.groupby(C.CUSTOMER_ID, sort=True)[C.ITEM_ID]:
        (truth if customer in known else cold)[str(customer)] = set(items)
    return RecSplit(train, truth, cold, split_at)


def split_last_weeks(
    orders: pd.DataFrame, holdout_days: int = 28
) -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """(train_lines, truth for customers seen in training); cold-start via `rec_holdout_split`."""
    split = rec_holdout_split(orders, holdout_days)
    return split.train_lines, split.truth


@dataclass(frozen=True)
class RecWindows:
    """Three-way time split of order lines: training cut-offs < validation < final holdout.

    Each window is `holdout_days` long. The reranker learns from cut-offs in `train_cutoffs`
    (features from lines before a cut-off, labels from the window after it, all before
    `val_start`); every choice is made on the validation window; the holdout is reported.
    """

    lines: pd.DataFrame  # usable lines (returns and item-less lines removed)
    train_cutoffs: tuple[pd.Timestamp, ...]  # oldest first
    val_start: pd.Timestamp
    holdout_start: pd.Timestamp
    end: pd.Timestamp  # midnight after the last order day
    holdout_days: int
    guest_lines: pd.DataFrame | None = None  # usable guest lines: item statistics only

    def before(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        return self.lines[self.lines[C.ORDERED_AT] < cutoff]

    @cached_property
    def first_line_at(self) -> pd.Series:
        """Each customer's first order time (computed once for every window's truth)."""
        return self.lines.groupby(C.CUSTOMER_ID, sort=False)[C.ORDERED_AT].min()

    @cached_property
    def encoded(self) -> EncodedLines:
        """The lines (and guest lines) as integer codes, parsed once for every cut-off's log."""
        return EncodedLines.from_lines(self.lines, guests=self.guest_lines)

    def log_before(self, cutoff: pd.Timestamp) -> BasketLog:
        """`BasketLog.from_lines` of the lines and guest lines before `cutoff`, without parsing
        strings again."""
        return self.encoded.log_before(cutoff)

    def truth(self, start: pd.Timestamp) -> dict[str, set[str]]:
        """Items bought in [start, start + holdout_days) by customers with lines before start."""
        end = start + pd.Timedelta(days=self.holdout_days)
        window = self.lines[(self.lines[C.ORDERED_AT] >= start) & (self.lines[C.ORDERED_AT] < end)]
        # a customer has a line before `start` iff their first line is before it
        window = window[window[C.CUSTOMER_ID].map(self.first_line_at) < start]
        return {
            str(c): set(items) for c, items in window.groupby(C.CUSTOMER_ID, sort=True)[C.ITEM_ID]
        }

    def window_lines(self, start: pd.Timestamp) -> pd.DataFrame:
        end = start + pd.Timedelta(days=self.holdout_days)
        return self.lines[(self.lines[C.ORDERED_AT] >= start) & (self.lines[C.ORDERED_AT] < end)]


def rec_windows(
    orders: pd.DataFrame,
    holdout_days: int = 28,
    n_train_cutoffs: int = 3,
    guests: pd.DataFrame | None = None,
) -> RecWindows:
    """Holdout = last `holdout_days` days, validation = the window before it, training cut-offs
    every `holdout_days` before validation (only those with orders before them). The windows
    follow the customers' lines; `guests` (guest lines) only join the basket logs."""
    if holdout_days < 1 or n_train_cutoffs < 1:
        raise ValueError("holdout_days and n_train_cutoffs must be positive")
    lines = _usable_lines(orders)
    if lines.empty:
        raise ValueError("orders have no non-returned line with an item_id; nothing to split")
    end = lines[C.ORDERED_AT].max().normalize() + pd.Timedelta(days=1)
    first = lines[C.ORDERED_AT].min()
    # the one splitter every kind plans with: windows of `holdout_days`, one apart; a cut-off
    # day T means "lines before T + 1 day" here
    splitter = TimeSplitter(holdout_days, n_train_cutoffs, holdout_days, min_history_days=0)
    try:
        plan = splitter.plan(first.date(), (end - pd.Timedelta(days=1)).date())
    except NotEnoughHistoryError:
        raise ValueError(
            f"orders from {first.date()} to {end.date()} are too short for a training window, "
            f"a validation window and a holdout of {holdout_days} days each; "
            "use a smaller holdout_days"
        ) from None

    def start(day: date) -> pd.Timestamp:
        return pd.Timestamp(day) + pd.Timedelta(days=1)

    cutoffs = tuple(start(t) for t in plan.train_cutoffs)
    guest_lines = None if guests is None or guests.empty else usable_guest_lines(guests)
    return RecWindows(
        lines,
        cutoffs,
        start(plan.validation_cutoff),
        start(plan.holdout_cutoff),
        end,
        holdout_days,
        guest_lines,
    )
