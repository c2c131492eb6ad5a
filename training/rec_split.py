"""Time windows for the recommender, over order lines: training cut-offs < validation < holdout.

One global date per window, so no training line is later than a line it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import pandas as pd

from churnrec import columns as C
from churnrec.models.ranking.baskets import BasketLog, EncodedLines
from churnrec.training.splits import NotEnoughHistoryError, TimeSplitter


def _usable_lines(frame: pd.DataFrame, ids: tuple[str, ...], message: str) -> pd.DataFrame:
    """Lines that count as purchases: the `ids` columns and a date present, not a return."""
    missing = [c for c in (*ids, C.ORDERED_AT) if c not in frame.columns]
    if missing:
        raise ValueError(message.format(missing))
    lines = frame.dropna(subset=[*ids, C.ORDERED_AT])
    if C.IS_RETURN in lines.columns:
        lines = lines[~lines[C.IS_RETURN].fillna(False).astype(bool)]
    as_text = {c: lines[c].astype(str) for c in ids}
    lines = lines.assign(**as_text, **{C.ORDERED_AT: pd.to_datetime(lines[C.ORDERED_AT])})
    return lines.reset_index(drop=True)


@dataclass(frozen=True)
class RecWindows:
    """Three-way time split of order lines, windows of `holdout_days`: the reranker learns at
    `train_cutoffs`, every choice is made on validation, the holdout is only reported."""

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
        """`BasketLog.from_lines` of the (guest) lines before `cutoff`, without parsing again."""
        return self.encoded.log_before(cutoff)

    def truth(self, start: pd.Timestamp) -> dict[str, set[str]]:
        """Items bought in [start, start + holdout_days) by customers with lines before start."""
        window = self.window_lines(start)
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
    every `holdout_days` before that; `guests` (guest lines) only join the basket logs."""
    if holdout_days < 1 or n_train_cutoffs < 1:
        raise ValueError("holdout_days and n_train_cutoffs must be positive")
    lines = _usable_lines(
        orders,
        (C.CUSTOMER_ID, C.ITEM_ID),
        "orders table lacks column(s) {} needed for a recommender split",
    )
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
    guest_lines = None
    if guests is not None and not guests.empty:
        guest_lines = _usable_lines(
            guests, (C.ITEM_ID,), "guest order lines lack column(s) {} needed for a recommender"
        )
    return RecWindows(
        lines,
        cutoffs,
        start(plan.validation_cutoff),
        start(plan.holdout_cutoff),
        end,
        holdout_days,
        guest_lines,
    )
