"""Risk tiers and the retention action suggested for each segment and tier.

Tiers (churn probability p):  high: p >= 0.7,  medium: 0.4 <= p < 0.7,  low: p < 0.4.
The thresholds are deliberately round numbers a retention team can reason about; they are
applied to calibrated probabilities, so "high" means "at least 7 in 10 such customers are
expected not to order within the horizon".

Actions (first rule that matches wins):
| segment                              | tier        | action        |
|--------------------------------------|-------------|---------------|
| important_value / loyal              | high/medium | vip_care      |
| churn_warning                        | any         | win_back      |
| lost / hibernating                   | high        | win_back      |
| light_churn / need_attention         | any         | coupon        |
| any other                            | high        | coupon        |
| new / potential                      | low/medium  | nurture       |
| otherwise                            | low         | no_action     |
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_RISK = 0.7
MEDIUM_RISK = 0.4
TIERS = ("low", "medium", "high")  # in increasing risk

ACTION_TEXT = {
    "vip_care": "VIP care: personal outreach from the account team, priority service",
    "win_back": "Win-back campaign: 'we miss you' message with a strong incentive",
    "coupon": "Light-touch coupon on a category they buy",
    "nurture": "Nurture: onboarding / second-purchase journey",
    "no_action": "No action: customer is healthy",
    "onboarding": "Unknown customer: treat as new, start the onboarding journey",
}


@dataclass(frozen=True)
class RetentionAction:
    code: str
    description: str


def risk_tier(probability: float) -> str:
    if probability >= HIGH_RISK:
        return "high"
    if probability >= MEDIUM_RISK:
        return "medium"
    return "low"


def tier_rank(tier: str) -> int:
    """0 for low .. 2 for high; used by `--min-risk`."""
    try:
        return TIERS.index(tier)
    except ValueError:
        raise ValueError(f"unknown risk tier {tier!r}; expected one of {TIERS}") from None


def suggest_action(segment: str | None, tier: str) -> RetentionAction:
    seg = (segment or "").lower()
    if seg in {"important_value", "loyal"} and tier in {"high", "medium"}:
        code = "vip_care"
    elif seg == "churn_warning" or seg in {"lost", "hibernating"} and tier == "high":
        code = "win_back"
    elif seg in {"light_churn", "need_attention"} or tier == "high":
        code = "coupon"
    elif seg in {"new", "potential"}:
        code = "nurture"
    elif tier == "medium":
        code = "coupon"
    else:
        code = "no_action"
    return RetentionAction(code, ACTION_TEXT[code])
