"""Minimum-data rules checked before a job trains: a model trained on too few customers, too
short a history or too few outcomes is refused (skipped, naming the rule), not shipped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.training.errors import SkippedTraining


class NotEnoughDataError(SkippedTraining):
    """A minimum-data rule stopped the job (the message names the rule and the numbers)."""


class MinimumData(BaseModel):
    """The least data a kind trains on; 0 turns a rule off."""

    model_config = ConfigDict(extra="forbid")

    customers: int = Field(0, ge=0, description="customers with at least one order")
    history_days: int = Field(0, ge=0, description="days from the first to the last order")
    positives: int = Field(0, ge=0, description="rows with the outcome (per kind, see docs)")
    negatives: int = Field(0, ge=0, description="rows without it (per kind, see docs)")


def _stop(kind: str, rule: str, have: int, need: int, what: str) -> NotEnoughDataError:
    return NotEnoughDataError(
        f"stopped by the minimum-data rule {kind}.minimum_data.{rule}: {have:,} {what}, at "
        f"least {need:,} needed (set `{kind}: {{minimum_data: {{{rule}: N}}}}` in --config "
        "to change it)"
    )


def order_history(con) -> tuple[int, int]:
    """(customers with a non-returned order, days from the first to the last such order)."""
    customers, days = con.execute(
        f"SELECT count(DISTINCT {C.CUSTOMER_ID}), "
        f"coalesce(date_diff('day', min({C.ORDERED_AT}), max({C.ORDERED_AT})), 0) "
        f"FROM {C.ORDERS} WHERE NOT coalesce({C.IS_RETURN}, false)"
    ).fetchone()
    return int(customers), int(days)


def check_orders(kind: str, rules: MinimumData, con) -> None:
    """The customer and history rules, on the orders table (before anything is built)."""
    if not (rules.customers or rules.history_days):
        return
    customers, days = order_history(con)
    if customers < rules.customers:
        raise _stop(kind, "customers", customers, rules.customers, "customers with orders")
    if days < rules.history_days:
        raise _stop(kind, "history_days", days, rules.history_days, "days of order history")


def check_outcomes(
    kind: str, rules: MinimumData, positives: int, negatives: int, what: tuple[str, str]
) -> None:
    """The outcome rules: enough examples of each side (`what` names them for the message)."""
    if positives < rules.positives:
        raise _stop(kind, "positives", positives, rules.positives, what[0])
    if negatives < rules.negatives:
        raise _stop(kind, "negatives", negatives, rules.negatives, what[1])
