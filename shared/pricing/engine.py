"""The pricing rules: pure functions over numpy arrays, no I/O.

The caller loads variants, costs, stock, sales, competitor summaries (already fresh, in
stock and in the shop's currency), trends and elasticities, builds a `PricingInput` (or
`PricingArrays` directly) and calls `recommend` (or `compute_prices`). The rules, in
priority order:

1. no data, no recommendation: an unknown price (`NO_PRICE`), an unknown cost (`NO_COST`),
   a zero price (`ZERO_PRICE`) or an excluded product (`EXCLUDED`) gets none;
2. the floor, max(cost x (1 + min margin %), MAP), is never crossed. It comes before the
   max change: a price below the floor rises to it even when that is a bigger step than
   the max change allows (`FLOOR_OVER_MAX_CHANGE`), the only move beyond the max change;
3. otherwise never more than max change % from the current price (`CLAMPED_MAX_CHANGE`);
4. inside those guardrails the target is, first match wins for the direction:
   overstock (days of cover over the threshold) -> a markdown of `markdown_pct` at least
   (`OVERSTOCK_MARKDOWN`); low stock with a rising trend -> a rise of `raise_pct` at
   least (`LOW_STOCK_RAISE`); otherwise the competitor reference x (1 + offset)
   (`MATCH_*`, `UNDERCUT`, `PREMIUM`); without competitors, the profit-maximising price
   of the variant's demand curve when its group's elasticity was estimated from enough
   data (`DEMAND_OPTIMUM`); otherwise the current price is kept (`NO_COMPETITOR_DATA`);
5. rounding last (`ROUNDED`), then the guardrails again: a rounded price outside the
   allowed band (floor, max change, and never on the other side of the current price
   from the move) moves to the nearest rounded price inside it, or stays unrounded when
   none fits (`ROUNDING_SKIPPED`). A kept price is not rounded: the merchant chose it.

Money enters as Decimal, is computed as integer cents (current price, floor, bounds,
rounding grid) or float (targets, cost) arrays, and leaves as Decimal with 2 places.
Currencies are assumed to have 2 minor digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.pricing.demand import DemandEffects, expected_effects, profit_maximising_price
from shared.pricing.explain import (
    REASON_BIT,
    REASON_LABELS,
    REASON_ORDER,
    ReasonCode,
    PolicyText,
    explain_bits,
    format_money,
    format_pct,
)
from shared.pricing.policy import Position, PricingPolicy, Rounding, Strategy
from shared.pricing.rounding import ENDING_CENTS, grid_nearest, round_within

__all__ = [
    "REASON_BIT", "REASON_LABELS", "REASON_ORDER", "SALES_WINDOW_DAYS", "Position", "PriceDecisions",
    "PricingArrays", "PricingInput", "PricingPolicy", "ReasonCode", "Recommendation", "Rounding", "Strategy",
    "VariantPricingRow", "compute_prices", "confidence_scores", "format_money", "format_pct", "recommend",
]

SALES_WINDOW_DAYS = 28

# Tolerance in cents for float ceil/floor: absorbs binary rounding of values that are
# exact in decimal (10.00 x 1.2 x 100 = 1200.0000000000002) without moving a real cent.
_CENT_EPS = 1e-7

_CENT = Decimal("0.01")


class VariantPricingRow(BaseModel):
    """One variant as the caller loaded it. Competitor fields are None when no fresh,
    in-stock, same-currency competitor price exists; any other None means unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: int | str
    sku: str | None = None
    product_id: str | None = None
    group: str | None = Field(None, description="Product group (type) the elasticity belongs to.")
    title: str
    current_price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    compare_at_price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    map_price: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    cost: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    cost_source: str | None = None
    stock: int | None = None
    units_sold_28d: int | None = Field(0, ge=0)
    competitor_min: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_median: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_max: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_count: int = Field(0, ge=0)
    competitor_age_hours: float | None = Field(None, ge=0, description="Age of the oldest price in the summary.")
    trend_index: float | None = None
    trend_slope: float | None = None
    elasticity: float | None = Field(None, le=0, description="Own-price elasticity of the variant's group.")
    elasticity_estimated: bool = Field(False, description="True when the elasticity comes from enough data, not the prior.")

    @model_validator(mode="after")
    def _competitor_summary_is_consistent(self) -> "VariantPricingRow":
        values = (self.competitor_min, self.competitor_median, self.competitor_max)
        present = [v is not None for v in values]
        if any(present) and not all(present):
            raise ValueError("competitor_min, competitor_median and competitor_max must be all set or all None")
        if all(present):
            if self.competitor_count < 1:
                raise ValueError("competitor_count must be >= 1 when competitor prices are given")
            if not (self.competitor_min <= self.competitor_median <= self.competitor_max):
                raise ValueError("competitor prices must satisfy min <= median <= max")
        elif self.competitor_count:
            raise ValueError("competitor_count must be 0 when no competitor prices are given")
        return self


class PricingInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: PricingPolicy = PricingPolicy()
    rows: list[VariantPricingRow]

    @model_validator(mode="after")
    def _variant_ids_are_unique(self) -> "PricingInput":
        seen: dict[str, int] = {}
        for index, row in enumerate(self.rows):
            key = str(row.variant_id)
            if key in seen:
                raise ValueError(f"rows[{index}]: variant_id {key!r} repeats rows[{seen[key]}]")
            seen[key] = index
        return self

    def to_arrays(self) -> "PricingArrays":
        return PricingArrays.from_rows(self.rows, self.policy)


def _optional_floats(values: Iterable[Decimal | float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


@dataclass(frozen=True)
class PricingArrays:
    """Column arrays, one element per variant. NaN (or -1 cents) means unknown."""

    current_cents: np.ndarray  # int64, exact; -1 unknown
    cost: np.ndarray  # float64, currency units
    competitor_min: np.ndarray  # float64
    competitor_median: np.ndarray  # float64
    competitor_max: np.ndarray  # float64
    competitor_count: np.ndarray  # int64
    competitor_age_hours: np.ndarray  # float64
    map_price: np.ndarray | None = None  # float64
    compare_at: np.ndarray | None = None  # float64
    excluded: np.ndarray | None = None  # bool
    stock: np.ndarray | None = None  # float64
    units_28d: np.ndarray | None = None  # float64
    trend_slope: np.ndarray | None = None  # float64
    elasticity: np.ndarray | None = None  # float64
    elasticity_estimated: np.ndarray | None = None  # bool

    _OPTIONAL_FLOAT = ("map_price", "compare_at", "stock", "units_28d", "trend_slope", "elasticity")
    _OPTIONAL_BOOL = ("excluded", "elasticity_estimated")

    def __post_init__(self) -> None:
        n = len(self.current_cents)
        for name in self._OPTIONAL_FLOAT:
            if getattr(self, name) is None:
                object.__setattr__(self, name, _nan(n))
        for name in self._OPTIONAL_BOOL:
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(n, dtype=bool))
        for name in ("cost", "competitor_min", "competitor_median", "competitor_max", "competitor_count",
                     "competitor_age_hours", *self._OPTIONAL_FLOAT, *self._OPTIONAL_BOOL):
            if len(getattr(self, name)) != n:
                raise ValueError(f"PricingArrays.{name} has {len(getattr(self, name))} items, expected {n}")

    def __len__(self) -> int:
        return len(self.current_cents)

    @classmethod
    def from_rows(cls, rows: Sequence[VariantPricingRow], policy: PricingPolicy | None = None) -> "PricingArrays":
        policy = policy or PricingPolicy()

        def shop_map(r: VariantPricingRow) -> Decimal | None:
            candidates = [r.map_price, policy.map_prices.get(r.sku or ""), policy.map_prices.get(r.product_id or "")]
            known = [c for c in candidates if c is not None]
            return max(known) if known else None

        excluded = policy.excluded
        return cls(
            current_cents=np.array([-1 if r.current_price is None else int(r.current_price * 100) for r in rows],
                                   dtype=np.int64),
            cost=_optional_floats(r.cost for r in rows),
            competitor_min=_optional_floats(r.competitor_min for r in rows),
            competitor_median=_optional_floats(r.competitor_median for r in rows),
            competitor_max=_optional_floats(r.competitor_max for r in rows),
            competitor_count=np.array([r.competitor_count for r in rows], dtype=np.int64),
            competitor_age_hours=_optional_floats(r.competitor_age_hours for r in rows),
            map_price=_optional_floats(shop_map(r) for r in rows),
            compare_at=_optional_floats(r.compare_at_price for r in rows),
            excluded=np.array([bool(excluded) and ((r.sku in excluded) or (r.product_id in excluded)
                                                   or str(r.variant_id) in excluded) for r in rows], dtype=bool),
            stock=_optional_floats(r.stock for r in rows),
            units_28d=_optional_floats(r.units_sold_28d for r in rows),
            trend_slope=_optional_floats(r.trend_slope for r in rows),
            elasticity=_optional_floats(r.elasticity for r in rows),
            elasticity_estimated=np.array([r.elasticity_estimated for r in rows], dtype=bool),
        )


@dataclass(frozen=True)
class PriceDecisions:
    """The engine's output arrays. Cents are -1 where there is no value."""

    recommended_cents: np.ndarray
    target_cents: np.ndarray
    floor_cents: np.ndarray
    margin_floor_cents: np.ndarray
    reason_bits: np.ndarray
    confidence: np.ndarray
    days_of_cover: np.ndarray
    effects: DemandEffects = field(repr=False)

    def reasons(self, index: int) -> list[ReasonCode]:
        bits = int(self.reason_bits[index])
        return [code for code in REASON_ORDER if bits & REASON_BIT[code]]

    @property
    def change_pct(self) -> np.ndarray:
        cur = self._current
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.recommended_cents >= 0, (self.recommended_cents - cur) / np.where(cur > 0, cur, 1) * 100,
                            np.nan)

    _current: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]


