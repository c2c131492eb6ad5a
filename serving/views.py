"""Answers of the HTTP endpoints as pure functions of a `ServingState`.

Kept apart from the BentoML class so the rules (fallbacks for unknown ids, consent, which
model answers) read in one place and can be tested without a server.
"""

from __future__ import annotations

import math
from typing import Any

from churnrec import columns as C
from churnrec.serving.actions import ACTION_TEXT, risk_tier
from churnrec.serving.schemas import ChurnScore, NextPurchase
from churnrec.serving.state import ServingState

TIMING_COLUMNS = ("expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d")


def churn_score(state: ServingState, customer_id: str) -> ChurnScore:
    """The scored row of a snapshot customer, or the new-customer prior for an unknown id."""
    row = state.row(customer_id)
    if row is not None:
        return ChurnScore(
            customer_id=customer_id,
            known=True,
            churn_probability=float(row["churn_probability"]),
            risk_tier=row["risk_tier"],
            rfm_segment=str(row[C.RFM_SEGMENT]),
            lifecycle_stage=str(row[C.LIFECYCLE_STAGE]),
            top_reasons=row["top_reasons"],
            action=row["action"],
            action_description=row["action_description"],
            marketing_consent=bool(row[C.MARKETING_CONSENT]),
        )
    p = state.fallback_churn_probability
    return ChurnScore(
        customer_id=customer_id,
        known=False,
        fallback="new_customer_prior",
        churn_probability=p,
        risk_tier=risk_tier(p),
        rfm_segment="unknown",
        lifecycle_stage="unknown",
        top_reasons=[],
        action="onboarding",
        action_description=ACTION_TEXT["onboarding"],
        marketing_consent=None,
    )


def next_purchase(state: ServingState, customer_id: str) -> NextPurchase:
    """Repurchase timing of a snapshot customer, or the new-customer prior."""
    row = state.row(customer_id)
    if row is not None:
        return NextPurchase(
            customer_id=customer_id, known=True, **{c: _num(row[c]) for c in TIMING_COLUMNS}
        )
    return NextPurchase(
        customer_id=customer_id,
        known=False,
        fallback="new_customer_prior",
        **{c: _num(state.fallback_timing[c]) for c in TIMING_COLUMNS},
    )


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
