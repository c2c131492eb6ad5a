"""Pure parts of serving: risk tiers, actions, consent, id coercion (keys: test_service_settings)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from churnrec.scores.actions import permitted, suggest_action
from churnrec.scores.config import ServingConfigError, TierConfig, load_serving_config
from churnrec.scores.tiers import assign_tiers, tier_cuts, tier_rank
from churnrec.serving.schemas import IdList


@pytest.mark.parametrize(
    ("p", "tier"),
    [
        (0.0, "low"),
        (0.399, "low"),
        (0.4, "medium"),
        (0.699, "medium"),
        (0.7, "high"),
        (1.0, "high"),
    ],
)
def test_probability_tiers_use_the_configured_thresholds(p: float, tier: str) -> None:
    cuts = tier_cuts(np.array([0.1, 0.9]), TierConfig(method="probability"))
    assert cuts.tier(p) == tier


def test_capacity_tiers_are_shares_of_the_ranking_not_most_customers() -> None:
    # A shop where most customers look risky: fixed thresholds would call 80% "high".
    rng = np.random.default_rng(0)
    p = np.clip(rng.normal(0.8, 0.1, 1000), 0, 1)
    tiers = [tier_cuts(p, TierConfig()).tier(x) for x in p]
    assert tiers.count("high") == 100 and tiers.count("medium") == 200
    fixed = [tier_cuts(p, TierConfig(method="probability")).tier(x) for x in p]
    assert fixed.count("high") > 700
    # isotonic calibration ties whole blocks of customers: the shares still hold
    steps = np.repeat([0.9, 0.6, 0.3], [400, 300, 300])
    tiers, cuts = assign_tiers(steps, np.arange(1000.0), TierConfig())
    assert tiers.count("high") == 100 and tiers.count("medium") == 200
    assert all(t == "high" for t in tiers[300:400])  # the bigger spenders of the tie first
    assert cuts.tier(0.95) == "high" and cuts.tier(0.1) == "low"
    small = tier_cuts(p, TierConfig(high_share=0.05, medium_share=0.0))
    assert [small.tier(x) for x in p].count("high") == 50
    assert [small.tier(x) for x in p].count("medium") == 0


@pytest.mark.parametrize(
    ("segment", "tier", "action"),
    [
        ("important_value", "high", "vip_care"),
        ("important_value", "low", "no_action"),
        ("churn_warning", "low", "win_back"),
        ("lost", "high", "win_back"),
        ("light_churn", "low", "coupon"),
        ("hibernating", "medium", "coupon"),
        ("new", "low", "nurture"),
        ("potential", "medium", "nurture"),
        ("loyal", "low", "no_action"),
    ],
)
def test_actions_by_segment_and_tier(segment: str, tier: str, action: str) -> None:
    assert suggest_action(segment, tier).code == action


@pytest.mark.parametrize("code", ["vip_care", "win_back", "coupon", "nurture", "onboarding"])
def test_no_marketing_action_without_consent(code: str) -> None:
    from churnrec.scores.actions import ACTION_TEXT, RetentionAction

    action = RetentionAction(code, ACTION_TEXT[code])
    assert permitted(action, contactable=False).code == "none"
    assert permitted(action, contactable=True).code == code


def test_unknown_consent_is_no_unless_the_shop_allows_it(tmp_path, capsys) -> None:
    import pandas as pd

    from churnrec.scores.consent import consent_by_customer, contactable

    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "d"],
            "marketing_consent": [True, False, None, True, False],
        }
    )
    recorded = consent_by_customer(customers)
    assert recorded["a"] == True
    assert recorded["b"] == False
    assert pd.isna(recorded["c"])
    assert recorded["d"] == False
    ordered = recorded.reindex(["a", "b", "c", "d"])
    assert contactable(ordered, unknown_allowed=False).tolist() == [True, False, False, False]
    assert contactable(ordered, unknown_allowed=True).tolist() == [True, False, True, False]

    assert load_serving_config(None).consent_default == "deny"
    config = tmp_path / "serving.yaml"
    config.write_text("consent_default: allow\ntiers: {high_share: 0.05}\n")
    loaded = load_serving_config(config)
    assert loaded.unknown_consent_allowed and loaded.tiers.high_share == 0.05
    assert "UNKNOWN marketing consent" in loaded.warnings()[0]
    assert not load_serving_config(config, consent_default="deny").warnings()
    config.write_text("consent_defualt: allow\n")
    with pytest.raises(ServingConfigError, match="consent_defualt"):
        load_serving_config(config)
    with pytest.raises(ServingConfigError, match="allow"):
        load_serving_config(None, consent_default="yes")


def test_reasons_are_words_from_the_customers_own_numbers() -> None:
    from churnrec.scores.reasons import reason_in_words

    row = {"recency_days": 210.0, "gap_mean_days": 70.0, "spend_90d": 20.0, "spend_180d": 120.0}
    assert reason_in_words("recency_days", 210.0, row) == (
        "no order for 210 days, 3x their usual gap of 70 days"
    )
    assert reason_in_words("spend_trend", -0.67, row) == (
        "spend in the last 90 days down 80% on the 90 days before"
    )
    alive = reason_in_words("bgnbd_p_alive", 0.12, {"bgnbd_p_alive": 0.12})
    assert alive == "12% chance they are still an active buyer"
    assert reason_in_words("views", 3, {"views": 3}) == "3 product views"
    assert reason_in_words("loyalty_points", 3, {}) == "loyalty points: 3"  # no template


def test_each_reason_talks_about_its_own_feature() -> None:
    """The gap between the last two orders is not the time since the last order (issue 21)."""
    from churnrec.scores.reasons import reason_in_words

    row = {"recency_days": 15.0, "gap_last_days": 180.0, "channel_share_store": 0.0}
    assert reason_in_words("gap_last_days", 180.0, row) == "180 days between their last two orders"
    assert reason_in_words("channel_share_store", 0.0, row) == (
        "no orders through the store channel"
    )
    assert reason_in_words("gap_mean_days", None, {"gap_mean_days": None}) == (
        "no repeat order yet: no gap between orders to go by"
    )
    assert reason_in_words("age", None, {"age": None}) == "age not known"


@pytest.mark.parametrize("segment", ["loyal", "lost", "champions", "new"])
def test_at_risk_customers_are_never_told_no_action(segment: str) -> None:
    action = suggest_action(segment, "low", at_risk=True)
    assert action.code != "no_action" and "healthy" not in action.description
    assert suggest_action("champions", "low").description == "No action: low churn risk"


def test_csv_cells_cannot_start_a_formula(tmp_path) -> None:
    import os
    import stat

    import pandas as pd

    from churnrec.files import write_table

    frame = pd.DataFrame(
        {"customer_id": ["=HYPERLINK(1)", "+1", "@x", "ok", "-2"], "contribution": [-0.5] * 5}
    )
    out = tmp_path / "x.csv"
    write_table(frame, out)
    back = pd.read_csv(out)
    assert back["customer_id"].tolist() == [
        "'=HYPERLINK(1)",
        "+1",
        "'@x",
        "ok",
        "-2",
    ]  # one rule: plain numbers stay
    assert back["contribution"].tolist() == [-0.5] * 5  # numbers stay numbers
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_tier_rank_orders_and_rejects_unknown() -> None:
    assert tier_rank("low") < tier_rank("medium") < tier_rank("high")
    with pytest.raises(ValueError, match="unknown risk tier"):
        tier_rank("extreme")


def test_ids_accept_strings_and_whole_numbers_only() -> None:
    adapter = TypeAdapter(IdList)
    assert adapter.validate_python(["007", 42, 3.0]) == ["007", "42", "3"]
    for bad in ([True], [1.5], [None], [], [""]):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


def test_expected_loss_ranking_puts_the_big_spender_first() -> None:
    from churnrec.scores.tiers import expected_loss_fallback_note, ranking_values

    p = np.array([0.9, 0.5] + [0.1] * 8)
    clv = np.array([10.0, 500.0] + [1.0] * 8)  # a likely leaver who buys little vs a big spender
    config = TierConfig(rank_by="expected_loss")
    ranked, name = ranking_values(p, clv, config)
    tiers, _ = assign_tiers(ranked, np.zeros(10), config)
    assert name == "expected_loss" and tiers[:2] == ["medium", "high"]
    by_p, _ = assign_tiers(p, np.zeros(10), TierConfig())
    assert by_p[:2] == ["high", "medium"]
    # without a clv model: probability, and a note saying so
    assert ranking_values(p, None, config)[1] == "churn_probability"
    assert expected_loss_fallback_note(config, None) and not expected_loss_fallback_note(
        config, clv
    )
    with pytest.raises(ValidationError, match="capacity"):
        TierConfig(method="probability", rank_by="expected_loss")
