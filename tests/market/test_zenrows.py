"""The ZenRows fetcher against the loopback ZenRows stand-in: tiers, retries, costs, the key kept secret."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from shared import telemetry
from shared.db import market
from shared.db.pool import transaction
from shared.local.zenrows_standin import Outcome, ZenRowsStandIn, request_cost
from shared.market.fetch import FetchErrorKind
from shared.market.scrape import scrape_competitor_prices
from shared.market.zenrows import ZenRowsFetcher

from conftest import columns_holding
from market_fixtures import make_shop

API_KEY = "zr-live-9f8e7d6c5b4a"


def page(price: str) -> str:
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Board",
            "offers": {"@type": "Offer", "price": price, "priceCurrency": "GBP",
                       "availability": "https://schema.org/InStock"}}
    return f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head><body><h1>Board</h1></body></html>'


class Sleeps:
    """An injectable sleeper: records each pause instead of waiting."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        await asyncio.sleep(0)


def fetcher_for(standin: ZenRowsStandIn, sleeps: Sleeps | None = None, **options) -> ZenRowsFetcher:
    return ZenRowsFetcher(API_KEY, base_url=standin.base_url, sleep=sleeps or Sleeps(), jitter=lambda: 0.5,
                          **options)


async def test_each_tier_sends_its_parameters_and_never_mode_auto_with_them():
    urls = {tier: f"https://{tier}.example/p/1" for tier in ("standard", "js", "premium")}
    with ZenRowsStandIn(api_key=API_KEY, pages={u: page("10.00") for u in urls.values()}) as standin:
        async with fetcher_for(standin) as f:
            results = {tier: await f.fetch(url, tier=tier) for tier, url in urls.items()}
    assert all(r.ok and r.fetcher == "zenrows" for r in results.values())
    sent = {tier: standin.requests_for(url)[0].params for tier, url in urls.items()}
    assert sent["standard"] == {"url": urls["standard"], "mode": "auto"}
    assert sent["js"] == {"url": urls["js"], "js_render": "true"}
    assert sent["premium"] == {"url": urls["premium"], "js_render": "true", "premium_proxy": "true"}
    # X-Request-Cost is read per request: basic, 5x, 25x.
    assert [results[t].cost for t in ("standard", "js", "premium")] == [
        Decimal("0.001"), Decimal("0.005"), Decimal("0.025")]


