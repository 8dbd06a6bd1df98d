"""The briefing page: hostile data stays text, the table, charts and data notes are there."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta
from decimal import Decimal as D
from html.parser import HTMLParser

import pytest
from pydantic import ValidationError

from shared.briefing.insights import (
    BriefingSignals,
    DegradedStep,
    TrendPoint,
    TrendSignal,
    build_insights,
)
from shared.briefing.page import (
    BRAND,
    SOCIAL_MOCK_NOTICE,
    SORT_SCRIPT,
    BriefingPageView,
    DataNote,
    StepRow,
    render_briefing_page,
)
from shared.briefing.script import TemplateScriptWriter
from shared.pricing import PricingInput, VariantPricingRow, recommend

SCRIPT_TAG = "<script>alert(1)</script>"
ATTR_BREAK = '" onmouseover="alert(2)" x="'
ATTR_BREAK_SINGLE = "' onerror='alert(3)' y='"
HOSTILE = SCRIPT_TAG + ATTR_BREAK + ATTR_BREAK_SINGLE + "<img src=x onerror=alert(4)><svg onload=alert(5)>"


class Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.script_bodies: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self._stack: list[str] = []
        self.cells: dict[str, list[list[str]]] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if tag == "script":
            self.script_bodies.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_bodies[-1] += data
        else:
            self.text.append(data)


def parse(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    collector.close()
    return collector


def hostile_view(video_url="media/briefing.mp4") -> BriefingPageView:
    rows = [
        VariantPricingRow(variant_id=1, sku=HOSTILE, title=HOSTILE, current_price=D("24.99"), cost=D("14.00"),
                          competitor_min=D("19.00"), competitor_median=D("21.50"), competitor_max=D("25.00"),
                          competitor_count=3, units_sold_28d=120, stock=80),
        VariantPricingRow(variant_id=2, sku="TEA-2", title="Earl Grey Tea 250g", current_price=D("9.00"),
                          cost=D("10.00"), units_sold_28d=30, stock=40),
        VariantPricingRow(variant_id=3, sku="POT-3", title="Teapot", current_price=D("39.99"), cost=None,
                          units_sold_28d=2, stock=300),
        VariantPricingRow(variant_id=4, sku="SPN-4", title="Spoon", current_price=D("3.50"), cost=D("1.00"),
                          competitor_min=D("3.90"), competitor_median=D("4.20"), competitor_max=D("4.50"),
                          competitor_count=2, units_sold_28d=10, stock=50),
    ]
    recs = recommend(PricingInput(rows=rows))
    start = date(2026, 9, 1)
    trend = TrendSignal(keyword=HOSTILE, slope=2.0, points=[TrendPoint(period=start + timedelta(weeks=i), value=v)
                                                            for i, v in enumerate([20, 22, None, 21, 19, 23, 48])])
    signals = BriefingSignals(trends=[trend], degraded_steps=[DegradedStep(step=HOSTILE, detail=HOSTILE)])
    insights = build_insights(recs, signals, limit=6)
    script = TemplateScriptWriter().write(HOSTILE, date(2026, 10, 13), insights)
    return BriefingPageView(
        shop_name=HOSTILE, run_date=date(2026, 10, 13), run_id=HOSTILE, video_url=video_url, script=script,
        insights=insights, recommendations=recs, trends=[trend],
        degraded=[DataNote(source=HOSTILE, detail=HOSTILE)],
        mocked=[DataNote(source="social signals", detail=HOSTILE)],
        steps=[StepRow(step="sync_shopify", status="ok", duration_seconds=3.21, attempts=1, counts={"variants": 4}),
               StepRow(step=HOSTILE, status=HOSTILE, duration_seconds=12.0, counts={HOSTILE: HOSTILE}, error=HOSTILE)],
    )


def test_hostile_data_never_becomes_markup():
    page = render_briefing_page(hostile_view())
    parsed = parse(page)
    # One script element: ours, unchanged.
    assert parsed.script_bodies == [SORT_SCRIPT]
    tags = [tag for tag, _ in parsed.tags]
    assert "img" not in tags
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name not in ("x", "y") or tag in ("rect", "text", "svg"), (tag, name)
    svg_onload = [attrs for tag, attrs in parsed.tags if tag == "svg" and "onload" in attrs]
    assert svg_onload == []
    # The hostile strings are shown as text, in the table and in SVG text.
    text = "".join(parsed.text)
    assert text.count(SCRIPT_TAG) >= 3
    assert ATTR_BREAK in text
    assert page.count("<script>") == 1


def test_hostile_text_inside_svg_is_escaped():
    page = render_briefing_page(hostile_view())
    svgs = [part.split("</svg>")[0] for part in page.split("<svg")[1:]]
    assert svgs, "no SVG on the page"
    joined = "".join(svgs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in joined
    assert "<script" not in joined and 'onmouseover="' not in joined


def test_page_has_table_rows_charts_video_and_brand():
    view = hostile_view()
    page = render_briefing_page(view)
    parsed = parse(page)
    tags = [tag for tag, _ in parsed.tags]
    assert tags.count("svg") >= 2
    assert "polyline" in tags and "circle" in tags
    rows = page.split('id="recommendations"')[1].split("</table>")[0].count("<tr>")
    assert rows == len(view.recommendations) + 1  # header + one per variant
    text = "".join(parsed.text)
    for sku in ("TEA-2", "POT-3", "SPN-4"):
        assert sku in text
    assert "Earl Grey Tea 250g" in text and "£9.00" in text and "£12.00" in text
    assert "Current price below margin floor" in text and "No cost on record" in text
    videos = [attrs for tag, attrs in parsed.tags if tag == "video"]
    assert videos == [{"controls": None, "preload": "metadata", "src": "media/briefing.mp4"}]
    assert BRAND in page


def test_number_columns_sort_numerically():
    page = render_briefing_page(hostile_view())
    parsed = parse(page)
    headers = [attrs for tag, attrs in parsed.tags if tag == "th" and "data-type" in attrs]
    assert [h["data-type"] for h in headers] == ["text", "text"] + ["number"] * 5 + ["text"]
    sort_keys = [attrs["data-sort"] for tag, attrs in parsed.tags if tag == "td" and "data-sort" in attrs]
    assert sort_keys
    for key in sort_keys:
        if key:
            float(key)  # raises on anything but a number
    assert "24.99" in sort_keys and "parseFloat" in SORT_SCRIPT


def test_content_security_policy_allows_only_our_script():
    page = render_briefing_page(hostile_view())
    parsed = parse(page)
    [csp] = [attrs["content"] for tag, attrs in parsed.tags
             if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(parsed.script_bodies[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert not [t for t, a in parsed.tags if t in ("img", "iframe") or ("src" in a and t != "video")]
    # The one link is an empty icon, so a browser does not ask the app for /favicon.ico.
    assert [a for t, a in parsed.tags if t == "link"] == [{"rel": "icon", "href": "data:,"}]


def test_degraded_and_mocked_sources_are_listed():
    page = render_briefing_page(hostile_view())
    text = "".join(parse(page).text)
    section = text.split("Data quality: degraded and mocked")[1].split("Run steps")[0]
    assert "Degraded: " + HOSTILE in section
    assert "MOCKED: social signals" in section
    assert SOCIAL_MOCK_NOTICE in section


def test_social_mock_notice_is_shown_even_when_the_caller_lists_no_mocks():
    view = hostile_view().model_copy(update={"mocked": [], "degraded": [], "steps": []})
    text = "".join(parse(render_briefing_page(view)).text)
    assert SOCIAL_MOCK_NOTICE in text
    assert "No step was degraded in this run." in text


def test_step_table_shows_status_duration_and_counts():
    text = "".join(parse(render_briefing_page(hostile_view())).text)
    steps = text.split("Run steps")[1]
    assert "sync_shopify" in steps and "3.2 s" in steps and "variants: 4" in steps and "ok" in steps


def test_no_video_when_no_url():
    page = render_briefing_page(hostile_view(video_url=None))
    assert "<video" not in page and "No video for this run." in page


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://evil.example/v.mp4", "//evil.example/v.mp4",
                                 " JAVASCRIPT:alert(1)", "media\\..\\x.mp4", "media/x.mp4\n"])
def test_video_url_must_be_relative(url):
    with pytest.raises(ValidationError, match="video_url"):
        hostile_view(video_url=url)


def test_relative_video_url_with_quotes_stays_one_attribute():
    page = render_briefing_page(hostile_view(video_url='media/a.mp4" onerror="alert(1)'))
    [video] = [attrs for tag, attrs in parse(page).tags if tag == "video"]
    assert video["src"] == 'media/a.mp4" onerror="alert(1)'
    assert set(video) == {"controls", "preload", "src"}
