"""What a price change is expected to do to units, revenue and gross profit.

Constant-elasticity demand around today's sales: at price p1 instead of p0 a variant that
sold u0 units in the sales window is expected to sell u1 = u0 x (p1 / p0) ** e. The
effects are over the same window (28 days). NaN where the sales, cost or elasticity are
unknown: an effect is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DemandEffects:
    units_change: np.ndarray  # float64, units over the window
    revenue_change: np.ndarray  # float64, currency units
    profit_change: np.ndarray  # float64, gross profit in currency units


def expected_effects(
    current_price: np.ndarray, new_price: np.ndarray, cost: np.ndarray, units: np.ndarray, elasticity: np.ndarray
) -> DemandEffects:
    with np.errstate(invalid="ignore", divide="ignore"):
        known = (current_price > 0) & (new_price > 0) & np.isfinite(units) & np.isfinite(elasticity) & (units >= 0)
        ratio = np.where(known, new_price / np.where(current_price > 0, current_price, 1.0), 1.0)
        new_units = units * ratio ** np.where(known, elasticity, 0.0)
        units_change = np.where(known, new_units - units, np.nan)
        revenue_change = np.where(known, new_units * new_price - units * current_price, np.nan)
        profit = np.where(known & np.isfinite(cost), new_units * (new_price - cost) - units * (current_price - cost), np.nan)
    return DemandEffects(units_change, revenue_change, profit)


def profit_maximising_price(cost: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    """p* = cost x e / (1 + e) for elastic demand (e < -1); +inf when demand is inelastic
    (a higher price always earns more there, so only the guardrails stop a rise)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        elastic = elasticity < -1.0
        return np.where(elastic, cost * elasticity / (1.0 + np.where(elastic, elasticity, -2.0)), np.inf)