@pytest.mark.usefixtures("db")
async def test_a_scrape_run_retries_exactly_what_can_succeed_and_records_every_cost(spans):
    script = {
        "ok": [Outcome.page(page("10.00"))],
        "slot": [Outcome.error("AUTH006"), Outcome.page(page("11.00"))],  # 429: wait for a slot, ask again
        "render": [Outcome(html=page("12.00"), needs="js")],  # 422 RESP001 at mode=auto, fine with js_render
        "render_never": [Outcome.error("RESP001")],  # 422 twice: one retry a tier higher, then stop
        "flaky": [Outcome.server_error(503), Outcome.server_error(502), Outcome.page(page("13.00"))],
        "down": [Outcome.server_error(500)],  # 5xx every time: backoff twice, then give up
        "forbidden": [Outcome.error("REQS001")],
        "missing": [Outcome.error("RESP002")],
        "no_such_domain": [Outcome.error("RESP007")],
    }
    expected_requests = {"ok": 1, "slot": 2, "render": 2, "render_never": 2, "flaky": 3, "down": 3,
                         "forbidden": 1, "missing": 1, "no_such_domain": 1}
    urls = {name: f"https://{name.replace('_', '-')}.example/p/1" for name in script}
    shop = make_shop(products=len(script))
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="acme.example")
        url_ids = {name: market.upsert_competitor_url(conn, competitor, variant, urls[name])
                   for name, variant in zip(script, shop.variant_ids)}
    sleeps = Sleeps()
    with ZenRowsStandIn(api_key=API_KEY, script={urls[k]: list(v) for k, v in script.items()}) as standin:
        with telemetry.cost_ledger() as ledger:
            async with fetcher_for(standin, sleeps) as f:
                summary = await scrape_competitor_prices(shop.shop_id, "run-zr-1", fetcher=f)

    made = {name: len(standin.requests_for(url)) for name, url in urls.items()}
    assert made == expected_requests
    assert [r.params for r in standin.requests_for(urls["render"])] == [
        {"url": urls["render"], "mode": "auto"}, {"url": urls["render"], "js_render": "true"}]
    # flaky and down each back off twice, exponentially (jitter fixed at 0.5: 0.75 s, then 1.5 s); the
    # slot wait sleeps only when none of the run's own requests is in flight to free a slot.
    assert sleeps.pauses.count(1.5) == 2
    assert sleeps.pauses.count(0.75) in (2, 3) and len(sleeps.pauses) in (4, 5)

    with transaction() as conn:
        rows = {r["competitor_url_id"]: r for r in conn.execute(
            "SELECT * FROM competitor_prices WHERE run_id = 'run-zr-1' AND competitor_url_id = ANY(%s)",
            (list(url_ids.values()),)).fetchall()}
    by_name = {name: rows[url_ids[name]] for name in script}
    assert {n for n, r in by_name.items() if r["fetch_status"] == "ok"} == {"ok", "slot", "render", "flaky"}
    assert by_name["render"]["price"] == Decimal("12.00")
    for name, row in by_name.items():
        assert row["fetcher"] == "zenrows" and row["fetch_attempts"] == expected_requests[name]
        billed = sum((r.cost for r in standin.requests_for(urls[name])), Decimal(0))
        assert row["fetch_cost"] == billed
    assert by_name["render"]["fetch_cost"] == request_cost({"js_render": "true"})  # only what worked is billed
    assert "REQS001" in by_name["forbidden"]["error"] and "RESP007" in by_name["no_such_domain"]["error"]
    assert summary.fetch_requests == sum(expected_requests.values())
    assert summary.fetch_cost == standin.total_cost() > 0
    # Telemetry: one span per request, each with its cost; the ledger holds the run's total.
    zenrows_spans = [s for s in spans.get_finished_spans() if s.name == "zenrows scrape"]
    assert len(zenrows_spans) == sum(expected_requests.values())
    assert ledger.calls["zenrows"] == len(zenrows_spans)
    assert ledger.totals[("zenrows", "request_cost")] == pytest.approx(float(standin.total_cost()))
    assert {s.attributes["external.outcome"] for s in zenrows_spans} == {"ok", "throttled", "error"}


async def test_the_plans_concurrency_limit_bounds_the_run():
    urls = [f"https://shop{i % 3}.example/p/{i}" for i in range(12)]
    with ZenRowsStandIn(api_key=API_KEY, concurrency_limit=2, latency_seconds=0.05,
                        pages={u: page("5.00") for u in urls}) as standin:
        # The setting guesses 6; the first answers say the plan allows 2.
        async with fetcher_for(standin, concurrency=6) as f:
            results = await f.fetch_many(urls)
            assert f.concurrency_limit == 2
    assert all(r.ok for r in results), [r.error_detail for r in results if not r.ok]
    assert standin.most_in_flight <= 2
    refused = [r for r in standin.requests if r.code == "AUTH006"]
    assert len(standin.requests) == len(urls) + len(refused)
    assert all(r.cost == 0 for r in refused)


async def test_a_429_slot_wait_gives_up_after_its_budget():
    url = "https://busy.example/p/1"
    with ZenRowsStandIn(api_key=API_KEY, script={url: [Outcome.error("AUTH006")]}) as standin:
        async with fetcher_for(standin, slot_waits=3) as f:
            result = await f.fetch(url)
    assert len(standin.requests_for(url)) == 4
    assert result.error is FetchErrorKind.provider_error and result.retryable


