"""Loading what the engine needs for one run of one shop, and the shop's policy."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import psycopg

from shared.db import catalogue, market
from shared.db.costs import effective_costs
from shared.db.shops import Shop
from shared.market.trend_keywords import product_keywords
from shared.pricing.engine import SALES_WINDOW_DAYS, PricingInput, PricingPolicy, VariantPricingRow
from shared.settings import Settings

_CENT = Decimal("0.01")


def shop_policy(shop: Shop, settings: Settings) -> PricingPolicy:
    """The app's defaults, overridden by whatever the shop has set for itself."""
    defaults = {
        "min_margin_pct": settings.pricing_min_margin_pct,
        "max_change_pct": settings.pricing_max_change_pct,
        "position": settings.pricing_position,
        "offset_pct": settings.pricing_offset_pct,
        "rounding": settings.pricing_rounding,
        "currency": shop.currency,
        "freshness_horizon_hours": settings.competitor_price_max_age_hours,
    }
    overrides = {k: v for k, v in shop.pricing_settings.items() if k in defaults and k != "currency"}
    return PricingPolicy.model_validate({**defaults, **overrides})


def variant_title(variant: catalogue.CatalogueVariant) -> str:
    if variant.variant_title and variant.variant_title != "Default Title":
        return f"{variant.product_title} - {variant.variant_title}"
    return variant.product_title


def load_pricing_input(conn: psycopg.Connection, shop: Shop, run_id: str, settings: Settings) -> PricingInput:
    variants = catalogue.list_variants(conn, shop.id)
    costs = effective_costs(conn, shop.id)
    sales = catalogue.units_sold_by_variant(conn, shop.id, SALES_WINDOW_DAYS)
    competitors = market.competitor_price_stats(
        conn, shop.id, run_id, max_age_hours=settings.competitor_price_max_age_hours, currency=shop.currency
    )
    slopes = {t.keyword: t.slope_per_week for t in market.keyword_trends(conn, shop.id)}
    keywords = product_keywords(conn, shop.id)
    rows = []
    for v in variants:
        cost, cost_source = costs.get(v.variant_id, (None, None))
        stats = competitors.get(v.variant_id)
        rows.append(VariantPricingRow(
            variant_id=v.variant_id,
            sku=v.sku,
            title=variant_title(v),
            current_price=v.price,
            cost=cost,
            cost_source=cost_source,
            stock=v.stock_available if v.stock_available is not None else v.inventory_quantity,
            units_sold_28d=max(sales[v.variant_id].units, 0) if v.variant_id in sales else 0,
            competitor_min=stats.min if stats else None,
            # The median of an even count is a mean and may carry half a penny.
            competitor_median=stats.median.quantize(_CENT, ROUND_HALF_UP) if stats else None,
            competitor_max=stats.max if stats else None,
            competitor_count=stats.count if stats else 0,
            trend_slope=slopes.get(keywords.get(v.product_id, "")),
        ))
    return PricingInput(policy=shop_policy(shop, settings), rows=rows)
