"""A shop's pricing settings: the app's defaults (shared.settings) under the shop's overrides."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Position(StrEnum):
    MEDIAN = "median"
    MIN = "min"


class Strategy(StrEnum):
    MATCH = "match"
    UNDERCUT = "undercut"
    PREMIUM = "premium"


class Rounding(StrEnum):
    NINETY_NINE = ".99"
    NINETY_FIVE = ".95"
    WHOLE = "whole"
    NONE = "none"


class PricingPolicy(BaseModel):
    """A shop's pricing rules. Ranges match `shared.settings.Settings.pricing_*`.

    The strategy can be given either as `strategy` + `strategy_pct` (undercut by 2 %) or as
    the signed `offset_pct` (-2); both end up in `offset_pct`, which the engine reads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_margin_pct: float = Field(20.0, ge=0, le=500, description="Floor = cost x (1 + this / 100).")
    max_change_pct: float = Field(10.0, gt=0, le=100, description="Largest move from the current price per run.")
    position: Position = Position.MEDIAN
    offset_pct: float = Field(0.0, ge=-50, le=50, description="-2 = 2 % under the reference, +5 = 5 % over.")
    rounding: Rounding = Rounding.NINETY_NINE
    currency: str = Field("GBP", pattern=r"^[A-Z]{3}$")
    freshness_horizon_hours: float = Field(
        48.0, gt=0, description="Competitor data this old counts as half as trustworthy as fresh data."
    )
    # Minimum advertised prices by SKU (or product id): a floor like the margin floor.
    map_prices: dict[str, Decimal] = Field(default_factory=dict)
    # SKUs or product ids the engine must leave alone.
    excluded: frozenset[str] = frozenset()
    overstock_days: float = Field(120.0, gt=0, description="Days of cover above this: mark down.")
    markdown_pct: float = Field(5.0, gt=0, le=50, description="Step of an overstock markdown per run.")
    low_stock_days: float = Field(14.0, ge=0, description="Days of cover below this (with a rising trend): raise.")
    rising_trend_slope: float = Field(0.5, ge=0, description="Trend slope (index points a week) that counts as rising.")
    raise_pct: float = Field(5.0, gt=0, le=50, description="Step of a low-stock raise per run.")

    @model_validator(mode="before")
    @classmethod
    def _strategy_to_offset(cls, data):
        if not isinstance(data, dict) or "strategy" not in data:
            return data
        data = dict(data)
        strategy = Strategy(str(data.pop("strategy")).lower())
        pct = float(data.pop("strategy_pct", 0.0) or 0.0)
        if pct < 0:
            raise ValueError("strategy_pct must be >= 0 (the strategy says which side)")
        if strategy is Strategy.MATCH and pct:
            raise ValueError("strategy 'match' takes no strategy_pct")
        if "offset_pct" in data:
            raise ValueError("give either strategy/strategy_pct or offset_pct, not both")
        data["offset_pct"] = {Strategy.MATCH: 0.0, Strategy.UNDERCUT: -pct, Strategy.PREMIUM: pct}[strategy]
        return data

    @field_validator("min_margin_pct", "max_change_pct", "offset_pct", "markdown_pct", "raise_pct")
    @classmethod
    def _four_places(cls, value: float) -> float:
        # Percentages are settings a person types: 4 places is plenty, and it keeps the
        # guardrails exact in cents (a 99.99999999999999 % limit is a 100 % one).
        return round(value, 4)

    @model_validator(mode="after")
    def _map_prices_are_positive(self) -> "PricingPolicy":
        for key, value in self.map_prices.items():
            if value <= 0:
                raise ValueError(f"map_prices[{key!r}] must be > 0, got {value}")
        return self

    @property
    def strategy(self) -> Strategy:
        if self.offset_pct < 0:
            return Strategy.UNDERCUT
        return Strategy.PREMIUM if self.offset_pct > 0 else Strategy.MATCH
