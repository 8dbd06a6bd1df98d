"""The vectorised pricing engine against a per-row Python loop of the same rules.

    .venv/bin/python benchmarks/pricing_engine.py [--sizes 300 3000 30000] [--seed 7]

The loop (`loop_decide`) is written independently, in exact Decimal arithmetic and by
enumerating rounded candidates, so agreement between the two is a real check of the engine.
It prints one table: rows, the engine's array core, the loop, the speed-up, and the full
`recommend()` (pydantic rows in, explained `Recommendation`s out).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.pricing.engine import (  # noqa: E402
    Position,
    PricingArrays,
    PricingInput,
    PricingPolicy,
    ReasonCode,
    Rounding,
    VariantPricingRow,
    compute_prices,
    recommend,
)

_ENDINGS = {Rounding.NINETY_NINE: 99, Rounding.NINETY_FIVE: 95, Rounding.WHOLE: 0}


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def loop_decide(row: VariantPricingRow, policy: PricingPolicy) -> tuple[int | None, set[ReasonCode], float]:
    """One row, the obvious way: (recommended cents or None, reason codes, confidence)."""
    if row.current_price is None:
        return None, {ReasonCode.NO_PRICE}, 0.0
    if row.cost is None:
        return None, {ReasonCode.NO_COST}, 0.0
    cur = int(row.current_price * 100)
    if cur <= 0:
        return None, {ReasonCode.ZERO_PRICE}, 0.0
    if row.sku in policy.excluded:
        return None, {ReasonCode.EXCLUDED}, 0.0
    reasons: set[ReasonCode] = set()
    margin = Decimal(str(policy.min_margin_pct)) / 100
    step = Decimal(str(policy.max_change_pct)) / 100
    margin_floor = _ceil(row.cost * (1 + margin) * 100)
    map_price = max([p for p in (row.map_price, policy.map_prices.get(row.sku or "")) if p is not None], default=None)
    map_cents = _ceil(map_price * 100) if map_price is not None else None
    floor = max(margin_floor, map_cents or 0)
    lo = max(_ceil(cur * (1 - step)), 1)
    hi = _floor(cur * (1 + step))

    overstock = low_rising = False
    cover = None
    if row.stock is not None and row.units_sold_28d is not None:
        stock = max(row.stock, 0)
        cover = Decimal(stock) / row.units_sold_28d * 28 if row.units_sold_28d else (math.inf if stock > 0 else 0)
        if row.stock > 0:
            overstock = cover > Decimal(str(policy.overstock_days))
            rising = row.trend_slope is not None and row.trend_slope > policy.rising_trend_slope
            low_rising = not overstock and rising and cover < Decimal(str(policy.low_stock_days))

    reference = row.competitor_median if policy.position is Position.MEDIAN else row.competitor_min
    has_comp = reference is not None
    demand = False
    if has_comp:
        offset = Decimal(str(policy.offset_pct)) / 100
        target = reference * (1 + offset) * 100
        if not (overstock or low_rising):
            if policy.offset_pct < 0:
                reasons.add(ReasonCode.UNDERCUT)
            elif policy.offset_pct > 0:
                reasons.add(ReasonCode.PREMIUM)
            else:
                reasons.add(ReasonCode.MATCH_MEDIAN if policy.position is Position.MEDIAN else ReasonCode.MATCH_MIN)
    else:
        reasons.add(ReasonCode.NO_COMPETITOR_DATA)
        target = Decimal(cur)
        if row.elasticity_estimated and row.elasticity is not None:
            e = Decimal(str(row.elasticity))
            target = row.cost * e / (1 + e) * 100 if e < -1 else Decimal(10) ** 15
            demand = True
    if overstock:
        reasons.add(ReasonCode.OVERSTOCK_MARKDOWN)
        target = min(target, cur * (1 - Decimal(str(policy.markdown_pct)) / 100))
    if low_rising:
        reasons.add(ReasonCode.LOW_STOCK_RAISE)
        target = max(target, cur * (1 + Decimal(str(policy.raise_pct)) / 100))
    target = int(min(target, Decimal(10) ** 15).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    demand = demand and not overstock and not low_rising and target != cur
    if demand:
        reasons.add(ReasonCode.DEMAND_OPTIMUM)
    rule = has_comp or overstock or low_rising or demand
    if cur < margin_floor:
        reasons.add(ReasonCode.BELOW_MARGIN_FLOOR)
    if map_cents is not None and cur < map_cents:
        reasons.add(ReasonCode.BELOW_MAP)

    wanted = max(target, floor)
    if floor > hi:
        price = floor
        reasons.add(ReasonCode.FLOOR_OVER_MAX_CHANGE)
        band_lo = band_hi = floor
    else:
        price = min(max(wanted, lo), hi)
        if price != wanted:
            reasons.add(ReasonCode.CLAMPED_MAX_CHANGE)
        if rule and target < floor and price == floor:
            map_binds = map_cents is not None and map_cents > margin_floor
            reasons.add(ReasonCode.MAP_FLOOR if map_binds else ReasonCode.MARGIN_FLOOR)
        band_lo, band_hi = max(lo, floor), hi
        if price > cur:
            band_lo = max(band_lo, cur)
        elif price < cur:
            band_hi = min(band_hi, cur)
    if policy.rounding is not Rounding.NONE and (rule or cur < floor):
        ending = _ENDINGS[policy.rounding]
        candidates = [
            ending + 100 * k
            for k in range((band_lo - ending) // 100 - 1, (band_hi - ending) // 100 + 2)
            if band_lo <= ending + 100 * k <= band_hi and ending + 100 * k > 0
        ]
        if candidates:
            best = min(candidates, key=lambda c: (abs(c - price), -c))
            if best != price:
                reasons.add(ReasonCode.ROUNDED)
            price = best
        elif price % 100 != ending:
            reasons.add(ReasonCode.ROUNDING_SKIPPED)
    if row.compare_at_price is not None and row.compare_at_price > 0 and price >= row.compare_at_price * 100:
        reasons.add(ReasonCode.ABOVE_COMPARE_AT)
    if price == cur:
        reasons.add(ReasonCode.NO_CHANGE)
    return price, reasons, _loop_confidence(row, policy, overstock or low_rising or demand)


def _loop_confidence(row: VariantPricingRow, policy: PricingPolicy, own_rule: bool) -> float:
    if row.competitor_median is None:
        return 0.4 if own_rule else 0.1
    if row.competitor_age_hours is None:
        freshness = 0.75
    else:
        freshness = 1.0 - 0.5 * min(max(row.competitor_age_hours / policy.freshness_horizon_hours, 0.0), 1.0)
    spread = float(row.competitor_max - row.competitor_min) / float(row.competitor_median)
    return round((1.0 - 0.5 ** row.competitor_count) * freshness / (1.0 + spread), 3)


def random_rows(n: int, seed: int) -> list[VariantPricingRow]:
    """Plausible catalogues: some rows without cost, without competitors, below the floor."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        price = Decimal(int(rng.integers(100, 20000))).scaleb(-2)
        cost = None if rng.random() < 0.1 else Decimal(int(float(price) * 100 * rng.uniform(0.3, 1.1))).scaleb(-2)
        competitors = {}
        if rng.random() < 0.8:
            levels = sorted(float(price) * rng.uniform(0.6, 1.4, size=3))
            cmin, cmed, cmax = (Decimal(round(v * 100)).scaleb(-2) for v in levels)
            cmin = max(cmin, Decimal("0.01"))
            cmed, cmax = max(cmed, cmin), max(cmax, cmed, cmin)
            competitors = dict(competitor_min=cmin, competitor_median=cmed, competitor_max=cmax,
                               competitor_count=int(rng.integers(1, 8)),
                               competitor_age_hours=None if rng.random() < 0.2 else float(rng.uniform(0, 48)))
        extras = {}
        if rng.random() < 0.2:
            extras["map_price"] = Decimal(int(float(price) * 100 * rng.uniform(0.7, 1.2))).scaleb(-2)
        if rng.random() < 0.2:
            extras["compare_at_price"] = Decimal(int(float(price) * 100 * rng.uniform(0.9, 1.4))).scaleb(-2)
        if rng.random() < 0.6:
            extras["elasticity"] = float(np.round(rng.uniform(-4, -0.2), 2))
            extras["elasticity_estimated"] = bool(rng.random() < 0.5)
        rows.append(VariantPricingRow(
            variant_id=i, sku=f"SKU-{i}", title=f"Product {i}", current_price=price, cost=cost,
            stock=int(rng.integers(0, 500)), units_sold_28d=int(rng.integers(0, 200)),
            trend_slope=None if rng.random() < 0.3 else float(np.round(rng.normal(0, 2), 2)),
            **competitors, **extras,
        ))
    return rows


