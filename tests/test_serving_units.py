"""Pure parts of serving: risk tiers, actions, API-key resolution, id coercion."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from churnrec.serving.actions import risk_tier, suggest_action, tier_rank
from churnrec.serving.auth import AuthConfigError, resolve_api_key
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
def test_risk_tier_thresholds(p: float, tier: str) -> None:
    assert risk_tier(p) == tier


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


def test_tier_rank_orders_and_rejects_unknown() -> None:
    assert tier_rank("low") < tier_rank("medium") < tier_rank("high")
    with pytest.raises(ValueError, match="unknown risk tier"):
        tier_rank("extreme")


def test_api_key_from_env_file_or_disabled(tmp_path) -> None:
    assert resolve_api_key({"CHURNREC_API_KEY": " k1 "}) == "k1"
    key_file = tmp_path / "key"
    key_file.write_text("\n  k2  \n")
    assert resolve_api_key({"CHURNREC_API_KEY_FILE": str(key_file)}) == "k2"
    assert resolve_api_key({"CHURNREC_AUTH_DISABLED": "1"}) is None
    with pytest.raises(AuthConfigError, match="no API key"):
        resolve_api_key({})
    with pytest.raises(AuthConfigError, match="cannot be read"):
        resolve_api_key({"CHURNREC_API_KEY_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(AuthConfigError, match="empty"):
        resolve_api_key({"CHURNREC_API_KEY_FILE": str(tmp_path / "empty")})


def test_ids_accept_strings_and_whole_numbers_only() -> None:
    adapter = TypeAdapter(IdList)
    assert adapter.validate_python(["007", 42, 3.0]) == ["007", "42", "3"]
    for bad in ([True], [1.5], [None], [], [""]):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