def confidence_scores(arrays: PricingArrays, policy: PricingPolicy, rule_fired: np.ndarray | None = None) -> np.ndarray:
    """0..1: more competitor prices, fresher and in closer agreement -> higher.

    count: 1 - 0.5^n (1 -> 0.5, 3 -> 0.875); freshness: 1 at 0 h falling linearly to 0.5 at
    the horizon (0.75 when the age is unknown); agreement: 1 / (1 + (max - min) / median).
    Rows without competitor data get 0.1 (a kept price is a guess about nothing), or 0.4
    when the shop's own stock or sales history set the price; without a price or cost, 0.
    """
    count = arrays.competitor_count.astype(np.float64)
    has_comp = (arrays.competitor_count > 0) & ~np.isnan(arrays.competitor_median)
    age = arrays.competitor_age_hours
    age_share = np.clip(np.nan_to_num(age) / policy.freshness_horizon_hours, 0, 1)
    freshness = np.where(np.isnan(age), 0.75, 1.0 - 0.5 * age_share)
    median = np.where(has_comp, arrays.competitor_median, 1.0)
    spread = np.where(has_comp, (arrays.competitor_max - arrays.competitor_min) / median, 0.0)
    score = (1.0 - np.exp2(-count)) * freshness / (1.0 + np.nan_to_num(spread))
    own_data = 0.1 if rule_fired is None else np.where(rule_fired, 0.4, 0.1)
    score = np.where(has_comp, score, own_data)
    priced = ~np.isnan(arrays.cost) & (arrays.current_cents > 0) & ~arrays.excluded
    return np.round(np.where(priced, score, 0.0), 3)


