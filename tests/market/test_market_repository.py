"""shared/db/market.py: upserts on natural keys and the reads pricing and the briefing use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.db import market
from shared.db.market import CompetitorPriceRow, TrendObservation
from shared.db.pool import transaction

from market_fixtures import make_shop

pytestmark = pytest.mark.usefixtures("db")

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def price_row(url_id: int, run: str, when: datetime, status: str = "ok", price: str | None = "10.00",
              currency: str | None = "GBP", availability: str | None = "in_stock") -> CompetitorPriceRow:
    return CompetitorPriceRow(
        competitor_url_id=url_id, run_id=run, observed_at=when, fetch_status=status,
        price=Decimal(price) if price and status == "ok" else None, currency=currency,
        availability=availability, source="json_ld" if status == "ok" else None,
    )


def test_competitor_and_url_upserts_are_idempotent():
    shop = make_shop(products=1)
    with transaction() as conn:
        first = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="Acme.example", currency="gbp")
        again = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="acme.example",
                                         price_selector=".price")
        url_id = market.upsert_competitor_url(conn, first, shop.variant_ids[0], "https://acme.example/p/1")
        url_again = market.upsert_competitor_url(conn, first, shop.variant_ids[0], "https://acme.example/p/1b")
        targets = market.confirmed_competitor_urls(conn, shop.shop_id)
    assert first == again and url_id == url_again
    assert [(t.url, t.price_selector, t.domain) for t in targets] == [("https://acme.example/p/1b", ".price", "acme.example")]


def test_competitor_url_must_link_the_same_shop():
    mine, theirs = make_shop(products=1), make_shop(products=1)
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, mine.shop_id, name="Acme", domain="acme.example")
    with pytest.raises(ValueError, match="one shop"), transaction() as conn:
        market.upsert_competitor_url(conn, competitor, theirs.variant_ids[0], "https://acme.example/p/1")


def test_proposed_urls_are_not_scraped():
    shop = make_shop(products=2)
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="acme.example")
        market.upsert_competitor_url(conn, competitor, shop.variant_ids[0], "https://acme.example/1")
        market.upsert_competitor_url(conn, competitor, shop.variant_ids[1], "https://acme.example/2",
                                     match_status="proposed")
        targets = market.confirmed_competitor_urls(conn, shop.shop_id)
    assert [t.variant_id for t in targets] == [shop.variant_ids[0]]


def test_price_rows_are_validated():
    with pytest.raises(ValidationError):
        CompetitorPriceRow(competitor_url_id=1, run_id="r", observed_at=datetime(2026, 1, 1), fetch_status="ok",
                           price=Decimal("1"))  # naive time
    with pytest.raises(ValidationError):
        CompetitorPriceRow(competitor_url_id=1, run_id="r", observed_at=NOW, fetch_status="ok")  # ok without price
    assert price_row(1, "r", NOW, price="12.345").price == Decimal("12.35")
    costly = CompetitorPriceRow(competitor_url_id=1, run_id="r", observed_at=NOW, fetch_status="error",
                                fetcher="zenrows", fetch_attempts=3, fetch_cost=Decimal("0.0012345678"))
    assert costly.fetch_cost == Decimal("0.001235")  # what numeric(12, 6) keeps
    with pytest.raises(ValidationError):
        CompetitorPriceRow(competitor_url_id=1, run_id="r", observed_at=NOW, fetch_status="error", fetcher="proxy")


def test_stats_use_fresh_in_stock_same_currency_prices_only():
    shop = make_shop(products=1)
    variant = shop.variant_ids[0]
    with transaction() as conn:
        urls = {}
        for name in "ABCDEF":
            competitor = market.upsert_competitor(conn, shop.shop_id, name=name, domain=f"{name.lower()}.example")
            urls[name] = market.upsert_competitor_url(conn, competitor, variant, f"https://{name}.example/p")
        earlier = NOW - timedelta(hours=1)
        stale = NOW - timedelta(hours=72)
        market.upsert_competitor_prices(conn, [
            price_row(urls["A"], "run-2", NOW, price="10.00"),
            price_row(urls["B"], "run-2", NOW, price="8.00", availability="out_of_stock"),
            price_row(urls["C"], "run-2", NOW, price="9.00", currency="EUR"),
            price_row(urls["D"], "run-1", stale, price="7.00"),  # too old
            price_row(urls["E"], "run-1", earlier, price="12.00"),  # fetch failed now: last fresh price counts
            price_row(urls["E"], "run-2", NOW, status="error"),
            price_row(urls["F"], "run-1", earlier, price="6.00"),  # found without price now: dropped
            price_row(urls["F"], "run-2", NOW, status="no_price", availability="unknown"),
        ])
        stats = market.competitor_price_stats(conn, shop.shop_id, "run-2", max_age_hours=48)
        strict = market.competitor_price_stats(conn, shop.shop_id, "run-2", max_age_hours=48, currency="EUR")
    assert stats[variant].model_dump() == {
        "variant_id": variant, "currency": "GBP", "min": Decimal("10.00"), "median": Decimal("11.00"),
        "max": Decimal("12.00"), "count": 2,
    }
    assert strict[variant].count == 1 and strict[variant].min == Decimal("9.00")


def test_price_upsert_keeps_one_row_per_page_and_run():
    shop = make_shop(products=1)
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="acme.example")
        url = market.upsert_competitor_url(conn, competitor, shop.variant_ids[0], "https://acme.example/p")
        market.upsert_competitor_prices(conn, [price_row(url, "run-1", NOW, price="10.00")])
        market.upsert_competitor_prices(conn, [price_row(url, "run-1", NOW, price="11.00")])
        rows = conn.execute("SELECT price FROM competitor_prices WHERE competitor_url_id = %s", (url,)).fetchall()
    assert [r["price"] for r in rows] == [Decimal("11.00")]


def test_missing_trend_points_stay_null_and_never_erase_known_ones():
    shop = make_shop(products=0)
    weeks = [date(2026, 10, 4) + timedelta(weeks=i) for i in range(6)]
    with transaction() as conn:
        market.upsert_trend_observations(conn, shop.shop_id, [
            TrendObservation(keyword="mug", geo="GB", period_start=w, interest=Decimal(10 + 2 * i), anchor="gift")
            for i, w in enumerate(weeks)
        ] + [TrendObservation(keyword="scarf", geo="GB", period_start=w, interest=None) for w in weeks], fetched_at=NOW)
        # A later run whose mug batch failed: missing values must not wipe what is known.
        market.upsert_trend_observations(conn, shop.shop_id, [
            TrendObservation(keyword="mug", geo="GB", period_start=weeks[-1], interest=None)
        ], fetched_at=NOW + timedelta(days=1))
        trends = {t.keyword: t for t in market.keyword_trends(conn, shop.shop_id, geo="GB")}
        scarf = conn.execute(
            "SELECT count(*) AS n, count(interest) AS known FROM trend_observations WHERE shop_id = %s AND keyword = 'scarf'",
            (shop.shop_id,),
        ).fetchone()
    assert trends["mug"].latest_interest == Decimal("20.000")
    assert trends["mug"].slope_per_week == pytest.approx(2.0)
    assert (trends["scarf"].latest_interest, trends["scarf"].slope_per_week, trends["scarf"].points) == (None, None, 0)
    assert (scarf["n"], scarf["known"]) == (6, 0)


def test_the_day_summary_uses_fresh_in_stock_shop_currency_prices_and_says_what_it_left_out():
    shop = make_shop(products=2)
    variant, lonely = shop.variant_ids
    with transaction() as conn:
        urls = {}
        for name in "ABCDEFGH":
            competitor = market.upsert_competitor(conn, shop.shop_id, name=name, domain=f"{name.lower()}.example")
            urls[name] = market.upsert_competitor_url(conn, competitor, variant, f"https://{name}.example/p")
        only = market.upsert_competitor(conn, shop.shop_id, name="Only", domain="only.example")
        urls["only"] = market.upsert_competitor_url(conn, only, lonely, "https://only.example/p")
        earlier = NOW - timedelta(hours=1)
        market.upsert_competitor_prices(conn, [
            price_row(urls["A"], "run-2", NOW, price="10.00"),
            price_row(urls["B"], "run-2", NOW, price="14.00"),
            price_row(urls["C"], "run-2", NOW, price="8.00", availability="out_of_stock"),
            price_row(urls["D"], "run-2", NOW, price="9.00", currency="EUR"),
            price_row(urls["E"], "run-2", NOW, price="9.50", currency="USD"),
            price_row(urls["F"], "run-1", NOW - timedelta(hours=49), price="5.00"),  # stale
            price_row(urls["G"], "run-1", earlier, price="11.00"),  # failed now: the earlier price counts
            price_row(urls["G"], "run-2", NOW, status="error"),
            price_row(urls["H"], "run-2", NOW, price="13.00", availability="unknown"),
            price_row(urls["only"], "run-1", NOW - timedelta(days=3), price="20.00"),  # stale only
        ])
        day = NOW.date()
        first = market.summarise_competitor_prices(conn, shop.shop_id, day=day, as_of=NOW, max_age_hours=48)
        again = market.summarise_competitor_prices(conn, shop.shop_id, day=day, as_of=NOW, max_age_hours=48)
        stored = conn.execute("SELECT * FROM competitor_price_days WHERE shop_id = %s ORDER BY variant_id",
                              (shop.shop_id,)).fetchall()
        stats = market.competitor_price_stats(conn, shop.shop_id, "run-2", max_age_hours=48)
    assert first == again and len(stored) == 2  # one row per variant and day
    summary = {d.variant_id: d for d in first}
    main = summary[variant]
    # Used: A 10, G 11, H 13, B 14. Left out: C (out of stock), D and E (other currencies), F (stale).
    assert (main.min, main.median, main.max, main.priced) == (Decimal("10.00"), Decimal("12.00"), Decimal("14.00"), 4)
    assert (main.out_of_stock, main.stale, main.other_currency, main.other_currencies) == (1, 1, 2, ["EUR", "USD"])
    assert summary[lonely].priced == 0 and summary[lonely].min is None and summary[lonely].stale == 1
    assert stored[0]["other_currencies"] == ["EUR", "USD"] and stored[0]["median_price"] == Decimal("12.00")
    # What pricing reads agrees with the day summary.
    assert (stats[variant].min, stats[variant].median, stats[variant].max, stats[variant].count) == (
        main.min, main.median, main.max, main.priced)
    assert lonely not in stats
