"""Properties of the engine over arbitrary inputs and settings (hypothesis).

Whatever the catalogue and the settings: never below the floor (margin or MAP), never
beyond the max change unless the floor forced it (and then exactly to the floor), the
configured price ending whenever a move was rounded, no recommendation without the data
it needs (with the reason naming what is missing), and never a NaN or a negative number.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.pricing import PricingInput, PricingPolicy, ReasonCode, VariantPricingRow, recommend

R = ReasonCode


def money(min_cents: int = 0, max_cents: int = 5_000_000) -> st.SearchStrategy[Decimal]:
    return st.integers(min_cents, max_cents).map(lambda c: Decimal(c).scaleb(-2))


costs = st.integers(0, 50_000_000).map(lambda c: Decimal(c).scaleb(-4))


@st.composite
def variant_rows(draw, index: int) -> VariantPricingRow:
    competitors = {}
    if draw(st.booleans()):
        levels = sorted(draw(st.lists(money(1), min_size=3, max_size=3)))
        competitors = dict(competitor_min=levels[0], competitor_median=levels[1], competitor_max=levels[2],
                           competitor_count=draw(st.integers(1, 9)),
                           competitor_age_hours=draw(st.none() | st.floats(0, 200)))
    return VariantPricingRow(
        variant_id=index, sku=f"SKU-{index}", title=f"Item {index}",
        current_price=draw(st.none() | money()),
        compare_at_price=draw(st.none() | money()),
        map_price=draw(st.none() | money(1)),
        cost=draw(st.none() | costs),
        stock=draw(st.none() | st.integers(-5, 10_000)),
        units_sold_28d=draw(st.none() | st.integers(0, 5_000)),
        trend_slope=draw(st.none() | st.floats(-50, 50)),
        elasticity=draw(st.none() | st.floats(-4, -0.2)),
        elasticity_estimated=draw(st.booleans()),
        **competitors,
    )


policies = st.builds(
    PricingPolicy,
    min_margin_pct=st.floats(0, 500),
    max_change_pct=st.floats(0.5, 100),
    position=st.sampled_from(["median", "min"]),
    offset_pct=st.floats(-50, 50),
    rounding=st.sampled_from([".99", ".95", "whole", "none"]),
    overstock_days=st.floats(1, 400),
    markdown_pct=st.floats(0.5, 50),
    low_stock_days=st.floats(0, 60),
    rising_trend_slope=st.floats(0, 10),
    raise_pct=st.floats(0.5, 50),
    excluded=st.frozensets(st.sampled_from([f"SKU-{i}" for i in range(8)]), max_size=2),
)


@st.composite
def catalogues(draw) -> PricingInput:
    n = draw(st.integers(1, 8))
    return PricingInput(policy=draw(policies), rows=[draw(variant_rows(i)) for i in range(n)])


def _cents_ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _cents_floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogues())
def test_guardrails_hold_for_any_catalogue_and_settings(pricing_input: PricingInput):
    policy = pricing_input.policy
    results = recommend(pricing_input)
    assert len(results) == len(pricing_input.rows)
    for variant, result in zip(pricing_input.rows, results):
        codes = set(result.reason_codes)
        assert 0 <= result.confidence <= 1 and not math.isnan(result.confidence)
        assert result.explanation and "nan" not in result.explanation.lower()

        # No data, no recommendation, and the reason names what is missing.
        missing = {
            R.NO_PRICE: variant.current_price is None,
            R.NO_COST: variant.current_price is not None and variant.cost is None,
            R.ZERO_PRICE: variant.cost is not None and variant.current_price == 0,
            R.EXCLUDED: variant.cost is not None and bool(variant.current_price) and variant.sku in policy.excluded,
        }
        if any(missing.values()):
            assert result.recommended_price is None and result.change_pct is None, (variant, result)
            assert codes == {code for code, is_missing in missing.items() if is_missing}, (variant, result)
            continue
        price = result.recommended_price
        assert price is not None and price > 0 and price.as_tuple().exponent == -2
        cents = int(price * 100)
        current = int(variant.current_price * 100)

        # Never below the floor: cost x (1 + margin) and the MAP, up to the cent.
        margin_floor = _cents_ceil(variant.cost * (1 + Decimal(str(policy.min_margin_pct)) / 100) * 100)
        floor = max(margin_floor, _cents_ceil(variant.map_price * 100) if variant.map_price else 0)
        assert cents >= floor, (variant, result)

        # Never beyond the max change, unless the floor required it, and then exactly the floor.
        step = Decimal(str(policy.max_change_pct)) / 100
        lo, hi = max(_cents_ceil(current * (1 - step)), 1), _cents_floor(current * (1 + step))
        if R.FLOOR_OVER_MAX_CHANGE in codes:
            assert floor > hi and cents == floor, (variant, result)
        else:
            assert lo <= cents <= hi, (variant, result)

        # Rounded as configured whenever the engine moved it onto the grid.
        ending = {".99": 99, ".95": 95, "whole": 0}.get(policy.rounding.value)
        if R.ROUNDED in codes:
            assert ending is not None and cents % 100 == ending, (variant, result)
        if ending is None:
            assert R.ROUNDED not in codes and R.ROUNDING_SKIPPED not in codes

        # Unknown competitor data never moves the price towards a competitor.
        if variant.competitor_median is None:
            assert R.NO_COMPETITOR_DATA in codes
            assert not codes & {R.MATCH_MEDIAN, R.MATCH_MIN, R.UNDERCUT, R.PREMIUM}
        assert (R.NO_CHANGE in codes) == (cents == current)
        for value in (result.change_pct, result.expected_units_change, result.expected_revenue_change,
                      result.expected_profit_change):
            assert value is None or value.is_finite()
        if variant.elasticity is None or variant.units_sold_28d is None:
            assert result.expected_profit_change is None


@settings(max_examples=200, deadline=None)
@given(catalogues())
def test_the_same_input_gives_the_same_output(pricing_input: PricingInput):
    assert recommend(pricing_input) == recommend(pricing_input)
