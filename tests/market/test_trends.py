"""Google Trends through pytrends, against the loopback stand-in."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import requests

from shared.db.pool import transaction
from shared.local.trends_standin import TrendsStandIn, raw_interest
from shared.market.trends import (
    TrendsClient,
    TrendsRateLimitedError,
    collect_interest,
    fetch_trends,
    plan_batches,
    weekly,
)
from shared.settings import Settings

from market_fixtures import make_shop

TODAY = date(2026, 11, 29)


@pytest.fixture
def standin():
    with TrendsStandIn(today=TODAY) as server:
        yield server


def client_factory(standin: TrendsStandIn):
    return lambda: TrendsClient(standin.base_url, hl="en-GB", tz=0, timeout=(2, 5))


def settings_for(standin: TrendsStandIn) -> Settings:
    return Settings(trends_base_url=standin.base_url, trends_geo="GB", trends_timeframe="today 3-m",
                    trends_anchor_keyword="gift")


def test_batches_hold_at_most_five_with_the_anchor_in_each():
    batches = plan_batches(["mug", "Gift", "candle", "mug", "scarf", "lamp", "rug", " ", "vase"], "gift")
    assert batches == [["gift", "mug", "candle", "scarf", "lamp"], ["gift", "rug", "vase"]]


def test_the_stand_in_speaks_the_wire_format_and_scales_each_request_to_100(standin):
    session = requests.Session()
    session.get(f"{standin.base_url}/trends/explore/?geo=GB")
    req = {"comparisonItem": [{"keyword": k, "time": "today 3-m", "geo": "GB"} for k in ("gift", "mug")],
           "category": 0, "property": ""}
    explore = session.post(f"{standin.base_url}/trends/api/explore", params={"hl": "en-GB", "tz": 0, "req": json.dumps(req)})
    assert explore.text.startswith(")]}'")
    widget = next(w for w in json.loads(explore.text[4:])["widgets"] if w["id"] == "TIMESERIES")
    line = session.get(f"{standin.base_url}/trends/api/widgetdata/multiline",
                       params={"req": json.dumps(widget["request"]), "token": widget["token"], "tz": 0})
    assert line.text.startswith(")]}',")
    points = json.loads(line.text[5:])["default"]["timelineData"]
    assert max(max(p["value"]) for p in points) == 100
    assert points[-1]["isPartial"] is True
    forged = session.get(f"{standin.base_url}/trends/api/widgetdata/multiline",
                         params={"req": json.dumps(widget["request"]), "token": "nope", "tz": 0})
    assert forged.status_code == 401


def test_gift_terms_rise_towards_christmas():
    assert raw_interest("gift", date(2026, 12, 20)) > 2 * raw_interest("gift", date(2026, 9, 20))
    assert raw_interest("gift", date(2027, 1, 10)) < raw_interest("gift", date(2026, 12, 20)) / 2
    assert raw_interest("mug", date(2026, 12, 20)) < 1.5 * raw_interest("mug", date(2026, 9, 20))


def test_anchor_rescaling_puts_two_batches_on_one_scale(standin):
    # "tea towel" is in both batches; the second also holds a much bigger term, so Google's
    # per-request scaling gives "tea towel" very different raw numbers in the two.
    batches = [["gift", "mug", "candle", "tea towel"], ["gift", "christmas", "scarf", "tea towel"]]
    results, rate_limited = collect_interest(
        [], anchor="gift", timeframe="today 3-m", geo="GB", client_factory=client_factory(standin),
        batches=batches, pause_between_batches=0,
    )
    assert not rate_limited
    (_, raw_a, scaled_a), (_, raw_b, scaled_b) = results
    raw_mean_a = sum(raw_a.values["tea towel"]) / len(raw_a.values["tea towel"])
    raw_mean_b = sum(raw_b.values["tea towel"]) / len(raw_b.values["tea towel"])
    assert raw_mean_a > 1.5 * raw_mean_b  # on their own scales they disagree ...

    weeks_a = weekly(raw_a.times, scaled_a["tea towel"])
    weeks_b = weekly(raw_b.times, scaled_b["tea towel"])
    assert weeks_a.keys() == weeks_b.keys()
    # ... rescaled by the anchor they agree, up to Google's integer rounding (worst in the
    # one-day partial week at the end, where no averaging evens it out)
    for week in weeks_a:
        assert weeks_a[week] == pytest.approx(weeks_b[week], rel=0.06), week
    mean_a, mean_b = (sum(w.values()) / len(w) for w in (weeks_a, weeks_b))
    assert mean_a == pytest.approx(mean_b, rel=0.015)


def test_a_rate_limited_batch_leaves_its_keywords_missing_not_zero(standin, db):
    shop = make_shop(products=0)
    standin.rate_limited_keywords = {"scarf"}
    keywords = ["mug", "candle", "tea towel", "plant", "scarf", "lamp"]  # batch 2: gift, scarf, lamp

    summary = fetch_trends(shop.shop_id, keywords, settings=settings_for(standin), retry_429_after=0,
                           pause_between_batches=0)

    assert summary.rate_limited and summary.failed_batches == 1
    assert summary.missing_keywords == ["scarf", "lamp"]
    assert summary.by_keyword["scarf"].latest is None and summary.by_keyword["mug"].latest > 0
    # 429 handled boundedly: the failing batch asked twice (one retry), then given up
    assert [k for endpoint, k in standin.requests if endpoint == "explore" and "scarf" in k] == [("gift", "scarf", "lamp")] * 2
    with transaction() as conn:
        rows = conn.execute(
            """SELECT keyword, count(*) AS weeks, count(interest) AS known, min(interest) AS low
               FROM trend_observations WHERE shop_id = %s GROUP BY keyword""", (shop.shop_id,)
        ).fetchall()
    by_keyword = {r["keyword"]: r for r in rows}
    assert set(by_keyword) == {"gift", *keywords}
    for keyword in ("scarf", "lamp"):
        assert by_keyword[keyword]["weeks"] > 10 and by_keyword[keyword]["known"] == 0  # NULL, not 0
    assert by_keyword["mug"]["known"] == by_keyword["mug"]["weeks"] and by_keyword["mug"]["low"] > Decimal(0)


def test_when_every_batch_is_rate_limited_the_step_is_retried_later(standin, db):
    shop = make_shop(products=0)
    standin.rate_limited = True
    with pytest.raises(TrendsRateLimitedError) as caught:
        fetch_trends(shop.shop_id, ["mug", "candle"], settings=settings_for(standin), retry_429_after=0,
                     pause_between_batches=0)
    assert caught.value.retryable


def test_fetch_trends_stores_weekly_points_and_summarises(standin, db):
    shop = make_shop(products=0)
    summary = fetch_trends(shop.shop_id, ["christmas gifts", "mug"], settings=settings_for(standin),
                           pause_between_batches=0)
    again = fetch_trends(shop.shop_id, ["christmas gifts", "mug"], settings=settings_for(standin),
                         pause_between_batches=0)
    assert summary.by_keyword == again.by_keyword and summary.points_stored == again.points_stored
    assert (summary.batches, summary.failed_batches, summary.missing_keywords) == (1, 0, [])
    assert summary.by_keyword["christmas gifts"].slope > 0  # late November: the Christmas climb
    with transaction() as conn:
        weeks = conn.execute(
            "SELECT DISTINCT period_start FROM trend_observations WHERE shop_id = %s ORDER BY 1", (shop.shop_id,)
        ).fetchall()
        stored = conn.execute("SELECT count(*) AS n FROM trend_observations WHERE shop_id = %s",
                              (shop.shop_id,)).fetchone()["n"]
    assert all(w["period_start"].weekday() == 6 for w in weeks)  # weeks start on Sunday
    assert stored == 3 * len(weeks) == summary.points_stored  # a re-run leaves one row per point
