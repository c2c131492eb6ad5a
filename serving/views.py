"""Answers of the HTTP endpoints as pure functions of a `ServingState`, so the rules (fallbacks,
consent) read in one place and are tested without a server.
"""

from __future__ import annotations

import math
from typing import Any

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.scores.actions import ACTION_TEXT, RetentionAction, permitted
from churnrec.scores.table import TIMING_COLUMNS
from churnrec.scores.value_columns import value_fields
from churnrec.serving.schemas import ChurnScore, NextPurchase
from churnrec.serving.state import ServingState


def churn_score(state: ServingState, customer_id: str) -> ChurnScore:
    """The scored row of a snapshot customer, or the new-customer prior for an unknown id."""
    row = state.row(customer_id)
    if row is not None:
        return ChurnScore(
            customer_id=customer_id,
            known=True,
            churn_probability=float(row[Score.CHURN_PROBABILITY]),
            risk_tier=row[Score.RISK_TIER],
            rfm_segment=str(row[C.RFM_SEGMENT]),
            lifecycle_stage=str(row[C.LIFECYCLE_STAGE]),
            reasons=row[Score.REASONS],
            top_reasons=row[Score.TOP_REASONS],
            action=row[Score.ACTION],
            action_description=row[Score.ACTION_DESCRIPTION],
            marketing_consent=row[C.MARKETING_CONSENT],
            contactable=bool(row[Score.CONTACTABLE]),
            **value_fields(row),
        )
    # Not in the snapshot (e.g. signed up, no order yet): the customers table may still know
    # their consent; without a recorded yes the onboarding journey is not suggested.
    p = state.fallback_churn_probability
    recorded = state.consent.get(customer_id)
    contactable = recorded if recorded is not None else state.unknown_consent_allowed
    action = permitted(RetentionAction("onboarding", ACTION_TEXT["onboarding"]), contactable)
    return ChurnScore(
        customer_id=customer_id,
        known=False,
        fallback="new_customer_prior",
        churn_probability=p,
        risk_tier=state.tier_cuts.tier(
            p if state.fallback_rank_value is None else state.fallback_rank_value
        ),
        rfm_segment="unknown",
        lifecycle_stage="unknown",
        reasons=[],
        top_reasons=[],
        action=action.code,
        action_description=action.description,
        marketing_consent=recorded,
        contactable=contactable,
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