def random_policy(seed: int) -> PricingPolicy:
    rng = np.random.default_rng(seed)
    return PricingPolicy(
        min_margin_pct=float(rng.integers(0, 60)),
        max_change_pct=float(rng.choice([2, 5, 10, 15, 25, 50, 100])),
        position=str(rng.choice(["median", "min"])),
        offset_pct=float(rng.choice([-5, -2, 0, 0, 3, 7.5])),
        rounding=str(rng.choice([".99", ".95", "whole", "none"])),
        excluded=frozenset(f"SKU-{i}" for i in rng.choice(300, size=5, replace=False)),
        map_prices={f"SKU-{i}": Decimal(int(rng.integers(100, 20000))).scaleb(-2) for i in rng.choice(300, size=5)},
        overstock_days=float(rng.choice([30, 60, 120])),
        low_stock_days=float(rng.choice([7, 14, 30])),
    )


def disagreements(rows: list[VariantPricingRow], policy: PricingPolicy,
                  arrays: PricingArrays | None = None) -> list[str]:
    """Rows where the engine and the loop differ, described; empty when they agree."""
    decisions = compute_prices(arrays if arrays is not None else PricingArrays.from_rows(rows, policy), policy)
    problems = []
    for i, row in enumerate(rows):
        price, reasons, confidence = loop_decide(row, policy)
        engine_price = int(decisions.recommended_cents[i])
        engine_price = None if engine_price < 0 else engine_price
        engine_reasons = set(decisions.reasons(i))
        if (engine_price, engine_reasons) != (price, reasons) or abs(decisions.confidence[i] - confidence) > 0.0011:
            problems.append(f"row {i} ({row.model_dump(exclude_none=True)}): engine {engine_price} "
                            f"{sorted(engine_reasons)} {decisions.confidence[i]} "
                            f"vs loop {price} {sorted(reasons)} {confidence}")
    return problems


