"""The run's top insights: what the merchant should hear about first.

`build_insights(recommendations, signals)` looks for a handful of situations, estimates
each one's 28-day money effect at today's sales rate (no demand model: volume is assumed
unchanged, which the numbers' names say), and ranks them by

    impact_score = urgency x (1 + log10(1 + estimated money effect))

so a large effect counts but cannot drown urgency (a price under the margin floor, a
degraded data step) by orders of magnitude. One insight per product or subject.

Situations and their money estimate:
- competitor_undercut: a competitor's lowest price is under ours on a top seller;
  the 28-day gross profit (or revenue when cost is unknown) the item earns is at risk.
- below_margin_floor: the current price is under cost x (1 + min margin);
  units x (recommended - current).
- cost_rise: the unit cost is up on the last run's and the margin at today's price is
  shrinking; units x (new cost - previous cost) is the 28-day profit it eats.
- overstock: days of cover far above a threshold -> markdown; the holding cost of the
  excess stock at cost (2 % per 28 days, about 25 % a year, a common carrying-cost rule).
- low_stock_rising_trend: few days of cover and rising searches -> hold or raise;
  a `raise_pct` rise on the remaining stock.
- trend_spike: a keyword's latest interest far above its recent average; no money estimate.
- price_move: any other recommended change; units x |recommended - current|.
- degraded_step: a pipeline step that degraded; no money estimate.

Social signals are a mock in this app, so they never drive an insight.
The output is compact: it goes into a Durable summary (16 KB) and a jsonb column.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Iterable, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.pricing.engine import SALES_WINDOW_DAYS, ReasonCode, Recommendation, format_money, format_pct

Number = Union[Decimal, int, float]

_CENT = Decimal("0.01")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
TITLE_MAX_CHARS = 120


def bounded_text(value: str | None, max_chars: int) -> str | None:
    """Data text made safe to store: control characters out, whitespace collapsed, bounded."""
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


class InsightKind(StrEnum):
    COMPETITOR_UNDERCUT = "competitor_undercut"
    BELOW_MARGIN_FLOOR = "below_margin_floor"
    OVERSTOCK = "overstock"
    COST_RISE = "cost_rise"
    LOW_STOCK_RISING_TREND = "low_stock_rising_trend"
    TREND_SPIKE = "trend_spike"
    PRICE_MOVE = "price_move"
    DEGRADED_STEP = "degraded_step"


# Chart specs use the same names as shared.briefing.video's slide charts where they overlap.
class PriceChart(BaseModel):
    kind: Literal["price_position"] = "price_position"
    current_price: Decimal
    recommended_price: Decimal | None = None
    cost: Decimal | None = None
    floor_price: Decimal | None = None
    competitor_min: Decimal | None = None
    competitor_median: Decimal | None = None
    competitor_max: Decimal | None = None


class TrendChart(BaseModel):
    kind: Literal["trend"] = "trend"
    keyword: str
    points: list[tuple[str, float | None]] = Field(
        description="(ISO period start, interest); None where the value is missing: missing is not zero.")


class StockChart(BaseModel):
    kind: Literal["stock_cover"] = "stock_cover"
    stock: int
    daily_sales: float
    days_of_cover: float | None = Field(None, description="None when nothing sold: cover is unbounded.")
    threshold_days: float


ChartSpec = Annotated[Union[PriceChart, TrendChart, StockChart], Field(discriminator="kind")]


class Insight(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: InsightKind
    headline: str
    product_title: str | None = None
    sku: str | None = None
    variant_id: str | None = None
    keyword: str | None = None
    step: str | None = None
    currency: str = "GBP"
    numbers: dict[str, Number] = Field(default_factory=dict)
    estimated_impact_28d: Decimal | None = Field(None, description="Money effect over 28 days, see module docs.")
    urgency: float = Field(ge=0, le=1)
    impact_score: float
    chart: ChartSpec | None = None

    @field_validator("headline")
    @classmethod
    def _bound_headline(cls, value: str) -> str:
        return bounded_text(value, 200) or ""

    @field_validator("product_title")
    @classmethod
    def _bound_title(cls, value: str | None) -> str | None:
        return bounded_text(value, TITLE_MAX_CHARS)

    @field_validator("sku", "keyword", "step")
    @classmethod
    def _bound_label(cls, value: str | None) -> str | None:
        return bounded_text(value, 80)


class TrendPoint(BaseModel):
    period: date
    value: float | None = None


class TrendSignal(BaseModel):
    """One keyword's (or category's) search interest, on the anchor-rescaled 0-100 scale."""

    keyword: str
    category: str | None = None
    index: float | None = Field(None, description="Latest interest, when known without the series.")
    slope: float | None = Field(None, description="Interest points per period, from a fit over the series.")
    points: list[TrendPoint] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list, description="Variants this keyword stands for.")

    @property
    def latest_index(self) -> float | None:
        """The latest known interest: the last known point, else `index`."""
        known = [p.value for p in self.points if p.value is not None]
        return known[-1] if known else self.index


class SocialSignal(BaseModel):
    sku: str | None = None
    product_title: str | None = None
    mentions: int = Field(ge=0)
    sentiment: float = Field(ge=-1, le=1)
    is_mock: bool = True


class DegradedStep(BaseModel):
    step: str
    status: Literal["degraded", "failed", "skipped"] = "degraded"
    detail: str | None = None


class PreviousCost(BaseModel):
    """A variant's unit cost as the last run before this one used it."""

    variant_id: str
    cost: Decimal = Field(ge=0)
    run_date: date | None = None


