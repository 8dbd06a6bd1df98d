"""The pricing engine: hand-worked scenarios, guardrail properties over random inputs, and
agreement with the independent per-row loop in benchmarks/pricing_engine.py."""

from __future__ import annotations

import importlib.util
import math
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from shared.pricing import (
    PricingArrays,
    PricingInput,
    PricingPolicy,
    ReasonCode,
    Recommendation,
    VariantPricingRow,
    compute_prices,
    format_money,
    format_pct,
    recommend,
)

R = ReasonCode
D = Decimal

_BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "pricing_engine.py"


def _reference():
    spec = importlib.util.spec_from_file_location("pricing_engine_benchmark", _BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(price, cost=None, median=None, *, cmin=None, cmax=None, count=None, age=None, vid=1, **extra):
    competitors = {}
    if median is not None:
        competitors = dict(
            competitor_min=D(cmin or median), competitor_median=D(median), competitor_max=D(cmax or median),
            competitor_count=3 if count is None else count, competitor_age_hours=age,
        )
    return VariantPricingRow(variant_id=vid, sku=f"SKU-{vid}", title=f"Product {vid}", current_price=D(price),
                             cost=None if cost is None else D(cost), **competitors, **extra)


def one(variant: VariantPricingRow, **policy) -> Recommendation:
    [result] = recommend(PricingInput(rows=[variant], policy=PricingPolicy(**policy)))
    return result


# --- scenarios worked out by hand ---------------------------------------------------------

def test_clamped_cut_rounds_to_the_nearest_99_inside_the_limit():
    # target 21.50; the most a 24.99 may fall is 10 % -> 22.491, up to the cent 22.50;
    # nearest .99 to 22.50 is 22.99 (22.49 would break the limit).
    result = one(row("24.99", "14.00", "21.50", cmin="19.00", cmax="25.00"))
    assert result.recommended_price == D("22.99")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.CLAMPED_MAX_CHANGE, R.ROUNDED]
    assert result.change_pct == D("-8.00")
    assert result.margin_pct == D("64.2")
    assert result.explanation == (
        "Competitors' median is £21.50 (3 prices); lowering it from £24.99 to £22.99 "
        "(-8%, capped by your 10% daily limit), which keeps a 64% margin on cost."
    )


def test_move_inside_the_limit_rounds_to_the_nearest_99():
    # target 19.40 is within 18.00..22.00; nearest .99 is 18.99 (0.41 away) not 19.99 (0.59).
    result = one(row("20.00", "10.00", "19.40"))
    assert result.recommended_price == D("18.99")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.ROUNDED]
    assert result.change_pct == D("-5.05")


def test_undercut_of_the_cheapest_competitor_with_95_endings():
    # 19.50 x 0.98 = 19.11 -> nearest .95 is 18.95.
    result = one(row("20.00", "10.00", "19.80", cmin="19.50"), position="min", offset_pct=-2, rounding=".95")
    assert result.recommended_price == D("18.95")
    assert result.reason_codes == [R.UNDERCUT, R.ROUNDED]
    assert "lowest price is £19.50" in result.explanation and "2% below it (£19.11)" in result.explanation


def test_premium_with_whole_rounding():
    # 98.00 x 1.05 = 102.90 -> whole 103.00, inside 90..110.
    result = one(row("100.00", "50.00", "98.00"), offset_pct=5, rounding="whole")
    assert result.recommended_price == D("103.00")
    assert result.reason_codes == [R.PREMIUM, R.ROUNDED]


def test_margin_floor_holds_the_price_when_competitors_are_cheaper():
    # floor = 10.00 x 1.2 = 12.00 > target 9.50; 12.00 is within 10 % of 12.99.
    result = one(row("12.99", "10.00", "9.50"), rounding="none")
    assert result.recommended_price == D("12.00")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.MARGIN_FLOOR]
    assert "not lower, to keep your 20% margin floor of £12.00" in result.explanation


def test_margin_floor_with_rounding_keeps_the_nearest_99_above_the_floor():
    # 12.00 rounds to 11.99, below the floor, so the nearest allowed .99 is 12.99: no change.
    result = one(row("12.99", "10.00", "9.50"))
    assert result.recommended_price == D("12.99")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.MARGIN_FLOOR, R.ROUNDED, R.NO_CHANGE]
    assert "keeping £12.99, the nearest .99 price that keeps your 20% margin floor of £12.00" in result.explanation


def test_below_floor_rises_to_the_floor_even_beyond_the_max_change_and_says_so():
    # floor 12.00; the 10 % limit would stop 9.00 at 9.90, but the floor comes first.
    result = one(row("9.00", "10.00", "21.50"))
    assert result.recommended_price == D("12.00")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.BELOW_MARGIN_FLOOR, R.FLOOR_OVER_MAX_CHANGE, R.ROUNDING_SKIPPED]
    assert "£9.00 is under your 20% margin floor of £12.00" in result.explanation
    assert "beyond your 10% daily limit because the floor comes first" in result.explanation


