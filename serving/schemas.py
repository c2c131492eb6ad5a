"""Request and response shapes of the HTTP API (they also make the OpenAPI docs).

Ids are strings; JSON numbers are read as the same id. Booleans are not numbers and numbers are
not booleans: `"k": true` and `"exclude_purchased": 1` are 400s.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from churnrec.models import recommender as _recommender

RiskTier = Literal["low", "medium", "high"]
Action = Literal["vip_care", "win_back", "coupon", "nurture", "no_action", "onboarding", "none"]
# Documented as an enum, not validated: a new recommender source must never turn into a 500.
SOURCES = sorted(v for k, v in vars(_recommender).items() if k.startswith("SOURCE_"))

MAX_IDS_PER_CALL = 1000
MAX_K = 100


def _id_from_json(value: Any) -> Any:
    """Accept strings and whole numbers as ids; anything else fails validation (-> 400)."""
    if isinstance(value, bool):
        # pydantic turns only ValueError into a validation error (-> 400), not TypeError
        raise ValueError("an id must be a string or a whole number, not a boolean")  # noqa: TRY004
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    raise ValueError("an id must be a string or a whole number")


def _whole_number(value: Any) -> Any:
    """JSON `true` is not 1: pydantic's lax int would read it as one."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not a boolean")  # noqa: TRY004 - see above
    return value


def _number(value: Any) -> Any:
    """A JSON number: `true` and `"5"` are not prices."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")  # noqa: TRY004 - pydantic needs ValueError
    return value


Id = Annotated[str, BeforeValidator(_id_from_json), StringConstraints(min_length=1, max_length=256)]
Whole = Annotated[int, BeforeValidator(_whole_number)]
Number = Annotated[float, BeforeValidator(_number)]
IdList = Annotated[
    list[Id],
    Field(
        min_length=1,
        max_length=MAX_IDS_PER_CALL,
        description=f"1 to {MAX_IDS_PER_CALL} customer ids (strings; numbers are read as ids)",
        examples=[["C000001", "C000002"]],
    ),
]
K = Annotated[Whole, Field(ge=1, le=MAX_K, description=f"How many items, 1..{MAX_K}")]
RecommendationId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="the `recommendation_id` of the answer the item was shown in"),
]
Position = Annotated[
    Whole, Field(ge=1, le=MAX_K, description="the item's `position` in that answer (1-based)")
]
Flag = Annotated[bool, Strict()]  # JSON true/false only, not 1, "yes" or "true"
Price = Annotated[Number, Field(ge=0)]
PromotedIds = Annotated[
    list[Id],
    Field(max_length=MAX_IDS_PER_CALL, description="items to promote into the answer"),
]
PerCategory = Annotated[
    Whole, Field(ge=1, le=MAX_K, description="at most this many items of one category")
]
PromotedShare = Annotated[
    Number, Field(ge=0, le=1, description="share of the k slots promoted items take (e.g. 0.2)")
]
CartIds = Annotated[
    list[Id],
    Field(max_length=MAX_IDS_PER_CALL, description="item ids in the current cart (never shown)"),
]


class Reason(BaseModel):
    feature: str = Field(description="Model feature (snapshot column or BTYD feature)")
    value: float | int | str | bool | None = Field(description="This customer's value")
    contribution: float = Field(description="Push on the churn log-odds (SHAP value)")


class ChurnScore(BaseModel):
    customer_id: str
    known: bool = Field(description="False: not in the served snapshot; fallback values given")
    fallback: str | None = Field(None, description="Which fallback produced the values, if any")
    churn_probability: float = Field(description="P(no order within the horizon), calibrated")
    risk_tier: RiskTier = Field(
        description="Tier from the serving config: by default high = top 10% by churn "
        "probability, medium = the next 20%, low = the rest (see /metadata tier_cuts)"
    )
    rfm_segment: str = Field(description="RFM segment, 'unknown' for unknown customers")
    lifecycle_stage: str = Field(description="new, growing, mature, declining or lapsed")
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the score is high, in words (e.g. 'no order for 210 days, 3x their "
        "usual gap of 70 days')",
    )
    top_reasons: list[Reason] = Field(description="The same reasons as raw contributions")
    action: Action = Field(
        description="Suggested retention action; 'none' when the customer may not be "
        "contacted for marketing (no recorded consent)"
    )
    action_description: str
    marketing_consent: bool | None = Field(
        description="Recorded marketing consent; null = unknown (treated as no by default)"
    )
    contactable: bool = Field(
        False, description="Whether marketing may reach this customer (consent and policy)"
    )
    clv: float | None = Field(None, description="Predicted spend in the clv model's horizon")
    expected_loss: float | None = Field(None, description="churn_probability x clv")
    uplift: float | None = Field(None, description="Predicted change in outcome if contacted")


class ChurnScoresResponse(BaseModel):
    scores: list[ChurnScore]
    model_version: str | None = Field(description="Registry version of the churn model")
    snapshot_as_of: str | None = Field(description="Date of the snapshot the scores come from")
    warning: str | None = Field(
        None,
        description="Set when the churn model's holdout quality is below 'fair' (poor or not "
        "better than chance): do not act on these scores alone",
    )


class NextPurchase(BaseModel):
    customer_id: str
    known: bool = Field(description="False: not in the served snapshot; fallback values given")
    fallback: str | None = Field(None, description="Which fallback produced the values, if any")
    expected_days_to_next_order: float | None = Field(
        description="Median days from the snapshot date to the next order (survival model)"
    )
    p_order_7d: float | None = Field(description="P(an order within 7 days)")
    p_order_30d: float | None = Field(description="P(an order within 30 days)")
    p_order_90d: float | None = Field(description="P(an order within 90 days)")


class NextPurchaseResponse(BaseModel):
    predictions: list[NextPurchase]
    model_version: str | None = Field(description="Registry version of the repurchase model")
    snapshot_as_of: str | None = Field(description="Date of the snapshot the values come from")


class RecommendationFilters(BaseModel):
    """Which items may come back; applied before the top-k cut, so k items come back whenever
    k pass. An item without a price fails a price bound."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] | None = Field(
        None, max_length=MAX_IDS_PER_CALL, description="only items of these categories"
    )
    exclude_categories: list[str] = Field(
        default_factory=list, max_length=MAX_IDS_PER_CALL, description="no items of these"
    )
    exclude_item_ids: list[Id] = Field(
        default_factory=list, max_length=MAX_IDS_PER_CALL, description="never these items"
    )
    min_price: Price | None = Field(None, description="only items priced at least this")
    max_price: Price | None = Field(None, description="only items priced at most this")
    exclude_bought_within_days: Whole | None = Field(
        None, ge=0, le=3650, description="not what the customer bought in the last N days"
    )


