"""Google Trends through pytrends, against the loopback stand-in."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import requests


from shared.db.pool import transaction
from shared.local.trends_standin import TrendsStandIn, raw_interest
from shared.market.trends import (
    RateLimitBackoff,
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
NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
TWENTY = ["mug", "candle", "tea towel", "scarf", "lamp", "rug", "vase", "cushion", "throw", "planter",
          "teapot", "apron", "coaster", "napkin", "tray", "basket", "clock", "mirror", "frame", "bowl"]


class FakeSleep:
    """Stands in for time.sleep: records the waits, waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def backoff(max_total_wait: float = 300.0, jitter: float = 0.4) -> RateLimitBackoff:
    return RateLimitBackoff(first_wait=60.0, max_total_wait=max_total_wait, sleep=FakeSleep(), jitter=lambda: jitter)


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


def batch_calls(standin: TrendsStandIn) -> list[tuple[str, ...]]:
    return [keywords for endpoint, keywords in standin.requests if endpoint == "multiline"]


def test_anchor_rescaling_puts_two_batches_on_one_scale(standin):
    # "tea towel" is in both batches; the second also holds a much bigger term, so Google's
    # per-request scaling gives "tea towel" very different raw numbers in the two.
    batches = [["gift", "mug", "candle", "tea towel"], ["gift", "christmas", "scarf", "tea towel"]]
    results, rate_limited = collect_interest(
        [], anchor="gift", timeframe="today 3-m", geo="GB", client_factory=client_factory(standin),
        batches=batches, pause_between_batches=0, backoff=backoff(),
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


def test_twenty_keywords_take_five_requests_on_one_scale_and_a_rerun_the_same_day_asks_nothing(standin, db, spans):
    shop = make_shop(products=0)
    first = fetch_trends(shop.shop_id, TWENTY, geo="GB", settings=settings_for(standin), backoff=backoff(),
                         pause_between_batches=0, now=NOW)
    calls = batch_calls(standin)
    assert len(calls) == 5 and first.batches == 5
    assert all(len(batch) == 5 and batch[0] == "gift" for batch in calls)  # four keywords and the anchor each
    assert sorted(k for batch in calls for k in batch[1:]) == sorted(TWENTY)
    assert set(standin.geos) == {"GB"}
    assert len([s for s in spans.get_finished_spans() if s.name == "google_trends interest_over_time"]) == 5

    # The anchor, rescaled in each of the five batches, says the same thing in all of them.
    assert first.anchor_spread is not None and first.anchor_spread < 6.0  # points of 100, integer rounding
    # And every keyword lands where its true interest puts it: its mean over the last four weeks
    # as a percentage of the anchor's mean over the whole three months.
    last_weeks = [TODAY - timedelta(days=d) for d in range(1, 29)]
    three_months = [TODAY - timedelta(days=d) for d in range(0, 91)]
    anchor_mean = sum(raw_interest("gift", d) for d in three_months) / len(three_months)
    for keyword in TWENTY:
        truth = 100 * sum(raw_interest(keyword, d) for d in last_weeks) / len(last_weeks) / anchor_mean
        assert first.by_keyword[keyword].index == pytest.approx(truth, rel=0.12), keyword

    requests_before = len(standin.requests)
    again = fetch_trends(shop.shop_id, TWENTY, geo="GB", settings=settings_for(standin), backoff=backoff(),
                         pause_between_batches=0, now=NOW + timedelta(hours=5))
    assert len(standin.requests) == requests_before  # not even the cookie page
    assert again.batches == 0 and again.cached_keywords == 20
    assert {k: v.index for k, v in again.by_keyword.items()} == {k: v.index for k, v in first.by_keyword.items()}
    assert all(v.cached for v in again.by_keyword.values())

    next_day = fetch_trends(shop.shop_id, TWENTY[:4], geo="GB", settings=settings_for(standin), backoff=backoff(),
                            pause_between_batches=0, now=NOW + timedelta(days=1))
    assert next_day.batches == 1 and len(batch_calls(standin)) == 6


def test_a_burst_of_429_is_waited_out_with_jitter_at_least_a_minute_each(standin, db, spans):
    shop = make_shop(products=0)
    standin.burst_429 = 2
    waits = backoff(max_total_wait=300.0, jitter=0.4)
    summary = fetch_trends(shop.shop_id, TWENTY[:8], geo="GB", settings=settings_for(standin), backoff=waits,
                           pause_between_batches=0, now=NOW)
    assert summary.failed_batches == 0 and not summary.rate_limited and summary.missing_keywords == []
    # Two 429s in a row: 60 s and then 120 s, each with 10 % jitter (0.4 x 25 %), under the 300 s cap.
    assert waits.sleep.waits == [pytest.approx(66.0), pytest.approx(132.0)]
    assert summary.waited_seconds == pytest.approx(198.0)
    outcomes = [s.attributes["external.outcome"] for s in spans.get_finished_spans()
                if s.name.startswith("google_trends")]
    assert outcomes.count("throttled") == 2


def test_when_the_wait_cap_is_reached_the_rest_is_missing_not_zero_and_fetched_again_later(standin, db):
    shop = make_shop(products=0)
    standin.rate_limited_keywords = {"lamp"}  # batch 2 of 3 keeps answering 429
    keywords = TWENTY[:12]
    waits = backoff(max_total_wait=100.0, jitter=0.0)
    summary = fetch_trends(shop.shop_id, keywords, geo="GB", settings=settings_for(standin), backoff=waits,
                           pause_between_batches=0, now=NOW)
    assert waits.sleep.waits == [60.0]  # the next wait (120 s) would break the 100 s cap
    assert summary.rate_limited and summary.failed_batches == 2
    assert summary.missing_keywords == keywords[4:]  # batch 2 and batch 3, never asked
    assert all(summary.by_keyword[k].index is None for k in keywords[4:])
    assert all(summary.by_keyword[k].index > 0 for k in keywords[:4])
    with transaction() as conn:
        days = {r["keyword"]: r for r in conn.execute(
            "SELECT keyword, status, interest_index FROM trend_keyword_days WHERE shop_id = %s", (shop.shop_id,))}
        weeks = conn.execute(
            """SELECT keyword, count(*) AS weeks, count(interest) AS known FROM trend_observations
               WHERE shop_id = %s GROUP BY keyword""", (shop.shop_id,)).fetchall()
    assert {k for k, r in days.items() if r["status"] == "missing"} == set(keywords[4:])
    assert all(days[k]["interest_index"] is None for k in keywords[4:])  # NULL, not 0
    for row in weeks:
        if row["keyword"] in keywords[4:]:
            assert row["weeks"] > 10 and row["known"] == 0

    # Later the same day Google has calmed down: only the missing keywords are asked for.
    standin.rate_limited_keywords = set()
    before = len(batch_calls(standin))
    retry = fetch_trends(shop.shop_id, keywords, geo="GB", settings=settings_for(standin), backoff=backoff(),
                         pause_between_batches=0, now=NOW + timedelta(hours=2))
    asked = batch_calls(standin)[before:]
    assert sorted(k for batch in asked for k in batch[1:]) == sorted(keywords[4:])
    assert retry.missing_keywords == [] and retry.cached_keywords == 4


def test_when_every_batch_is_rate_limited_the_step_is_retried_later(standin, db):
    shop = make_shop(products=0)
    standin.rate_limited = True
    with pytest.raises(TrendsRateLimitedError) as caught:
        fetch_trends(shop.shop_id, ["mug", "candle"], settings=settings_for(standin), backoff=backoff(),
                     pause_between_batches=0, now=NOW)
    assert caught.value.retryable


def test_weekly_points_are_stored_once_and_a_christmas_term_climbs(standin, db):
    shop = make_shop(products=0)
    summary = fetch_trends(shop.shop_id, ["christmas gifts", "mug"], settings=settings_for(standin),
                           pause_between_batches=0, now=NOW)
    assert (summary.batches, summary.failed_batches, summary.missing_keywords) == (1, 0, [])
    assert summary.by_keyword["christmas gifts"].slope > 0  # late November: the Christmas climb
    with transaction() as conn:
        weeks = conn.execute(
            "SELECT DISTINCT period_start FROM trend_observations WHERE shop_id = %s ORDER BY 1", (shop.shop_id,)
        ).fetchall()
        stored = conn.execute("SELECT count(*) AS n FROM trend_observations WHERE shop_id = %s",
                              (shop.shop_id,)).fetchone()["n"]
    assert all(w["period_start"].weekday() == 6 for w in weeks)  # weeks start on Sunday
    assert stored == 3 * len(weeks) == summary.points_stored
