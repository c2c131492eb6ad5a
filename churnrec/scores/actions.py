"""The retention action suggested for each segment and risk tier, and consent's veto: a customer
who is not contactable gets `none` (no campaign), and "no action" is only said below
`tiers.at_risk_probability` (a capacity tier says who to call first, not who is safe)."""

from __future__ import annotations

from dataclasses import dataclass

NO_CONSENT = "none"
ACTION_TEXT = {
    "vip_care": "VIP care: personal outreach from the account team, priority service",
    "win_back": "Win-back campaign: 'we miss you' message with a strong incentive",
    "coupon": "Light-touch coupon on a category they buy",
    "nurture": "Nurture: onboarding / second-purchase journey",
    "no_action": "No action: low churn risk",
    "onboarding": "Unknown customer: treat as new, start the onboarding journey",
    NO_CONSENT: "No marketing: no recorded marketing consent (score for the retention team only)",
}


@dataclass(frozen=True)
class RetentionAction:
    code: str
    description: str


def suggest_action(segment: str | None, tier: str, at_risk: bool = False) -> RetentionAction:
    """The campaign the segment, tier and risk call for, before consent is looked at."""
    seg = (segment or "").lower()
    if seg in {"important_value", "loyal"} and (tier in {"high", "medium"} or at_risk):
        code = "vip_care"
    elif seg == "churn_warning" or seg in {"lost", "hibernating"} and (tier == "high" or at_risk):
        code = "win_back"
    elif seg in {"light_churn", "need_attention"} or tier == "high":
        code = "coupon"
    elif seg in {"new", "potential"}:
        code = "nurture"
    elif tier == "medium" or at_risk:
        code = "coupon"
    else:
        code = "no_action"
    return RetentionAction(code, ACTION_TEXT[code])


def permitted(action: RetentionAction, contactable: bool) -> RetentionAction:
    """The action itself when the customer may be contacted, else `none`."""
    if contactable or action.code == "no_action":
        return action
    return RetentionAction(NO_CONSENT, ACTION_TEXT[NO_CONSENT])