class BriefingSignals(BaseModel):
    trends: list[TrendSignal] = Field(default_factory=list)
    social: list[SocialSignal] = Field(default_factory=list)
    degraded_steps: list[DegradedStep] = Field(default_factory=list)
    previous_costs: list[PreviousCost] = Field(default_factory=list)


class InsightThresholds(BaseModel):
    model_config = ConfigDict(frozen=True)

    undercut_pct: float = Field(2.0, ge=0, description="Competitor min this far under our price counts.")
    top_seller_share: float = Field(0.2, gt=0, le=1, description="Top share of selling variants by units.")
    top_seller_min_count: int = Field(3, ge=1)
    overstock_days: float = Field(90.0, gt=0)
    overstock_min_units: int = Field(5, ge=1)
    low_stock_days: float = Field(14.0, gt=0)
    rising_slope: float = Field(0.5, description="Trend slope at or above this is 'rising'.")
    spike_ratio: float = Field(1.5, gt=1, description="Latest / recent average at or above this is a spike.")
    spike_min_index: float = Field(20.0, ge=0)
    holding_cost_pct_28d: float = Field(2.0, ge=0)
    raise_pct: float = Field(5.0, gt=0)
    cost_rise_pct: float = Field(3.0, gt=0, description="A unit cost up by at least this much counts.")
    max_trend_points: int = Field(26, ge=2)


STEP_LABELS = {
    "sync_shopify": "Shopify sync",
    "update_costs": "cost update",
    "scrape_competitors": "competitor prices",
    "fetch_trends": "search trends",
    "social_signals": "social signals",
    "compute_recommendations": "price recommendations",
    "write_script": "script writing",
    "synthesize_speech": "narration",
    "render_video": "video",
    "publish_briefing": "publishing",
}

# Base urgency per kind, 0..1.
URGENCY = {
    InsightKind.BELOW_MARGIN_FLOOR: 0.9,
    InsightKind.COMPETITOR_UNDERCUT: 0.8,
    InsightKind.COST_RISE: 0.75,
    InsightKind.LOW_STOCK_RISING_TREND: 0.7,
    InsightKind.DEGRADED_STEP: 0.6,
    InsightKind.TREND_SPIKE: 0.5,
    InsightKind.OVERSTOCK: 0.5,
    InsightKind.PRICE_MOVE: 0.2,
}


def impact_score(urgency: float, money: Decimal | None) -> float:
    effect = float(abs(money)) if money is not None else 0.0
    return round(urgency * (1.0 + math.log10(1.0 + effect)), 4)


