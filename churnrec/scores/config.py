"""Serving settings a shop may change (consent default, risk tiers, online experiments): one YAML
file, unknown keys are errors. `CHURNREC_CONSENT_DEFAULT=allow|deny` overrides
`consent_default`; `allow` is announced loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from churnrec.columns import Score


class ServingConfigError(ValueError):
    """The serving config file (or env var) cannot be read or is not valid."""


class TierConfig(BaseModel):
    """How churn probabilities become the tiers a retention team acts on."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["capacity", "probability"] = Field(
        "capacity",
        description="capacity: tiers are shares of the customers ranked by churn probability "
        "(as many as the team can contact); probability: fixed probability thresholds",
    )
    rank_by: Literal[Score.CHURN_PROBABILITY, Score.EXPECTED_LOSS] = Field(
        Score.CHURN_PROBABILITY,
        description="capacity tiers rank by churn probability, or by expected_loss (churn "
        "probability x CLV: the spend at stake) when a clv model exists",
    )
    high_share: float = Field(0.10, gt=0, lt=1)
    medium_share: float = Field(0.20, ge=0, lt=1)
    high_probability: float = Field(0.7, gt=0, le=1)
    medium_probability: float = Field(0.4, ge=0, le=1)
    at_risk_probability: float = Field(
        0.5,
        gt=0,
        le=1,
        description="churn probability from which a customer is at risk whatever their tier: "
        "never 'no action', and given reasons (0.5: more likely to leave than to stay)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.high_share + self.medium_share > 1:
            raise ValueError("high_share + medium_share must be at most 1")
        if self.medium_probability > self.high_probability:
            raise ValueError("medium_probability must not exceed high_probability")
        if self.rank_by == Score.EXPECTED_LOSS and self.method != "capacity":
            raise ValueError("rank_by: expected_loss needs method: capacity (shares, not p)")
        return self


class RecommenderExperiment(BaseModel):
    """An online A/B of recommender versions: `@challenger` for a stable share of customers."""

    model_config = ConfigDict(extra="forbid")

    challenger_share: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="share of customers (chosen by a keyed hash of their id, so the same "
        "customer always gets the same arm) served by recommender@challenger; 0 = no experiment",
    )


class ExperimentsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recommender: RecommenderExperiment = Field(default_factory=RecommenderExperiment)


class ServingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consent_default: Literal["deny", "allow"] = Field(
        "deny", description="what unknown marketing consent means for marketing outputs"
    )
    tiers: TierConfig = Field(default_factory=TierConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)

    @property
    def unknown_consent_allowed(self) -> bool:
        return self.consent_default == "allow"

    def warnings(self) -> list[str]:
        """Lines to print loudly at start: settings that widen who gets marketing."""
        if not self.unknown_consent_allowed:
            return []
        line = (
            "!!! consent_default=allow: customers with UNKNOWN marketing consent are treated "
            "as contactable in exports and suggested actions. Only use this if your legal "
            "basis for marketing does not depend on recorded consent. !!!"
        )
        return [line]


def load_serving_config(
    path: Path | None = None, consent_default: str | None = None
) -> ServingConfig:
    """Read the YAML at `path` (defaults without one); `consent_default` overrides its own."""
    raw: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ServingConfigError(f"cannot read serving config {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ServingConfigError(f"serving config {path} must be a mapping of keys")
    if consent_default:
        raw = {**raw, "consent_default": consent_default}
    try:
        return ServingConfig.model_validate(raw)
    except ValidationError as exc:
        where = path or f"with CHURNREC_CONSENT_DEFAULT={consent_default}"
        raise ServingConfigError(f"serving config {where} is not valid:\n{exc}") from exc
