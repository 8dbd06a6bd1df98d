"""compute_recommendations: a price per variant with its reasons, and the run's top insights."""

from __future__ import annotations

from datetime import datetime, timezone

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.insights import (
    BriefingSignals,
    DegradedStep,
    PreviousCost,
    TrendPoint,
    TrendSignal,
    build_insights,
    dump_insights,
)
from shared.db import briefings, market
from shared.db.pool import transaction
from shared.db.price_history import record_prices
from shared.db.recommendations import replace_run_elasticities, replace_run_recommendations
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
    # Each variant's cost in the shop's previous run with recommendations: a rise since may be eating margin.
    previous_costs = [
        PreviousCost(variant_id=str(r["variant_id"]), cost=r["cost"], run_date=r["started_at"].date())
        for r in conn.execute(
            """WITH previous AS (
                   SELECT p.id, p.started_at FROM pipeline_runs p
                   WHERE p.shop_id = %s AND p.started_at < (SELECT started_at FROM pipeline_runs WHERE id = %s)
                     AND EXISTS (SELECT 1 FROM recommendations r WHERE r.run_id = p.id)
                   ORDER BY p.started_at DESC LIMIT 1)
               SELECT r.variant_id, r.cost, previous.started_at
               FROM recommendations r JOIN previous ON previous.id = r.run_id WHERE r.cost IS NOT NULL""",
            (shop_id, run_id),
        ).fetchall()
    ]
    return BriefingSignals(trends=trends, degraded_steps=degraded, previous_costs=previous_costs)


def _compute(params: StepInput) -> StepSummary:
    settings = get_settings()
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        # The prices this run found, before anything is recommended: the record elasticities learn from.
        record_prices(conn, shop.id, datetime.now(timezone.utc))
        pricing_input, elasticities = load_pricing_input(conn, shop, params.run_id, settings)
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
        replace_run_elasticities(conn, params.run_id, elasticities)
        briefings.save_insights(conn, params.run_id, shop.id, dump_insights(insights))
    priced = [r for r in recommendations if r.recommended_price is not None]
    return StepSummary(status="ok", counts={
        "variants": len(recommendations),
        "recommended": len(priced),
        "changes": sum(1 for r in priced if r.recommended_price != r.current_price),
        "without_cost": sum(1 for r in recommendations if r.cost is None),
        "with_competitors": sum(1 for r in recommendations if r.competitor_count),
        "insights": len(insights),
        "elasticity_groups_estimated": sum(1 for g in elasticities.by_group.values() if g.source == "estimated"),
    })


@bp.activity_trigger(input_name="payload")
def compute_recommendations(payload: dict) -> dict:
    return run_step("compute_recommendations", payload, _compute)