def _money(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def _one_place(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _key(rec: Recommendation) -> str:
    return str(rec.variant_id)


def _price_chart(rec: Recommendation) -> PriceChart:
    return PriceChart(current_price=rec.current_price, recommended_price=rec.recommended_price, cost=rec.cost,
                      floor_price=rec.floor_price, competitor_min=rec.competitor_min,
                      competitor_median=rec.competitor_median, competitor_max=rec.competitor_max)


def _price_numbers(rec: Recommendation) -> dict[str, Number]:
    numbers: dict[str, Number] = {"current_price": rec.current_price, "units_sold_28d": rec.units_sold_28d,
                                  "window_days": SALES_WINDOW_DAYS}
    optional = {
        "recommended_price": rec.recommended_price, "change_pct": rec.change_pct, "margin_pct": rec.margin_pct,
        "cost": rec.cost, "floor_price": rec.floor_price, "competitor_min": rec.competitor_min,
        "competitor_median": rec.competitor_median, "competitor_max": rec.competitor_max,
    }
    numbers.update({name: value for name, value in optional.items() if value is not None})
    if rec.competitor_count:
        numbers["competitor_count"] = rec.competitor_count
    return numbers


def _insight(kind: InsightKind, headline: str, money: Decimal | None, urgency: float | None = None,
             rec: Recommendation | None = None, **fields) -> Insight:
    urgency = URGENCY[kind] if urgency is None else urgency
    if rec is not None:
        fields.setdefault("product_title", rec.title)
        fields.setdefault("sku", rec.sku)
        fields.setdefault("variant_id", _key(rec))
        fields.setdefault("currency", rec.currency)
    return Insight(kind=kind, headline=headline, estimated_impact_28d=money, urgency=urgency,
                   impact_score=impact_score(urgency, money), **fields)


def top_sellers(recommendations: Sequence[Recommendation], thresholds: InsightThresholds) -> set[str]:
    selling = sorted((r for r in recommendations if r.units_sold_28d > 0), key=lambda r: -r.units_sold_28d)
    count = max(thresholds.top_seller_min_count, math.ceil(thresholds.top_seller_share * len(selling)))
    return {_key(r) for r in selling[:count]}


def _product_trend_slope(rec: Recommendation, trends_by_sku: dict[str, TrendSignal]) -> float | None:
    if rec.trend_slope is not None:
        return rec.trend_slope
    signal = trends_by_sku.get(rec.sku or "")
    return signal.slope if signal else None


def _undercut(rec: Recommendation, sellers: set[str], th: InsightThresholds) -> Insight | None:
    if rec.competitor_min is None or _key(rec) not in sellers or rec.current_price <= 0:
        return None
    gap = _pct(rec.current_price - rec.competitor_min, rec.current_price)
    if gap < Decimal(str(th.undercut_pct)):
        return None
    money = lambda v: format_money(v, rec.currency)  # noqa: E731
    numbers = _price_numbers(rec) | {"gap_pct": gap}
    if rec.cost is not None:
        at_risk = _money(rec.units_sold_28d * max(rec.current_price - rec.cost, Decimal(0)))
        numbers["profit_at_risk_28d"] = at_risk
    else:
        at_risk = _money(rec.units_sold_28d * rec.current_price)
        numbers["revenue_at_risk_28d"] = at_risk
    headline = (f"A competitor sells {rec.title} at {money(rec.competitor_min)}, "
                f"{format_pct(gap)} below your {money(rec.current_price)}")
    return _insight(InsightKind.COMPETITOR_UNDERCUT, headline, at_risk, rec=rec, numbers=numbers,
                    chart=_price_chart(rec))


def _below_floor(rec: Recommendation) -> Insight | None:
    if ReasonCode.BELOW_MARGIN_FLOOR not in rec.reason_codes or rec.recommended_price is None:
        return None
    money = lambda v: format_money(v, rec.currency)  # noqa: E731
    gain = _money(rec.units_sold_28d * (rec.recommended_price - rec.current_price))
    numbers = _price_numbers(rec) | {"profit_gain_28d": gain}
    headline = f"{rec.title} sells at {money(rec.current_price)}, under your margin floor of {money(rec.floor_price)}"
    return _insight(InsightKind.BELOW_MARGIN_FLOOR, headline, gain, rec=rec, numbers=numbers,
                    chart=_price_chart(rec))


def _stock_chart(rec: Recommendation, daily: float, cover: float | None, threshold: float) -> StockChart:
    return StockChart(stock=rec.stock or 0, daily_sales=round(daily, 3),
                      days_of_cover=None if cover is None else _one_place(cover), threshold_days=threshold)


def _overstock(rec: Recommendation, th: InsightThresholds) -> Insight | None:
    if rec.stock is None or rec.stock < th.overstock_min_units:
        return None
    daily = rec.units_sold_28d / SALES_WINDOW_DAYS
    cover = rec.stock / daily if daily > 0 else None
    if cover is not None and cover <= th.overstock_days:
        return None
    excess = rec.stock - math.floor(th.overstock_days * daily)
    unit_value = rec.cost if rec.cost is not None else rec.current_price
    tied = _money(excess * unit_value)
    holding = _money(tied * Decimal(str(th.holding_cost_pct_28d)) / 100)
    numbers: dict[str, Number] = {
        "stock": rec.stock, "units_sold_28d": rec.units_sold_28d, "window_days": SALES_WINDOW_DAYS,
        "threshold_days": th.overstock_days, "excess_units": excess, "current_price": rec.current_price,
        ("excess_value_at_cost" if rec.cost is not None else "excess_value_at_price"): tied,
        "holding_cost_28d": holding, "holding_cost_pct_28d": th.holding_cost_pct_28d,
    }
    if cover is not None:
        numbers["days_of_cover"] = _one_place(cover)
    if rec.floor_price is not None:
        numbers["floor_price"] = rec.floor_price
    if cover is None:
        headline = f"{rec.title}: {rec.stock} in stock and none sold in {SALES_WINDOW_DAYS} days; consider a markdown"
    else:
        headline = f"{rec.title}: about {round(cover)} days of stock at the current sales rate; consider a markdown"
    return _insight(InsightKind.OVERSTOCK, headline, holding, rec=rec, numbers=numbers,
                    chart=_stock_chart(rec, daily, cover, th.overstock_days))


def _low_stock_rising(rec: Recommendation, slope: float | None, th: InsightThresholds) -> Insight | None:
    if rec.stock is None or rec.stock <= 0 or slope is None or slope < th.rising_slope:
        return None
    daily = rec.units_sold_28d / SALES_WINDOW_DAYS
    if daily <= 0:
        return None
    cover = rec.stock / daily
    if cover >= th.low_stock_days:
        return None
    gain = _money(rec.stock * rec.current_price * Decimal(str(th.raise_pct)) / 100)
    numbers = _price_numbers(rec) | {
        "stock": rec.stock, "days_of_cover": _one_place(cover), "threshold_days": th.low_stock_days,
        "trend_slope": round(slope, 2), "raise_pct": th.raise_pct, "raise_gain_28d": gain,
    }
    headline = (f"{rec.title}: about {round(cover)} days of stock left and searches rising; "
                f"hold or raise the price")
    return _insight(InsightKind.LOW_STOCK_RISING_TREND, headline, gain, rec=rec, numbers=numbers,
                    chart=_stock_chart(rec, daily, cover, th.low_stock_days))


def _cost_rise(rec: Recommendation, previous: PreviousCost | None, th: InsightThresholds) -> Insight | None:
    if previous is None or rec.cost is None or previous.cost <= 0 or rec.current_price <= 0:
        return None
    rise = _pct(rec.cost - previous.cost, previous.cost)
    if rise < Decimal(str(th.cost_rise_pct)):
        return None
    money = lambda v: format_money(v, rec.currency)  # noqa: E731
    margin_before = _pct(rec.current_price - previous.cost, previous.cost)
    margin_now = _pct(rec.current_price - rec.cost, rec.cost)
    eaten = _money(rec.units_sold_28d * (rec.cost - previous.cost))
    numbers = _price_numbers(rec) | {
        "cost": _money(rec.cost), "previous_cost": _money(previous.cost), "cost_rise_pct": rise,
        "margin_before_pct": margin_before, "margin_now_pct": margin_now, "profit_eaten_28d": eaten,
    }
    headline = (f"{rec.title} now costs {money(rec.cost)}, up {format_pct(rise)} from {money(previous.cost)}; "
                f"the margin at {money(rec.current_price)} fell from {format_pct(margin_before)} to {format_pct(margin_now)}")
    return _insight(InsightKind.COST_RISE, headline, eaten, rec=rec, numbers=numbers, chart=_price_chart(rec))


def _price_move(rec: Recommendation) -> Insight | None:
    if rec.recommended_price is None or ReasonCode.NO_CHANGE in rec.reason_codes:
        return None
    money = lambda v: format_money(v, rec.currency)  # noqa: E731
    delta = _money(rec.units_sold_28d * (rec.recommended_price - rec.current_price))
    numbers = _price_numbers(rec) | {"profit_change_28d": delta, "confidence": rec.confidence}
    headline = (f"{rec.title}: {money(rec.current_price)} to {money(rec.recommended_price)} "
                f"({format_pct(rec.change_pct, signed=True)})")
    urgency = round(0.2 + 0.3 * rec.confidence, 3)
    return _insight(InsightKind.PRICE_MOVE, headline, abs(delta), urgency=urgency, rec=rec, numbers=numbers,
                    chart=_price_chart(rec))


def _trend_spike(signal: TrendSignal, th: InsightThresholds) -> Insight | None:
    known = [p.value for p in signal.points if p.value is not None]
    if len(known) < 5:
        return None
    latest, history = known[-1], known[-13:-1]
    baseline = sum(history) / len(history)
    if baseline <= 0 or latest < th.spike_min_index or latest < th.spike_ratio * baseline:
        return None
    ratio = latest / baseline
    spike_pct = _one_place((ratio - 1) * 100)
    points = signal.points[-th.max_trend_points:]
    numbers: dict[str, Number] = {"latest_index": _one_place(latest), "baseline_index": _one_place(baseline),
                                  "spike_pct": spike_pct}
    if signal.slope is not None:
        numbers["trend_slope"] = round(signal.slope, 2)
    urgency = round(min(0.8, URGENCY[InsightKind.TREND_SPIKE] + 0.1 * (ratio - th.spike_ratio)), 3)
    keyword = bounded_text(signal.keyword, 80) or ""
    headline = f"Searches for “{keyword}” are {format_pct(spike_pct)} above their recent average"
    return _insight(InsightKind.TREND_SPIKE, headline, None, urgency=urgency, keyword=keyword, numbers=numbers,
                    chart=TrendChart(keyword=keyword, points=[
                        (p.period.isoformat(), None if p.value is None else round(p.value, 1)) for p in points]))


def _degraded(step: DegradedStep) -> Insight:
    label = STEP_LABELS.get(step.step, step.step.replace("_", " "))
    detail = f": {step.detail}" if step.detail else ""
    headline = f"The {label} step {step.status}{detail}; figures that depend on it may be incomplete"
    return _insight(InsightKind.DEGRADED_STEP, headline, None, step=step.step)


def candidate_insights(recommendations: Sequence[Recommendation], signals: BriefingSignals | None = None,
                       thresholds: InsightThresholds | None = None) -> list[Insight]:
    """Every insight found, unranked and possibly several per product."""
    signals = signals or BriefingSignals()
    th = thresholds or InsightThresholds()
    sellers = top_sellers(recommendations, th)
    trends_by_sku = {sku: t for t in signals.trends for sku in t.skus}
    previous_costs = {c.variant_id: c for c in signals.previous_costs}
    found: list[Insight | None] = []
    for rec in recommendations:
        found += [
            _undercut(rec, sellers, th),
            _below_floor(rec),
            _cost_rise(rec, previous_costs.get(_key(rec)), th),
            _overstock(rec, th),
            _low_stock_rising(rec, _product_trend_slope(rec, trends_by_sku), th),
            _price_move(rec),
        ]
    found += [_trend_spike(t, th) for t in signals.trends]
    found += [_degraded(s) for s in signals.degraded_steps]
    return [i for i in found if i is not None]


def _subject(insight: Insight) -> str:
    if insight.variant_id is not None:
        return f"variant:{insight.variant_id}"
    if insight.keyword is not None:
        return f"keyword:{insight.keyword.casefold()}"
    return f"step:{insight.step}"


def rank_insights(insights: Iterable[Insight], limit: int | None = None) -> list[Insight]:
    """Highest impact score first, one per product or subject; ties broken by urgency then headline."""
    ordered = sorted(insights, key=lambda i: (-i.impact_score, -i.urgency, i.headline))
    chosen: list[Insight] = []
    seen: set[str] = set()
    for insight in ordered:
        subject = _subject(insight)
        if subject in seen:
            continue
        seen.add(subject)
        chosen.append(insight)
        if limit is not None and len(chosen) >= limit:
            break
    return chosen


def build_insights(recommendations: Sequence[Recommendation], signals: BriefingSignals | None = None,
                   thresholds: InsightThresholds | None = None, limit: int = 6) -> list[Insight]:
    """The run's top `limit` insights, best first."""
    return rank_insights(candidate_insights(recommendations, signals, thresholds), limit)


def dump_insights(insights: Iterable[Insight]) -> list[dict]:
    """JSON-ready and compact (no None fields): for the Durable summary and the jsonb column."""
    return [i.model_dump(mode="json", exclude_none=True) for i in insights]