class RecommendationRules(BaseModel):
    """A request's filters and slot rules: the `/recommendations` body fields and the
    `churnrec recommend --filters FILE.yaml` file."""

    model_config = ConfigDict(extra="forbid")

    filters: RecommendationFilters | None = None
    promoted_item_ids: PromotedIds | None = None
    promoted_share: PromotedShare | None = None
    max_per_category: PerCategory | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RecommendationRules:
        if self.promoted_item_ids and self.promoted_share is None:
            raise ValueError(
                "promoted_share (share of the k slots, e.g. 0.2) is required with promoted_item_ids"
            )
        f = self.filters
        if f and f.min_price is not None and f.max_price is not None and f.min_price > f.max_price:
            raise ValueError(f"min_price {f.min_price} is above max_price {f.max_price}")
        return self


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(
        description="Where the item comes from", json_schema_extra={"enum": SOURCES}
    )
    kind: str | None = Field(
        None,
        description="repeat (the customer bought it before) or new; null for old models",
        json_schema_extra={"enum": ["repeat", "new"]},
    )
    position: int | None = Field(
        None,
        ge=1,
        description="1-based place in the answer; send it with `recommendation_id` to /events",
    )


Arm = Literal["champion", "challenger"]
RECOMMENDATION_ID_TEXT = (
    "Unique id of this answer (logged as an impression); send it with the "
    "`position` of the item to /events when the customer views, adds or buys it"
)
ARM_TEXT = (
    "Which recommender served the answer: champion, or challenger for the share "
    "of customers in the online A/B (`experiments: {recommender: {challenger_share}}`); the "
    "same customer always gets the same arm"
)


class RecommendationsResponse(BaseModel):
    customer_id: str
    known_customer: bool
    fallback: str | None = Field(None, description="Set when a fallback produced the items")
    items: list[RecommendedItem]
    model_version: str | None
    recommendation_id: str | None = Field(None, description=RECOMMENDATION_ID_TEXT)
    arm: Arm | None = Field(None, description=ARM_TEXT)


class SimilarItemsResponse(BaseModel):
    item_id: str
    known_item: bool
    fallback: str | None = None
    items: list[RecommendedItem]
    model_version: str | None
    recommendation_id: str | None = Field(None, description=RECOMMENDATION_ID_TEXT)
    arm: Arm | None = Field(None, description=ARM_TEXT)


class Metadata(BaseModel):
    ready: bool = Field(description="True once at least one model is served")
    serving: list[str] = Field(default_factory=list, description="Models that answer now")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Models that do not answer, with the reason"
    )
    models: dict[str, dict[str, Any]] = Field(
        description="Per model: version, run_id, metrics, is_baseline, baseline_strategy, "
        "trained_at, data_until, trained_through (last day of outcomes the served fit "
        "learned from), evaluated_on (its holdout window, START..END), quality (excellent / "
        "good / fair / poor / not better than chance) with quality_reason, and warning (set "
        "below 'fair')"
    )
    versions: dict[str, str | None]
    snapshot_as_of: str | None = Field(description="Date of the served snapshot")
    newest_order_date: str | None = Field(None, description="Newest ingested order date")
    warnings: list[str] = Field(default_factory=list, description="Stale data, loud settings")
    tier_cuts: dict[str, Any] = Field(default_factory=dict, description="Tier thresholds")
    consent_default: str = Field("deny", description="What unknown consent means")
    customers_scored: int
    loaded_at: float | None
    last_reload_error: str | None
    drift: dict[str, Any] | None = Field(
        None,
        description="Last drift check (data/drift/latest.json): checked_at, drift, "
        "drifted_features, drifted_scores, champion_auc_degraded; null before any check",
    )