def compute_prices(arrays: PricingArrays, policy: PricingPolicy) -> PriceDecisions:
    """The whole rule set as array operations; see the module docstring for the rules."""
    bit = REASON_BIT
    cur = arrays.current_cents.astype(np.int64)
    n = len(cur)
    has_price = cur >= 0
    has_cost = ~np.isnan(arrays.cost)
    excluded = arrays.excluded
    priced = has_cost & (cur > 0) & ~excluded
    reference = arrays.competitor_median if policy.position is Position.MEDIAN else arrays.competitor_min
    has_comp = (arrays.competitor_count > 0) & ~np.isnan(reference)

    reasons = np.zeros(n, dtype=np.int64)
    reasons |= np.where(~has_price, bit[ReasonCode.NO_PRICE], 0)
    reasons |= np.where(has_price & ~has_cost, bit[ReasonCode.NO_COST], 0)
    reasons |= np.where(has_cost & (cur == 0), bit[ReasonCode.ZERO_PRICE], 0)
    reasons |= np.where(has_cost & (cur > 0) & excluded, bit[ReasonCode.EXCLUDED], 0)

    # The floor: margin on cost, and the MAP when there is one (both up to the cent).
    margin_floor = np.ceil(np.nan_to_num(arrays.cost) * (1.0 + policy.min_margin_pct / 100.0) * 100.0 - _CENT_EPS)
    margin_floor = margin_floor.astype(np.int64)
    has_map = ~np.isnan(arrays.map_price)
    map_cents = np.ceil(np.nan_to_num(arrays.map_price) * 100.0 - _CENT_EPS).astype(np.int64)
    floor = np.maximum(margin_floor, np.where(has_map, map_cents, 0))
    x = policy.max_change_pct / 100.0
    lo = np.maximum(np.ceil(cur * (1.0 - x) - _CENT_EPS).astype(np.int64), 1)
    hi = np.floor(cur * (1.0 + x) + _CENT_EPS).astype(np.int64)

    # Stock: days of cover at the last 28 days' pace (no sales and stock on hand: forever).
    stock, units = arrays.stock, arrays.units_28d
    known_stock = ~np.isnan(stock) & ~np.isnan(units)
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = np.where(known_stock, np.where(units > 0, np.maximum(stock, 0) / units * SALES_WINDOW_DAYS,
                                                np.where(stock > 0, np.inf, 0.0)), np.nan)
    in_stock = known_stock & (stock > 0)
    overstock = priced & in_stock & (cover > policy.overstock_days)
    rising = ~np.isnan(arrays.trend_slope) & (np.nan_to_num(arrays.trend_slope) > policy.rising_trend_slope)
    low_rising = priced & in_stock & (cover < policy.low_stock_days) & rising & ~overstock

    # Targets in (float) cents.
    comp_target = np.nan_to_num(reference) * (1.0 + policy.offset_pct / 100.0) * 100.0
    demand_rows = priced & ~has_comp & arrays.elasticity_estimated & ~np.isnan(arrays.elasticity)
    optimum = profit_maximising_price(np.nan_to_num(arrays.cost), np.nan_to_num(arrays.elasticity, nan=-2.0)) * 100.0
    base = np.where(has_comp, comp_target, np.where(demand_rows, np.minimum(optimum, 1e15), cur))
    target_f = np.where(overstock, np.minimum(base, cur * (1.0 - policy.markdown_pct / 100.0)), base)
    target_f = np.where(low_rising, np.maximum(target_f, cur * (1.0 + policy.raise_pct / 100.0)), target_f)
    target = np.floor(np.minimum(target_f, 1e15) + 0.5 + _CENT_EPS).astype(np.int64)
    demand_rows &= ~overstock & ~low_rising & (target != cur)
    rule_rows = has_comp | overstock | low_rising | demand_rows

    position_bit = bit[{
        Strategy.UNDERCUT: ReasonCode.UNDERCUT, Strategy.PREMIUM: ReasonCode.PREMIUM,
        Strategy.MATCH: ReasonCode.MATCH_MEDIAN if policy.position is Position.MEDIAN else ReasonCode.MATCH_MIN,
    }[policy.strategy]]
    reasons |= np.where(priced & has_comp & ~overstock & ~low_rising, position_bit, 0)
    reasons |= np.where(priced & ~has_comp, bit[ReasonCode.NO_COMPETITOR_DATA], 0)
    reasons |= np.where(overstock, bit[ReasonCode.OVERSTOCK_MARKDOWN], 0)
    reasons |= np.where(low_rising, bit[ReasonCode.LOW_STOCK_RAISE], 0)
    reasons |= np.where(demand_rows, bit[ReasonCode.DEMAND_OPTIMUM], 0)

    below_floor = cur < floor
    reasons |= np.where(priced & (cur < margin_floor), bit[ReasonCode.BELOW_MARGIN_FLOOR], 0)
    reasons |= np.where(priced & has_map & (cur < map_cents), bit[ReasonCode.BELOW_MAP], 0)

    # The floor first, then the max change.
    floor_over_limit = floor > hi
    wanted = np.maximum(target, floor)
    price = np.where(floor_over_limit, floor, np.clip(wanted, lo, hi))
    reasons |= np.where(priced & floor_over_limit, bit[ReasonCode.FLOOR_OVER_MAX_CHANGE], 0)
    reasons |= np.where(priced & ~floor_over_limit & (price != wanted), bit[ReasonCode.CLAMPED_MAX_CHANGE], 0)
    # Only when a floor, not the max change, decided the price.
    floor_decided = priced & rule_rows & (target < floor) & (price == floor) & ~floor_over_limit
    map_binds = has_map & (map_cents > margin_floor)
    reasons |= np.where(floor_decided & ~map_binds, bit[ReasonCode.MARGIN_FLOOR], 0)
    reasons |= np.where(floor_decided & map_binds, bit[ReasonCode.MAP_FLOOR], 0)

    if policy.rounding is not Rounding.NONE:
        ending = ENDING_CENTS[policy.rounding]
        # Rounding may not reverse the move: a rise stays at or above the current price, a cut at or below.
        band_lo = np.where(floor_over_limit, floor, np.maximum(np.maximum(lo, floor), np.where(price > cur, cur, 0)))
        band_hi = np.where(floor_over_limit, floor, np.where(price < cur, np.minimum(hi, cur), hi))
        # A kept price is left as the merchant set it.
        round_rows = priced & (rule_rows | below_floor)
        rounded, fits = round_within(price, band_lo, band_hi, ending)
        new_price = np.where(round_rows, rounded, price)
        reasons |= np.where(round_rows & (new_price != price), bit[ReasonCode.ROUNDED], 0)
        on_grid = grid_nearest(price, ending) == price
        reasons |= np.where(round_rows & ~fits & ~on_grid, bit[ReasonCode.ROUNDING_SKIPPED], 0)
        price = new_price

    has_compare_at = ~np.isnan(arrays.compare_at)
    compare_cents = np.round(np.nan_to_num(arrays.compare_at) * 100.0)
    reasons |= np.where(priced & has_compare_at & (compare_cents > 0) & (price >= compare_cents),
                        bit[ReasonCode.ABOVE_COMPARE_AT], 0)
    reasons |= np.where(priced & (price == cur), bit[ReasonCode.NO_CHANGE], 0)

    recommended = np.where(priced, price, -1)
    effects = expected_effects(np.where(priced, cur, 0) / 100.0, np.where(priced, price, 0) / 100.0,
                               arrays.cost, units, arrays.elasticity)
    return PriceDecisions(
        recommended_cents=recommended,
        target_cents=np.where(priced & rule_rows, target, -1),
        floor_cents=np.where(has_cost, floor, -1),
        margin_floor_cents=np.where(has_cost, margin_floor, -1),
        reason_bits=reasons,
        confidence=confidence_scores(arrays, policy, rule_fired=overstock | low_rising | demand_rows),
        days_of_cover=cover,
        effects=effects,
        _current=cur,
    )


