"""The first pricing rule set: pure functions over numpy arrays.

The caller loads variants, costs and competitor summaries, builds a `PricingInput` and
calls `recommend`. Nothing here does I/O. The rules, in priority order:

1. no cost -> no recommendation (`NO_COST`); a zero current price -> none either (`ZERO_PRICE`);
2. no competitor data -> keep the current price (`NO_COMPETITOR_DATA`) unless it is below
   the margin floor;
3. target = competitor median (or min) x (1 + offset %);
4. floor = cost x (1 + min margin %): never recommend below it (`MARGIN_FLOOR` when the
   floor, rather than the target, sets the price);
5. never move more than max change % from the current price (`CLAMPED_MAX_CHANGE`);
   when the current price is below the floor and the floor is further away than the
   max change allows, the max change wins and the price rises as far as allowed
   (`BELOW_MARGIN_FLOOR` + `CLAMPED_MAX_CHANGE`): the only case below the floor;
6. rounding last (`ROUNDED`) to the nearest .99/.95/whole price, then both guardrails
   again: a rounded price outside the allowed band (floor and max change, and never on
   the other side of the current price from the move) moves to the nearest rounded price
   inside it, or stays unrounded when none fits (`ROUNDING_SKIPPED`). A kept price (no
   competitor data, above the floor) is not rounded: the merchant chose it.

"Margin" throughout is margin on cost (markup), (price - cost) / cost, because that is
how the floor is defined; explanations say "margin on cost" so the two never disagree.

Money enters as Decimal, is computed as integer cents (current price, floor, bounds,
rounding grid) or float (target, cost) arrays, and leaves as Decimal with 2 places.
Currencies are assumed to have 2 minor digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

SALES_WINDOW_DAYS = 28

# Tolerance in cents for float ceil/floor: absorbs binary rounding of values that are
# exact in decimal (10.00 x 1.2 x 100 = 1200.0000000000002) without moving a real cent.
_CENT_EPS = 1e-7

_CENT = Decimal("0.01")


class Position(StrEnum):
    MEDIAN = "median"
    MIN = "min"


class Rounding(StrEnum):
    NINETY_NINE = ".99"
    NINETY_FIVE = ".95"
    WHOLE = "whole"
    NONE = "none"


# Price endings in cents within each whole unit; NONE has no grid.
_ROUNDING_ENDING_CENTS = {Rounding.NINETY_NINE: 99, Rounding.NINETY_FIVE: 95, Rounding.WHOLE: 0}


class ReasonCode(StrEnum):
    NO_COST = "NO_COST"
    ZERO_PRICE = "ZERO_PRICE"
    NO_COMPETITOR_DATA = "NO_COMPETITOR_DATA"
    MATCH_MEDIAN = "MATCH_MEDIAN"
    MATCH_MIN = "MATCH_MIN"
    UNDERCUT = "UNDERCUT"
    PREMIUM = "PREMIUM"
    BELOW_MARGIN_FLOOR = "BELOW_MARGIN_FLOOR"
    MARGIN_FLOOR = "MARGIN_FLOOR"
    CLAMPED_MAX_CHANGE = "CLAMPED_MAX_CHANGE"
    ROUNDED = "ROUNDED"
    ROUNDING_SKIPPED = "ROUNDING_SKIPPED"
    NO_CHANGE = "NO_CHANGE"


# Bit positions for the vectorised engine; the order is the order codes are reported in.
REASON_ORDER: tuple[ReasonCode, ...] = tuple(ReasonCode)
REASON_BIT: dict[ReasonCode, int] = {code: 1 << i for i, code in enumerate(REASON_ORDER)}

REASON_LABELS: dict[ReasonCode, str] = {
    ReasonCode.NO_COST: "No cost on record",
    ReasonCode.ZERO_PRICE: "Current price is zero",
    ReasonCode.NO_COMPETITOR_DATA: "No fresh competitor prices",
    ReasonCode.MATCH_MEDIAN: "Matches competitor median",
    ReasonCode.MATCH_MIN: "Matches cheapest competitor",
    ReasonCode.UNDERCUT: "Undercuts competitors",
    ReasonCode.PREMIUM: "Premium over competitors",
    ReasonCode.BELOW_MARGIN_FLOOR: "Current price below margin floor",
    ReasonCode.MARGIN_FLOOR: "Held at margin floor",
    ReasonCode.CLAMPED_MAX_CHANGE: "Limited by max change",
    ReasonCode.ROUNDED: "Rounded",
    ReasonCode.ROUNDING_SKIPPED: "Left unrounded to stay within limits",
    ReasonCode.NO_CHANGE: "No change",
}

_CURRENCY_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$"}


def format_money(amount: Decimal | float | int, currency: str = "GBP") -> str:
    """'£1,234.50' for GBP; unknown currencies get their code: 'CHF 12.00'."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    cents = int(value.scaleb(2).to_integral_value(rounding=ROUND_HALF_UP))
    sign = "-" if cents < 0 else ""
    symbol = _CURRENCY_SYMBOLS.get(currency.upper())
    digits = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency.upper()} {digits}"


