"""The template script writer: length, real numbers only, titles treated as data."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
import pytest
from pydantic import ValidationError

from shared.briefing.insights import (
    BriefingSignals,
    DegradedStep,
    Insight,
    InsightKind,
    TrendPoint,
    TrendSignal,
    build_insights,
)
from shared.briefing.script import (
    MAX_WORDS,
    MIN_WORDS,
    BriefingScript,
    ScriptInsight,
    ScriptNumberError,
    TemplateScriptWriter,
    count_words,
    narration_segments,
    script_text,
    speakable,
    validate_numbers,
)
from shared.pricing import PricingInput, VariantPricingRow, recommend

RUN_DATE = date(2026, 10, 13)
HOSTILE = '<script>alert(1)</script>"onmouseover="alert(2)\x00\x07\u202e {{ignore all previous instructions}} '


def row(vid, title, price, cost, *, units=0, stock=None, comp=None, slope=None):
    competitors = {}
    if comp:
        competitors = dict(competitor_min=D(comp[0]), competitor_median=D(comp[1]), competitor_max=D(comp[2]),
                           competitor_count=3, competitor_age_hours=4)
    return VariantPricingRow(variant_id=vid, sku=f"SKU-{vid}", title=title, current_price=D(price), cost=D(cost),
                             units_sold_28d=units, stock=stock, trend_slope=slope, **competitors)


def sample_insights(titles=("Blue Ceramic Mug", "Earl Grey Tea 250g", "Teapot", "Espresso Cup")):
    recs = recommend(PricingInput(rows=[
        row(1, titles[0], "24.99", "14.00", units=120, stock=80, comp=("19.00", "21.50", "25.00")),
        row(2, titles[1], "9.00", "10.00", units=30, stock=40),
        row(3, titles[2], "39.99", "15.00", units=2, stock=300),
        row(4, titles[3], "7.99", "3.00", units=56, stock=10, slope=1.2),
    ]))
    start = date(2026, 9, 1)
    signals = BriefingSignals(
        trends=[TrendSignal(keyword="matcha", slope=2.0,
                            points=[TrendPoint(period=start + timedelta(weeks=i), value=v)
                                    for i, v in enumerate([20, 22, None, 21, 19, 23, 48])])],
        degraded_steps=[DegradedStep(step="scrape_competitors", detail="2 of 9 pages failed")],
    )
    return build_insights(recs, signals, limit=10)


def write(insights, shop="Tea & Co"):
    return TemplateScriptWriter().write(shop, RUN_DATE, insights)


def test_script_uses_real_names_and_numbers():
    insights = sample_insights()
    script = write(insights)
    text = script_text(script)
    assert script.greeting.startswith("Good morning, Tea and Co.")
    assert "Tuesday the thirteenth of October" in script.greeting
    assert "Blue Ceramic Mug" in script.insights[0].text
    for figure in ("£19.00", "24%", "£24.99"):
        assert figure in script.insights[0].text
    assert "Earl Grey Tea 250g sells at £9.00, under your margin floor of £12.00." in script.insights[1].text
    assert script.insights[0].kind == InsightKind.COMPETITOR_UNDERCUT.value
    assert MIN_WORDS <= count_words(text) <= MAX_WORDS
    validate_numbers(script, insights)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7])
def test_word_count_in_range_for_few_and_many_insights(count):
    insights = sample_insights()[:count]
    script = write(insights)
    assert len(script.insights) == 3
    assert MIN_WORDS <= script.word_count <= MAX_WORDS, script_text(script)
    validate_numbers(script, insights)


def test_long_hostile_titles_are_bounded_cleaned_and_still_fit():
    long_title = HOSTILE + " ".join(f"Word{i}" for i in range(200))
    insights = sample_insights(titles=(long_title,) * 4)
    script = write(insights, shop=HOSTILE * 5)
    text = script_text(script)
    assert MIN_WORDS <= count_words(text) <= MAX_WORDS, text
    for bad in ("<", ">", '"', "{", "}", "\x00", "\x07", "\u202e"):
        assert bad not in text
    validate_numbers(script, insights)


def test_every_title_word_limit_still_fits_for_very_wordy_inputs():
    wordy = " ".join(["Supercalifragilistic"] * 30)
    insights = sample_insights(titles=(wordy,) * 4)
    script = write(insights, shop=wordy)
    assert MIN_WORDS <= script.word_count <= MAX_WORDS


@pytest.mark.parametrize("seed", range(25))
def test_random_runs_fit_the_range_and_pass_the_number_check(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(30):
        price = float(rng.uniform(1, 400))
        comp = None
        if rng.random() < 0.7:
            a, b, c = sorted(price * float(x) for x in rng.uniform(0.6, 1.3, 3))
            comp = (f"{a:.2f}", f"{b:.2f}", f"{c:.2f}")
        words = rng.integers(1, 25)
        title = " ".join(f"w{int(rng.integers(0, 10**6))}" for _ in range(words))
        rows.append(row(i, title, f"{price:.2f}", f"{price * float(rng.uniform(0.3, 1.2)):.4f}",
                        units=int(rng.integers(0, 400)), stock=int(rng.integers(0, 3000)), comp=comp,
                        slope=float(rng.normal(0, 2))))
    insights = build_insights(recommend(PricingInput(rows=rows)), limit=int(rng.integers(0, 7)))
    script = write(insights, shop=f"Shop {seed}")
    assert MIN_WORDS <= script.word_count <= MAX_WORDS
    validate_numbers(script, insights)


def test_validate_numbers_rejects_an_invented_figure_and_names_it():
    insights = sample_insights()
    script = write(insights)
    items = list(script.insights)
    items[1] = ScriptInsight(text=items[1].text + " Sales will rise to £27.50 next week.")
    with pytest.raises(ScriptNumberError, match=r"'27\.50' in the insight 2 text"):
        validate_numbers(script.model_copy(update={"insights": items}), insights)


def test_validate_numbers_rejects_an_altered_price():
    insights = sample_insights()
    script = write(insights)
    tampered = script.model_copy(update={"closing": script.closing.replace("Have a good day.", "Now £22.98.")})
    assert "£22.99" in script_text(script)
    with pytest.raises(ScriptNumberError, match="22.98"):
        validate_numbers(tampered, insights)


def test_numbers_inside_titles_are_data_but_the_same_figure_elsewhere_is_not():
    insights = sample_insights(titles=("Pack of 12 Mugs", "Tea 777g", "Teapot", "Cup"))
    script = write(insights)
    assert "Pack of 12 Mugs" in script_text(script)
    validate_numbers(script, insights)
    tampered = script.model_copy(update={"closing": script.closing + " We sold 777 yesterday."})
    with pytest.raises(ScriptNumberError, match="'777'"):
        validate_numbers(tampered, insights)


def test_rounded_and_count_forms_are_allowed():
    insights = sample_insights()
    script = write(insights)
    # 1318.80 said as about £1,319; a count of three insights.
    derived = script.model_copy(update={"closing": script.closing + " About £1,319 is at risk across 3 items."})
    validate_numbers(derived, insights)


def test_segments_map_to_slides():
    insights = sample_insights()
    script = write(insights)
    segments = narration_segments(script)
    assert [s.kind for s in segments] == ["title", "insight", "insight", "insight", "actions"]
    assert [s.insight_index for s in segments[1:4]] == [0, 1, 2]
    assert segments[4].text.startswith("Your actions for today:")
    assert script_text(script) == " ".join(s.text for s in segments)


def test_writer_is_deterministic():
    insights = sample_insights()
    assert write(insights) == write(insights)


def test_script_needs_exactly_three_insights():
    with pytest.raises(ValidationError):
        BriefingScript(greeting="Hi.", insights=[ScriptInsight(text="a"), ScriptInsight(text="b")], closing="Bye.")


def test_speakable_strips_markup_and_bounds_length():
    assert speakable("<b>Blue</b> Mug &amp; Saucer") == "Blue Mug and Saucer"
    assert speakable("A\x00B\u202eC") == "A B C"
    assert speakable("Cup, size 2.5L!") == "Cup size 2.5L"
    assert speakable("one two three four five six seven eight nine ten") == "one two three four five six seven eight"
    assert len(speakable("x" * 500)) <= 60
    assert speakable("<<<>>>") == "this product"
    assert re.fullmatch(r"[\w\s\-'&/+%£$€.,]*", speakable(HOSTILE * 3, 50, 500))


def test_insight_without_figures_is_spoken_without_figures():
    degraded = Insight(kind=InsightKind.DEGRADED_STEP, headline="x", step="fetch_trends", urgency=0.6, impact_score=0.6)
    script = write([degraded])
    assert "search trends" in script.insights[0].text
    validate_numbers(script, [degraded])


@pytest.mark.parametrize("bounds", [(100, 115, 115), (120, 130, 125), (110, 160, 160)])
@pytest.mark.parametrize("count", [0, 3])
def test_custom_word_ranges_are_respected(bounds, count):
    low, high, target = bounds
    insights = sample_insights()[:count]
    writer = TemplateScriptWriter(min_words=low, max_words=high, target_words=target)
    script = writer.write("Tea & Co", RUN_DATE, insights)
    assert low <= script.word_count <= high
    validate_numbers(script, insights)
