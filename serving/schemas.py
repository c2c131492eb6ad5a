"""Request and response shapes of the HTTP API (they also make the OpenAPI docs).

Ids travel as JSON strings; JSON numbers are accepted and read as the same id (`42` -> "42"),
so any shop's ids work. Limits (ids per call, k) are here so the docs show them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

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


Id = Annotated[str, BeforeValidator(_id_from_json), StringConstraints(min_length=1, max_length=256)]
IdList = Annotated[
    list[Id],
    Field(
        min_length=1,
        max_length=MAX_IDS_PER_CALL,
        description=f"1 to {MAX_IDS_PER_CALL} customer ids (strings; numbers are read as ids)",
        examples=[["C000001", "C000002"]],
    ),
]
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"How many items, 1..{MAX_K}")]
CartIds = Annotated[
    list[Id],
    Field(max_length=MAX_IDS_PER_CALL, description="item ids in the current cart (never shown)"),
]


class Reason(BaseModel):
    feature: str
    value: float | int | str | bool | None
    contribution: float = Field(description="Push on the churn log-odds (SHAP value)")


class ChurnScore(BaseModel):
    customer_id: str
    known: bool = Field(description="False: not in the served snapshot; fallback values given")
    fallback: str | None = Field(None, description="Which fallback produced the values, if any")
    churn_probability: float
    risk_tier: str = Field(description="high (p >= 0.7), medium (p >= 0.4) or low")
    rfm_segment: str
    lifecycle_stage: str
    top_reasons: list[Reason]
    action: str
    action_description: str
    marketing_consent: bool | None


class ChurnScoresResponse(BaseModel):
    scores: list[ChurnScore]
    model_version: str | None
    snapshot_as_of: str | None


class NextPurchase(BaseModel):
    customer_id: str
    known: bool
    fallback: str | None = None
    expected_days_to_next_order: float | None
    p_order_7d: float | None
    p_order_30d: float | None
    p_order_90d: float | None


class NextPurchaseResponse(BaseModel):
    predictions: list[NextPurchase]
    model_version: str | None
    snapshot_as_of: str | None


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    source: str = Field(
        description="buy_again, model (ALS), bought_together, popular_in_category or popular"
    )
    kind: str | None = Field(
        None, description="repeat (the customer bought it before) or new; null for old models"
    )


class RecommendationsResponse(BaseModel):
    customer_id: str
    known_customer: bool
    fallback: str | None = Field(None, description="Set when a fallback produced the items")
    items: list[RecommendedItem]
    model_version: str | None


class SimilarItemsResponse(BaseModel):
    item_id: str
    known_item: bool
    fallback: str | None = None
    items: list[RecommendedItem]
    model_version: str | None


class Metadata(BaseModel):
    ready: bool
    models: dict[str, dict[str, Any]]
    versions: dict[str, str | None]
    snapshot_as_of: str | None
    customers_scored: int
    loaded_at: float | None
    last_reload_error: str | None
