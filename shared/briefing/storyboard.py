"""From a script and its insights to the slides of the video: one slide per narration segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from shared.briefing import insights as ins
from shared.briefing import slides as sl
from shared.briefing.script import BriefingScript, narration_segments, speakable

_TREND_POINTS = 26


def chart_for(insight: ins.Insight) -> sl.ChartSpec | None:
    """The slide chart for an insight's chart data (the two models are drawn for different media)."""
    chart = insight.chart
    title = speakable(insight.product_title or insight.keyword, max_words=8, fallback=insight.headline[:40])
    if isinstance(chart, ins.PriceChart):
        return sl.PricePositionChart(
            title=f"Price position: {title}",
            current_price=chart.current_price,
            recommended_price=chart.recommended_price,
            cost=chart.cost,
            floor_price=chart.floor_price,
            competitor_min=chart.competitor_min,
            competitor_median=chart.competitor_median,
            competitor_max=chart.competitor_max,
        )
    if isinstance(chart, ins.TrendChart):
        points = chart.points[-_TREND_POINTS:]
        if len(points) < 2:
            return None
        return sl.TrendChart(title=f"Search interest: {chart.keyword}", points=points, y_label="interest")
    if isinstance(chart, ins.StockChart):
        return sl.StockCoverChart(
            title="Days of stock cover",
            items=[sl.StockCoverItem(name=title, days_of_cover=chart.days_of_cover)],
            threshold_days=chart.threshold_days,
        )
    return None


def build_slides(script: BriefingScript, insights: Sequence[ins.Insight], shop_name: str, run_date: date) -> list[sl.Slide]:
    slides: list[sl.Slide] = []
    for segment in narration_segments(script):
        if segment.kind == "title":
            slides.append(sl.Slide(kind="title", heading=f"{shop_name}: your pricing briefing",
                                   body_lines=[f"{run_date:%A %-d %B %Y}"], narration=segment.text))
        elif segment.kind == "insight":
            insight = insights[segment.insight_index] if segment.insight_index < len(insights) else None
            slides.append(sl.Slide(
                kind="insight",
                heading=insight.headline[:200] if insight else f"Insight {segment.insight_index + 1}",
                chart=chart_for(insight) if insight else None,
                narration=segment.text,
            ))
        else:
            slides.append(sl.Slide(kind="actions", heading="Today's actions",
                                   body_lines=[a[:120] for a in script.actions[:6]], narration=segment.text))
    return slides