async def test_a_tier_that_worked_is_kept_for_the_domain():
    first, second = "https://spa.example/p/1", "https://spa.example/p/2"
    script = {u: [Outcome(html=page("9.00"), needs="js")] for u in (first, second)}
    with ZenRowsStandIn(api_key=API_KEY, script=script) as standin:
        async with fetcher_for(standin) as f:
            assert (await f.fetch(first)).ok
            assert (await f.fetch(second)).ok
    assert len(standin.requests_for(first)) == 2
    assert [r.params.get("js_render") for r in standin.requests_for(second)] == ["true"]


async def test_a_bad_key_stops_the_run_after_one_request_and_never_leaks(logs, spans):
    urls = [f"https://shop.example/p/{i}" for i in range(5)]
    with ZenRowsStandIn(api_key="the-right-key-123456", pages={u: page("1.00") for u in urls}) as standin:
        async with fetcher_for(standin) as f:
            results = [await f.fetch(u) for u in urls]
    assert len(standin.requests) == 1 and standin.requests[0].code == "AUTH002"
    assert all(r.error is FetchErrorKind.provider_unavailable and not r.retryable for r in results)
    assert "AUTH002" in results[0].error_detail
    everything = " ".join([*logs, *(r.model_dump_json() for r in results),
                           *(json.dumps(dict(s.attributes), default=str) for s in spans.get_finished_spans())])
    assert API_KEY not in everything


@pytest.mark.usefixtures("db")
async def test_the_key_never_reaches_logs_spans_errors_or_the_database(logs, spans, restore_environment, monkeypatch):
    import logging

    logging.getLogger("httpx").setLevel(logging.DEBUG)  # httpx logs each request URL
    shop = make_shop(products=2)
    urls = ["https://a.example/p/1", "https://b.example/p/2"]
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="a.example")
        for variant, url in zip(shop.variant_ids, urls):
            market.upsert_competitor_url(conn, competitor, variant, url)
    with ZenRowsStandIn(api_key=API_KEY, script={urls[0]: [Outcome.page(page("3.00"))],
                                                 urls[1]: [Outcome.server_error(503)]}) as standin:
        monkeypatch.setenv("ZENROWS_API_KEY", API_KEY)
        monkeypatch.setenv("ZENROWS_BASE_URL", standin.base_url)
        from shared.secrets import reset_secret_store
        from shared.settings import get_settings

        get_settings.cache_clear()
        reset_secret_store()
        # No fetcher given: the key in the settings selects ZenRows.
        summary = await scrape_competitor_prices(shop.shop_id, "run-zr-key", fetcher=None)
    assert summary.priced == 1 and summary.errors == 1
    assert all(r.key_ok for r in standin.requests)  # the key was sent, as the apikey parameter
    assert any("api.zenrows" in line or "127.0.0.1" in line for line in logs)  # httpx did log the request
    assert not [line for line in logs if API_KEY in line]
    for span in spans.get_finished_spans():
        assert all(API_KEY not in str(v) and "apikey" not in str(v) for v in span.attributes.values())
    assert columns_holding([API_KEY]) == []


async def test_slots_held_by_other_clients_of_the_key_lower_the_limit_until_they_are_freed():
    urls = [f"https://shop.example/p/{i}" for i in range(3)]
    with ZenRowsStandIn(api_key=API_KEY, concurrency_limit=5, reserved_slots=3,
                        pages={u: page("2.00") for u in urls}) as standin:
        async with fetcher_for(standin, concurrency=5) as f:
            assert (await f.fetch(urls[0])).ok
            assert f.concurrency_limit == 2  # Concurrency-Remaining: 5 - 3 others, none of ours in flight
            standin.reserved_slots = 0
            assert (await f.fetch(urls[1])).ok
            assert f.concurrency_limit == 5  # back to the plan's Concurrency-Limit
