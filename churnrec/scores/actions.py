"""The retention action suggested for each segment and risk tier, and consent's veto.

Actions (first rule that matches wins; "at risk" = churn probability at or above the serving
config's `tiers.at_risk_probability`, whatever the capacity tier):
| segment                              | tier / risk         | action        |
|--------------------------------------|---------------------|---------------|
| important_value / loyal              | high/medium, or at risk | vip_care  |
| churn_warning                        | any                 | win_back      |
| lost / hibernating                   | high, or at risk    | win_back      |
| light_churn / need_attention         | any                 | coupon        |
| any other                            | high                | coupon        |
| new / potential                      | low/medium          | nurture       |
| otherwise                            | medium, or at risk  | coupon        |
| otherwise                            | low, not at risk    | no_action     |

So `no_action` ("low churn risk") is only ever said below the at-risk probability: a capacity
tier is about who the team calls first, not about whether the customer is safe.

Every action except `no_action` is marketing. A customer who is not contactable (consent
"no", or unknown consent while the shop's `consent_default` is `deny`) gets `none` instead:
the retention team still sees the score, flagged, but no campaign is suggested.
Risk tiers are defined in `churnrec.scores.tiers`.
"""

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
