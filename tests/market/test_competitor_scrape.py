"""scrape_competitor_prices: every confirmed page fetched, priced and stored once per run."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.db import market
from shared.db.pool import transaction
from shared.market.fetch import DirectFetcher, FetchErrorKind, FetchResult
from shared.market.scrape import ScrapeError, scrape_competitor_prices

from market_fixtures import make_shop

pytestmark = pytest.mark.usefixtures("db")


def product_page(price: str, availability: str = "InStock", currency: str = "GBP") -> str:
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Board",
            "offers": {"@type": "Offer", "price": price, "priceCurrency": currency,
                       "availability": f"https://schema.org/{availability}"}}
    return f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head><body><h1>Board</h1></body></html>'


class FakeFetcher:
    """Answers from a table, and records how many fetches were in flight at once."""

    def __init__(self, pages: dict[str, FetchResult | str]) -> None:
        self.pages = pages
        self.in_flight = 0
        self.most_in_flight = 0

    async def fetch(self, url: str, *, tier: str = "standard") -> FetchResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        page = self.pages[url]
        if isinstance(page, FetchResult):
            return page
        return FetchResult(url=url, final_url=url, status=200, html=page, elapsed_seconds=0.01,
                           fetched_at=datetime.now(UTC))


def failure(url: str, kind: FetchErrorKind, retryable: bool) -> FetchResult:
    return FetchResult(url=url, error=kind, error_detail="test", retryable=retryable, elapsed_seconds=0,
                       fetched_at=datetime.now(UTC))


def link(shop, pages: dict[str, str], selector: str | None = None) -> list[int]:
    with transaction() as conn:
        competitor = market.upsert_competitor(conn, shop.shop_id, name="Acme", domain="acme.example",
                                              price_selector=selector)
        return [market.upsert_competitor_url(conn, competitor, variant, url)
                for variant, url in zip(shop.variant_ids, pages)]


def stored(url_ids: list[int], run_id: str) -> dict[int, dict]:
    with transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM competitor_prices WHERE competitor_url_id = ANY(%s) AND run_id = %s", (url_ids, run_id)
        ).fetchall()
    return {row["competitor_url_id"]: row for row in rows}


async def test_each_page_gets_one_row_per_run_with_status_price_and_source():
    shop = make_shop(products=5)
    urls = [f"https://acme.example/p/{n}" for n in range(5)]
    pages = {
        urls[0]: product_page("19.99"),
        urls[1]: product_page("24.00", availability="OutOfStock"),
        urls[2]: "<html><body><h1>Board</h1><p>Call us for a price.</p></body></html>",
        urls[3]: failure(urls[3], FetchErrorKind.blocked_by_robots, retryable=False),
        urls[4]: '<html><body><h1>Board</h1><b class="p">£ 31,50</b></body></html>',
    }
    url_ids = link(shop, pages, selector="b.p")
    fetcher = FakeFetcher(pages)

    summary = await scrape_competitor_prices(shop.shop_id, "run-1", fetcher)
    again = await scrape_competitor_prices(shop.shop_id, "run-1", fetcher)  # a retried step

    assert summary == again
    assert (summary.urls, summary.priced, summary.out_of_stock, summary.no_price, summary.errors) == (5, 3, 1, 1, 1)
    assert summary.by_source == {"json_ld": 2, "selector": 1}
    assert summary.by_error == {"blocked_by_robots": 1}
    assert fetcher.most_in_flight == 5  # all fetched concurrently

    rows = stored(url_ids, "run-1")
    assert len(rows) == 5
    ok, oos, no_price, error, hinted = (rows[i] for i in url_ids)
    assert (ok["fetch_status"], ok["price"], ok["currency"], ok["availability"]) == ("ok", Decimal("19.99"), "GBP", "in_stock")
    assert (oos["fetch_status"], oos["price"], oos["availability"]) == ("ok", Decimal("24.00"), "out_of_stock")
    assert (no_price["fetch_status"], no_price["price"]) == ("no_price", None)
    assert error["fetch_status"] == "error" and error["error"].startswith("blocked_by_robots")
    assert (hinted["price"], hinted["currency"], hinted["source"]) == (Decimal("31.50"), "GBP", "selector")
    assert all((r["fetcher"], r["fetch_attempts"], r["fetch_cost"]) == ("direct", 1, Decimal(0)) for r in rows.values())

    # The day's summary per variant: the out-of-stock page is counted, not used.
    assert (summary.variants_priced, summary.stale_pages, summary.other_currency_pages) == (2, 0, 0)
    with transaction() as conn:
        days = conn.execute("SELECT variant_id, min_price, priced, out_of_stock FROM competitor_price_days "
                            "WHERE shop_id = %s ORDER BY variant_id", (shop.shop_id,)).fetchall()
    assert [(d["min_price"], d["priced"], d["out_of_stock"]) for d in days] == [
        (Decimal("19.99"), 1, 0), (None, 0, 1), (Decimal("31.50"), 1, 0)]


async def test_all_pages_failing_transiently_asks_for_a_retry():
    shop = make_shop(products=2)
    urls = ["https://down.example/1", "https://down.example/2"]
    url_ids = link(shop, dict.fromkeys(urls, ""))
    fetcher = FakeFetcher({u: failure(u, FetchErrorKind.timeout, retryable=True) for u in urls})
    with pytest.raises(ScrapeError) as caught:
        await scrape_competitor_prices(shop.shop_id, "run-1", fetcher)
    assert caught.value.retryable
    assert {row["fetch_status"] for row in stored(url_ids, "run-1").values()} == {"error"}


async def test_a_shop_without_competitors_has_nothing_to_do():
    shop = make_shop(products=1)
    summary = await scrape_competitor_prices(shop.shop_id, "run-1", FakeFetcher({}))
    assert summary.urls == 0 and summary.counts()["urls"] == 0


async def test_with_the_direct_fetcher_against_a_local_site():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            body = b"User-agent: *\nDisallow: /hidden/\n" if self.path == "/robots.txt" else product_page("12.50").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        shop = make_shop(products=2)
        url_ids = link(shop, {f"{base}/products/board": "", f"{base}/hidden/board": ""})
        async with DirectFetcher(user_agent="RetailAIAdvisorBot/0.1", interval_seconds=0,
                                 allow_private_networks=True) as fetcher:
            summary = await scrape_competitor_prices(shop.shop_id, "run-1", fetcher)
    finally:
        server.shutdown()
        server.server_close()
    assert (summary.priced, summary.errors, summary.by_error) == (1, 1, {"blocked_by_robots": 1})
    rows = stored(url_ids, "run-1")
    assert rows[url_ids[0]]["price"] == Decimal("12.50")