class Recommendation(BaseModel):
    """One variant's recommendation, with the inputs the briefing needs to explain it."""

    model_config = ConfigDict(frozen=True)

    variant_id: int | str
    sku: str | None = None
    title: str
    currency: str = "GBP"
    current_price: Decimal | None = None
    compare_at_price: Decimal | None = None
    map_price: Decimal | None = None
    cost: Decimal | None = None
    cost_source: str | None = None
    stock: int | None = None
    units_sold_28d: int | None = 0
    days_of_cover: float | None = None
    competitor_min: Decimal | None = None
    competitor_median: Decimal | None = None
    competitor_max: Decimal | None = None
    competitor_count: int = 0
    trend_slope: float | None = None
    elasticity: float | None = None
    floor_price: Decimal | None = Field(None, description="max(cost x (1 + min margin), MAP), up to the cent.")
    recommended_price: Decimal | None = None
    change_pct: Decimal | None = Field(None, description="(recommended - current) / current x 100, 2 places.")
    margin_pct: Decimal | None = Field(None, description="Margin on cost at the recommended price, 1 place.")
    expected_units_change: Decimal | None = Field(None, description="Units over 28 days, 1 place.")
    expected_revenue_change: Decimal | None = Field(None, description="Revenue over 28 days, to the cent.")
    expected_profit_change: Decimal | None = Field(None, description="Gross profit over 28 days, to the cent.")
    confidence: float = Field(ge=0, le=1)
    reason_codes: list[ReasonCode]
    explanation: str


