"""Briefing slides: the slide and chart models, and drawing a slide image with Pillow.

A `Slide` is a heading, optional body lines, an optional chart and the narration
spoken while it shows. `render_slide_image` draws one 1280x720 slide with a caption
band at the bottom; `draw_caption` burns a caption into that band. The module has two
parts, in order: the models and the slide artwork.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, Field, field_validator, model_validator

# =============================================================================
# Models
# =============================================================================

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class PricePositionChart(BaseModel):
    """Where our price sits against cost, the recommendation and competitors.

    Anything we do not know (no competitor match, no cost) is None and left out.
    """

    kind: Literal["price_position"] = "price_position"
    title: str = "Price position"
    current_price: Money
    recommended_price: Money | None = None
    cost: Money | None = None
    floor_price: Money | None = None
    competitor_min: Money | None = None
    competitor_median: Money | None = None
    competitor_max: Money | None = None

    @model_validator(mode="after")
    def _competitors_ordered(self) -> PricePositionChart:
        known = [p for p in (self.competitor_min, self.competitor_median, self.competitor_max) if p is not None]
        if known != sorted(known):
            raise ValueError("competitor prices must satisfy min <= median <= max")
        return self


TrendValue = Annotated[float, Field(allow_inf_nan=False)]


class TrendChart(BaseModel):
    """A line over labelled points (e.g. weekly search interest or our price).

    A None value is a gap (missing data), drawn as a break in the line, never as zero.
    """

    kind: Literal["trend"] = "trend"
    title: str = "Trend"
    points: list[tuple[str, TrendValue | None]] = Field(min_length=2, max_length=60)
    y_label: str = ""
    money: bool = False  # format values as £0.00

    @field_validator("points")
    @classmethod
    def _some_values(cls, points: list[tuple[str, float | None]]) -> list[tuple[str, float | None]]:
        if all(value is None for _, value in points):
            raise ValueError("a trend needs at least one known value")
        return points


class StockCoverItem(BaseModel):
    name: str = Field(min_length=1)
    # None when nothing sold recently: cover is unbounded, not zero.
    days_of_cover: float | None = Field(ge=0, allow_inf_nan=False)


class StockCoverChart(BaseModel):
    """Days of stock cover per product against a reorder threshold."""

    kind: Literal["stock_cover"] = "stock_cover"
    title: str = "Days of stock cover"
    items: list[StockCoverItem] = Field(min_length=1, max_length=8)
    threshold_days: float = Field(gt=0, allow_inf_nan=False)


ChartSpec = Annotated[PricePositionChart | TrendChart | StockCoverChart, Field(discriminator="kind")]


class Slide(BaseModel):
    kind: Literal["title", "insight", "actions"]
    heading: str = Field(min_length=1, max_length=200)
    body_lines: list[str] = Field(default_factory=list, max_length=8)
    chart: ChartSpec | None = None
    narration: str = Field(description="the part of the script spoken while this slide shows")

    @field_validator("narration")
    @classmethod
    def _narration_not_blank(cls, value: str) -> str:
        # Slide time is proportional to narration, so a silent slide would never show.
        if not value.split():
            raise ValueError("narration must not be empty")
        return value


# =============================================================================
# Slide artwork
# =============================================================================

WIDTH, HEIGHT = 1280, 720
BRAND = (0x42, 0x7F, 0x8C)  # #427F8C
BRAND_DARK = (0x2F, 0x5D, 0x67)
BRAND_TINT = (0xDC, 0xEA, 0xED)
ON_BRAND_MUTED = (0xD5, 0xE7, 0xEB)
INK = (0x1E, 0x2C, 0x31)
MUTED = (0x5E, 0x70, 0x76)
PAGE = (0xF4, 0xF7, 0xF8)
CARD = (0xFF, 0xFF, 0xFF)
CARD_EDGE = (0xDA, 0xE3, 0xE6)
GRID = (0xE6, 0xEC, 0xEE)
ACCENT = (0xE0, 0x8A, 0x2E)  # recommended price: stands apart from brand teal
WARNING = (0xC0, 0x47, 0x38)  # stock below threshold
COMPETITOR = (0xA9, 0xBA, 0xBF)
CAPTION_BAND = (0x17, 0x2B, 0x30)
WHITE = (0xFF, 0xFF, 0xFF)

HEADER_HEIGHT = 112
CAPTION_TOP = 604
MARGIN = 64
CONTENT_TOP = HEADER_HEIGHT + 28
CONTENT_BOTTOM = CAPTION_TOP - 24

Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]

# Glyph fallbacks for the built-in font, which covers little beyond ASCII.
_ASCII_FALLBACKS = {"£": "GBP ", "€": "EUR ", "\u2013": "-", "\u2014": "-", "\u2022": "-", "\u2192": "->"}


class _Typeface:
    """Lato from the optional `font-lato` wheel, else Pillow's built-in Aileron.

    Both ship inside Python packages, so there is no system font dependency. The
    built-in font lacks '£' and most non-ASCII glyphs; `displayable` swaps those for
    ASCII so nothing renders as a box.
    """

    def __init__(self) -> None:
        try:
            import font_lato

            self._regular_path: str | None = font_lato.font_files["Lato"]
            self._bold_path: str | None = font_lato.font_files["LatoBold"]
        except (ImportError, KeyError):
            self._regular_path = self._bold_path = None
        self._fonts: dict[tuple[int, bool], ImageFont.FreeTypeFont] = {}
        self._glyphs: dict[str, bool] = {}

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        key = (size, bold)
        if key not in self._fonts:
            path = self._bold_path if bold else self._regular_path
            if path is None:
                self._fonts[key] = ImageFont.load_default(size=size)  # type: ignore[assignment]
            else:
                self._fonts[key] = ImageFont.truetype(path, size)
        return self._fonts[key]

    def _has_glyph(self, char: str) -> bool:
        if char not in self._glyphs:
            font = self.font(24)
            self._glyphs[char] = _glyph_pixels(font, char) != _glyph_pixels(font, "\uffff")
        return self._glyphs[char]

    def displayable(self, text: str) -> str:
        if text.isascii():
            return text
        out: list[str] = []
        for char in text:
            if char.isascii() or self._has_glyph(char):
                out.append(char)
            elif char in _ASCII_FALLBACKS:
                out.append(_ASCII_FALLBACKS[char])
            else:
                decomposed = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
                out.append(decomposed)
        return "".join(out)


def _glyph_pixels(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    canvas = Image.new("L", (48, 48))
    ImageDraw.Draw(canvas).text((4, 4), char, font=font, fill=255)
    return canvas.tobytes()


_TYPE = _Typeface()


def format_money(value: Decimal | float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}£{abs(Decimal(str(value))):,.2f}"


def _format_number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.1f}"


def _format_days(value: float) -> str:
    return f"{value:.0f} days" if value >= 10 or value == int(value) else f"{value:.1f} days"


def _text_width(text: str, font: ImageFont.FreeTypeFont) -> float:
    return font.getlength(_TYPE.displayable(text))


def _draw_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    *,
    font: ImageFont.FreeTypeFont,
    fill: Colour,
    anchor: str = "la",
) -> None:
    """All slide text goes through here so glyphs the font lacks never show as boxes."""
    draw.text(xy, _TYPE.displayable(text), font=font, fill=fill, anchor=anchor)


def _ellipsize(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    if _text_width(text, font) <= max_width:
        return text
    while text and _text_width(text + "…", font) > max_width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if _text_width(candidate, font) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word if _text_width(word, font) <= max_width else _ellipsize(word, font, max_width)
    if current:
        lines.append(current)
    return lines


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def _draw_header(draw: ImageDraw.ImageDraw, heading: str, index: int, count: int, brand_label: str) -> None:
    draw.rectangle((0, 0, WIDTH, HEADER_HEIGHT), fill=BRAND)
    draw.rectangle((0, HEADER_HEIGHT - 6, WIDTH, HEADER_HEIGHT), fill=BRAND_DARK)
    tag_font = _TYPE.font(18)
    tag = f"{brand_label}  ·  {index + 1}/{count}" if brand_label else f"{index + 1}/{count}"
    tag_width = _text_width(tag, tag_font)
    _draw_text(draw, (WIDTH - MARGIN - tag_width, 46), tag, font=tag_font, fill=ON_BRAND_MUTED)
    available = WIDTH - 2 * MARGIN - tag_width - 32
    for size in (44, 38, 34):
        font = _TYPE.font(size, bold=True)
        if _text_width(heading, font) <= available:
            break
    text = _ellipsize(heading, font, available)
    _draw_text(draw, (MARGIN, (HEADER_HEIGHT - 6) // 2), text, font=font, fill=WHITE, anchor="lm")


def _layout_paragraphs(
    lines: Sequence[str], width: float, height: float, sizes: Sequence[int]
) -> tuple[ImageFont.FreeTypeFont, list[list[str]]]:
    """Pick the largest font size at which all paragraphs fit; truncate at the smallest."""
    for size in sizes:
        font = _TYPE.font(size)
        wrapped = [_wrap(line, font, width) for line in lines]
        needed = sum(len(w) for w in wrapped) * _line_height(font) * 1.25 + len(lines) * size * 0.6
        if needed <= height:
            return font, wrapped
    font = _TYPE.font(sizes[-1])
    budget = int(height // (_line_height(font) * 1.25 + sizes[-1] * 0.6))
    wrapped = [_wrap(line, font, width) for line in lines]
    kept: list[list[str]] = []
    for paragraph in wrapped:
        if budget <= 0:
            break
        if len(paragraph) > budget:
            paragraph = paragraph[:budget]
            paragraph[-1] = _ellipsize(paragraph[-1] + "…", font, width)
        kept.append(paragraph)
        budget -= len(paragraph)
    return font, kept


def _draw_paragraphs(
    draw: ImageDraw.ImageDraw, lines: Sequence[str], box: Box, numbered: bool, sizes: Sequence[int]
) -> None:
    if not lines:
        return
    left, top, right, bottom = box
    marker_width = 56 if numbered else 32
    font, paragraphs = _layout_paragraphs(lines, right - left - marker_width, bottom - top, sizes)
    step = int(_line_height(font) * 1.25)
    y = top
    for number, paragraph in enumerate(paragraphs, start=1):
        first_centre = y + step // 2
        if numbered:
            radius = round(font.size * 0.58)
            draw.ellipse((left, first_centre - radius, left + 2 * radius, first_centre + radius), fill=BRAND)
            number_font = _TYPE.font(round(font.size * 0.66), bold=True)
            _draw_text(draw, (left + radius, first_centre), str(number), font=number_font, fill=WHITE, anchor="mm")
        else:
            draw.rectangle((left + 2, first_centre - 5, left + 12, first_centre + 5), fill=BRAND)
        for line in paragraph:
            _draw_text(draw, (left + marker_width, y + step // 2), line, font=font, fill=INK, anchor="lm")
            y += step
        y += int(font.size * 0.6)


def _nice_axis(low: float, high: float, target_ticks: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw_step <= m * magnitude)
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _draw_card(draw: ImageDraw.ImageDraw, box: Box, title: str) -> Box:
    """Draw a chart card with its title; return the box left for the plot."""
    draw.rounded_rectangle(box, radius=14, fill=CARD, outline=CARD_EDGE, width=2)
    left, top, right, bottom = box
    title_font = _TYPE.font(24, bold=True)
    _draw_text(draw, (left + 28, top + 22), _ellipsize(title, title_font, right - left - 56), font=title_font, fill=INK)
    return (left + 28, top + 70, right - 28, bottom - 22)


def _draw_dashed_vertical(draw: ImageDraw.ImageDraw, x: float, top: float, bottom: float, colour: Colour) -> None:
    y = top
    while y < bottom:
        draw.line((x, y, x, min(y + 8, bottom)), fill=colour, width=2)
        y += 14


def _draw_horizontal_bars(
    draw: ImageDraw.ImageDraw,
    plot: Box,
    rows: Sequence[tuple[str, float | None, Colour, str]],
    axis_max: float,
    tick_label: Callable[[list[float]], list[str]],
    reference: tuple[float, str] | None = None,
) -> None:
    """Labelled horizontal bars from zero over a value axis.

    `reference` (value, label) draws a dashed line behind the bars, e.g. a threshold.
    A row whose value is None gets no bar, only its text.
    """
    left, top, right, bottom = plot
    label_font = _TYPE.font(19)
    value_font = _TYPE.font(19, bold=True)
    tick_font = _TYPE.font(15)
    labels = [row[0] for row in rows]
    label_width = min(max(_text_width(label, label_font) for label in labels) + 16, (right - left) * 0.38)
    value_width = max(_text_width(row[3], value_font) for row in rows) + 12
    ticks = _nice_axis(0, axis_max, 5)
    x0 = left + label_width
    scale = (right - value_width - x0) / ticks[-1]
    axis_y = bottom - 26

    for tick, text in zip(ticks, tick_label(ticks)):
        x = x0 + tick * scale
        draw.line((x, top, x, axis_y), fill=GRID, width=1)
        _draw_text(draw, (x, axis_y + 6), text, font=tick_font, fill=MUTED, anchor="mt")
    draw.line((x0, top, x0, axis_y), fill=MUTED, width=2)
    if reference is not None:
        x = x0 + reference[0] * scale
        _draw_dashed_vertical(draw, x, top - 2, axis_y, INK)
        _draw_text(draw, (x, top - 6), reference[1], font=_TYPE.font(16), fill=INK, anchor="mb")

    row_height = (axis_y - top) / len(rows)
    bar_height = min(34.0, row_height * 0.62)
    for i, (label, (_, value, colour, value_text)) in enumerate(zip(labels, rows)):
        centre = top + row_height * (i + 0.5)
        label = _ellipsize(label, label_font, label_width - 16)
        _draw_text(draw, (x0 - 12, centre), label, font=label_font, fill=INK, anchor="rm")
        if value is None:
            _draw_text(draw, (x0 + 10, centre), value_text, font=label_font, fill=MUTED, anchor="lm")
            continue
        # A zero still gets a sliver, so its colour (e.g. "below threshold") shows.
        end = max(x0 + value * scale, x0 + 5)
        draw.rounded_rectangle((x0, centre - bar_height / 2, end, centre + bar_height / 2), radius=2, fill=colour)
        # A card-coloured backing keeps the value legible where a reference line passes.
        text_box = draw.textbbox((end + 8, centre), _TYPE.displayable(value_text), font=value_font, anchor="lm")
        draw.rectangle((text_box[0] - 3, text_box[1] - 3, text_box[2] + 3, text_box[3] + 3), fill=CARD)
        _draw_text(draw, (end + 8, centre), value_text, font=value_font, fill=INK, anchor="lm")


def _money_ticks(ticks: list[float]) -> list[str]:
    whole = all(float(tick).is_integer() for tick in ticks)
    return [f"£{tick:,.0f}" if whole else format_money(tick) for tick in ticks]


def _draw_price_position(draw: ImageDraw.ImageDraw, chart: PricePositionChart, plot: Box) -> None:
    candidates: list[tuple[str, Decimal | None, Colour]] = [
        ("Our price", chart.current_price, BRAND),
        ("Recommended", chart.recommended_price, ACCENT),
        ("Competitor low", chart.competitor_min, COMPETITOR),
        ("Competitor median", chart.competitor_median, COMPETITOR),
        ("Competitor high", chart.competitor_max, COMPETITOR),
        ("Price floor", chart.floor_price, MUTED),
        ("Our cost", chart.cost, MUTED),
    ]
    rows = [
        (label, float(price), colour, format_money(price)) for label, price, colour in candidates if price is not None
    ]
    axis_max = max(row[1] for row in rows) or 1.0
    _draw_horizontal_bars(draw, plot, rows, axis_max, _money_ticks)


def _day_ticks(ticks: list[float]) -> list[str]:
    labels = [f"{tick:,.0f}" if float(tick).is_integer() else f"{tick:,.1f}" for tick in ticks]
    labels[-1] += " days"
    return labels


def _draw_stock_cover(draw: ImageDraw.ImageDraw, chart: StockCoverChart, plot: Box) -> None:
    left, top, right, bottom = plot
    legend_font = _TYPE.font(16)
    draw.rectangle((left, top - 6, left + 14, top + 8), fill=WARNING)
    _draw_text(draw, (left + 22, top + 1), "Below reorder point", font=legend_font, fill=MUTED, anchor="lm")
    rows: list[tuple[str, float | None, Colour, str]] = []
    for item in chart.items:
        cover = item.days_of_cover
        if cover is None:
            rows.append((item.name, None, MUTED, "no recent sales"))
        else:
            rows.append((item.name, cover, WARNING if cover < chart.threshold_days else BRAND, _format_days(cover)))
    axis_max = max([row[1] for row in rows if row[1] is not None] + [chart.threshold_days * 1.15])
    reference = (chart.threshold_days, f"Reorder point: {_format_days(chart.threshold_days)}")
    _draw_horizontal_bars(draw, (left, top + 40, right, bottom), rows, axis_max, _day_ticks, reference)


def _draw_trend(draw: ImageDraw.ImageDraw, chart: TrendChart, plot: Box) -> None:
    left, top, right, bottom = plot
    known = [value for _, value in chart.points if value is not None]
    fmt = format_money if chart.money else _format_number
    tick_font = _TYPE.font(15)
    value_font = _TYPE.font(17, bold=True)
    if chart.y_label:
        y_label = _ellipsize(chart.y_label, tick_font, right - left)
        _draw_text(draw, (left, top), y_label, font=tick_font, fill=MUTED)
        top += 26

    low, high = min(known), max(known)
    if high == low:  # a flat line sits mid-chart rather than on an edge
        pad = max(abs(low) * 0.1, 1.0)
        low, high = low - pad, high + pad
    if low >= 0 and low < 0.35 * high:
        low = 0.0  # near-zero data reads more honestly from a zero baseline
    ticks = _nice_axis(low, high, 4)
    tick_labels = _money_ticks(ticks) if chart.money else [_format_number(tick) for tick in ticks]
    x0 = left + max(_text_width(label, tick_font) for label in tick_labels) + 12
    x1 = right - 24
    axis_y = bottom - 30
    plot_top = top + 24  # room for value labels above the highest point

    def y_of(value: float) -> float:
        return axis_y - (value - ticks[0]) / (ticks[-1] - ticks[0]) * (axis_y - plot_top)

    for tick, label in zip(ticks, tick_labels):
        y = y_of(tick)
        draw.line((x0, y, x1, y), fill=GRID, width=1)
        _draw_text(draw, (x0 - 8, y), label, font=tick_font, fill=MUTED, anchor="rm")
    draw.line((x0, axis_y, x1, axis_y), fill=MUTED, width=2)

    count = len(chart.points)
    step_x = (x1 - x0 - 24) / (count - 1)
    xs = [x0 + 12 + i * step_x for i in range(count)]
    positions = {i: (xs[i], y_of(value)) for i, (_, value) in enumerate(chart.points) if value is not None}

    # Draw each run of consecutive known values separately: a gap stays a gap.
    runs: list[list[tuple[float, float]]] = [[]]
    for i in range(count):
        if i in positions:
            runs[-1].append(positions[i])
        elif runs[-1]:
            runs.append([])
    for run in (r for r in runs if len(r) > 1):
        draw.polygon([(run[0][0], axis_y), *run, (run[-1][0], axis_y)], fill=BRAND_TINT)
        draw.line(run, fill=BRAND, width=4, joint="curve")

    values = {i: value for i, (_, value) in enumerate(chart.points) if value is not None}
    first, last = min(values), max(values)
    busy = len(values) > 6  # then only first, last, highest and lowest get a value label
    extremes = {max(values, key=values.__getitem__), min(values, key=values.__getitem__)}
    highlighted = {first, last} | extremes if busy else set(values)
    label_every = max(1, math.ceil(count / 8))
    slot = step_x * label_every - 6
    for i, (label, _) in enumerate(chart.points):
        if (count - 1 - i) % label_every == 0:  # counted from the end so the latest point is labelled
            text = _ellipsize(label, tick_font, max(slot, 30))
            _draw_text(draw, (xs[i], axis_y + 8), text, font=tick_font, fill=MUTED, anchor="mt")
    for i, (x, y) in positions.items():
        if count <= 12 or i in highlighted:  # dozens of markers would blur into the line
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=WHITE, outline=BRAND, width=3)
        if i in highlighted:
            _draw_text(draw, (x, y - 12), fmt(values[i]), font=value_font, fill=INK, anchor="mb")


def _draw_chart(draw: ImageDraw.ImageDraw, chart: PricePositionChart | TrendChart | StockCoverChart, box: Box) -> None:
    plot = _draw_card(draw, box, chart.title)
    if isinstance(chart, PricePositionChart):
        _draw_price_position(draw, chart, plot)
    elif isinstance(chart, StockCoverChart):
        _draw_stock_cover(draw, chart, plot)
    else:
        _draw_trend(draw, chart, plot)


def _draw_title_slide(image: Image.Image, slide: Slide, brand_label: str) -> None:
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, CAPTION_TOP), fill=BRAND)
    draw.rectangle((0, 0, 18, CAPTION_TOP), fill=BRAND_DARK)
    text_right = WIDTH - MARGIN if slide.chart is None else 600
    left = MARGIN + 32
    if brand_label:
        _draw_text(draw, (left, 96), brand_label.upper(), font=_TYPE.font(22, bold=True), fill=ON_BRAND_MUTED)

    heading = slide.heading
    for size in (64, 56, 48, 42):
        font = _TYPE.font(size, bold=True)
        lines = _wrap(heading, font, text_right - left)
        if len(lines) <= 2:
            break
    if len(lines) > 3:
        lines = lines[:3]
        lines[-1] = _ellipsize(lines[-1] + "…", font, text_right - left)
    y = 150
    for line in lines:
        _draw_text(draw, (left, y), line, font=font, fill=WHITE)
        y += int(_line_height(font) * 1.1)
    y += 18
    draw.rectangle((left, y, left + 96, y + 6), fill=WHITE)
    y += 36
    body_font = _TYPE.font(30)
    for body in slide.body_lines:
        for line in _wrap(body, body_font, text_right - left)[:2]:
            if y + _line_height(body_font) > CONTENT_BOTTOM:
                break
            _draw_text(draw, (left, y), line, font=body_font, fill=ON_BRAND_MUTED)
            y += int(_line_height(body_font) * 1.3)
    if slide.chart is not None:
        _draw_chart(draw, slide.chart, (640, 96, WIDTH - MARGIN, CONTENT_BOTTOM))


def _draw_content_slide(image: Image.Image, slide: Slide, index: int, count: int, brand_label: str) -> None:
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, CAPTION_TOP), fill=PAGE)
    _draw_header(draw, slide.heading, index, count, brand_label)
    lines = list(slide.body_lines)
    if slide.chart is None:
        box: Box = (MARGIN, CONTENT_TOP + 16, WIDTH - MARGIN, CONTENT_BOTTOM)
        _draw_paragraphs(draw, lines, box, slide.kind == "actions", (36, 32, 28, 24, 21))
        return
    if lines:
        box = (MARGIN, CONTENT_TOP + 8, 500, CONTENT_BOTTOM)
        _draw_paragraphs(draw, lines, box, slide.kind == "actions", (30, 27, 24, 21))
        chart_box: Box = (532, CONTENT_TOP - 4, WIDTH - MARGIN + 16, CONTENT_BOTTOM + 4)
    else:
        chart_box = (MARGIN + 80, CONTENT_TOP - 4, WIDTH - MARGIN - 80, CONTENT_BOTTOM + 4)
    _draw_chart(draw, slide.chart, chart_box)


def draw_caption(image: Image.Image, caption: str) -> None:
    """Burn a caption into the band at the bottom of a slide image (in place)."""
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, CAPTION_TOP, WIDTH, HEIGHT), fill=CAPTION_BAND)
    text = " ".join(caption.split())
    if not text:
        return
    max_width = WIDTH - 2 * 72
    for size in (32, 28, 25, 22):
        font = _TYPE.font(size, bold=True)
        lines = _wrap(text, font, max_width)
        if len(lines) <= 2:
            break
    lines = lines[:2]
    step = int(_line_height(font) * 1.15)
    y = (CAPTION_TOP + HEIGHT) / 2 - step * (len(lines) - 1) / 2
    for line in lines:
        _draw_text(draw, (WIDTH / 2, y), line, font=font, fill=WHITE, anchor="mm")
        y += step


def render_slide_image(
    slide: Slide, *, index: int = 0, count: int = 1, caption: str | None = None, brand_label: str = "Retail AI Advisor"
) -> Image.Image:
    """Draw one 1280x720 slide; the caption band stays empty when `caption` is None."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAGE)
    if slide.kind == "title":
        _draw_title_slide(image, slide, brand_label)
    else:
        _draw_content_slide(image, slide, index, count, brand_label)
    draw_caption(image, caption or "")
    return image
