"""One line per recommendation that a merchant understands, with the real numbers.

"Margin" is margin on cost (markup), (price - cost) / cost, because that is how the floor
is defined; the lines say "margin on cost" so the two never disagree.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from shared.pricing.policy import Position, PricingPolicy


class ReasonCode(StrEnum):
    NO_PRICE = "NO_PRICE"
    NO_COST = "NO_COST"
    ZERO_PRICE = "ZERO_PRICE"
    EXCLUDED = "EXCLUDED"
    NO_COMPETITOR_DATA = "NO_COMPETITOR_DATA"
    MATCH_MEDIAN = "MATCH_MEDIAN"
    MATCH_MIN = "MATCH_MIN"
    UNDERCUT = "UNDERCUT"
    PREMIUM = "PREMIUM"
    OVERSTOCK_MARKDOWN = "OVERSTOCK_MARKDOWN"
    LOW_STOCK_RAISE = "LOW_STOCK_RAISE"
    DEMAND_OPTIMUM = "DEMAND_OPTIMUM"
    BELOW_MARGIN_FLOOR = "BELOW_MARGIN_FLOOR"
    BELOW_MAP = "BELOW_MAP"
    MARGIN_FLOOR = "MARGIN_FLOOR"
    MAP_FLOOR = "MAP_FLOOR"
    CLAMPED_MAX_CHANGE = "CLAMPED_MAX_CHANGE"
    FLOOR_OVER_MAX_CHANGE = "FLOOR_OVER_MAX_CHANGE"
    ROUNDED = "ROUNDED"
    ROUNDING_SKIPPED = "ROUNDING_SKIPPED"
    ABOVE_COMPARE_AT = "ABOVE_COMPARE_AT"
    NO_CHANGE = "NO_CHANGE"


# Bit positions for the vectorised engine; the order is the order codes are reported in.
REASON_ORDER: tuple[ReasonCode, ...] = tuple(ReasonCode)
REASON_BIT: dict[ReasonCode, int] = {code: 1 << i for i, code in enumerate(REASON_ORDER)}

REASON_LABELS: dict[ReasonCode, str] = {
    ReasonCode.NO_PRICE: "No current price",
    ReasonCode.NO_COST: "No cost on record",
    ReasonCode.ZERO_PRICE: "Current price is zero",
    ReasonCode.EXCLUDED: "Excluded from repricing",
    ReasonCode.NO_COMPETITOR_DATA: "No fresh competitor prices",
    ReasonCode.MATCH_MEDIAN: "Matches competitor median",
    ReasonCode.MATCH_MIN: "Matches cheapest competitor",
    ReasonCode.UNDERCUT: "Undercuts competitors",
    ReasonCode.PREMIUM: "Premium over competitors",
    ReasonCode.OVERSTOCK_MARKDOWN: "Overstocked: markdown",
    ReasonCode.LOW_STOCK_RAISE: "Low stock, rising demand: raise",
    ReasonCode.DEMAND_OPTIMUM: "Towards the most profitable price for its demand",
    ReasonCode.BELOW_MARGIN_FLOOR: "Current price below margin floor",
    ReasonCode.BELOW_MAP: "Current price below minimum advertised price",
    ReasonCode.MARGIN_FLOOR: "Held at margin floor",
    ReasonCode.MAP_FLOOR: "Held at minimum advertised price",
    ReasonCode.CLAMPED_MAX_CHANGE: "Limited by max change",
    ReasonCode.FLOOR_OVER_MAX_CHANGE: "Floor overrides max change",
    ReasonCode.ROUNDED: "Rounded",
    ReasonCode.ROUNDING_SKIPPED: "Left unrounded to stay within limits",
    ReasonCode.ABOVE_COMPARE_AT: "At or above the compare-at price",
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


def _money_cents(cents: int, currency: str) -> str:
    symbol = _CURRENCY_SYMBOLS.get(currency)
    sign = "-" if cents < 0 else ""
    digits = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency} {digits}"


def _pct(value: float, signed: bool = False, places: int = 1) -> str:
    # Half away from zero at `places`, as format_pct, without building Decimals per row.
    scale = 10**places
    scaled = math.floor(abs(value) * scale + 0.5 + 1e-9) * (1 if value >= 0 else -1)
    text = str(scaled // scale) if scaled % scale == 0 else f"{scaled / scale:.{places}f}".rstrip("0")
    if scaled < 0 and scaled // scale == 0 and scaled % scale == 0:
        text = "0"
    if signed and scaled > 0:
        text = "+" + text
    return f"{text}%"


class PolicyText:
    """The parts of every line that depend only on the policy, worked out once per run."""

    def __init__(self, policy: PricingPolicy):
        self.policy = policy
        symbol = _CURRENCY_SYMBOLS.get(policy.currency)
        self.prefix = symbol if symbol else f"{policy.currency} "
        self.margin_floor_name = f"{_pct(policy.min_margin_pct)} margin floor"
        self.rounding = policy.rounding.value
        self.limit = f"{_pct(policy.max_change_pct)} daily limit"
        self.reference_name = "median" if policy.position is Position.MEDIAN else "lowest price"
        side = "below" if policy.offset_pct < 0 else "above"
        self.offset = f"{_pct(abs(policy.offset_pct))} {side} it" if policy.offset_pct else ""
        self.overstock = f"over your {policy.overstock_days:g}-day limit, so a {_pct(policy.markdown_pct)} markdown"
        self.raise_text = f"with demand rising, so a {_pct(policy.raise_pct)} rise"

    def money(self, cents: int) -> str:
        cents = int(cents)
        if cents < 0:
            return f"-{self.prefix}{-cents // 100:,}.{-cents % 100:02d}"
        return f"{self.prefix}{cents // 100:,}.{cents % 100:02d}"


_B = {code: REASON_BIT[code] for code in ReasonCode}
_NO_DATA = _B[ReasonCode.NO_PRICE] | _B[ReasonCode.NO_COST] | _B[ReasonCode.ZERO_PRICE] | _B[ReasonCode.EXCLUDED]
_HELD = _B[ReasonCode.MARGIN_FLOOR] | _B[ReasonCode.MAP_FLOOR]
_BELOW = _B[ReasonCode.BELOW_MARGIN_FLOOR] | _B[ReasonCode.BELOW_MAP]
_STOCK_RULES = _B[ReasonCode.OVERSTOCK_MARKDOWN] | _B[ReasonCode.LOW_STOCK_RAISE]


def explain_bits(
    bits: int, text: PolicyText, current_cents: int, recommended_cents: int, floor_cents: int,
    margin_floor_cents: int, target_cents: int, cost: float, reference_cents: int, competitor_count: int,
    days_of_cover: float, profit_change: float, elasticity: float,
) -> str:
    """One line for one variant from its reason bits; every number comes from the engine's arrays."""
    R, money = ReasonCode, text.money
    if bits & _NO_DATA:
        if bits & _B[R.NO_PRICE]:
            return "No current price, so no price is suggested; add the price to get one."
        if bits & _B[R.NO_COST]:
            return ("No unit cost on record, so no price is suggested; add the cost in Shopify "
                    "or your accounting system to get one.")
        if bits & _B[R.ZERO_PRICE]:
            return f"The current price is {money(0)}, so no price is suggested."
        return f"Excluded from repricing in your settings; keeping {money(current_cents)}."

    floor_name = "minimum advertised price" if floor_cents > margin_floor_cents else text.margin_floor_name
    floor_text = f"your {floor_name} of {money(floor_cents)}"

    if bits & _B[R.NO_COMPETITOR_DATA]:
        leads = ["No fresh competitor prices"]
    else:
        if competitor_count == 1:
            lead = f"The only competitor price found is {money(reference_cents)}"
        else:
            lead = f"Competitors' {text.reference_name} is {money(reference_cents)} ({competitor_count} prices)"
        if text.offset and target_cents >= 0 and not bits & _STOCK_RULES:
            lead += f", so your target is {text.offset} ({money(target_cents)})"
        leads = [lead]
    if bits & _STOCK_RULES:
        if bits & _B[R.OVERSTOCK_MARKDOWN]:
            cover = "no sales in 28 days" if math.isinf(days_of_cover) else f"{days_of_cover:,.0f} days of stock"
            leads.append(f"{cover}, {text.overstock}")
        if bits & _B[R.LOW_STOCK_RAISE]:
            leads.append(f"only {days_of_cover:,.0f} days of stock {text.raise_text}")
    if bits & _B[R.DEMAND_OPTIMUM]:
        if elasticity < -1.0:
            leads.append(f"your sales say demand here has an elasticity of {elasticity:.1f}, which makes "
                         f"{money(target_cents)} the most profitable price")
        else:
            leads.append(f"your sales say demand here has an elasticity of {elasticity:.1f}: a higher "
                         f"price loses few sales and earns more")
    if bits & _B[R.BELOW_MAP]:
        leads.append(f"{money(current_cents)} is under your minimum advertised price")
    elif bits & _B[R.BELOW_MARGIN_FLOOR]:
        leads.append(f"{money(current_cents)} is under {floor_text}")

    margin_text = None
    if cost > 0:
        margin_text = f"a {_pct((recommended_cents / 100 - cost) / cost * 100, places=0)} margin on cost"
    held = bits & _HELD
    if held:
        if bits & _B[R.ROUNDED]:
            floor_reason = f"the nearest {text.rounding} price that keeps {floor_text}"
        else:
            floor_reason = f"not lower, to keep {floor_text}"
    if bits & _B[R.NO_CHANGE]:
        action = f"keeping {money(current_cents)}"
        if held:
            action += f", {floor_reason}"
        elif margin_text:
            action += f", {margin_text}"
    else:
        verb = "raising" if recommended_cents > current_cents else "lowering"
        detail = _pct((recommended_cents - current_cents) / current_cents * 100, signed=True)
        if bits & _B[R.CLAMPED_MAX_CHANGE]:
            detail += f", capped by your {text.limit}"
        if bits & _B[R.FLOOR_OVER_MAX_CHANGE]:
            detail += f", beyond your {text.limit} because the floor comes first"
        action = f"{verb} it from {money(current_cents)} to {money(recommended_cents)} ({detail})"
        if bits & _BELOW and margin_text:
            action += f", back to {margin_text}"
        elif held:
            action += f", {floor_reason}"
        elif margin_text:
            action += f", which keeps {margin_text}"
    leads.append(action)
    line = "; ".join(leads)
    if bits & _B[R.ROUNDING_SKIPPED]:
        line += f"; no {text.rounding} price fits your limits, so it is not rounded"
    if bits & _B[R.ABOVE_COMPARE_AT]:
        line += "; clear the compare-at price, or it no longer shows a saving"
    if profit_change == profit_change and abs(profit_change) >= 0.005 and not bits & _B[R.NO_CHANGE]:
        sign = "+" if profit_change >= 0 else "-"
        line += f"; expected gross profit {sign}{money(round(abs(profit_change) * 100))} over 28 days"
    return line + "."


def explain_row(codes: frozenset[ReasonCode] | set[ReasonCode], policy: PricingPolicy, *, current_cents: int,
                recommended_cents: int, floor_cents: int, margin_floor_cents: int, target_cents: int, cost: float,
                reference_cents: int, competitor_count: int, days_of_cover: float, profit_change: float,
                elasticity: float = float("nan")) -> str:
    """`explain_bits` for one row given as reason codes."""
    bits = 0
    for code in codes:
        bits |= REASON_BIT[code]
    return explain_bits(bits, PolicyText(policy), current_cents, recommended_cents, floor_cents, margin_floor_cents,
                        target_cents, cost, reference_cents, competitor_count, days_of_cover, profit_change,
                        elasticity)