def _cents_to_decimal(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _margin_on_cost(price: Decimal, cost: Decimal) -> Decimal | None:
    if cost <= 0:
        return None
    return ((price - cost) / cost * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _decimal_or_none(value: float, places: str) -> Decimal | None:
    if not np.isfinite(value):
        return None
    return Decimal(repr(round(float(value), 6))).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def explanations(arrays: PricingArrays, decisions: PriceDecisions, policy: PricingPolicy) -> list[str]:
    """One merchant line per row, from the arrays alone (the CLI and the benchmark use this)."""
    reference = arrays.competitor_median if policy.position is Position.MEDIAN else arrays.competitor_min
    columns = [
        decisions.reason_bits.tolist(), arrays.current_cents.tolist(), decisions.recommended_cents.tolist(),
        decisions.floor_cents.tolist(), decisions.margin_floor_cents.tolist(), decisions.target_cents.tolist(),
        np.nan_to_num(arrays.cost, nan=-1.0).tolist(),
        np.floor(np.nan_to_num(reference, nan=-0.01) * 100 + 0.5).astype(np.int64).tolist(),
        arrays.competitor_count.tolist(), decisions.days_of_cover.tolist(), decisions.effects.profit_change.tolist(),
        arrays.elasticity.tolist(),
    ]
    text = PolicyText(policy)
    return [explain_bits(bits, text, *rest) for bits, *rest in zip(*columns)]


def recommend(pricing_input: PricingInput) -> list[Recommendation]:
    """Recommendations for every row, in input order."""
    policy = pricing_input.policy
    rows = pricing_input.rows
    arrays = pricing_input.to_arrays()
    decisions = compute_prices(arrays, policy)
    lines = explanations(arrays, decisions, policy)
    # Plain Python values once, rather than numpy scalars per row.
    recommended_cents = decisions.recommended_cents.tolist()
    floor_cents = decisions.floor_cents.tolist()
    confidence = decisions.confidence.tolist()
    cover = decisions.days_of_cover.tolist()
    units = decisions.effects.units_change.tolist()
    revenue = decisions.effects.revenue_change.tolist()
    profit = decisions.effects.profit_change.tolist()
    map_prices = arrays.map_price.tolist()
    reason_lists: dict[int, list[ReasonCode]] = {}
    results: list[Recommendation] = []
    for i, row in enumerate(rows):
        bits = int(decisions.reason_bits[i])
        reasons = reason_lists.get(bits) or reason_lists.setdefault(bits, decisions.reasons(i))
        recommended = _cents_to_decimal(recommended_cents[i]) if recommended_cents[i] >= 0 else None
        floor = _cents_to_decimal(floor_cents[i]) if floor_cents[i] >= 0 else None
        change = margin = None
        if recommended is not None:
            change = ((recommended - row.current_price) / row.current_price * 100).quantize(
                _CENT, rounding=ROUND_HALF_UP)
            margin = _margin_on_cost(recommended, row.cost)
        results.append(Recommendation(
            variant_id=row.variant_id, sku=row.sku, title=row.title, currency=policy.currency,
            current_price=row.current_price, compare_at_price=row.compare_at_price,
            map_price=_decimal_or_none(map_prices[i], "0.01"), cost=row.cost, cost_source=row.cost_source,
            stock=row.stock, units_sold_28d=row.units_sold_28d,
            days_of_cover=round(cover[i], 1) if np.isfinite(cover[i]) else None,
            competitor_min=row.competitor_min, competitor_median=row.competitor_median,
            competitor_max=row.competitor_max, competitor_count=row.competitor_count,
            trend_slope=row.trend_slope, elasticity=row.elasticity, floor_price=floor,
            recommended_price=recommended, change_pct=change, margin_pct=margin,
            expected_units_change=_decimal_or_none(units[i], "0.1") if recommended is not None else None,
            expected_revenue_change=_decimal_or_none(revenue[i], "0.01") if recommended is not None else None,
            expected_profit_change=_decimal_or_none(profit[i], "0.01") if recommended is not None else None,
            confidence=confidence[i], reason_codes=reasons, explanation=lines[i],
        ))
    return results
