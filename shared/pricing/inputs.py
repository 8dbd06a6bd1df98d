"""Loading what the engine needs for one run of one shop, and the shop's policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import psycopg

from shared.db import catalogue, market
from shared.db.price_history import price_changes
from shared.db.costs import effective_costs
from shared.db.shops import Shop
from shared.market.trend_keywords import product_keywords
from shared.pricing.elasticity import DEFAULT_PRIOR_SD, ElasticityEstimates, estimate_elasticities, weekly_panel
from shared.pricing.engine import SALES_WINDOW_DAYS, PricingInput, PricingPolicy, VariantPricingRow
from shared.settings import Settings

_CENT = Decimal("0.01")

# Shop overrides the engine understands; anything else stored in shops.pricing_settings is ignored.
_OVERRIDABLE = (
    "min_margin_pct", "max_change_pct", "position", "offset_pct", "rounding", "overstock_days", "markdown_pct",
    "low_stock_days", "rising_trend_slope", "raise_pct", "map_prices", "excluded", "strategy", "strategy_pct",
)


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
        "overstock_days": settings.pricing_overstock_days,
        "markdown_pct": settings.pricing_markdown_pct,
        "low_stock_days": settings.pricing_low_stock_days,
        "rising_trend_slope": settings.pricing_rising_trend_slope,
        "raise_pct": settings.pricing_raise_pct,
    }
    overrides = {k: v for k, v in shop.pricing_settings.items() if k in _OVERRIDABLE}
    if "strategy" in overrides:
        defaults.pop("offset_pct")
    if "excluded" in overrides:
        overrides["excluded"] = frozenset(str(x) for x in overrides["excluded"])
    if "map_prices" in overrides:
        overrides["map_prices"] = {str(k): Decimal(str(v)) for k, v in overrides["map_prices"].items()}
    return PricingPolicy.model_validate({**defaults, **overrides})


def variant_title(variant: catalogue.CatalogueVariant) -> str:
    if variant.variant_title and variant.variant_title != "Default Title":
        return f"{variant.product_title} - {variant.variant_title}"
    return variant.product_title


def product_group(variant: catalogue.CatalogueVariant) -> str:
    return (variant.product_type or "").strip().lower() or "(no type)"


def load_elasticities(
    conn: psycopg.Connection, shop_id: int, variants: list[catalogue.CatalogueVariant], settings: Settings,
    as_of: datetime | None = None,
) -> ElasticityEstimates:
    """Elasticity per product group from the order history the sync keeps."""
    until = as_of or datetime.now(timezone.utc)
    since = until - timedelta(days=settings.shopify_order_history_days)
    index = {v.variant_id: i for i, v in enumerate(variants)}
    groups = tuple(sorted({product_group(v) for v in variants}))
    group_index = {g: i for i, g in enumerate(groups)}
    products = {p: i for i, p in enumerate(sorted({v.product_id for v in variants}))}
    days = [d for d in catalogue.daily_sales(conn, shop_id, since, until) if d.variant_id in index]
    recorded = [c for c in price_changes(conn, shop_id, until) if c[0] in index]
    return estimate_elasticities(
        weekly_panel(
            line_variant=np.array([index[d.variant_id] for d in days], dtype=np.int64),
            line_time=np.array([datetime(d.day.year, d.day.month, d.day.day, 12, tzinfo=timezone.utc).timestamp()
                                for d in days], dtype=np.float64),
            line_units=np.array([d.units_ordered for d in days], dtype=np.float64),
            line_price=np.array([float(d.average_shelf_price) for d in days], dtype=np.float64),
            variant_group=np.array([group_index[product_group(v)] for v in variants], dtype=np.int64),
            variant_product=np.array([products[v.product_id] for v in variants], dtype=np.int64),
            group_names=groups,
            start=since,
            end=until,
            price_history=(
                np.array([index[c[0]] for c in recorded], dtype=np.int64),
                np.array([c[1].timestamp() for c in recorded], dtype=np.float64),
                np.array([c[2] for c in recorded], dtype=np.float64),
            ) if recorded else None,
        ),
        default_prior=settings.pricing_elasticity_prior,
        default_prior_sd=DEFAULT_PRIOR_SD,
    )


def load_pricing_input(
    conn: psycopg.Connection, shop: Shop, run_id: str, settings: Settings
) -> tuple[PricingInput, ElasticityEstimates]:
    variants = catalogue.list_variants(conn, shop.id)
    costs = effective_costs(conn, shop.id)
    sales = catalogue.units_sold_by_variant(conn, shop.id, SALES_WINDOW_DAYS)
    competitors = market.competitor_price_stats(
        conn, shop.id, run_id, max_age_hours=settings.competitor_price_max_age_hours, currency=shop.currency
    )
    trends = {t.keyword: t for t in market.keyword_trends(conn, shop.id)}
    keywords = product_keywords(conn, shop.id)
    elasticities = load_elasticities(conn, shop.id, variants, settings)
    rows = []
    for v in variants:
        cost, cost_source = costs.get(v.variant_id, (None, None))
        stats = competitors.get(v.variant_id)
        trend = trends.get(keywords.get(v.product_id, ""))
        group = elasticities.by_group.get(product_group(v))
        rows.append(VariantPricingRow(
            variant_id=v.variant_id,
            sku=v.sku,
            product_id=str(v.product_shopify_id) if v.product_shopify_id else None,
            group=product_group(v),
            title=variant_title(v),
            current_price=v.price,
            compare_at_price=v.compare_at_price,
            cost=cost,
            cost_source=cost_source,
            stock=v.stock_available if v.stock_available is not None else v.inventory_quantity,
            units_sold_28d=max(sales[v.variant_id].units, 0) if v.variant_id in sales else 0,
            competitor_min=stats.min if stats else None,
            # The median of an even count is a mean and may carry half a penny.
            competitor_median=stats.median.quantize(_CENT, ROUND_HALF_UP) if stats else None,
            competitor_max=stats.max if stats else None,
            competitor_count=stats.count if stats else 0,
            trend_index=float(trend.latest_interest) if trend and trend.latest_interest is not None else None,
            trend_slope=trend.slope_per_week if trend else None,
            elasticity=elasticities.for_group(product_group(v)),
            elasticity_estimated=bool(group and group.source == "estimated"),
        ))
    return PricingInput(policy=shop_policy(shop, settings), rows=rows), elasticities