def test_map_is_a_floor_like_the_margin_floor():
    # Competitors at 15.00, but the MAP is 17.50: held at the nearest .99 above it.
    result = one(row("18.99", "5.00", "15.00", map_price=D("17.50")))
    assert result.recommended_price == D("17.99")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.MAP_FLOOR, R.ROUNDED]
    assert "minimum advertised price of £17.50" in result.explanation


def test_overstock_marks_down_and_low_stock_with_rising_trend_raises():
    # 400 in stock selling 20 per 28 days = 560 days of cover: a 5 % markdown from 20.00 -> 19.00 -> 18.99.
    over = one(row("20.00", "8.00", stock=400, units_sold_28d=20))
    assert over.recommended_price == D("18.99")
    assert over.reason_codes == [R.NO_COMPETITOR_DATA, R.OVERSTOCK_MARKDOWN, R.ROUNDED]
    assert "560 days of stock, over your 120-day limit" in over.explanation
    # 5 in stock selling 28 per 28 days = 5 days of cover, trend rising: +5 % to 21.00 -> 20.99.
    low = one(row("20.00", "8.00", stock=5, units_sold_28d=28, trend_slope=2.0))
    assert low.recommended_price == D("20.99")
    assert low.reason_codes == [R.NO_COMPETITOR_DATA, R.LOW_STOCK_RAISE, R.ROUNDED]
    # The same stock with a flat trend: kept.
    flat = one(row("20.00", "8.00", stock=5, units_sold_28d=28, trend_slope=0.0))
    assert flat.recommended_price == D("20.00") and R.NO_CHANGE in flat.reason_codes


def test_expected_effects_follow_the_elasticity():
    # Cut 20.00 -> 18.99 at elasticity -2 on 28 units: 28 x (18.99/20)^-2 = 31.05 units.
    result = one(row("20.00", "8.00", stock=400, units_sold_28d=28, elasticity=-2.0))
    units = 28 * (18.99 / 20.0) ** -2.0
    assert result.expected_units_change == D(str(round(units - 28, 1)))
    assert result.expected_revenue_change == D(str(round(units * 18.99 - 28 * 20.0, 2)))
    assert result.expected_profit_change == D(str(round(units * 10.99 - 28 * 12.0, 2)))
    assert "expected gross profit" in result.explanation


def test_demand_optimum_moves_towards_the_profit_maximising_price_when_estimated():
    # e = -3, cost 10: p* = 10 x 3 / 2 = 15.00; from 20.00 the 10 % limit stops at 18.00,
    # and the nearest .99 inside 18.00..20.00 is 18.99.
    result = one(row("20.00", "10.00", elasticity=-3.0, elasticity_estimated=True))
    assert result.recommended_price == D("18.99")
    assert R.DEMAND_OPTIMUM in result.reason_codes and R.CLAMPED_MAX_CHANGE in result.reason_codes
    assert "elasticity of -3.0, which makes £15.00 the most profitable price" in result.explanation
    # The same elasticity from the prior alone changes nothing.
    assert one(row("20.00", "10.00", elasticity=-3.0)).recommended_price == D("20.00")


def test_excluded_products_and_unknown_prices_get_no_recommendation():
    result = one(row("20.00", "10.00", "15.00"), excluded=frozenset({"SKU-1"}))
    assert result.recommended_price is None and result.reason_codes == [R.EXCLUDED]
    unknown = one(VariantPricingRow(variant_id=2, title="x", current_price=None, cost=D("1.00")))
    assert unknown.recommended_price is None and unknown.reason_codes == [R.NO_PRICE]


def test_below_floor_without_competitors_rises_to_the_floor():
    # 11.50 -> floor 12.00 (within +20 %); nearest .99 is 11.99 < floor, so 12.99.
    result = one(row("11.50", "10.00"), max_change_pct=20)
    assert result.recommended_price == D("12.99")
    assert result.reason_codes == [R.NO_COMPETITOR_DATA, R.BELOW_MARGIN_FLOOR, R.ROUNDED]
    # With the default 10 % (max 12.65) no .99 price fits between 12.00 and 12.65.
    result = one(row("11.50", "10.00"))
    assert result.recommended_price == D("12.00")
    assert result.reason_codes == [R.NO_COMPETITOR_DATA, R.BELOW_MARGIN_FLOOR, R.ROUNDING_SKIPPED]


def test_no_competitor_data_keeps_the_price_unrounded():
    result = one(row("19.50", "10.00"))
    assert result.recommended_price == D("19.50")
    assert result.reason_codes == [R.NO_COMPETITOR_DATA, R.NO_CHANGE]
    assert result.confidence <= 0.1
    assert result.explanation == "No fresh competitor prices; keeping £19.50, a 95% margin on cost."


