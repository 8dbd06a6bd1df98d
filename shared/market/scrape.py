"""Competitor prices for one run: fetch every confirmed competitor page, read its price, store it.

One row per competitor page per run (`ok`, `no_price` or `error`), written as an upsert, so a
retried step overwrites its own rows, with how the page was fetched and what it cost.
Out-of-stock prices are stored, flagged by availability; the statistics that feed pricing
leave them out. After the run, each variant's day summary (min, median and max of fresh prices
in the shop's currency; stale, out-of-stock and other-currency pages counted) is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.db.market import (
    CompetitorPriceRow,
    CompetitorUrlTarget,
    confirmed_competitor_urls,
    summarise_competitor_prices,
    upsert_competitor_prices,
)
from shared.db.pool import transaction
from shared.market.extraction import Availability, PriceHints, extract_price
from shared.market.fetch import FetchResult, PageFetcher
from shared.market.fetchers import fetcher_from_settings
from shared.settings import get_settings

log = logging.getLogger(__name__)


class ScrapeError(RuntimeError):
    """Not one competitor page could be fetched, for reasons a later attempt may not have."""

    retryable = True


class ScrapeSummary(BaseModel):
    """Counts for the orchestrator; never the prices themselves."""

    shop_id: int
    run_id: str
    urls: int = 0
    priced: int = 0
    out_of_stock: int = 0
    no_price: int = 0
    errors: int = 0
    retryable_errors: int = 0
    by_source: dict[str, int] = Field(default_factory=dict)
    by_error: dict[str, int] = Field(default_factory=dict)
    fetch_requests: int = 0
    fetch_cost: Decimal = Decimal(0)
    variants_priced: int = 0
    stale_pages: int = 0
    other_currency_pages: int = 0

    def counts(self) -> dict[str, int]:
        """Flat counts, as a pipeline step records them."""
        flat = self.model_dump(include={"urls", "priced", "out_of_stock", "no_price", "errors", "retryable_errors",
                                        "fetch_requests", "variants_priced", "stale_pages", "other_currency_pages"})
        flat["fetch_cost_micro_usd"] = int(self.fetch_cost * 1_000_000)
        flat.update({f"source_{k}": v for k, v in sorted(self.by_source.items())})
        flat.update({f"error_{k}": v for k, v in sorted(self.by_error.items())})
        return flat


async def scrape_competitor_prices(shop_id: int, run_id: str, fetcher: PageFetcher | None = None) -> ScrapeSummary:
    """Fetch and price every confirmed competitor page of a shop, all at once, for one run.

    Without a fetcher, one is made from settings (ZenRows when its key is set, else direct) and
    closed afterwards. Pages are read as they arrive, so only the pages in flight are held in
    memory. Each row records how the page was fetched, in how many requests, at what cost.
    """
    with transaction() as conn:
        targets = confirmed_competitor_urls(conn, shop_id)
    summary = ScrapeSummary(shop_id=shop_id, run_id=run_id, urls=len(targets))
    if not targets:
        return summary

    if fetcher is None:
        own = fetcher_from_settings()
        try:
            observed = await asyncio.gather(*(_observe(own, target, run_id) for target in targets))
        finally:
            await own.aclose()
    else:
        observed = await asyncio.gather(*(_observe(fetcher, target, run_id) for target in targets))

    rows = [row for row, _ in observed]
    as_of = max(row.observed_at for row in rows)
    with transaction() as conn:
        upsert_competitor_prices(conn, rows)
        days = summarise_competitor_prices(conn, shop_id, day=as_of.date(), as_of=as_of,
                                           max_age_hours=get_settings().competitor_price_max_age_hours)
    summary.variants_priced = sum(1 for d in days if d.priced)
    summary.stale_pages = sum(d.stale for d in days)
    summary.other_currency_pages = sum(d.other_currency for d in days)

    sources: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for row, retryable in observed:
        summary.fetch_requests += row.fetch_attempts or 0
        summary.fetch_cost += row.fetch_cost or 0
        if row.fetch_status == "ok":
            summary.priced += 1
            sources[row.source or "unknown"] += 1
            summary.out_of_stock += row.availability == Availability.out_of_stock
        elif row.fetch_status == "no_price":
            summary.no_price += 1
        else:
            summary.errors += 1
            summary.retryable_errors += retryable
            errors[(row.error or "error").split(":", 1)[0]] += 1
    summary.by_source = dict(sources)
    summary.by_error = dict(errors)
    log.info("scraped %d competitor pages for shop %s run %s: %s", len(rows), shop_id, run_id, summary.counts())
    if summary.errors == summary.urls and summary.retryable_errors == summary.urls:
        # Every page failed in a way that can pass (network down, sites unreachable): retry the
        # step. The error rows are already stored and a retry overwrites them.
        raise ScrapeError(f"all {summary.urls} competitor pages failed: {dict(errors)}")
    return summary


async def _observe(
    fetcher: PageFetcher, target: CompetitorUrlTarget, run_id: str
) -> tuple[CompetitorPriceRow, bool]:
    """The row to store for one page, and whether its failure (if any) may pass."""
    result: FetchResult = await fetcher.fetch(target.url, tier=target.fetch_tier)
    base = dict(competitor_url_id=target.competitor_url_id, run_id=run_id, observed_at=result.fetched_at,
                fetcher=result.fetcher, fetch_attempts=result.attempts, fetch_cost=result.cost)
    if not result.ok or result.html is None:
        detail = f"{result.error or 'no_html'}: {result.error_detail or ''}".strip()[:480]
        return CompetitorPriceRow(**base, fetch_status="error", error=detail), result.retryable
    hints = PriceHints(currency=target.currency.strip() or None, css_selector=target.price_selector)
    try:
        extracted = extract_price(result.html, result.final_url or target.url, hints)
    except Exception as exc:  # noqa: BLE001 - one odd page must not sink the run
        log.warning("price extraction failed for competitor page %s: %r", target.competitor_url_id, exc)
        return CompetitorPriceRow(**base, fetch_status="error", error=f"extraction: {type(exc).__name__}"), False
    if extracted.price is None:
        return CompetitorPriceRow(**base, fetch_status="no_price", availability=extracted.availability.value), False
    row = CompetitorPriceRow(
        **base,
        fetch_status="ok",
        price=extracted.price,
        currency=extracted.currency or target.currency,
        availability=extracted.availability.value,
        source=extracted.source.value if extracted.source else None,
    )
    return row, False
