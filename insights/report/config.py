"""Report settings a shop may change in a YAML file (`churnrec report --config FILE`): event
names per funnel step, `period_days`, attribution and how campaigns are read out."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from churnrec import columns as C

STEPS = C.FUNNEL_EVENTS  # view, add_to_cart, checkout, purchase (funnel order)
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    # pv / cart / buy: the short names of public clickstream logs (e.g. Taobao UserBehavior)
    C.EVENT_VIEW: ("product_view", "view", "page_view", "view_item", "pageview", "pv"),
    C.EVENT_ADD_TO_CART: ("add_to_cart", "cart_add", "addtocart", "add_to_basket", "cart"),
    C.EVENT_CHECKOUT: (
        "checkout",
        "begin_checkout",
        "shipping_details",
        "payment_details",
        "add_payment_info",
        "add_shipping_info",
    ),
    C.EVENT_PURCHASE: ("purchase", "order", "transaction", "order_completed", "buy"),
}
ERROR_PATTERNS = ("error", "fail", "bug", "exception", "declined")


class ReportConfigError(ValueError):
    """The report config file is unreadable or has unknown keys."""


class EventNames(BaseModel):
    model_config = ConfigDict(extra="forbid")

    view: list[str] = []
    add_to_cart: list[str] = []
    checkout: list[str] = []
    purchase: list[str] = []
    errors: list[str] = []


class CampaignSettings(BaseModel):
    """How campaigns are read out (the same choices as `churnrec campaign readout`)."""

    model_config = ConfigDict(extra="forbid")

    control: dict[str, str] = Field(
        default_factory=dict, description="campaign_id -> control arm, where the name is unclear"
    )
    window_days: int = Field(14, ge=1, le=365, description="outcome window after sent_at")
    intended_split: dict[str, dict[str, PositiveFloat]] = Field(
        default_factory=dict,
        description="campaign_id -> {arm: share}; without it no sample-ratio check is shown",
    )


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: EventNames = EventNames()
    period_days: int = Field(90, ge=7, le=366, description="length of 'this period'")
    attribution_lookback_days: int = Field(30, ge=1, le=365)
    time_decay_half_life_days: float = Field(7.0, gt=0)
    campaigns: CampaignSettings = CampaignSettings()

    def step_names(self) -> dict[str, tuple[str, ...]]:
        """step -> lower-cased event names (common ones plus the configured ones)."""
        extra = self.events.model_dump()
        return {
            step: tuple(dict.fromkeys([*COMMON_NAMES[step], *(n.lower() for n in extra[step])]))
            for step in STEPS
        }


def load_report_config(path: Path | None) -> ReportConfig:
    if path is None:
        return ReportConfig()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReportConfigError(f"report config {path}: cannot be read ({exc})") from exc
    try:
        return ReportConfig.model_validate(data)
    except ValidationError as exc:
        raise ReportConfigError(f"report config {path}: {exc}") from exc
