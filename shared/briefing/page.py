"""The briefing page: one self-contained HTML document (no external assets).

Everything that came from a merchant, Shopify or a scraped page (titles, SKUs, shop name,
keywords, explanations, step details) is data and goes through `html.escape`, in SVG
text too. The only script is the fixed table sorter below; a Content-Security-Policy
allows exactly it and the inline style by hash, so an injected script could not run
even if escaping were missed somewhere.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Sequence
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from shared.briefing.insights import (
    STEP_LABELS,
    Insight,
    PriceChart,
    StockChart,
    TrendChart,
    TrendSignal,
)
from shared.briefing.cost_summary import CostRow, render_cost_section
from shared.briefing.costs import BriefingCost
from shared.briefing.script import BriefingScript, narration_segments
from shared.pricing.engine import REASON_LABELS, Recommendation, format_money, format_pct

BRAND = "#427F8C"
BRAND_DARK = "#2C5963"
BRAND_LIGHT = "#DCEBEE"
WARN = "#B4462B"
CUT = "#C9822F"

SOCIAL_MOCK_NOTICE = (
    "Social signals are MOCK values in this version: they are simulated, not read from any "
    "social network, and they never drive an insight or a price."
)


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class DataNote(BaseModel):
    source: str
    detail: str


class StepRow(BaseModel):
    step: str
    status: str
    duration_seconds: float | None = None
    attempts: int | None = None
    counts: dict[str, int | float | str] = Field(default_factory=dict)
    error: str | None = None


_SCHEME = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.\-]*:")


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and not parts.username and not parts.password:
        return f"{parts.scheme}://{parts.netloc}".lower()
    return None


class BriefingPageView(BaseModel):
    shop_name: str
    run_date: date
    run_id: str | None = None
    currency: str = "GBP"
    generated_at: datetime | None = None
    media_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host:port) the media may come from, e.g. the blob account; nothing else.",
    )
    video_url: str | None = Field(
        None, description="Relative URL of the video, or an absolute one on one of the media origins.")
    audio_url: str | None = Field(None, description="URL of the narration, under the same rule as the video's.")
    script: BriefingScript | None = None
    insights: list[Insight] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    trends: list[TrendSignal] = Field(default_factory=list, description="Extra trend lines to chart.")
    degraded: list[DataNote] = Field(default_factory=list)
    # The social signals' notice is always shown (see _data_notes); list other mocked sources here.
    mocked: list[DataNote] = Field(default_factory=list)
    steps: list[StepRow] = Field(default_factory=list)
    costs: list[CostRow] = Field(default_factory=list, description="The run's external-call costs by service and unit.")
    briefing_cost: BriefingCost | None = Field(None, description="What the briefing's script, voice and video consumed.")

    @field_validator("media_origins")
    @classmethod
    def _plain_origins(cls, values: list[str]) -> list[str]:
        for value in values:
            if _origin(value) != value.lower().rstrip("/"):
                raise ValueError(f"media_origins holds {value[:60]!r}, which is not a plain http(s) origin")
        return [value.lower().rstrip("/") for value in values]

    @field_validator("video_url", "audio_url")
    @classmethod
    def _relative_or_on_a_media_origin(cls, value: str | None, info) -> str | None:
        if value is None:
            return None
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError(f"{info.field_name} contains control characters")
        if "\\" in value:
            raise ValueError(f"{info.field_name} must not contain backslashes")
        if _SCHEME.match(value) or value.lstrip().startswith("//"):
            origins = info.data.get("media_origins") or []
            if _origin(value.strip()) not in origins or value != value.strip():
                raise ValueError(f"{info.field_name} must be a relative URL or lie on a media origin ({origins})")
        return value


# --- fixed assets: the only script and style, allowed by hash -----------------------------

SORT_SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-sort');
    return v === null ? cell.textContent.trim() : v;
  }
  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute('data-type') === 'number';
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(th.parentNode.children, function (o) { o.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (numeric) {
        var nx = x === '' ? NaN : parseFloat(x), ny = y === '' ? NaN : parseFloat(y);
        if (isNaN(nx) && isNaN(ny)) { return 0; }
        if (isNaN(nx)) { return 1; }
        if (isNaN(ny)) { return -1; }
        return asc ? nx - ny : ny - nx;
      }
      return asc ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable th'), function (th) {
    th.addEventListener('click', function () { sortBy(th); });
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th); }
    });
  });
})();
"""

STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2a2e; background: #f6f8f8; }}
header {{ background: {BRAND}; color: #fff; padding: 1.2rem 2rem; }}
header h1 {{ margin: 0; font-size: 1.5rem; }}
header p {{ margin: .3rem 0 0; opacity: .9; }}
main {{ max-width: 1200px; margin: 0 auto; padding: 1rem 2rem 3rem; }}
section {{ background: #fff; border-radius: 8px; padding: 1rem 1.4rem; margin: 1rem 0; box-shadow: 0 1px 2px rgba(0,0,0,.08); }}
h2 {{ color: {BRAND_DARK}; font-size: 1.2rem; margin-top: .2rem; }}
video {{ width: 100%; max-width: 960px; border-radius: 6px; background: #000; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem; }}
.card {{ border: 1px solid {BRAND_LIGHT}; border-left: 4px solid {BRAND}; border-radius: 6px; padding: .8rem 1rem; }}
.card h3 {{ font-size: 1rem; margin: 0 0 .4rem; }}
.kind {{ text-transform: uppercase; font-size: .7rem; letter-spacing: .05em; color: {BRAND}; }}
.card dl {{ display: grid; grid-template-columns: auto auto; gap: .1rem .8rem; font-size: .85rem; margin: .4rem 0; }}
.card dt {{ color: #5b6b70; }}
.card dd {{ margin: 0; text-align: right; font-variant-numeric: tabular-nums; }}
table {{ border-collapse: collapse; width: 100%; font-size: .85rem; }}
th, td {{ border-bottom: 1px solid #e3e9ea; padding: .4rem .5rem; text-align: left; vertical-align: top; }}
th {{ background: {BRAND_LIGHT}; color: {BRAND_DARK}; position: sticky; top: 0; }}
table.sortable th {{ cursor: pointer; user-select: none; }}
th[aria-sort=ascending]::after {{ content: " \\25B2"; }}
th[aria-sort=descending]::after {{ content: " \\25BC"; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
.reason {{ display: inline-block; background: {BRAND_LIGHT}; color: {BRAND_DARK}; border-radius: 10px; padding: 0 .5rem; margin: 0 .2rem .2rem 0; font-size: .75rem; }}
.explain {{ color: #3c4b50; font-size: .8rem; margin-top: .2rem; }}
.up {{ color: #1f7a3a; }} .down {{ color: {WARN}; }}
.status-ok {{ color: #1f7a3a; }} .status-degraded, .status-failed, .status-skipped {{ color: {WARN}; font-weight: 600; }}
.notice {{ border-left: 4px solid {WARN}; background: #fbefeb; padding: .5rem .8rem; margin: .4rem 0; }}
.files {{ list-style: none; padding: 0; display: flex; gap: 1.2rem; }}
.script p {{ line-height: 1.5; }}
svg text {{ font-family: inherit; }}
svg.chart {{ max-width: 100%; height: auto; }}
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(media_origins: Sequence[str] = (), header: bool = False) -> str:
    """The page's policy: its one script and style by hash, media only from here or the named origins.

    The page is sent with it as a header and carries the same policy in a meta tag, so a copy
    saved to disk (the demo's out/briefing.html) is held to it too. `frame-ancestors` works only
    in the header (a browser reports it as an error in a meta tag).
    """
    media = " ".join(["'self'", *media_origins])
    policy = (
        f"default-src 'none'; script-src {_csp_hash(SORT_SCRIPT)}; style-src {_csp_hash(STYLE)}; "
        f"media-src {media}; img-src 'self' data:; base-uri 'none'; form-action 'none'"
    )
    return policy + "; frame-ancestors 'none'" if header else policy


CONTENT_SECURITY_POLICY = content_security_policy()


# --- small formatters ----------------------------------------------------------------------

def _money(value: Decimal | None, currency: str) -> str:
    return "" if value is None else format_money(value, currency)


def _num_attr(value: object) -> str:
    return "" if value is None else esc(value)


def _short(text: str | None, limit: int = 38) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(name: str) -> str:
    return name.replace("_", " ")


# --- charts (inline SVG) -------------------------------------------------------------------

def price_position_svg(chart: PriceChart, title: str | None, currency: str, width: int = 380) -> str:
    """Our price and the recommendation against cost, floor and the competitor range."""
    values = [v for v in (chart.current_price, chart.recommended_price, chart.cost, chart.floor_price,
                          chart.competitor_min, chart.competitor_median, chart.competitor_max) if v is not None]
    lo, hi = float(min(values)), float(max(values))
    span = (hi - lo) or max(hi, 1.0)
    lo, hi = lo - 0.12 * span, hi + 0.12 * span
    pad, height = 16, 118

    def x(value: Decimal) -> float:
        return round(pad + (float(value) - lo) / (hi - lo) * (width - 2 * pad), 1)

    axis_y = 64

    def anchor(xv: float) -> str:
        # Keep labels inside the chart near its edges.
        if xv < pad + 45:
            return "start"
        return "end" if xv > width - pad - 45 else "middle"
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             f"<title>{esc('Price position: ' + (title or 'product'))}</title>",
             f'<line x1="{pad}" y1="{axis_y}" x2="{width - pad}" y2="{axis_y}" stroke="#9aa9ad" stroke-width="1"/>']
    if chart.competitor_min is not None and chart.competitor_max is not None:
        x0, x1 = x(chart.competitor_min), x(chart.competitor_max)
        parts.append(f'<rect x="{x0}" y="{axis_y - 9}" width="{max(x1 - x0, 2)}" height="18" fill="{BRAND_LIGHT}" '
                     f'stroke="{BRAND}" stroke-width="0.5"/>')
        mid = round((x0 + x1) / 2, 1)
        band = (f"competitors {format_money(chart.competitor_min, currency)}"
                f"–{format_money(chart.competitor_max, currency)}")
        parts.append(f'<text x="{mid}" y="{axis_y + 24}" font-size="10" text-anchor="{anchor(mid)}" '
                     f'fill="#5b6b70">{esc(band)}</text>')
    if chart.competitor_median is not None:
        xm = x(chart.competitor_median)
        parts.append(f'<line x1="{xm}" y1="{axis_y - 12}" x2="{xm}" y2="{axis_y + 12}" stroke="{BRAND_DARK}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{xm}" y="{axis_y + 36}" font-size="10" text-anchor="{anchor(xm)}" fill="{BRAND_DARK}">'
                     f'{esc("median " + format_money(chart.competitor_median, currency))}</text>')
    for value, label, colour, dash in ((chart.cost, "cost", WARN, "4 3"), (chart.floor_price, "floor", WARN, "1 3")):
        if value is not None:
            xv = x(value)
            # Cost labelled above the axis, floor below, so the two never collide.
            if label == "floor":
                y0, y1, label_y = axis_y - 12, axis_y + 38, axis_y + 48
            else:
                y0, y1, label_y = axis_y - 30, axis_y + 12, axis_y - 33
            parts.append(f'<line x1="{xv}" y1="{y0}" x2="{xv}" y2="{y1}" stroke="{colour}" '
                         f'stroke-width="1.5" stroke-dasharray="{dash}"/>')
            parts.append(f'<text x="{xv}" y="{label_y}" font-size="10" text-anchor="{anchor(xv)}" '
                         f'fill="{colour}">{esc(label + " " + format_money(value, currency))}</text>')
    markers = [(chart.current_price, "now", BRAND, 14)]
    if chart.recommended_price is not None and chart.recommended_price != chart.current_price:
        markers.append((chart.recommended_price, "new", BRAND_DARK, 2))
    for value, label, colour, label_y in markers:
        xv = x(value)
        parts.append(f'<circle cx="{xv}" cy="{axis_y}" r="6" fill="{colour}" stroke="#fff" stroke-width="1.5"/>')
        parts.append(f'<text x="{xv}" y="{label_y + 10}" font-size="11" font-weight="600" text-anchor="{anchor(xv)}" '
                     f'fill="{colour}">{esc(label + " " + format_money(value, currency))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def trend_svg(keyword: str, points: Sequence[tuple[str, float | None]], width: int = 380) -> str:
    """A line over the points; gaps where a value is missing (missing is not zero)."""
    height, pad = 120, 24
    known = [v for _, v in points if v is not None]
    top = max(known) if known else 1.0
    top = top if top > 0 else 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             f"<title>{esc('Search interest: ' + keyword)}</title>",
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#9aa9ad"/>']
    segment: list[str] = []
    runs: list[list[str]] = []
    for i, (_, value) in enumerate(points):
        if value is None:
            if segment:
                runs.append(segment)
            segment = []
            continue
        xv = round(pad + i * step, 1)
        yv = round(height - pad - value / top * (height - 2 * pad), 1)
        segment.append(f"{xv},{yv}")
        parts.append(f'<circle cx="{xv}" cy="{yv}" r="2.5" fill="{BRAND}"/>')
    if segment:
        runs.append(segment)
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{BRAND}" stroke-width="2"/>')
    if points:
        parts.append(f'<text x="{pad}" y="{height - 6}" font-size="10" fill="#5b6b70">{esc(points[0][0])}</text>')
        parts.append(f'<text x="{width - pad}" y="{height - 6}" font-size="10" text-anchor="end" fill="#5b6b70">'
                     f'{esc(points[-1][0])}</text>')
    parts.append(f'<text x="{pad}" y="14" font-size="11" fill="{BRAND_DARK}">'
                 f'{esc(_short(keyword, 40) + " (peak " + format(top, "g") + ")")}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stock_cover_svg(chart: StockChart, title: str | None, width: int = 380) -> str:
    """Days of cover as a bar against the threshold; unbounded when nothing sold."""
    height, pad = 70, 16
    scale_max = chart.threshold_days * 2
    cover = chart.days_of_cover
    shown = scale_max if cover is None else min(cover, scale_max)
    bar = round(shown / scale_max * (width - 2 * pad), 1)
    xt = round(pad + chart.threshold_days / scale_max * (width - 2 * pad), 1)
    label = "no sales: unbounded cover" if cover is None else f"{cover:g} days of cover"
    label += f" ({chart.stock} in stock)"
    return "".join([
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>{esc('Days of stock cover: ' + (title or 'product'))}</title>",
        f'<rect x="{pad}" y="22" width="{bar}" height="18" fill="{BRAND}"/>',
        f'<line x1="{xt}" y1="16" x2="{xt}" y2="46" stroke="{WARN}" stroke-width="2" stroke-dasharray="4 3"/>',
        f'<text x="{xt}" y="58" font-size="10" text-anchor="middle" fill="{WARN}">'
        f'{esc(f"threshold {chart.threshold_days:g} days")}</text>',
        f'<text x="{pad}" y="14" font-size="11" fill="{BRAND_DARK}">{esc(label)}</text>',
        "</svg>",
    ])


def change_overview_svg(recommendations: Sequence[Recommendation], limit: int = 10, width: int = 760) -> str:
    """The largest recommended changes, as bars either side of zero."""
    moved = [r for r in recommendations if r.change_pct is not None and r.change_pct != 0]
    moved.sort(key=lambda r: (-abs(r.change_pct), str(r.title)))
    moved = moved[:limit]
    if not moved:
        return ""
    row_h, label_w, pad = 22, 250, 10
    height = row_h * len(moved) + 2 * pad
    top = max(float(abs(r.change_pct)) for r in moved)
    half = (width - label_w - 2 * pad) / 2
    zero = label_w + pad + half
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             "<title>Largest recommended price changes</title>",
             f'<line x1="{zero}" y1="{pad - 4}" x2="{zero}" y2="{height - pad + 4}" stroke="#9aa9ad"/>']
    for i, rec in enumerate(moved):
        y = pad + i * row_h
        size = round(float(abs(rec.change_pct)) / top * (half - 40), 1)
        x0 = zero if rec.change_pct > 0 else zero - size
        colour = BRAND if rec.change_pct > 0 else CUT
        parts.append(f'<text x="{label_w}" y="{y + 15}" font-size="11" text-anchor="end">'
                     f'{esc(_short(rec.title, 40))}</text>')
        parts.append(f'<rect x="{round(x0, 1)}" y="{y + 4}" width="{max(size, 1)}" height="14" fill="{colour}"/>')
        text_x = round(zero + size + 4 if rec.change_pct > 0 else zero - size - 4, 1)
        anchor = "start" if rec.change_pct > 0 else "end"
        parts.append(f'<text x="{text_x}" y="{y + 15}" font-size="10" text-anchor="{anchor}">'
                     f'{esc(format_pct(rec.change_pct, signed=True))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def insight_chart_svg(insight: Insight) -> str:
    chart = insight.chart
    if isinstance(chart, PriceChart):
        return price_position_svg(chart, insight.product_title, insight.currency)
    if isinstance(chart, TrendChart) and chart.points:
        return trend_svg(chart.keyword, chart.points)
    if isinstance(chart, StockChart):
        return stock_cover_svg(chart, insight.product_title)
    return ""


# --- sections ------------------------------------------------------------------------------

_MONEY_NUMBERS = {"current_price", "recommended_price", "cost", "floor_price", "competitor_min", "competitor_median",
                  "competitor_max", "profit_at_risk_28d", "revenue_at_risk_28d", "profit_gain_28d",
                  "profit_change_28d", "excess_value_at_cost", "excess_value_at_price", "holding_cost_28d",
                  "raise_gain_28d"}
_PCT_NUMBERS = {"change_pct", "margin_pct", "gap_pct", "spike_pct", "raise_pct", "holding_cost_pct_28d"}


def _number_text(name: str, value, currency: str) -> str:
    if name in _MONEY_NUMBERS:
        return format_money(value, currency)
    if name in _PCT_NUMBERS:
        return format_pct(value, signed=name == "change_pct")
    if name == "confidence":
        return f"{float(value):.0%}"
    return f"{value}"


def _insight_card(insight: Insight) -> str:
    shown = list(insight.numbers.items())[:8]
    numbers = "".join(f"<dt>{esc(_label(k))}</dt><dd>{esc(_number_text(k, v, insight.currency))}</dd>"
                      for k, v in shown)
    impact = ""
    if insight.estimated_impact_28d is not None:
        impact = (f'<p class="explain">Estimated effect over 28 days at today\'s sales: '
                  f"{esc(format_money(insight.estimated_impact_28d, insight.currency))}</p>")
    return (f'<article class="card"><div class="kind">{esc(_label(insight.kind.value))}</div>'
            f"<h3>{esc(insight.headline)}</h3>"
            f"{insight_chart_svg(insight)}<dl>{numbers}</dl>{impact}"
            f'<p class="explain">Impact score {esc(f"{insight.impact_score:.2f}")}</p></article>')


def _recommendations_table(recs: Sequence[Recommendation], currency: str) -> str:
    head = [("SKU", "text"), ("Product", "text"), ("Current", "number"), ("Cost", "number"),
            ("Recommended", "number"), ("Change %", "number"), ("Confidence", "number"), ("Reasons", "text")]
    header = "".join(f'<th scope="col" tabindex="0" data-type="{kind}">{esc(name)}</th>' for name, kind in head)
    rows = []
    for rec in recs:
        money = rec.currency or currency
        change_class = ""
        if rec.change_pct is not None and rec.change_pct != 0:
            change_class = " up" if rec.change_pct > 0 else " down"
        reasons = "".join(
            f'<span class="reason" title="{esc(code.value)}">{esc(REASON_LABELS.get(code, code.value))}</span>'
            for code in rec.reason_codes)
        rows.append(
            "<tr>"
            f"<td>{esc(rec.sku or '')}</td>"
            f"<td>{esc(rec.title)}</td>"
            f'<td class="num" data-sort="{_num_attr(rec.current_price)}">{esc(_money(rec.current_price, money))}</td>'
            f'<td class="num" data-sort="{_num_attr(rec.cost)}">{esc(_money(rec.cost, money))}</td>'
            f'<td class="num" data-sort="{_num_attr(rec.recommended_price)}">'
            f'{esc(_money(rec.recommended_price, money) or "none")}</td>'
            f'<td class="num{change_class}" data-sort="{_num_attr(rec.change_pct)}">'
            f'{esc("" if rec.change_pct is None else format_pct(rec.change_pct, signed=True))}</td>'
            f'<td class="num" data-sort="{esc(rec.confidence)}">{esc(f"{rec.confidence:.0%}")}</td>'
            f'<td>{reasons}<div class="explain">{esc(rec.explanation)}</div></td>'
            "</tr>"
        )
    return (f'<table class="sortable" id="recommendations"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _data_notes(view: BriefingPageView) -> str:
    items = []
    for note in view.degraded:
        items.append(f'<div class="notice"><strong>Degraded: {esc(note.source)}</strong>: {esc(note.detail)}</div>')
    for step in view.steps:
        if step.status in ("degraded", "failed", "skipped") and not any(n.source == step.step for n in view.degraded):
            error = f": {esc(step.error)}" if step.error else ""
            items.append(f'<div class="notice"><strong>{esc(step.status.capitalize())}: '
                         f"{esc(STEP_LABELS.get(step.step, step.step))}</strong>{error}</div>")
    for note in view.mocked:
        items.append(f'<div class="notice"><strong>MOCKED: {esc(note.source)}</strong>: {esc(note.detail)}</div>')
    if not view.degraded and not any(s.status in ("degraded", "failed", "skipped") for s in view.steps):
        items.insert(0, "<p>No step was degraded in this run.</p>")
    # Always said, whatever the caller passed: the social signals are a mock in this app.
    items.append(f'<p class="notice" id="social-mock"><strong>MOCKED</strong>: {esc(SOCIAL_MOCK_NOTICE)}</p>')
    return "".join(items)


def _costs_section(costs: BriefingCost | None) -> str:
    """One sentence: the tokens, characters and video seconds this briefing consumed."""
    if costs is None or not costs.rows:
        return ""
    return (f'<section id="costs"><h2>What this briefing consumed</h2>'
            f"<p>{costs.prompt_tokens} prompt tokens, {costs.completion_tokens} completion tokens, "
            f"{costs.characters} characters spoken, {esc(costs.video_seconds)} s of video "
            f"({esc(', '.join(costs.services))}).</p></section>")


def _steps_table(steps: Sequence[StepRow]) -> str:
    if not steps:
        return "<p>No step records for this run.</p>"
    rows = []
    for step in steps:
        duration = "" if step.duration_seconds is None else f"{step.duration_seconds:.1f} s"
        counts = ", ".join(f"{k}: {v}" for k, v in step.counts.items())
        status_class = re.sub(r"[^a-z]", "", step.status.lower())
        rows.append(
            f"<tr><td>{esc(step.step)}</td><td class=\"status-{esc(status_class)}\">{esc(step.status)}</td>"
            f'<td class="num" data-sort="{_num_attr(step.duration_seconds)}">{esc(duration)}</td>'
            f'<td class="num">{esc("" if step.attempts is None else step.attempts)}</td>'
            f"<td>{esc(counts)}</td><td>{esc(step.error or '')}</td></tr>"
        )
    head = ("<tr><th scope=\"col\">Step</th><th scope=\"col\">Status</th><th scope=\"col\">Duration</th>"
            "<th scope=\"col\">Attempts</th><th scope=\"col\">Counts</th><th scope=\"col\">Error</th></tr>")
    return f'<table id="steps"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _trend_section(view: BriefingPageView) -> str:
    charted = {i.keyword.casefold() for i in view.insights if i.keyword}
    charts = [trend_svg(t.keyword, [(p.period.isoformat(), p.value) for p in t.points[-26:]])
              for t in view.trends if t.points and t.keyword.casefold() not in charted]
    return "".join(f'<div class="card">{chart}</div>' for chart in charts)


def render_briefing_page(view: BriefingPageView) -> str:
    """The whole page as one HTML string."""
    title = f"Pricing briefing for {view.shop_name}, {view.run_date.isoformat()}"
    video = (f'<video controls preload="metadata" src="{esc(view.video_url)}">'
             "Your browser cannot play this video.</video>" if view.video_url else "<p>No video for this run.</p>")
    downloads = "".join(
        f'<li><a href="{esc(url)}" download>{esc(label)}</a></li>'
        for url, label in ((view.video_url, "Video (MP4)"), (view.audio_url, "Narration (audio only)")) if url)
    if downloads:
        video += f'<ul class="files">{downloads}</ul>'
    if view.script is not None:
        script = "".join(f"<p>{esc(segment.text)}</p>" for segment in narration_segments(view.script))
    else:
        script = "<p>No script for this run.</p>"
    insights = "".join(_insight_card(i) for i in view.insights) or "<p>No insights for this run.</p>"
    overview = change_overview_svg(view.recommendations)
    trends = _trend_section(view)
    meta = " · ".join(p for p in (
        view.run_date.strftime("%A %d %B %Y"),
        f"run {view.run_id}" if view.run_id else "",
        f"generated {view.generated_at.isoformat(timespec='minutes')}" if view.generated_at else "",
    ) if p)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(view.media_origins))}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{esc(view.shop_name)}</h1><p>Daily pricing briefing · {esc(meta)}</p></header>
<main>
<section id="video"><h2>Video briefing</h2>{video}</section>
<section id="insights"><h2>Top insights</h2><div class="cards">{insights}</div></section>
<section id="recommendations-section"><h2>Recommendations ({len(view.recommendations)})</h2>
<p>Click a column header to sort.</p>{overview}{_recommendations_table(view.recommendations, view.currency)}</section>
{f'<section id="trends"><h2>Search trends</h2><div class="cards">{trends}</div></section>' if trends else ""}
<section id="script" class="script"><h2>Script</h2>{script}</section>
<section id="data-notes"><h2>Data quality: degraded and mocked</h2>{_data_notes(view)}</section>
<section id="run-steps"><h2>Run steps</h2>{_steps_table(view.steps)}</section>
{_costs_section(view.briefing_cost)}
{render_cost_section(view.costs)}
</main>
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""