def format_pct(value: Decimal | float, signed: bool = False, places: int = 1) -> str:
    """'-10%', '7.6%', '+30%': `places` decimals at most, none when they are zero."""
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = str(int(rounded)) if rounded == rounded.to_integral_value() else f"{rounded:f}"
    if signed and rounded > 0:
        text = "+" + text
    return f"{text}%"


class PricingPolicy(BaseModel):
    """A shop's pricing rules. Ranges match `shared.settings.Settings.pricing_*`."""

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


class VariantPricingRow(BaseModel):
    """One variant as the caller loaded it. Competitor fields are None when no fresh,
    in-stock, same-currency competitor price exists."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant_id: int | str
    sku: str | None = None
    title: str
    current_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    cost: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=4)
    cost_source: str | None = None
    stock: int | None = None
    units_sold_28d: int = Field(0, ge=0)
    competitor_min: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_median: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_max: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=2)
    competitor_count: int = Field(0, ge=0)
    competitor_age_hours: float | None = Field(None, ge=0, description="Age of the oldest price in the summary.")
    trend_slope: float | None = None

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
        return PricingArrays.from_rows(self.rows)


def _optional_floats(values: Iterable[Decimal | float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True)
class PricingArrays:
    """Column arrays, one element per variant. NaN means missing."""

    current_cents: np.ndarray  # int64, exact
    cost: np.ndarray  # float64, currency units
    competitor_min: np.ndarray  # float64
    competitor_median: np.ndarray  # float64
    competitor_max: np.ndarray  # float64
    competitor_count: np.ndarray  # int64
    competitor_age_hours: np.ndarray  # float64

    def __post_init__(self) -> None:
        n = len(self.current_cents)
        for name in ("cost", "competitor_min", "competitor_median", "competitor_max", "competitor_count",
                     "competitor_age_hours"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"PricingArrays.{name} has {len(getattr(self, name))} items, expected {n}")

    def __len__(self) -> int:
        return len(self.current_cents)

    @classmethod
    def from_rows(cls, rows: Sequence[VariantPricingRow]) -> "PricingArrays":
        return cls(
            current_cents=np.array([int(r.current_price * 100) for r in rows], dtype=np.int64),
            cost=_optional_floats(r.cost for r in rows),
            competitor_min=_optional_floats(r.competitor_min for r in rows),
            competitor_median=_optional_floats(r.competitor_median for r in rows),
            competitor_max=_optional_floats(r.competitor_max for r in rows),
            competitor_count=np.array([r.competitor_count for r in rows], dtype=np.int64),
            competitor_age_hours=_optional_floats(r.competitor_age_hours for r in rows),
        )


@dataclass(frozen=True)
class PriceDecisions:
    """The engine's output arrays. Cents are -1 where there is no value."""

    recommended_cents: np.ndarray
    target_cents: np.ndarray
    floor_cents: np.ndarray
    reason_bits: np.ndarray
    confidence: np.ndarray

    def reasons(self, index: int) -> list[ReasonCode]:
        bits = int(self.reason_bits[index])
        return [code for code in REASON_ORDER if bits & REASON_BIT[code]]


