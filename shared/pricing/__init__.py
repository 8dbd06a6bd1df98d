"""Price recommendations: rules over numpy arrays (`engine`), the shop's settings (`policy`),
demand learnt from sales (`elasticity`, `demand`), rounding and explanations."""

from shared.pricing.engine import (
    REASON_LABELS,
    SALES_WINDOW_DAYS,
    PriceDecisions,
    PricingArrays,
    PricingInput,
    Recommendation,
    VariantPricingRow,
    compute_prices,
    confidence_scores,
    explanations,
    recommend,
)
from shared.pricing.explain import ReasonCode, format_money, format_pct
from shared.pricing.policy import Position, PricingPolicy, Rounding, Strategy

__all__ = [
    "REASON_LABELS",
    "SALES_WINDOW_DAYS",
    "PriceDecisions",
    "PricingArrays",
    "PricingInput",
    "PricingPolicy",
    "Position",
    "ReasonCode",
    "Recommendation",
    "Rounding",
    "Strategy",
    "VariantPricingRow",
    "compute_prices",
    "confidence_scores",
    "explanations",
    "format_money",
    "format_pct",
    "recommend",
]
