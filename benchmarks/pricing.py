"""100,000 variants through the pricing engine, against a plain numpy baseline.

    python -m shared.cli bench pricing [--variants 100000] [--repeats 5]
    .venv/bin/python benchmarks/pricing.py

The baseline does the engine's arithmetic and nothing else: the competitor target, the
stock rules, the floor (margin and MAP) before the max change, .99 rounding inside the
allowed band, and the expected units, revenue and profit, on complete data, with no reason
codes, no confidence and no missing-data handling. The engine does all of that too. Both
run side by side in one process (best of `repeats`, interleaved), so the ratio is
meaningful on a busy machine; the budget is the engine at most 3x the baseline, and 2 s
for the whole recommendation including every row's explanation line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.pricing.engine import PricingArrays, compute_prices, explanations  # noqa: E402
from shared.pricing.policy import PricingPolicy  # noqa: E402

ENGINE_BUDGET_RATIO = 3.0
FULL_BUDGET_SECONDS = 2.0


def random_catalogue(n: int, seed: int = 7) -> PricingArrays:
    """A plausible catalogue: every field known, so the baseline computes the same thing."""
    rng = np.random.default_rng(seed)
    price = rng.integers(100, 20_000, size=n)
    cost = np.round(price / 100 * rng.uniform(0.3, 0.9, size=n), 4)
    median = np.round(price / 100 * rng.uniform(0.7, 1.3, size=n), 2)
    spread = rng.uniform(0.0, 0.2, size=n)
    return PricingArrays(
        current_cents=price.astype(np.int64),
        cost=cost,
        competitor_min=np.round(median * (1 - spread), 2),
        competitor_median=median,
        competitor_max=np.round(median * (1 + spread), 2),
        competitor_count=rng.integers(1, 6, size=n).astype(np.int64),
        competitor_age_hours=rng.uniform(0, 48, size=n),
        map_price=np.round(price / 100 * rng.uniform(0.5, 1.0, size=n), 2),
        compare_at=np.round(price / 100 * rng.uniform(1.0, 1.5, size=n), 2),
        stock=rng.integers(0, 400, size=n).astype(np.float64),
        units_28d=rng.integers(0, 60, size=n).astype(np.float64),
        trend_slope=rng.normal(0, 2, size=n),
        elasticity=rng.uniform(-3, -0.5, size=n),
        elasticity_estimated=np.zeros(n, dtype=bool),
    )


def baseline(a: PricingArrays, p: PricingPolicy) -> tuple[np.ndarray, np.ndarray]:
    """The same arithmetic, written plainly for complete data: (price in cents, profit change)."""
    cur = a.current_cents
    floor = np.maximum(np.ceil(a.cost * (1 + p.min_margin_pct / 100) * 100 - 1e-7), np.ceil(a.map_price * 100 - 1e-7))
    lo = np.maximum(np.ceil(cur * (1 - p.max_change_pct / 100) - 1e-7), 1)
    hi = np.floor(cur * (1 + p.max_change_pct / 100) + 1e-7)
    cover = np.where(a.units_28d > 0, a.stock / np.maximum(a.units_28d, 1) * 28, np.inf)
    target = a.competitor_median * (1 + p.offset_pct / 100) * 100
    target = np.where((cover > p.overstock_days) & (a.stock > 0), np.minimum(target, cur * (1 - p.markdown_pct / 100)), target)
    rising = (cover < p.low_stock_days) & (a.trend_slope > p.rising_trend_slope) & (a.stock > 0)
    target = np.where(rising, np.maximum(target, cur * (1 + p.raise_pct / 100)), target)
    wanted = np.maximum(np.floor(target + 0.5), floor)
    over = floor > hi
    price = np.where(over, floor, np.clip(wanted, lo, hi))
    band_lo = np.where(over, floor, np.maximum(np.maximum(lo, floor), np.where(price > cur, cur, 0)))
    band_hi = np.where(over, floor, np.where(price < cur, np.minimum(hi, cur), hi))
    grid_lo = np.maximum(99 - 100 * ((99 - band_lo) // 100), 99)
    grid_hi = 99 + 100 * ((band_hi - 99) // 100)
    nearest = 99 + 100 * ((price - 99 + 50) // 100)
    price = np.where(grid_lo <= grid_hi, np.clip(nearest, grid_lo, grid_hi), price)
    ratio = price / cur
    new_units = a.units_28d * ratio**a.elasticity
    profit = new_units * (price / 100 - a.cost) - a.units_28d * (cur / 100 - a.cost)
    return price, profit


def run_benchmark(variants: int = 100_000, repeats: int = 9) -> int:
    arrays = random_catalogue(variants)
    policy = PricingPolicy()
    engine_best = baseline_best = full_best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        base_price, _ = baseline(arrays, policy)
        baseline_best = min(baseline_best, time.perf_counter() - start)
        start = time.perf_counter()
        decisions = compute_prices(arrays, policy)
        engine_best = min(engine_best, time.perf_counter() - start)
    for _ in range(3):
        start = time.perf_counter()
        decisions = compute_prices(arrays, policy)
        lines = explanations(arrays, decisions, policy)
        full_best = min(full_best, time.perf_counter() - start)
    # The two compute the same prices: the comparison is of equals.
    agree = int(np.sum(decisions.recommended_cents == base_price))
    ratio = engine_best / baseline_best
    print(f"pricing: {variants:,} variants, policy {policy.model_dump(mode='json', exclude={'map_prices', 'excluded'})}")
    print(f"  numpy baseline (same arithmetic, no reasons)  {baseline_best * 1000:9.1f} ms")
    print(f"  engine (prices, reasons, confidence, effects) {engine_best * 1000:9.1f} ms   "
          f"ratio {ratio:.2f}x (budget {ENGINE_BUDGET_RATIO:.0f}x)")
    print(f"  engine + one explanation line per variant     {full_best * 1000:9.1f} ms   "
          f"(budget {FULL_BUDGET_SECONDS * 1000:.0f} ms; {len(lines):,} lines)")
    print(f"  prices identical to the baseline: {agree:,} of {variants:,}")
    ok = ratio <= ENGINE_BUDGET_RATIO and full_best <= FULL_BUDGET_SECONDS and agree == variants
    print("  within budget" if ok else "  OVER BUDGET or disagreeing")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    return run_benchmark(args.variants, args.repeats)


if __name__ == "__main__":
    raise SystemExit(main())
