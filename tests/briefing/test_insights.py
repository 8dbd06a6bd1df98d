"""Insights: what is found, the money estimates worked by hand, the ranking, compactness."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from shared.briefing.insights import (
    BriefingSignals,
    DegradedStep,
    Insight,
    InsightKind,
    InsightThresholds,
    PriceChart,
    StockChart,
    TrendChart,
    TrendPoint,
    TrendSignal,
    build_insights,
    candidate_insights,
    dump_insights,
    impact_score,
)
from shared.pricing import PricingInput, VariantPricingRow, recommend

K = InsightKind
START = date(2026, 9, 1)


def variant(vid, title, price, cost=None, *, units=0, stock=None, comp=None, slope=None):
    competitors = {}
    if comp:
        cmin, cmed, cmax = (D(v) for v in comp)
        competitors = dict(competitor_min=cmin, competitor_median=cmed, competitor_max=cmax, competitor_count=3,
                           competitor_age_hours=4)
    return VariantPricingRow(variant_id=vid, sku=f"SKU-{vid}", title=title, current_price=D(price),
                             cost=None if cost is None else D(cost), units_sold_28d=units, stock=stock,
                             trend_slope=slope, **competitors)


def catalogue():
    return recommend(PricingInput(rows=[
        variant(1, "Blue Ceramic Mug", "24.99", "14.00", units=120, stock=80, comp=("19.00", "21.50", "25.00")),
        variant(2, "Earl Grey Tea 250g", "9.00", "10.00", units=30, stock=40),
        variant(3, "Teapot", "39.99", "15.00", units=2, stock=300),
        variant(4, "Espresso Cup", "7.99", "3.00", units=56, stock=10, slope=1.2),
        variant(5, "Spoon", "3.50", "1.00", units=10, stock=50, comp=("3.90", "4.20", "4.50")),
    ]))


def series(values):
    return [TrendPoint(period=START + timedelta(weeks=i), value=v) for i, v in enumerate(values)]


def by_kind(insights):
    return {i.kind: i for i in insights}


def test_each_situation_is_found_with_hand_worked_numbers():
    signals = BriefingSignals(
        trends=[TrendSignal(keyword="matcha", slope=2.0, points=series([20, 22, None, 21, 19, 23, 48]))],
        degraded_steps=[DegradedStep(step="scrape_competitors", detail="2 of 9 pages failed")],
    )
    found = by_kind(build_insights(catalogue(), signals, limit=10))

    undercut = found[K.COMPETITOR_UNDERCUT]
    assert undercut.product_title == "Blue Ceramic Mug"
    assert undercut.numbers["gap_pct"] == D("24.0")  # (24.99 - 19.00) / 24.99
    assert undercut.numbers["profit_at_risk_28d"] == D("1318.80")  # 120 x (24.99 - 14.00)
    assert isinstance(undercut.chart, PriceChart) and undercut.chart.competitor_median == D("21.50")

    floor = found[K.BELOW_MARGIN_FLOOR]
    assert floor.product_title == "Earl Grey Tea 250g"
    # The floor comes before the max change: straight to 12.00.
    assert floor.numbers["floor_price"] == D("12.00") and floor.numbers["recommended_price"] == D("12.00")
    assert floor.numbers["profit_gain_28d"] == D("90.00")  # 30 x 3.00

    overstock = found[K.OVERSTOCK]
    assert overstock.numbers["days_of_cover"] == 4200.0  # 300 / (2 / 28)
    assert overstock.numbers["excess_units"] == 294  # 300 - floor(90 x 2 / 28)
    assert overstock.numbers["excess_value_at_cost"] == D("4410.00")
    assert overstock.estimated_impact_28d == D("88.20")  # 2 % of 4410
    assert isinstance(overstock.chart, StockChart) and overstock.chart.threshold_days == 90

    low = found[K.LOW_STOCK_RISING_TREND]
    assert low.product_title == "Espresso Cup" and low.numbers["days_of_cover"] == 5.0
    assert low.estimated_impact_28d == D("4.00")  # 10 x 7.99 x 5 %

    spike = found[K.TREND_SPIKE]
    assert spike.keyword == "matcha"
    assert spike.numbers["baseline_index"] == 21.0 and spike.numbers["spike_pct"] == 128.6
    assert isinstance(spike.chart, TrendChart) and ("2026-09-15", None) in spike.chart.points

    degraded = found[K.DEGRADED_STEP]
    assert "competitor prices" in degraded.headline and "2 of 9 pages failed" in degraded.headline


def test_ranking_puts_money_and_urgency_first_and_one_insight_per_product():
    insights = build_insights(catalogue(), BriefingSignals(), limit=10)
    kinds = [i.kind for i in insights]
    assert kinds[:2] == [K.COMPETITOR_UNDERCUT, K.BELOW_MARGIN_FLOOR]
    products = [i.variant_id for i in insights if i.variant_id]
    assert len(products) == len(set(products))
    # The mug is both undercut and a price move; only the undercut is kept.
    assert [i.kind for i in insights if i.variant_id == "1"] == [K.COMPETITOR_UNDERCUT]
    assert any(i.kind is K.PRICE_MOVE and i.variant_id == "1" for i in candidate_insights(catalogue()))
    scores = [i.impact_score for i in insights]
    assert scores == sorted(scores, reverse=True)


def test_undercut_is_only_for_top_sellers_and_beyond_the_threshold():
    rows = [variant(i, f"Filler {i}", "10.00", "5.00", units=100 + i) for i in range(10)]
    rows.append(variant(99, "Slow Seller", "24.99", "14.00", units=1, comp=("19.00", "21.50", "25.00")))
    rows.append(variant(98, "Close Call", "20.00", "10.00", units=500, comp=("19.70", "20.00", "21.00")))
    found = candidate_insights(recommend(PricingInput(rows=rows)))
    undercut = {i.variant_id for i in found if i.kind is K.COMPETITOR_UNDERCUT}
    assert "99" not in undercut  # not a top seller
    assert "98" not in undercut  # 1.5 % under: below the 2 % threshold
    found = candidate_insights(recommend(PricingInput(rows=rows)), thresholds=InsightThresholds(undercut_pct=1.0))
    assert "98" in {i.variant_id for i in found if i.kind is K.COMPETITOR_UNDERCUT}


def test_overstock_without_sales_has_no_days_of_cover():
    recs = recommend(PricingInput(rows=[variant(1, "Dusty Vase", "30.00", "12.00", units=0, stock=40)]))
    [overstock] = [i for i in candidate_insights(recs) if i.kind is K.OVERSTOCK]
    assert "days_of_cover" not in overstock.numbers
    assert overstock.numbers["excess_units"] == 40
    assert "none sold in 28 days" in overstock.headline


def test_low_stock_needs_a_rising_trend_from_the_row_or_a_keyword():
    rows = [variant(1, "Matcha Whisk", "12.00", "4.00", units=56, stock=6)]
    assert not [i for i in candidate_insights(recommend(PricingInput(rows=rows)))
                if i.kind is K.LOW_STOCK_RISING_TREND]
    signals = BriefingSignals(trends=[TrendSignal(keyword="matcha whisk", slope=3.0, skus=["SKU-1"],
                                                  points=series([10, 11, 12, 13, 14]))])
    found = [i for i in candidate_insights(recommend(PricingInput(rows=rows)), signals)
             if i.kind is K.LOW_STOCK_RISING_TREND]
    assert len(found) == 1 and found[0].numbers["days_of_cover"] == 3.0


def test_missing_trend_values_are_not_zero():
    # With the gaps read as 0 the average would be 26.7 and 50 a spike; they are missing, so it is 40.
    signals = BriefingSignals(trends=[TrendSignal(keyword="teapots", points=series([40, None, None, 40, 40, 40, 50]))])
    assert [i for i in candidate_insights([], signals) if i.kind is K.TREND_SPIKE] == []
    signals = BriefingSignals(trends=[TrendSignal(keyword="teapots", points=series([40, None, None, 40, 40, 40, 61]))])
    assert [i.kind for i in candidate_insights([], signals)] == [K.TREND_SPIKE]


def test_impact_score_grows_with_money_and_urgency():
    assert impact_score(0.5, D("10")) < impact_score(0.5, D("1000"))
    assert impact_score(0.2, D("100")) < impact_score(0.9, D("100"))
    assert impact_score(0.6, None) == 0.6
    rng = np.random.default_rng(5)
    amounts = sorted(D(str(round(v, 2))) for v in rng.uniform(0, 5000, 50))
    scores = [impact_score(0.7, a) for a in amounts]
    assert scores == sorted(scores)


def test_insights_are_compact_and_round_trip_through_json():
    hostile = "<script>alert(1)</script>\x00\u202e" + "Very Long Title " * 80
    rows = [variant(i, hostile, "24.99", "14.00", units=100 + i, stock=5000,
                    comp=("19.00", "21.50", "25.00")) for i in range(40)]
    signals = BriefingSignals(
        trends=[TrendSignal(keyword=hostile, points=series([10 + (i % 3) for i in range(200)] + [90]))],
        degraded_steps=[DegradedStep(step="fetch_trends", detail=hostile)],
    )
    insights = build_insights(recommend(PricingInput(rows=rows)), signals, limit=6)
    assert len(insights) == 6
    payload = json.dumps(dump_insights(insights), ensure_ascii=False)
    assert len(payload.encode("utf-8")) < 9000, len(payload)
    for insight in insights:
        assert insight.product_title is None or len(insight.product_title) <= 120
        assert len(insight.headline) <= 200
        assert "\x00" not in insight.headline and "\u202e" not in insight.headline
        if isinstance(insight.chart, TrendChart):
            assert len(insight.chart.points) <= 26
    restored = [Insight.model_validate(item) for item in json.loads(payload)]
    assert [r.numbers for r in restored] == [i.numbers for i in insights]
    assert restored[0].numbers["current_price"] == D("24.99")


def test_social_mock_values_never_make_an_insight():
    from shared.briefing.insights import SocialSignal

    signals = BriefingSignals(social=[SocialSignal(sku="SKU-1", mentions=10_000, sentiment=1.0)])
    assert candidate_insights([], signals) == []


@pytest.mark.parametrize("seed", range(5))
def test_random_catalogues_give_valid_ranked_insights(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(60):
        price = round(float(rng.uniform(2, 200)), 2)
        comp = None
        if rng.random() < 0.7:
            a, b, c = sorted(round(price * float(x), 2) for x in rng.uniform(0.6, 1.3, 3))
            comp = (f"{a:.2f}", f"{b:.2f}", f"{c:.2f}")
        rows.append(variant(i, f"Item {i}", f"{price:.2f}", f"{price * float(rng.uniform(0.3, 1.1)):.2f}",
                            units=int(rng.integers(0, 300)), stock=int(rng.integers(0, 2000)), comp=comp,
                            slope=float(rng.normal(0, 2))))
    insights = build_insights(recommend(PricingInput(rows=rows)), limit=6)
    assert 1 <= len(insights) <= 6
    assert [i.impact_score for i in insights] == sorted((i.impact_score for i in insights), reverse=True)
    for insight in insights:
        assert 0 <= insight.urgency <= 1
        assert all(isinstance(v, (D, int, float)) for v in insight.numbers.values())


def test_a_cost_rise_eating_margin_is_found_with_its_28_day_effect_worked_by_hand():
    from shared.briefing.insights import PreviousCost
    from shared.briefing.script import TemplateScriptWriter, validate_numbers

    recs = recommend(PricingInput(rows=[variant(7, "Oolong Tin", "12.00", "6.60", units=40, stock=60)]))
    signals = BriefingSignals(previous_costs=[PreviousCost(variant_id="7", cost=D("6.00"))])
    (rise,) = [i for i in candidate_insights(recs, signals) if i.kind is K.COST_RISE]
    # (6.60 - 6.00) / 6.00 = 10 %; margin at 12.00: 100 % before, 81.8 % now; 40 x 0.60 = 24.00 eaten.
    assert rise.numbers["cost_rise_pct"] == D("10.0")
    assert (rise.numbers["margin_before_pct"], rise.numbers["margin_now_pct"]) == (D("100.0"), D("81.8"))
    assert rise.estimated_impact_28d == D("24.00")
    assert "Oolong Tin now costs £6.60, up 10" in rise.headline
    # Below the threshold, or no earlier cost: nothing.
    assert not [i for i in candidate_insights(recs, BriefingSignals(previous_costs=[
        PreviousCost(variant_id="7", cost=D("6.50"))])) if i.kind is K.COST_RISE]
    assert not [i for i in candidate_insights(recs) if i.kind is K.COST_RISE]
    # The template speaks it with its own numbers only.
    script = TemplateScriptWriter().write("Tea Shop", date(2026, 10, 13), [rise])
    assert "Oolong Tin now costs you £6.60, up 10% from £6.00." in script.insights[0].text
    validate_numbers(script, [rise])
