"""Replaying the sample store's year under the pricing engine: `python -m shared.cli backtest`.

Week by week, from the end of a warm-up, the engine prices every variant from what the shop
knew at the start of that week: its cost, the competitors' prices, the last four weeks'
sales at the engine's own prices, and elasticities re-estimated every four weeks from the
orders recorded up to then. Its price holds for the week. Units are then what the planted
demand model expects at that price (the generator's truth: base rate x (price / launch
price) ^ elasticity x season), so the engine is judged by the same demand that produced the
real orders, not by its own estimates.

"Actual" is reported twice: the planted model's expectation at the prices the shop really
charged (the like-for-like comparison, free of order noise), and the gross profit of the
orders as recorded (shelf price, kept units). Costs are the variants' unit costs; variants
without a cost are left out of both sides, as the engine makes no recommendation for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from shared.local.sample_store import SampleStore, generate_store
from shared.pricing.elasticity import ElasticityEstimates, WeeklyPanel, estimate_elasticities, weekly_panel
from shared.pricing.engine import PricingArrays, compute_prices
from shared.pricing.policy import PricingPolicy

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class CategoryResult:
    category: str
    planted: float
    estimate: float
    raw_estimate: float | None
    standard_error: float | None
    source: str
    units: float


@dataclass(frozen=True)
class BacktestResult:
    weeks: int
    variants: int
    engine_profit: float
    actual_profit_expected: float
    actual_profit_recorded: float
    engine_revenue: float
    actual_revenue_expected: float
    engine_units: float
    actual_units_expected: float
    price_changes: int
    categories: list[CategoryResult]
    store_summary: dict[str, int]

    @property
    def uplift_pct(self) -> float:
        return (self.engine_profit / self.actual_profit_expected - 1.0) * 100.0


@dataclass(frozen=True)
class StoreHistory:
    """The sample store's orders and recorded prices as arrays, for estimating elasticities
    on what was known at any moment."""

    start: datetime
    groups: tuple[str, ...]
    group_of: np.ndarray
    product_of: np.ndarray
    line_variant: np.ndarray
    line_time: np.ndarray
    line_units: np.ndarray
    line_price: np.ndarray
    change_variant: np.ndarray
    change_time: np.ndarray
    change_price: np.ndarray

    @classmethod
    def of(cls, store: SampleStore) -> "StoreHistory":
        variants = list(store.variants)
        index = {v.id: i for i, v in enumerate(variants)}
        groups = tuple(sorted({p.category for p in store.products}))
        product_ids = sorted({v.product_id for v in variants})
        lines = [(index[line.variant_id], order.created_at.timestamp(), line.quantity, float(line.original_unit_price))
                 for order in store.orders if order.cancelled_at is None for line in order.line_items]
        # The price each variant had, from its launch (or the window's start) and every change since.
        changes = [(i, t.timestamp(), float(p)) for i, v in enumerate(variants) for t, p in v.price_history]
        return cls(
            start=store.as_of - timedelta(days=365),
            groups=groups,
            group_of=np.array([groups.index(store.category_by_variant_id[v.id]) for v in variants]),
            product_of=np.array([product_ids.index(v.product_id) for v in variants]),
            line_variant=np.array([x[0] for x in lines], dtype=np.int64),
            line_time=np.array([x[1] for x in lines]),
            line_units=np.array([x[2] for x in lines], dtype=np.float64),
            line_price=np.array([x[3] for x in lines]),
            change_variant=np.array([c[0] for c in changes], dtype=np.int64),
            change_time=np.array([c[1] for c in changes]),
            change_price=np.array([c[2] for c in changes]),
        )

    def panel(self, until: datetime, recorded_prices: bool = True) -> WeeklyPanel:
        known = self.line_time < until.timestamp()
        history = None
        if recorded_prices:
            seen = self.change_time < until.timestamp()
            history = (self.change_variant[seen], self.change_time[seen], self.change_price[seen])
        return weekly_panel(self.line_variant[known], self.line_time[known], self.line_units[known],
                            self.line_price[known], self.group_of, self.product_of, self.groups, self.start, until,
                            price_history=history)


def _week_demand_factor(store: SampleStore, category: str, start: datetime) -> float:
    """Sum over the week's days of season x weekday: a week's units = base/7 x this x price effect."""
    truth = store.truth
    total = 0.0
    for d in range(7):
        day = (start + timedelta(days=d, hours=12)).date()
        total += truth.season_factor(category, day) * truth.weekday_factor(day)
    return total


def run_backtest(
    seed: int | None = None,
    n_products: int | None = None,
    annual_orders: int | None = None,
    as_of: datetime | None = None,
    warmup_weeks: int = 12,
    refit_weeks: int = 8,
    policy: PricingPolicy | None = None,
    with_competitors: bool = True,
) -> BacktestResult:
    kwargs = {k: v for k, v in (("seed", seed), ("n_products", n_products), ("annual_orders", annual_orders),
                                ("as_of", as_of)) if v is not None}
    store = generate_store(**kwargs)
    policy = policy or PricingPolicy(currency=store.currency)
    variants = [v for v in store.variants if v.unit_cost is not None]
    n = len(variants)
    start = store.as_of - timedelta(days=365)
    n_weeks = 52
    truth = store.truth
    category = [store.category_by_variant_id[v.id] for v in variants]
    elasticity_true = np.array([truth.elasticity_by_category[c] for c in category])
    base_weekly = np.array([truth.base_weekly_units_by_sku[v.sku] for v in variants])
    reference = np.array([float(v.reference_price) for v in variants])
    cost = np.array([float(v.unit_cost) for v in variants])
    launched = [store.product_by_id[v.product_id].created_at for v in variants]

    # Competitors: each listing's position relative to our price today, held through the year.
    comp_ratios: dict[str, list[float]] = {}
    for listing in store.competitor_listings:
        if listing.in_stock:
            ours = store.variant_by_id[listing.variant_id]
            comp_ratios.setdefault(listing.variant_id, []).append(float(listing.price / ours.price))
    ratios = [np.array(comp_ratios.get(v.id, []) if with_competitors else []) for v in variants]

    history = StoreHistory.of(store)

    def estimates_until(moment: datetime) -> ElasticityEstimates:
        return estimate_elasticities(history.panel(until=moment))

    week_starts = [start + w * WEEK for w in range(n_weeks)]
    by_category = {c: [_week_demand_factor(store, c, ws) for ws in week_starts] for c in set(category)}
    demand = np.array([by_category[c] for c in category]).T  # weeks x variants
    alive = np.array([[ws >= launched[j] - WEEK for j in range(n)] for ws in week_starts])

    actual_price = np.array([[float(v.price_at(ws + timedelta(days=3, hours=12))) for v in variants] for ws in week_starts])
    engine_price = actual_price[warmup_weeks].copy()
    engine_units_hist: list[np.ndarray] = []
    engine_profit = engine_revenue = engine_units = 0.0
    actual_profit = actual_revenue = actual_units = 0.0
    changes = 0
    estimates = estimates_until(week_starts[warmup_weeks])
    for w in range(warmup_weeks, n_weeks):
        if (w - warmup_weeks) % refit_weeks == 0 and w > warmup_weeks:
            estimates = estimates_until(week_starts[w])
        group_est = [estimates.by_group.get(c) for c in category]
        if engine_units_hist:
            recent = np.sum(engine_units_hist[-4:], axis=0) * 4 / len(engine_units_hist[-4:])
        else:
            recent = np.array([base_weekly[j] / 7 * demand[w - 1, j] * (actual_price[w - 1, j] / reference[j])
                               ** elasticity_true[j] for j in range(n)]) * 4
        comp = [r * reference[j] if len(r) else np.array([]) for j, r in enumerate(ratios)]
        arrays = PricingArrays(
            current_cents=np.round(engine_price * 100).astype(np.int64),
            cost=cost,
            competitor_min=np.array([c.min() if len(c) else np.nan for c in comp]),
            competitor_median=np.array([np.median(c) if len(c) else np.nan for c in comp]),
            competitor_max=np.array([c.max() if len(c) else np.nan for c in comp]),
            competitor_count=np.array([len(c) for c in comp], dtype=np.int64),
            competitor_age_hours=np.zeros(n),
            units_28d=recent,
            elasticity=np.array([g.estimate if g else estimates.prior for g in group_est]),
            elasticity_estimated=np.array([bool(g and g.source == "estimated") for g in group_est]),
        )
        decisions = compute_prices(arrays, policy)
        new_price = np.where(decisions.recommended_cents > 0, decisions.recommended_cents / 100.0, engine_price)
        changes += int(np.sum(np.abs(new_price - engine_price) > 0.001))
        engine_price = new_price

        live = alive[w]
        units_engine = base_weekly / 7 * demand[w] * (engine_price / reference) ** elasticity_true * live
        units_actual = base_weekly / 7 * demand[w] * (actual_price[w] / reference) ** elasticity_true * live
        engine_units_hist.append(units_engine)
        engine_profit += float(np.sum(units_engine * (engine_price - cost)))
        engine_revenue += float(np.sum(units_engine * engine_price))
        engine_units += float(units_engine.sum())
        actual_profit += float(np.sum(units_actual * (actual_price[w] - cost)))
        actual_revenue += float(np.sum(units_actual * actual_price[w]))
        actual_units += float(units_actual.sum())

    # What was recorded over the same weeks, for the same variants.
    priced_ids = {v.id: float(v.unit_cost) for v in variants}
    from_time = week_starts[warmup_weeks]
    recorded = 0.0
    for order in store.orders:
        if order.cancelled_at is None and order.created_at >= from_time:
            for line in order.line_items:
                if line.variant_id in priced_ids:
                    recorded += line.current_quantity * (float(line.original_unit_price) - priced_ids[line.variant_id])

    final = estimates_until(store.as_of)
    categories = [
        CategoryResult(c, truth.elasticity_by_category[c], g.estimate, g.raw_estimate, g.standard_error, g.source, g.units)
        for c, g in sorted(final.by_group.items())
    ]
    return BacktestResult(
        weeks=n_weeks - warmup_weeks, variants=n, engine_profit=engine_profit, actual_profit_expected=actual_profit,
        actual_profit_recorded=recorded, engine_revenue=engine_revenue, actual_revenue_expected=actual_revenue,
        engine_units=engine_units, actual_units_expected=actual_units, price_changes=changes,
        categories=categories, store_summary=store.summary(),
    )


def format_report(result: BacktestResult, currency: str = "GBP") -> str:
    from shared.pricing.explain import format_money

    money = lambda v: format_money(Decimal(str(round(v, 2))), currency)  # noqa: E731
    lines = [
        f"Backtest: {result.weeks} weeks, {result.variants} variants with a cost "
        f"({result.store_summary['orders']:,} orders in the year)",
        f"{'':34}{'gross profit':>14}{'revenue':>14}{'units':>10}",
        f"{'engine policy (planted demand)':34}{money(result.engine_profit):>14}{money(result.engine_revenue):>14}"
        f"{result.engine_units:>10,.0f}",
        f"{'actual prices (planted demand)':34}{money(result.actual_profit_expected):>14}"
        f"{money(result.actual_revenue_expected):>14}{result.actual_units_expected:>10,.0f}",
        f"{'actual orders as recorded':34}{money(result.actual_profit_recorded):>14}",
        f"engine vs actual gross profit: {result.uplift_pct:+.1f}% ({result.price_changes} price changes)",
        "",
        f"{'category':<14}{'planted':>8}{'estimate':>9}{'raw':>7}{'s.e.':>6}{'units':>7}  source",
    ]
    for c in result.categories:
        raw = f"{c.raw_estimate:7.2f}" if c.raw_estimate is not None else f"{'-':>7}"
        se = f"{c.standard_error:6.2f}" if c.standard_error is not None else f"{'-':>6}"
        lines.append(f"{c.category:<14}{c.planted:8.2f}{c.estimate:9.2f}{raw}{se}{c.units:7.0f}  {c.source}")
    return "\n".join(lines)
