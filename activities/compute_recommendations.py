"""compute_recommendations: a price per variant with its reasons, and the run's top insights."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.insights import BriefingSignals, DegradedStep, TrendPoint, TrendSignal, build_insights, dump_insights
from shared.db import briefings, market
from shared.db.pool import transaction
from shared.db.recommendations import replace_run_recommendations
from shared.db.shops import get_shop
from shared.market.trend_keywords import product_keywords
from shared.pricing.engine import recommend
from shared.pricing.inputs import load_pricing_input
from shared.settings import get_settings

bp = df.Blueprint()


def briefing_signals(conn, shop_id: int, run_id: str, skus_by_keyword: dict[str, list[str]]) -> BriefingSignals:
    series = market.trend_series(conn, shop_id)
    trends = [
        TrendSignal(
            keyword=t.keyword,
            category=t.keyword,
            index=float(t.latest_interest) if t.latest_interest is not None else None,
            slope=t.slope_per_week,
            points=[TrendPoint(period=day, value=float(v) if v is not None else None) for day, v in series.get(t.keyword, [])],
            skus=skus_by_keyword.get(t.keyword, []),
        )
        for t in market.keyword_trends(conn, shop_id)
    ]
    degraded = [
        DegradedStep(step=r["step"], status=r["status"], detail=r["error"])
        for r in conn.execute(
            "SELECT step, status, error FROM pipeline_steps WHERE run_id = %s AND status IN ('degraded', 'failed')",
            (run_id,),
        ).fetchall()
    ]
    return BriefingSignals(trends=trends, degraded_steps=degraded)


def _compute(params: StepInput) -> StepSummary:
    settings = get_settings()
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        pricing_input = load_pricing_input(conn, shop, params.run_id, settings)
        keywords = product_keywords(conn, shop.id)
        skus_by_keyword: dict[str, list[str]] = {}
        for row in conn.execute(
            "SELECT product_id, sku FROM variants WHERE shop_id = %s AND sku IS NOT NULL ORDER BY id", (shop.id,)
        ).fetchall():
            if row["product_id"] in keywords:
                skus_by_keyword.setdefault(keywords[row["product_id"]], []).append(row["sku"])
        signals = briefing_signals(conn, shop.id, params.run_id, skus_by_keyword)
    recommendations = recommend(pricing_input)
    insights = build_insights(recommendations, signals)
    with transaction() as conn:
        replace_run_recommendations(conn, params.run_id, recommendations)
        briefings.save_insights(conn, params.run_id, shop.id, dump_insights(insights))
    priced = [r for r in recommendations if r.recommended_price is not None]
    return StepSummary(status="ok", counts={
        "variants": len(recommendations),
        "recommended": len(priced),
        "changes": sum(1 for r in priced if r.recommended_price != r.current_price),
        "without_cost": sum(1 for r in recommendations if r.cost is None),
        "with_competitors": sum(1 for r in recommendations if r.competitor_count),
        "insights": len(insights),
    })


@bp.activity_trigger(input_name="payload")
def compute_recommendations(payload: dict) -> dict:
    return run_step("compute_recommendations", payload, _compute)