def _best_ms(function, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000, 30000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    policy = PricingPolicy()
    print(f"policy: {policy.model_dump(mode='json')}")
    print(f"{'rows':>7} | {'engine core ms':>14} | {'per-row loop ms':>15} | {'speed-up':>8} | "
          f"{'rows/s (engine)':>15} | {'recommend() ms':>14} | agree")
    failed = False
    for n in args.sizes:
        rows = random_rows(n, args.seed)
        arrays = PricingArrays.from_rows(rows, policy)
        problems = disagreements(rows, policy, arrays)
        failed |= bool(problems)
        repeats = 20 if n <= 3000 else 5
        engine_ms = _best_ms(lambda: compute_prices(arrays, policy), repeats)
        loop_ms = _best_ms(lambda: [loop_decide(row, policy) for row in rows], max(2, repeats // 4))
        pricing_input = PricingInput(policy=policy, rows=rows)
        full_ms = _best_ms(lambda: recommend(pricing_input), repeats)
        agree = "yes" if not problems else f"NO ({len(problems)})"
        print(f"{n:>7} | {engine_ms:>14.3f} | {loop_ms:>15.3f} | {loop_ms / engine_ms:>7.0f}x | "
              f"{n / engine_ms * 1000:>15,.0f} | {full_ms:>14.2f} | {agree}")
        for problem in problems[:5]:
            print("  ", problem)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