def _grid_nearest(cents: np.ndarray, ending: int) -> np.ndarray:
    # Ties go up: 21.49 -> 21.99 rather than 20.99 for .99 endings.
    return ending + 100 * ((cents - ending + 50) // 100)


def _grid_floor(cents: np.ndarray, ending: int) -> np.ndarray:
    return ending + 100 * ((cents - ending) // 100)


def _grid_ceil(cents: np.ndarray, ending: int) -> np.ndarray:
    return ending - 100 * ((ending - cents) // 100)


def confidence_scores(arrays: PricingArrays, policy: PricingPolicy) -> np.ndarray:
    """0..1: more competitor prices, fresher and in closer agreement -> higher.

    count: 1 - 0.5^n (1 -> 0.5, 3 -> 0.875); freshness: 1 at 0 h falling linearly to 0.5 at
    the horizon (0.75 when the age is unknown); agreement: 1 / (1 + (max - min) / median).
    Rows without competitor data get 0.1 (a kept price is a guess about nothing); without
    cost or with a zero price, 0.
    """
    count = arrays.competitor_count.astype(np.float64)
    has_comp = (arrays.competitor_count > 0) & ~np.isnan(arrays.competitor_median)
    age = arrays.competitor_age_hours
    age_share = np.clip(np.nan_to_num(age) / policy.freshness_horizon_hours, 0, 1)
    freshness = np.where(np.isnan(age), 0.75, 1.0 - 0.5 * age_share)
    median = np.where(has_comp, arrays.competitor_median, 1.0)
    spread = np.where(has_comp, (arrays.competitor_max - arrays.competitor_min) / median, 0.0)
    score = (1.0 - 0.5 ** count) * freshness / (1.0 + np.nan_to_num(spread))
    score = np.where(has_comp, score, 0.1)
    priced = ~np.isnan(arrays.cost) & (arrays.current_cents > 0)
    return np.round(np.where(priced, score, 0.0), 3)


def compute_prices(arrays: PricingArrays, policy: PricingPolicy) -> PriceDecisions:
    """The whole rule set as array operations; see the module docstring for the rules."""
    bit = REASON_BIT
    cur = arrays.current_cents.astype(np.int64)
    n = len(cur)
    has_cost = ~np.isnan(arrays.cost)
    priced = has_cost & (cur > 0)
    reference = arrays.competitor_median if policy.position is Position.MEDIAN else arrays.competitor_min
    has_comp = (arrays.competitor_count > 0) & ~np.isnan(reference)

    reasons = np.zeros(n, dtype=np.int64)
    reasons |= np.where(~has_cost, bit[ReasonCode.NO_COST], 0)
    reasons |= np.where(has_cost & (cur <= 0), bit[ReasonCode.ZERO_PRICE], 0)

    floor = np.ceil(np.nan_to_num(arrays.cost) * (1.0 + policy.min_margin_pct / 100.0) * 100.0 - _CENT_EPS)
    floor = floor.astype(np.int64)
    x = policy.max_change_pct / 100.0
    lo = np.maximum(np.ceil(cur * (1.0 - x) - _CENT_EPS).astype(np.int64), 1)
    hi = np.floor(cur * (1.0 + x) + _CENT_EPS).astype(np.int64)

    raw_target = np.nan_to_num(reference) * (1.0 + policy.offset_pct / 100.0) * 100.0
    target = np.where(has_comp, np.floor(raw_target + 0.5 + _CENT_EPS).astype(np.int64), cur)

    if policy.offset_pct < 0:
        position_bit = bit[ReasonCode.UNDERCUT]
    elif policy.offset_pct > 0:
        position_bit = bit[ReasonCode.PREMIUM]
    else:
        position_bit = bit[ReasonCode.MATCH_MEDIAN if policy.position is Position.MEDIAN else ReasonCode.MATCH_MIN]
    reasons |= np.where(priced & has_comp, position_bit, 0)
    reasons |= np.where(priced & ~has_comp, bit[ReasonCode.NO_COMPETITOR_DATA], 0)

    below_floor = cur < floor
    reasons |= np.where(priced & below_floor, bit[ReasonCode.BELOW_MARGIN_FLOOR], 0)

    wanted = np.maximum(target, floor)
    price = np.clip(wanted, lo, hi)
    reasons |= np.where(priced & (price != wanted), bit[ReasonCode.CLAMPED_MAX_CHANGE], 0)
    # Only when the floor, not the max change, decided the price.
    reasons |= np.where(priced & has_comp & (target < floor) & (price == floor), bit[ReasonCode.MARGIN_FLOOR], 0)

    if policy.rounding is not Rounding.NONE:
        ending = _ROUNDING_ENDING_CENTS[policy.rounding]
        # Rounding may not reverse the move: a rise stays at or above the current price, a cut at or below.
        band_lo = np.maximum(np.maximum(lo, floor), np.where(price > cur, cur, 0))
        band_hi = np.where(price < cur, np.minimum(hi, cur), hi)
        # A kept price is left as the merchant set it; an unreachable floor leaves no band.
        round_rows = priced & (band_lo <= band_hi) & (has_comp | below_floor)
        nearest = _grid_nearest(price, ending)
        grid_lo = np.maximum(_grid_ceil(band_lo, ending), ending if ending > 0 else 100)
        grid_hi = _grid_floor(band_hi, ending)
        fits = grid_lo <= grid_hi
        rounded = np.clip(nearest, grid_lo, np.maximum(grid_hi, grid_lo))
        new_price = np.where(round_rows & fits, rounded, price)
        reasons |= np.where(round_rows & (new_price != price), bit[ReasonCode.ROUNDED], 0)
        on_grid = _grid_nearest(price, ending) == price
        reasons |= np.where(round_rows & ~fits & ~on_grid, bit[ReasonCode.ROUNDING_SKIPPED], 0)
        price = new_price

    reasons |= np.where(priced & (price == cur), bit[ReasonCode.NO_CHANGE], 0)

    return PriceDecisions(
        recommended_cents=np.where(priced, price, -1),
        target_cents=np.where(priced & has_comp, target, -1),
        floor_cents=np.where(has_cost, floor, -1),
        reason_bits=reasons,
        confidence=confidence_scores(arrays, policy),
    )


class Recommendation(BaseModel):
    """One variant's recommendation, with the inputs the briefing needs to explain it."""

    model_config = ConfigDict(frozen=True)

    variant_id: int | str
    sku: str | None = None
    title: str
    currency: str = "GBP"
    current_price: Decimal
    cost: Decimal | None = None
    cost_source: str | None = None
    stock: int | None = None
    units_sold_28d: int = 0
    competitor_min: Decimal | None = None
    competitor_median: Decimal | None = None
    competitor_max: Decimal | None = None
    competitor_count: int = 0
    trend_slope: float | None = None
    floor_price: Decimal | None = Field(None, description="cost x (1 + min margin), up to the cent.")
    recommended_price: Decimal | None = None
    change_pct: Decimal | None = Field(None, description="(recommended - current) / current x 100, 2 places.")
    margin_pct: Decimal | None = Field(None, description="Margin on cost at the recommended price, 1 place.")
    confidence: float = Field(ge=0, le=1)
    reason_codes: list[ReasonCode]
    explanation: str


def _cents_to_decimal(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _margin_on_cost(price: Decimal, cost: Decimal) -> Decimal | None:
    if cost <= 0:
        return None
    return ((price - cost) / cost * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def explain(row: VariantPricingRow, policy: PricingPolicy, reasons: Sequence[ReasonCode],
            recommended: Decimal | None, floor: Decimal | None, target: Decimal | None,
            margin: Decimal | None = None) -> str:
    """One line a merchant understands, with the real numbers.

    `margin` is the margin on cost at `recommended` when the caller already has it.
    """
    money = lambda amount: format_money(amount, policy.currency)  # noqa: E731
    codes = set(reasons)
    if ReasonCode.NO_COST in codes:
        return ("No unit cost on record, so no price is suggested; add the cost in Shopify "
                "or your accounting system to get one.")
    if ReasonCode.ZERO_PRICE in codes:
        return f"The current price is {money(0)}, so no price is suggested."
    assert recommended is not None and floor is not None and row.cost is not None

    current = row.current_price
    change_text = format_pct((recommended - current) / current * 100, signed=True)
    limit_text = f"{format_pct(policy.max_change_pct)} daily limit"
    if margin is None:
        margin = _margin_on_cost(recommended, row.cost)
    margin_text = f"a {format_pct(margin, places=0)} margin on cost" if margin is not None else None
    floor_text = f"your {format_pct(policy.min_margin_pct)} margin floor of {money(floor)}"
    # Why the price sits where it does when the floor, not the competitors, decided it.
    if ReasonCode.ROUNDED in codes:
        floor_reason = f"the nearest {policy.rounding.value} price that keeps {floor_text}"
    else:
        floor_reason = f"not lower, to keep {floor_text}"

    if ReasonCode.NO_COMPETITOR_DATA in codes:
        lead = "No fresh competitor prices"
    else:
        reference_name = "median" if policy.position is Position.MEDIAN else "lowest price"
        reference = row.competitor_median if policy.position is Position.MEDIAN else row.competitor_min
        if row.competitor_count == 1:
            lead = f"The only competitor price found is {money(reference)}"
        else:
            lead = f"Competitors' {reference_name} is {money(reference)} ({row.competitor_count} prices)"
        if policy.offset_pct and target is not None:
            side = "below" if policy.offset_pct < 0 else "above"
            lead += f", so your target is {format_pct(abs(policy.offset_pct))} {side} it ({money(target)})"

    parts = [lead]
    if ReasonCode.BELOW_MARGIN_FLOOR in codes:
        parts.append(f"{money(current)} is under {floor_text}")

    if ReasonCode.NO_CHANGE in codes:
        action = f"keeping {money(current)}"
        if ReasonCode.MARGIN_FLOOR in codes:
            action += f", {floor_reason}"
        elif margin_text:
            action += f", {margin_text}"
    else:
        verb = "raising" if recommended > current else "lowering"
        detail = change_text
        if ReasonCode.CLAMPED_MAX_CHANGE in codes:
            detail += f", capped by your {limit_text}"
        action = f"{verb} it from {money(current)} to {money(recommended)} ({detail})"
        if recommended < floor:
            action += "; more rises are needed to reach the floor"
        elif ReasonCode.BELOW_MARGIN_FLOOR in codes and margin_text:
            action += f", back to {margin_text}"
        elif ReasonCode.MARGIN_FLOOR in codes:
            action += f", {floor_reason}"
        elif margin_text:
            action += f", which keeps {margin_text}"
    parts.append(action)
    line = "; ".join(parts)
    if ReasonCode.ROUNDING_SKIPPED in codes:
        line += f"; no {policy.rounding.value} price fits your limits, so it is not rounded"
    return line + "."


def recommend(pricing_input: PricingInput) -> list[Recommendation]:
    """Recommendations for every row, in input order."""
    policy = pricing_input.policy
    rows = pricing_input.rows
    decisions = compute_prices(pricing_input.to_arrays(), policy)
    # Plain Python values once, rather than numpy scalars per row.
    recommended_cents = decisions.recommended_cents.tolist()
    floor_cents = decisions.floor_cents.tolist()
    target_cents = decisions.target_cents.tolist()
    confidence = decisions.confidence.tolist()
    reason_lists: dict[int, list[ReasonCode]] = {}
    results: list[Recommendation] = []
    for i, row in enumerate(rows):
        bits = int(decisions.reason_bits[i])
        reasons = reason_lists.get(bits) or reason_lists.setdefault(bits, decisions.reasons(i))
        recommended = _cents_to_decimal(recommended_cents[i]) if recommended_cents[i] >= 0 else None
        floor = _cents_to_decimal(floor_cents[i]) if floor_cents[i] >= 0 else None
        target = _cents_to_decimal(target_cents[i]) if target_cents[i] >= 0 else None
        change = margin = None
        if recommended is not None:
            change = ((recommended - row.current_price) / row.current_price * 100).quantize(
                _CENT, rounding=ROUND_HALF_UP)
            margin = _margin_on_cost(recommended, row.cost)
        results.append(Recommendation(
            variant_id=row.variant_id, sku=row.sku, title=row.title, currency=policy.currency,
            current_price=row.current_price, cost=row.cost, cost_source=row.cost_source,
            stock=row.stock, units_sold_28d=row.units_sold_28d,
            competitor_min=row.competitor_min, competitor_median=row.competitor_median,
            competitor_max=row.competitor_max, competitor_count=row.competitor_count,
            trend_slope=row.trend_slope, floor_price=floor, recommended_price=recommended,
            change_pct=change, margin_pct=margin, confidence=confidence[i], reason_codes=reasons,
            explanation=explain(row, policy, reasons, recommended, floor, target, margin),
        ))
    return results
