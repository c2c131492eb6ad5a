"""The knobs of the synthetic shop. Defaults size the README demo (minutes on two cores); the
behaviour knobs are BG/NBD-like latent parameters, so recency, frequency and trend carry signal."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from churnrec.synthetic.catalogue import MAX_CATEGORIES


class ShopConfig(BaseModel):
    """What `generate_shop` builds. Same config (seed included) -> identical tables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- size and period ---------------------------------------------------------------------
    n_customers: int = Field(5_000, ge=1, description="customers who sign up over the period")
    n_items: int = Field(500, ge=1, description="items in the catalogue")
    n_categories: int = Field(15, ge=2, le=MAX_CATEGORIES)
    start: date = Field(date(2024, 1, 1), description="first day of history")
    end: date = Field(date(2025, 12, 31), description="last day of history (inclusive)")
    seed: int = Field(42, ge=0)
    with_events: bool = Field(True, description="also simulate clickstream events")

    # --- purchase process (BG/NBD-like) ------------------------------------------------------
    mean_days_between_orders: float = Field(
        35.0, gt=0, description="mean of the gamma-distributed personal inter-order time"
    )
    rate_shape: float = Field(
        1.2, gt=0, description="gamma shape of the purchase rate; smaller = more heterogeneous"
    )
    dropout_a: float = Field(1.2, gt=0, description="Beta(a, b) of the per-purchase dropout p")
    dropout_b: float = Field(4.5, gt=0)
    decliner_share: float = Field(
        0.35, ge=0, le=1, description="customers whose gaps stretch before they drop out"
    )
    decline_factor: float = Field(1.6, ge=1, description="gap multiplier per step of decline")
    decline_steps: int = Field(3, ge=0, description="purchases over which the decline shows")
    replenisher_share: float = Field(
        0.3, ge=0, le=1, description="customers who rebuy a staple at a regular interval"
    )
    replenish_regularity: float = Field(
        6.0, gt=0, description="gamma shape of a replenisher's gaps; larger = more regular"
    )
    never_buyer_share: float = Field(0.08, ge=0, le=1, description="sign up, never order")
    first_order_mean_days: float = Field(4.0, gt=0, description="signup -> first order")

    # --- catalogue and taste -----------------------------------------------------------------
    n_segments: int = Field(8, ge=1, description="taste segments (for collaborative signal)")
    popularity_exponent: float = Field(1.1, ge=0, description="Zipf exponent within category")

    # --- lines, returns, consent ---------------------------------------------------------------
    return_rate: float = Field(0.04, ge=0, lt=1, description="mean share of returned lines")
    no_consent_share: float = Field(0.12, ge=0, le=1, description="marketing_consent false")

    @model_validator(mode="after")
    def _check_period_and_catalogue(self) -> ShopConfig:
        if (self.end - self.start).days < 28:
            raise ValueError(
                f"end ({self.end}) must be at least 28 days after start ({self.start})"
            )
        if self.n_items < 2 * self.n_categories:
            raise ValueError(
                f"n_items ({self.n_items}) must be at least 2 per category "
                f"(n_categories={self.n_categories})"
            )
        return self

    @property
    def horizon_days(self) -> int:
        """Number of days in [start, end]; every timestamp is in [0, horizon_days) days."""
        return (self.end - self.start).days + 1