def test_no_cost_means_no_recommendation():
    result = one(row("19.99", None, "15.00"))
    assert result.recommended_price is None and result.change_pct is None
    assert result.reason_codes == [R.NO_COST]
    assert result.confidence == 0
    assert "cost" in result.explanation.lower()


def test_zero_price_means_no_recommendation():
    result = one(row("0", "5.00", "15.00"))
    assert result.recommended_price is None
    assert result.reason_codes == [R.ZERO_PRICE]


def test_rounding_never_reverses_a_rise():
    # Target 10.60 is capped at 10.50; the only .99 price within 10 % is 9.99, a cut: refused.
    result = one(row("10.00", "5.00", "10.60"), max_change_pct=5)
    assert result.recommended_price == D("10.50")
    assert result.reason_codes == [R.MATCH_MEDIAN, R.CLAMPED_MAX_CHANGE, R.ROUNDING_SKIPPED]


def test_prices_are_decimal_with_two_places():
    result = one(row("24.99", "14.0001", "21.50"))
    assert isinstance(result.recommended_price, Decimal)
    assert result.recommended_price.as_tuple().exponent == -2
    assert result.floor_price == D("16.81")  # 14.0001 x 1.2 = 16.80012, up to the cent


# --- properties over random inputs ---------------------------------------------------------

def _ceil(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


@pytest.mark.parametrize("seed", range(40))
def test_engine_agrees_with_the_per_row_loop(seed):
    reference = _reference()
    problems = reference.disagreements(reference.random_rows(150, 1000 + seed), reference.random_policy(1000 + seed))
    assert problems == []


def test_confidence_rises_with_more_and_fresher_competitor_prices():
    def confidence(**kw):
        return one(row("20.00", "10.00", "19.00", cmin="18.00", cmax="20.00", **kw)).confidence

    assert confidence(count=1, age=2) < confidence(count=3, age=2) < confidence(count=6, age=2)
    assert confidence(count=3, age=40) < confidence(count=3, age=10) < confidence(count=3, age=0)
    wide = one(row("20.00", "10.00", "19.00", cmin="10.00", cmax="30.00", count=3, age=2)).confidence
    assert wide < confidence(count=3, age=2)
    assert one(row("20.00", "10.00")).confidence < confidence(count=1, age=47)


def test_bad_rows_are_rejected_naming_the_row_and_field():
    with pytest.raises(ValidationError, match="competitor_min, competitor_median and competitor_max"):
        VariantPricingRow(variant_id=1, title="x", current_price=D("1.00"), competitor_median=D("1.00"),
                          competitor_count=1)
    with pytest.raises(ValidationError, match="current_price"):
        VariantPricingRow(variant_id=1, title="x", current_price=D("1.001"))
    with pytest.raises(ValidationError, match=r"rows\[1\]: variant_id '7' repeats rows\[0\]"):
        PricingInput(rows=[row("1.00", vid=7), row("2.00", vid=7)])


def test_three_hundred_variants_take_milliseconds():
    reference = _reference()
    rows = reference.random_rows(300, 3)
    arrays = PricingArrays.from_rows(rows)
    policy = PricingPolicy()
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        compute_prices(arrays, policy)
        best = min(best, time.perf_counter() - start)
    assert best < 0.02, f"compute_prices took {best * 1000:.1f} ms for 300 rows"


def test_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="cost has 1 items, expected 2"):
        PricingArrays(current_cents=np.array([100, 200]), cost=np.array([1.0]),
                      competitor_min=np.array([np.nan] * 2), competitor_median=np.array([np.nan] * 2),
                      competitor_max=np.array([np.nan] * 2), competitor_count=np.array([0, 0]),
                      competitor_age_hours=np.array([np.nan] * 2))


def test_money_and_percent_formatting():
    assert format_money(D("1234.5")) == "£1,234.50"
    assert format_money(D("22.49"), "USD") == "$22.49"
    assert format_money(D("3"), "CHF") == "CHF 3.00"
    assert format_pct(D("-10.00"), signed=True) == "-10%"
    assert format_pct(D("7.649")) == "7.6%"
    assert format_pct(D("30"), signed=True) == "+30%"
    assert format_pct(D("38.4"), places=0) == "38%"


def test_the_benchmark_baseline_computes_the_same_prices_as_the_engine():
    # `bench pricing` compares the engine's speed with this baseline: only fair if they agree.
    spec = importlib.util.spec_from_file_location("pricing_benchmark", _BENCHMARK.parent / "pricing.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    arrays = bench.random_catalogue(5000, seed=11)
    for policy in (PricingPolicy(), PricingPolicy(max_change_pct=3, min_margin_pct=60, overstock_days=30)):
        price, profit = bench.baseline(arrays, policy)
        decisions = compute_prices(arrays, policy)
        assert np.array_equal(decisions.recommended_cents, price.astype(np.int64))
        assert np.allclose(decisions.effects.profit_change, profit)
